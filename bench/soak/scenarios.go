package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// scenario is one fault: inject returns when the fault has ended; await,
// if set, waits for the moment to inject it.
type scenario struct {
	desc   string
	inject func(ctx context.Context, s *soak) error
	await  func(ctx context.Context, s *soak)
}

// scenarioOrder is every scenario, in the long form's order.
var scenarioOrder = []string{"kill", "kill-timers", "redis-restart", "redis-flush", "db-outage", "wecom-5xx",
	"wecom-ratelimit", "wecom-token", "wecom-refused", "phone-down"}

var scenarios = map[string]scenario{
	"kill": {"SIGKILL replica 2 mid-dialogue, restart it 3 s later (its journal replays)", func(ctx context.Context, s *soak) error {
		return s.killRestart(ctx, s.replicas[min(1, len(s.replicas)-1)], 3*time.Second)
	}, nil},
	"kill-timers": {"SIGKILL replica 3 right after an SLA timer came due (mid-claim), restart it 3 s later", func(ctx context.Context, s *soak) error {
		return s.killRestart(ctx, s.replicas[len(s.replicas)-1], 3*time.Second)
	}, func(ctx context.Context, s *soak) {
		// Wait for a reminder, breach or escalation to be written: timers
		// are being claimed and fired across the replicas now.
		var before int
		s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM ticket_events WHERE kind IN ('reminded','breached','escalated')").Scan(&before)
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM ticket_events WHERE kind IN ('reminded','breached','escalated')").Scan(&n)
			if n > before {
				break
			}
			sleep(ctx, 50*time.Millisecond)
		}
	}},
	"redis-restart": {"stop Redis (SIGTERM, AOF kept) for 8 s, then start it again", func(ctx context.Context, s *soak) error {
		s.redis.stop()
		sleep(ctx, 8*time.Second)
		return s.redis.start()
	}, nil},
	"redis-flush": {"FLUSHALL Redis (timers, dialogues, dedupe keys, locks gone)", func(ctx context.Context, s *soak) error {
		return s.redis.flushAll()
	}, nil},
	"db-outage": {"database proxy paused 10 s (every byte held), then refusing and resetting 15 s", func(ctx context.Context, s *soak) error {
		s.dbProxy.pause()
		sleep(ctx, 10*time.Second)
		s.dbProxy.down()
		s.dbProxy.resume()
		sleep(ctx, 15*time.Second)
		return s.dbProxy.up()
	}, nil},
	"wecom-5xx": {"WeCom API answers HTTP 503 for 20 s", func(ctx context.Context, s *soak) error {
		return s.wecomFault(ctx, 20*time.Second, func(w http.ResponseWriter) { http.Error(w, "injected", http.StatusServiceUnavailable) })
	}, nil},
	"wecom-ratelimit": {"WeCom API answers errcode 45009 (rate limit) for 20 s", func(ctx context.Context, s *soak) error {
		return s.wecomFault(ctx, 20*time.Second, func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"errcode":45009,"errmsg":"api freq out of limit"}`)
		})
	}, nil},
	"wecom-token": {"WeCom expires the access token every second for 20 s (42001)", func(ctx context.Context, s *soak) error {
		end := time.Now().Add(20 * time.Second)
		for time.Now().Before(end) {
			s.wecom.fake.ExpireToken()
			sleep(ctx, time.Second)
		}
		return nil
	}, nil},
	"wecom-refused": {"WeCom API refuses connections for 20 s", func(ctx context.Context, s *soak) error {
		s.wecom.gate.down()
		sleep(ctx, 20*time.Second)
		return s.wecom.gate.up()
	}, nil},
	"phone-down": {"phone gateway answers 503 for 20 s, then refuses connections for 20 s", func(ctx context.Context, s *soak) error {
		s.phone.gate.setFail(func(w http.ResponseWriter, r *http.Request) bool {
			http.Error(w, "injected", http.StatusServiceUnavailable)
			return true
		})
		sleep(ctx, 20*time.Second)
		s.phone.gate.setFail(nil)
		s.phone.gate.down()
		sleep(ctx, 20*time.Second)
		return s.phone.gate.up()
	}, nil},
}

func (s *soak) killRestart(ctx context.Context, r *replica, down time.Duration) error {
	r.kill()
	sleep(ctx, down)
	return r.start()
}

// wecomFault answers every API call but gettoken with fail for d (the
// robot's response_url included: it is WeCom's API too).
func (s *soak) wecomFault(ctx context.Context, d time.Duration, fail func(w http.ResponseWriter)) error {
	s.wecom.gate.setFail(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/cgi-bin/gettoken" {
			return false
		}
		fail(w)
		return true
	})
	sleep(ctx, d)
	s.wecom.gate.setFail(nil)
	return nil
}
