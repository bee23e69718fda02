package main

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"weibao/bot"
	"weibao/configs"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/terminal"
)

// EnvBrowser makes a missing Chromium a failure instead of a skip (.ci/run
// sets it).
const EnvBrowser = "WEIBAO_TEST_BROWSER"

// EnvArtifacts names the folder the browser tests leave their screenshots
// in; a temporary one when unset.
const EnvArtifacts = "WEIBAO_TEST_ARTIFACTS"

// browser starts headless Chromium (Debian's chromium package; chromedp
// never downloads one) for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv(EnvBrowser) != "" {
			t.Fatalf("%s is set but no chromium is on PATH (apt-get install chromium)", EnvBrowser)
		}
		t.Skipf("no chromium on PATH: browser test skipped (apt-get install chromium; set %s=1 to make this a failure)", EnvBrowser)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1100, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves the whole page as name.png among the test's artefacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// runTry is `weibao serve` on the embedded demo with no WeCom: the /try
// page is the channel. It runs on the test database and Redis.
func runTry(t *testing.T, extra map[string]string) *Main {
	t.Helper()
	driver, dsn := storagetest.DSN(t)
	env := map[string]string{
		"WEIBAO_SERVER_ADDR": "127.0.0.1:0", "WEIBAO_DATABASE_DRIVER": driver, "WEIBAO_DATABASE_DSN": dsn,
		"WEIBAO_REDIS_URL": os.Getenv(redistest.EnvRedis), "WEIBAO_REDIS_PREFIX": "weibao:" + redistest.Prefix(),
	}
	maps.Copy(env, noJobs)
	maps.Copy(env, extra)
	cfg, err := configs.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	clock := &terminal.Clock{}
	m, err := openWith(context.Background(), cfg, slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	if m.Try == nil {
		t.Fatal("the embedded demo without WeCom has no /try page")
	}
	if err := connectTry(m, clock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); m.Close() })
	return m
}

// bubble waits until the transcript shows a message containing text.
func bubble(text string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(`//div[@id="transcript"]/div[contains(@class,"msg") and contains(., "` + text + `")]`)
}

// as picks the person the page speaks as.
func as(user string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`#as`), user),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[chromedp.Void](`document.querySelector("#as").dispatchEvent(new Event("change"))`)(ctx, t)
			return err
		}),
	)
}

// typeLine sends one line from the page's input.
func typeLine(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SetValue(chromedp.CSS(`#text`), text),
		chromedp.Click(chromedp.CSS(`#say button[type=submit]`)),
	)
}

// TestTryInBrowser is the newcomer's first minute on /try: a nurse reports
// a fault in her ward group, the engineer acknowledges it with the paging
// card's button and resolves it, the nurse confirms.
func TestTryInBrowser(t *testing.T) {
	ctx := browser(t)
	m := runTry(t, nil)
	err := chromedp.Do(ctx,
		chromedp.Navigate(m.URL()+"/try"),
		as("nurse1"),
		typeLine("内科ICU护士站电脑登不上重症系统"), bubble("是「无法登录」吗"),
		typeLine("1"), bubble("影响范围"),
		typeLine("2"), bubble("对临床有什么影响"),
		typeLine("2"), bubble("已登记工单"),
		as("eng1"), bubble("请处理"),
		chromedp.Click(`//div[@class="kcard"]//button[text()="接单"]`),
		bubble("已接单 F"),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "try-engineer")
	err = chromedp.Do(ctx,
		typeLine("已解决 原因:浏览器缓存损坏 方案:清除缓存"), bubble("已解决 F"),
		as("nurse1"), bubble("问题解决了吗"),
		typeLine("1"), bubble("感谢确认"),
	)
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "try")
	// The same page on a phone's screen.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), bubble("感谢确认")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "try-phone")
	ts, err := m.DB.Tickets(context.Background(), bot.TicketFilter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	if ts[0].Status != bot.StatusClosed || ts[0].AssigneeID != "eng1" {
		t.Errorf("ticket after the browser session: %+v", ts[0])
	}
}

// TestConsoleInBrowser logs in to the console with the demo lead's token,
// watches a ticket appear on the live board when the nurse's WeCom
// callbacks arrive, and clicks through to its timeline.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	r := startRobot(t, bot.SystemClock{})
	m := r.m
	if m.DemoToken == "" {
		t.Fatal("the embedded demo made no lead token")
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(m.URL()+"/console/"),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SetValue(chromedp.CSS(`#token`), m.DemoToken),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		chromedp.WaitVisible(`//p[@id="live" and text()="实时更新中"]`),
	)
	if err != nil {
		t.Fatal(err)
	}
	const group = "demo-med-icu"
	r.say("nurse1", group, "内科ICU护士站电脑登不上重症系统", reply("无法登录"))
	r.say("nurse1", group, "1", reply("影响范围"))
	r.say("nurse1", group, "2", reply("对临床有什么影响"))
	r.say("nurse1", group, "2", reply("已登记工单"))
	ts, err := m.DB.Tickets(context.Background(), bot.TicketFilter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	no := ts[0].No
	row := `//tbody[@id="rows"]/tr[@data-no="` + no + `"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(row+`[contains(., "无法登录")]`)); err != nil {
		t.Fatalf("the new ticket never appeared on the board: %v", err)
	}
	screenshot(t, ctx, "board")
	err = chromedp.Do(ctx,
		chromedp.Click(row+`//a`),
		chromedp.WaitVisible(`//table[@id="timeline"]//td[text()="报修"]`),
		chromedp.WaitVisible(`//dd[@id="status" and text()="待接单"]`),
	)
	if err != nil {
		t.Fatalf("ticket page: %v", err)
	}
	screenshot(t, ctx, "ticket")
	// The on-call calendar: today's override set by the form, through the
	// admin API, shows in today's cell.
	err = chromedp.Do(ctx,
		chromedp.Click(`//nav/a[text()="值班日历"]`),
		chromedp.WaitVisible(chromedp.CSS(`#override`)),
		chromedp.SetValue(chromedp.CSS(`#override select[name=primary]`), "eng2"),
		chromedp.Click(chromedp.CSS(`#override button[type=submit]`)),
		chromedp.WaitVisible(`//div[contains(@class,"today") and contains(., "主班 刘工")]`),
	)
	if err != nil {
		t.Fatalf("on-call override: %v", err)
	}
	screenshot(t, ctx, "oncall")
}
