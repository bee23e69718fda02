package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"weibao/wecom/wecomtest"
)

// measureThroughput sends callbacks as fast as 64 senders can through the
// balancer (1:1 messages asking for help, each answered by the bot through
// the outbox) for d with every replica, then, once that backlog is handled,
// for d with one, and prints callbacks/s and answer times.
func measureThroughput(ctx context.Context, opt options, d time.Duration) error {
	s, err := start(ctx, opt)
	if err != nil {
		return err
	}
	defer s.close()
	fmt.Fprintln(opt.Out, "replicas\tcallbacks\tcallbacks/s\tp50\tp99\tnot 200")
	var rates []float64
	for _, n := range []int{len(s.replicas), 1} {
		// The other replicas stop (gracefully: their journals are stored) so
		// that one replica has the machine's share of all of them.
		for _, r := range s.replicas[n:] {
			r.stop()
		}
		rate, line := s.blast(ctx, n, d)
		rates = append(rates, rate)
		fmt.Fprintln(opt.Out, line)
		// The backlog drains before the next measure.
		fmt.Fprintf(opt.Out, "\tinbox and outbox drained %s after the sending stopped\n", recovered(s.recover(ctx, time.Now(), 3*time.Minute)))
	}
	fmt.Fprintf(opt.Out, "scaling ratio %d replicas / 1: %.2f\n", len(s.replicas), rates[0]/rates[1])
	return nil
}

func (s *soak) blast(ctx context.Context, replicas int, d time.Duration) (float64, string) {
	var (
		mu   sync.Mutex
		lat  []time.Duration
		bad  atomic.Int64
		seq  atomic.Int64
		wg   sync.WaitGroup
		hc   = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
		end  = time.Now().Add(d)
		from = time.Now()
	)
	for range 64 {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				n := seq.Add(1)
				msg := fmt.Sprintf(`{"msgid":"tp%s-%d-%d","aibotid":%q,"chattype":"single","from":{"userid":"tpuser%d"},"response_url":%q,"msgtype":"text","text":{"content":"帮助"}}`,
					s.users.run, replicas, n, wecomtest.BotID, n%500, s.wecom.gate.URL()+fmt.Sprintf("/cgi-bin/aibot/response?response_code=tp%s-%d-%d", s.users.run, replicas, n))
				q, b := wecomtest.RobotCallback(wecomtest.RobotCrypto(), time.Now(), msg)
				t0 := time.Now()
				res, err := hc.Post(s.lbURL+"/wecom/bot?"+q.Encode(), "application/json", bytes.NewReader(b))
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					bad.Add(1)
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(from)
	slices.Sort(lat)
	if len(lat) == 0 {
		return 0, fmt.Sprintf("%d\t0\t0\t-\t-\t%d", replicas, bad.Load())
	}
	rate := float64(len(lat)) / el.Seconds()
	return rate, fmt.Sprintf("%d\t%d\t%.0f\t%s\t%s\t%d", replicas, len(lat), rate,
		lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond), bad.Load())
}
