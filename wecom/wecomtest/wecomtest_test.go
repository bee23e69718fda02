package wecomtest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"weibao/wecom/wecomtest"
)

// lenient records the fake's complaints instead of failing the test, so
// that refusals can be checked.
type lenient struct {
	*testing.T
	mu   sync.Mutex
	errs []string
}

func (l *lenient) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

func call(t *testing.T, method, url, contentType string, body []byte) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %s", url, b)
	}
	return out
}

func form(field, name, filelength string, data []byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := map[string][]string{"Content-Disposition": {fmt.Sprintf(`form-data; name=%q; filename=%q; filelength=%s`, field, name, filelength)}}
	p, _ := mw.CreatePart(h)
	p.Write(data)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// TestFakeUploadsAndFileMessages: the fake issues media ids only for
// well-formed uploads with valid credentials, and takes a file message only
// with a media id it issued to the same sender.
func TestFakeUploadsAndFileMessages(t *testing.T) {
	tb := &lenient{T: t}
	fake := wecomtest.New(tb)
	tok := call(t, "GET", fake.URL+"/cgi-bin/gettoken?corpid="+wecomtest.CorpID+"&corpsecret="+wecomtest.Secret, "", nil)["access_token"].(string)
	data := []byte("PK\x03\x04 workbook")
	upload := func(path, field, name, length string) map[string]any {
		ct, body := form(field, name, length, data)
		return call(t, "POST", fake.URL+path, ct, body)
	}
	app := "/cgi-bin/media/upload?type=file&access_token=" + tok
	hook := "/cgi-bin/webhook/upload_media?type=file&key=" + wecomtest.WebhookKey
	okApp := upload(app, "media", "月报.xlsx", fmt.Sprint(len(data)))
	okHook := upload(hook, "media", "月报.xlsx", fmt.Sprint(len(data)))
	appID, _ := okApp["media_id"].(string)
	hookID, _ := okHook["media_id"].(string)
	if appID == "" || hookID == "" || len(tb.errs) != 0 {
		t.Fatalf("good uploads: %v %v, complaints %q", okApp, okHook, tb.errs)
	}
	refused := []struct {
		name string
		res  map[string]any
	}{
		{"bad token", upload("/cgi-bin/media/upload?type=file&access_token=nope", "media", "a.xlsx", fmt.Sprint(len(data)))},
		{"bad webhook key", upload("/cgi-bin/webhook/upload_media?type=file&key=nope", "media", "a.xlsx", fmt.Sprint(len(data)))},
		{"wrong field", upload(app, "file", "a.xlsx", fmt.Sprint(len(data)))},
		{"no file name", upload(app, "media", "", fmt.Sprint(len(data)))},
		{"wrong filelength", upload(app, "media", "a.xlsx", "3")},
		{"not type=file", upload(strings.Replace(app, "type=file", "type=image", 1), "media", "a.xlsx", fmt.Sprint(len(data)))},
		{"not multipart", call(t, "POST", fake.URL+app, "application/json", []byte(`{}`))},
	}
	for _, r := range refused {
		if code, _ := r.res["errcode"].(float64); code == 0 {
			t.Errorf("%s: accepted: %v", r.name, r.res)
		}
	}
	send := func(path, id string) float64 {
		body := fmt.Appendf(nil, `{"touser":"lead","agentid":1000002,"msgtype":"file","file":{"media_id":%q}}`, id)
		code, _ := call(t, "POST", fake.URL+path, "application/json", body)["errcode"].(float64)
		return code
	}
	msgSend := "/cgi-bin/message/send?access_token=" + tok
	webhook := "/cgi-bin/webhook/send?key=" + wecomtest.WebhookKey
	for _, c := range []struct {
		name, path, id string
		ok             bool
	}{
		{"app file with the app's media id", msgSend, appID, true},
		{"webhook file with the webhook's media id", webhook, hookID, true},
		{"app file with a webhook media id", msgSend, hookID, false},
		{"webhook file with an app media id", webhook, appID, false},
		{"app file with an invented media id", msgSend, "media-forged", false},
		{"app file without a media id", msgSend, "", false},
	} {
		if got := send(c.path, c.id) == 0; got != c.ok {
			t.Errorf("%s: accepted %v, want %v", c.name, got, c.ok)
		}
	}
}
