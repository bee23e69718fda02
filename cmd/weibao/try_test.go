package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTryShowsPages: on /try, an acknowledgement that does not come rings
// the phones, and the page shows the calls and texts as text.
func TestTryShowsPages(t *testing.T) {
	m := runTry(t, nil)
	say := func(text string) {
		t.Helper()
		body := `{"as":"nurse1","in":"demo-med-icu","text":"` + text + `"}`
		res, err := http.Post(m.URL()+"/try/say", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("say %q = %d", text, res.StatusCode)
		}
	}
	for _, l := range []string{"内科ICU护士站电脑登不上重症系统", "1", "2", "2", "/later 11m"} {
		say(l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL()+"/try/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var seen strings.Builder
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			seen.WriteString(sc.Text() + "\n")
		}
		// Which escalation point's call comes first (a reminder or the
		// breach) depends on the order the due timers are claimed.
		if l := sc.Text(); strings.Contains(l, `"kind":"page"`) && strings.Contains(l, "语音电话") && strings.Contains(l, "F20") {
			return
		}
	}
	t.Fatalf("no phone call shown on /try after the acknowledgement's deadline passed (%v); the transcript:\n%s", sc.Err(), seen.String())
}
