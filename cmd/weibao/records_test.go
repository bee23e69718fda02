package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/configs"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom/wecomtest"
)

// fakePrometheus answers instant queries for one node_exporter instance.
func fakePrometheus(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		v := ""
		switch {
		case r.URL.Path != "/api/v1/query" || !strings.Contains(q, `instance="cis-db:9100"`):
			v = ""
		case strings.Contains(q, "node_cpu_seconds_total"):
			v = "23.5"
		case strings.Contains(q, "node_memory_MemAvailable_bytes"):
			v = "61.04"
		case strings.Contains(q, "node_filesystem_avail_bytes"):
			v = "93.2"
		}
		res := `[]`
		if v != "" {
			res = `[{"metric":{},"value":[1764806400,"` + v + `"]}]`
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":` + res + `}}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRecordsEndToEnd keeps the month's inspection and a backup check by
// chat through the robot's callback, on the test database and Redis, with
// figures from a fake Prometheus: bad answers are asked again with a hint,
// a command mid-flow runs, each anomaly becomes a ticket linked both ways
// and reaches the lead; then the records API lists and exports them and
// the quarterly package holds every record kind in its index.
func TestRecordsEndToEnd(t *testing.T) {
	fake := wecomtest.New(t)
	cfg, err := configs.Load("", wecomEnv(t, fake, map[string]string{
		"WEIBAO_WECOM_BOT_MODE": "callback", "WEIBAO_WECOM_BOT_TOKEN": wecomtest.BotToken,
		"WEIBAO_WECOM_BOT_ENCODING_AES_KEY": wecomtest.BotAESKey, "WEIBAO_WECOM_BOT_ID": wecomtest.BotID,
		"WEIBAO_RECORDS_PROMETHEUS_URL": fakePrometheus(t).URL,
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := &robot{t: t, m: runServe(t, cfg, bot.SystemClock{}), fake: fake, run: strings.TrimSuffix(redistest.Prefix(), ":")}
	m, ctx := r.m, context.Background()
	tok, _, err := m.Access.CreateToken(ctx, "lead1", access.Lead, "test", 0)
	if err != nil {
		t.Fatal(err)
	}

	r.say("nurse1", "demo-med-icu", "巡检", reply("仅供运维工程师使用"))
	r.say("eng1", "", "巡检", reply("开始巡检「重症系统数据库服务器」"), reply("已从监控读取"),
		reply("（1/10）CPU是否正常？监控读数：CPU 使用率 23.5%"))
	r.say("eng1", "", "嗯", reply("没有看懂这个回答，请回复其中之一：1 正常 / 2 异常"))
	r.say("eng1", "", "1", reply("（2/10）内存是否正常？监控读数：内存使用率 61.0%"))
	r.say("eng1", "", "正常", reply("（3/10）磁盘空间是否正常？监控读数：磁盘最高使用率 93.2%"))
	r.say("eng1", "", "异常 /data 分区将满", reply("（4/10）服务器日志是否正常？"))
	r.say("eng1", "", "异常", reply("请在选项后写明情况"))
	r.say("eng1", "", "异常：大量接口超时告警", reply("（5/10）系统日志"))
	r.say("eng1", "", "正常", reply("（6/10）数据库"))
	r.say("eng1", "", "我的", reply("（6/10）数据库")) // a command runs, then the question again
	r.say("eng1", "", "1", reply("（7/10）备份状态"))
	r.say("eng1", "", "1", reply("（8/10）与院内其他系统的接口"))
	r.say("eng1", "", "1", reply("（9/10）反馈情况"))
	r.say("eng1", "", "无", reply("（10/10）解决方案"))
	r.say("eng1", "", "清理归档日志并扩容 /data；排查接口超时", reply("已保存月度巡检记录"), reply("已建工单"),
		reply("本月还需巡检：重症系统应用服务"), reply("【月度巡检异常】记录 R"), reply("（重症系统数据库服务器）：磁盘空间"))

	insp, err := m.DB.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindInspection}})
	if err != nil || len(insp) != 1 {
		t.Fatalf("inspections %v, %v", insp, err)
	}
	rec := insp[0]
	if rec.Status != bot.RecordDone || rec.Subject != "cis-db" || len(rec.Tickets) != 2 ||
		rec.Fields["item.disk"] != "异常：/data 分区将满" || rec.Fields["item.cpu"] != "正常：监控读数：CPU 使用率 23.5%" ||
		rec.Fields["result"] != "正常 6 项，异常 2 项" || rec.Fields["feedback"] != "" {
		t.Errorf("inspection record %+v", rec)
	}
	for _, no := range rec.Tickets {
		tk, err := m.DB.Ticket(ctx, no)
		if err != nil {
			t.Fatal(err)
		}
		back, err := m.DB.TicketRecords(ctx, no)
		if tk.Type != bot.TypeServer || tk.ReporterID != "eng1" || !strings.Contains(tk.Description, rec.No) ||
			err != nil || len(back) != 1 || back[0].No != rec.No {
			t.Errorf("ticket %s: type %s, reporter %s, %q; its records %v %v", no, tk.Type, tk.ReporterID, tk.Description, back, err)
		}
	}

	r.say("eng1", "", "备份检查", reply("（1/2）备份日志检查结果？"))
	r.say("eng1", "", "2 昨晚全量备份失败，磁带机报错", reply("（2/2）索引重建"))
	r.say("eng1", "", "无", reply("已保存备份检查记录"), reply("【备份检查失败·请立即关注】"))

	// The API lists and exports them.
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, m.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	send := func(path, body string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, m.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// A drill recorded from a browser, then a note on it; refused input changes nothing.
	code, body := send("/api/v1/records", `{"kind":"emergency_drill","by":"lead1","fields":{"scenario":"数据库服务器宕机，切换备机","participants":"张工、刘工","duration":"25分钟","result":"成功"}}`)
	var created struct {
		Record struct {
			No     string           `json:"no"`
			Status bot.RecordStatus `json:"status"`
		} `json:"record"`
	}
	if json.Unmarshal(body, &created); code != 201 || created.Record.Status != bot.RecordDone {
		t.Fatalf("POST record = %d %s", code, body)
	}
	if code, body := send("/api/v1/records/"+created.Record.No+"/changes", `{"kind":"noted","text":"演练报告已交信息科","by":"lead1"}`); code != 200 {
		t.Errorf("POST change = %d %s", code, body)
	}
	for _, action := range []string{"record.create", "record.change"} {
		if rows, err := m.Access.AuditLog(ctx, access.AuditFilter{Action: action}); err != nil || len(rows) != 1 || rows[0].Actor != "lead1" {
			t.Errorf("audit %s: %+v %v, want one row by lead1", action, rows, err)
		}
	}
	if res, err := http.Get(m.URL() + "/api/v1/records"); err != nil || res.StatusCode != 401 {
		t.Errorf("records without a token: %v %v, want 401", res.StatusCode, err)
	}
	for _, bad := range []struct {
		path, body string
		code       int
	}{
		{"/api/v1/records", `{"kind":"emergency_drill","by":"nurse1","fields":{}}`, 403},
		{"/api/v1/records", `{"kind":"emergency_drill","by":"lead1","fields":{"colour":"红"}}`, 400},
		{"/api/v1/records", `{"kind":"emergency_drill","fields":{}}`, 400},
		{"/api/v1/records/" + created.Record.No + "/changes", `{"kind":"completed","by":"lead1"}`, 400},
	} {
		if code, body := send(bad.path, bad.body); code != bad.code {
			t.Errorf("POST %s %s = %d %s, want %d", bad.path, bad.body, code, body, bad.code)
		}
	}
	if _, tl, err := m.Records.Record(ctx, created.Record.No); err != nil || len(tl) != 3 || tl[2].Kind != bot.RecordNoted {
		t.Errorf("drill timeline %+v, %v", tl, err)
	}
	month := time.Now().In(cfg.Location).Format("2006-01")
	code, body = get("/api/v1/records?kind=inspection&period=" + month)
	var list struct {
		Records []struct {
			No      string   `json:"no"`
			Tickets []string `json:"tickets"`
		} `json:"records"`
	}
	if json.Unmarshal(body, &list); code != 200 || len(list.Records) != 1 || list.Records[0].No != rec.No || len(list.Records[0].Tickets) != 2 {
		t.Errorf("GET records = %d %s", code, body)
	}
	if code, body := get("/api/v1/records?kind=nosuch"); code != 400 || !strings.Contains(string(body), "记录类型") {
		t.Errorf("bad kind = %d %s", code, body)
	}
	code, body = get("/api/v1/records/export?kind=inspection&period=" + month)
	if code != 200 || len(sheet(t, body, "月度巡检")) != 2 {
		t.Errorf("export = %d (%d bytes)", code, len(body))
	}

	// The quarterly package holds every record kind, named in its index.
	_, zipped, err := m.Reports.Service.QuarterlyZip(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	index := sheet(t, files["00-目录.xlsx"], "目录")
	var rows []string
	for _, row := range index {
		rows = append(rows, strings.Join(row, " | "))
	}
	all := strings.Join(rows, "\n")
	t.Logf("quarterly index:\n%s", all)
	for _, w := range []string{"04-维护记录/月度巡检记录-", "月度巡检记录 1 条", "性能分析记录 0 条", "备份检查记录 1 条", "恢复演练记录 0 条",
		"应急演练记录 1 条", "04-维护记录/应急响应团队.xlsx | 应急响应团队联系人 3 人"} {
		if !strings.Contains(all, w) {
			t.Errorf("index lacks %q", w)
		}
	}
	if strings.Contains(all, "暂无") {
		t.Errorf("index still says the records are absent")
	}
	for name, data := range files {
		if strings.HasPrefix(name, "04-维护记录/月度巡检记录-") {
			if rows := sheet(t, data, "月度巡检"); len(rows) != 2 || rows[1][0] != rec.No {
				t.Errorf("packaged inspection workbook rows %q", rows)
			}
		}
	}
}

func sheet(t *testing.T, data []byte, name string) [][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open workbook: %v", err)
	}
	defer f.Close()
	rows, err := f.GetRows(name)
	if err != nil {
		t.Fatalf("sheet %s: %v (sheets %v)", name, err, f.GetSheetList())
	}
	return rows
}

// TestRecordsJobFires runs the records job as the scheduler does at its
// scheduled times: on Monday 21 December 2026 the demo's systems have no
// inspection, so the engineers are reminded; once a day, whatever the
// replicas; on a Sunday nobody is.
func TestRecordsJobFires(t *testing.T) {
	m, _ := openTestMain(t, nil)
	ctx := context.Background()
	sch := m.Reports.Scheduler
	keys := func() []string {
		es, err := m.DB.OutboxEntries(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			if strings.HasPrefix(e.Key, "remind/") {
				out = append(out, e.Key)
			}
		}
		return out
	}
	sunday := time.Date(2026, 12, 20, 9, 30, 0, 0, m.Config.Location)
	if ran, err := sch.Fire(ctx, "records", sunday); err != nil || !ran {
		t.Fatalf("Fire(Sunday) = %v, %v", ran, err)
	}
	if ks := keys(); len(ks) != 0 {
		t.Errorf("a Sunday reminded: %v", ks)
	}
	monday := sunday.AddDate(0, 0, 1)
	for range 2 {
		if _, err := sch.Fire(ctx, "records", monday); err != nil {
			t.Fatal(err)
		}
	}
	ks := strings.Join(keys(), " ")
	for _, w := range []string{"remind/inspection/2026-12-21", "remind/performance/2026Q4/", "remind/backup_check/", "remind/contract/20270101/30"} {
		if strings.Count(ks, w) != 1 {
			t.Errorf("reminders %s: want one %s", ks, w)
		}
	}
}
