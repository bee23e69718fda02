package pager_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, pager.Beijing)

func testPage(id string) pager.Page {
	return pager.Page{ID: id, TicketNumber: "1024", Mobile: "+86 138-0013-8000", Params: []pager.Param{{Name: "ticket", Value: "1024"}}}
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newRegistry(t *testing.T, once pager.Once, c *clock, routes []pager.Route, ns ...pager.Notifier) *pager.Registry {
	t.Helper()
	r, err := pager.NewRegistry(pager.Config{Routes: routes}, pager.Options{Once: once, Now: c.Now}, ns...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type summary struct {
	Provider  string
	Channel   pager.Channel
	Outcome   pager.Outcome
	MessageID string
}

func summarize(as []pager.Attempt) []summary {
	var out []summary
	for _, a := range as {
		out = append(out, summary{a.Provider, a.Channel, a.Outcome, a.MessageID})
	}
	return out
}

func fail(err error) func(context.Context, pager.Channel, pager.Page) (pager.Sent, error) {
	return func(context.Context, pager.Channel, pager.Page) (pager.Sent, error) { return pager.Sent{}, err }
}

func TestRegistryFallThrough(t *testing.T) {
	rejected := &pager.ProviderError{Provider: "a", HTTPStatus: 400, Code: "isv.TEMPLATE_MISSING"}
	throttled := &pager.ProviderError{Provider: "a", HTTPStatus: 200, Code: "isv.BUSINESS_LIMIT_CONTROL", Throttled: true}
	unknown := &pager.ProviderError{Provider: "a", HTTPStatus: 503, Code: "ServiceUnavailable", Unknown: true}
	routes := []pager.Route{{"a", pager.Voice}, {"b", pager.Voice}, {"a", pager.SMS}}
	tests := []struct {
		name     string
		aVoice   error
		bVoice   error
		aSMS     error
		channels []pager.Channel
		want     []summary
		wantErr  []error
	}{
		{
			name: "first route delivers",
			want: []summary{{"a", pager.Voice, pager.OutcomeSent, "a-p1-1"}},
		},
		{
			name:   "rejected call falls through to next voice provider",
			aVoice: rejected,
			want: []summary{
				{"a", pager.Voice, pager.OutcomeFailed, ""},
				{"b", pager.Voice, pager.OutcomeSent, "b-p1-1"},
			},
		},
		{
			name:   "throttled call falls through",
			aVoice: throttled,
			want: []summary{
				{"a", pager.Voice, pager.OutcomeThrottled, ""},
				{"b", pager.Voice, pager.OutcomeSent, "b-p1-1"},
			},
		},
		{
			name:   "call with unknown outcome blocks other calls but not SMS",
			aVoice: unknown,
			want: []summary{
				{"a", pager.Voice, pager.OutcomeFailed, ""},
				{"b", pager.Voice, pager.OutcomeSkipped, ""},
				{"a", pager.SMS, pager.OutcomeSent, "a-p1-2"},
			},
		},
		{
			name:   "timeout blocks other calls",
			aVoice: context.DeadlineExceeded,
			want: []summary{
				{"a", pager.Voice, pager.OutcomeFailed, ""},
				{"b", pager.Voice, pager.OutcomeSkipped, ""},
				{"a", pager.SMS, pager.OutcomeSent, "a-p1-2"},
			},
		},
		{
			name:     "channel filter",
			channels: []pager.Channel{pager.SMS},
			want:     []summary{{"a", pager.SMS, pager.OutcomeSent, "a-p1-1"}},
		},
		{
			name:   "all fail",
			aVoice: throttled, bVoice: rejected, aSMS: errors.New("boom"),
			want: []summary{
				{"a", pager.Voice, pager.OutcomeThrottled, ""},
				{"b", pager.Voice, pager.OutcomeFailed, ""},
				{"a", pager.SMS, pager.OutcomeFailed, ""},
			},
			wantErr: []error{pager.ErrUndelivered, pager.ErrThrottled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := map[string]error{"a/voice": tt.aVoice, "b/voice": tt.bVoice, "a/sms": tt.aSMS}
			mk := func(name string) *pagertest.Notifier {
				n := &pagertest.Notifier{Name: name}
				var mu sync.Mutex
				seq := 0
				n.SendFunc = func(_ context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error) {
					mu.Lock()
					defer mu.Unlock()
					seq++
					if err := errs[name+"/"+string(ch)]; err != nil {
						return pager.Sent{}, err
					}
					return pager.Sent{MessageID: name + "-" + p.ID + "-" + string(rune('0'+seq))}, nil
				}
				return n
			}
			r := newRegistry(t, &pagertest.Once{}, &clock{now: t0}, routes, mk("a"), mk("b"))
			p := testPage("p1")
			p.Channels = tt.channels
			got, err := r.Page(context.Background(), p)
			if diff := cmp.Diff(tt.want, summarize(got)); diff != "" {
				t.Errorf("attempts (-want +got):\n%s", diff)
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if tt.wantErr == nil && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			for _, a := range got {
				if (a.Outcome == pager.OutcomeSent) != (a.Err == nil) {
					t.Errorf("attempt %+v: Err must be nil exactly when sent", a)
				}
			}
		})
	}
}

func TestRegistryCallAtMostOnce(t *testing.T) {
	routes := []pager.Route{{"a", pager.Voice}, {"a", pager.SMS}}

	t.Run("second page with same id does not ring", func(t *testing.T) {
		n := &pagertest.Notifier{Name: "a"}
		once := &pagertest.Once{}
		r := newRegistry(t, once, &clock{now: t0}, routes, n)
		if _, err := r.Page(context.Background(), testPage("p1")); err != nil {
			t.Fatal(err)
		}
		got, err := r.Page(context.Background(), testPage("p1"))
		if err != nil {
			t.Fatal(err)
		}
		want := []summary{{"a", pager.Voice, pager.OutcomeDuplicate, ""}, {"a", pager.SMS, pager.OutcomeSent, "a-p1-2"}}
		if diff := cmp.Diff(want, summarize(got)); diff != "" {
			t.Errorf("attempts (-want +got):\n%s", diff)
		}
		if !errors.Is(got[0].Err, pager.ErrDuplicate) {
			t.Errorf("err = %v, want ErrDuplicate", got[0].Err)
		}
		if diff := cmp.Diff(map[string]time.Duration{pager.CallKey("p1"): 48 * time.Hour}, once.Keys()); diff != "" {
			t.Errorf("once keys (-want +got):\n%s", diff)
		}
	})

	t.Run("claim error never rings", func(t *testing.T) {
		n := &pagertest.Notifier{Name: "a"}
		storeDown := errors.New("redis down")
		r := newRegistry(t, &pagertest.Once{Err: storeDown}, &clock{now: t0}, routes, n)
		got, err := r.Page(context.Background(), testPage("p1"))
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Outcome != pager.OutcomeSkipped || !errors.Is(got[0].Err, storeDown) {
			t.Errorf("voice attempt = %+v, want skipped with the store error", got[0])
		}
		for _, c := range n.Calls() {
			if c.Channel == pager.Voice {
				t.Errorf("placed a call although the claim failed")
			}
		}
	})

	t.Run("concurrent pages across replicas ring once", func(t *testing.T) {
		n := &pagertest.Notifier{Name: "a"}
		once := &pagertest.Once{} // shared, like Redis across replicas
		c := &clock{now: t0}
		replicas := []*pager.Registry{
			newRegistry(t, once, c, routes[:1], n),
			newRegistry(t, once, c, routes[:1], n),
		}
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() { _, _ = replicas[i%2].Page(context.Background(), testPage("p1")) })
		}
		wg.Wait()
		if got := len(n.Calls()); got != 1 {
			t.Errorf("calls placed = %d, want 1", got)
		}
	})
}

func TestRegistryRateLimit(t *testing.T) {
	oneAMinute := pager.Limit{Rules: []pager.Rule{{Window: time.Minute, Max: 1}}}
	n := &pagertest.Notifier{Name: "a", Limits: map[pager.Channel]pager.Limit{pager.Voice: oneAMinute}}
	c := &clock{now: t0}
	r := newRegistry(t, &pagertest.Once{}, c, []pager.Route{{"a", pager.Voice}, {"a", pager.SMS}}, n)
	page := func(id string) []summary {
		t.Helper()
		got, err := r.Page(context.Background(), testPage(id))
		if err != nil {
			t.Fatal(err)
		}
		return summarize(got)
	}

	page("p1")
	c.Add(10 * time.Second)
	got := page("p2")
	want := []summary{{"a", pager.Voice, pager.OutcomeRateLimited, ""}, {"a", pager.SMS, pager.OutcomeSent, "a-p2-2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}

	// A duplicate of p1 after the window must give its slot back, or it
	// would block the real page p3.
	c.Add(time.Minute)
	page("p1")
	c.Add(time.Second)
	got = page("p3")
	if got[0].Outcome != pager.OutcomeSent {
		t.Errorf("p3 voice = %+v, want sent", got[0])
	}
	if calls := n.Calls(); len(calls) != 4 { // p1 voice, p2 sms, p1 sms, p3 voice
		t.Errorf("sends = %d, want 4", len(calls))
	}
}

func TestNewRegistryErrors(t *testing.T) {
	sms := &pagertest.Notifier{Name: "s", Chans: []pager.Channel{pager.SMS}}
	tests := []struct {
		name   string
		cfg    pager.Config
		once   pager.Once
		ns     []pager.Notifier
		errSub string
	}{
		{"no once", pager.Config{Routes: []pager.Route{{"s", pager.SMS}}}, nil, []pager.Notifier{sms}, "Once"},
		{"no routes", pager.Config{}, &pagertest.Once{}, []pager.Notifier{sms}, "no routes"},
		{"unknown provider", pager.Config{Routes: []pager.Route{{"x", pager.SMS}}}, &pagertest.Once{}, []pager.Notifier{sms}, "unknown provider"},
		{"unsupported channel", pager.Config{Routes: []pager.Route{{"s", pager.Voice}}}, &pagertest.Once{}, []pager.Notifier{sms}, "does not support"},
		{"duplicate provider", pager.Config{Routes: []pager.Route{{"s", pager.SMS}}}, &pagertest.Once{}, []pager.Notifier{sms, sms}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pager.NewRegistry(tt.cfg, pager.Options{Once: tt.once}, tt.ns...)
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Errorf("err = %v, want containing %q", err, tt.errSub)
			}
		})
	}
}

func TestRegistryInvalidPage(t *testing.T) {
	n := &pagertest.Notifier{Name: "a"}
	r := newRegistry(t, &pagertest.Once{}, &clock{now: t0}, []pager.Route{{"a", pager.SMS}}, n)
	for _, p := range []pager.Page{{Mobile: "13800138000"}, {ID: "x", Mobile: "12ab"}} {
		if _, err := r.Page(context.Background(), p); !errors.Is(err, pager.ErrInvalidPage) {
			t.Errorf("Page(%+v) err = %v, want ErrInvalidPage", p, err)
		}
	}
	if len(n.Calls()) != 0 {
		t.Errorf("invalid pages were sent")
	}
}

func TestRegistryMetrics(t *testing.T) {
	n := &pagertest.Notifier{Name: "a", Chans: []pager.Channel{pager.SMS}, SendFunc: fail(errors.New("boom"))}
	ok := &pagertest.Notifier{Name: "b"}
	r := newRegistry(t, &pagertest.Once{}, &clock{now: t0}, []pager.Route{{"a", pager.SMS}, {"b", pager.SMS}}, n, ok)
	if _, err := r.Page(context.Background(), testPage("p1")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r.Collectors()...)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[key] = c.GetValue()
			}
		}
	}
	want := map[string]float64{
		"weibao_pager_attempts_total,channel=sms,outcome=failed,provider=a": 1,
		"weibao_pager_attempts_total,channel=sms,outcome=sent,provider=b":   1,
		"weibao_pager_pages_total,result=delivered":                         1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestNationalNumber(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"13800138000", "13800138000", true},
		{"+8613800138000", "13800138000", true},
		{"008613800138000", "13800138000", true},
		{"86 138-0013-8000", "13800138000", true},
		{"057188886666", "057188886666", true},
		{"", "", false},
		{"1380013800a", "", false},
		{"+1 415 555 0100 00", "", false},
	}
	for _, tt := range tests {
		got, err := pager.NationalNumber(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NationalNumber(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDefaultRoutes(t *testing.T) {
	both := &pagertest.Notifier{Name: "aliyun", Chans: []pager.Channel{pager.Voice, pager.SMS}}
	sms := &pagertest.Notifier{Name: "tencent", Chans: []pager.Channel{pager.SMS}}
	hook := &pagertest.Notifier{Name: "webhook", Chans: []pager.Channel{pager.SMS, pager.Voice}}
	tests := []struct {
		name string
		ns   []pager.Notifier
		want []pager.Route
	}{
		{"none", nil, nil},
		{"voice before sms, providers in order", []pager.Notifier{both, sms, hook},
			[]pager.Route{{"aliyun", pager.Voice}, {"webhook", pager.Voice}, {"aliyun", pager.SMS}, {"tencent", pager.SMS}, {"webhook", pager.SMS}}},
		{"sms only", []pager.Notifier{sms}, []pager.Route{{"tencent", pager.SMS}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, pager.DefaultRoutes(tt.ns...)); diff != "" {
				t.Errorf("DefaultRoutes (-want +got):\n%s", diff)
			}
		})
	}
}
