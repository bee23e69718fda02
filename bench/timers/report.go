package main

import (
	"fmt"
	"io"
	"time"
)

type result struct {
	sys, run                      string
	n, fired, dups, misses, early int
	minLag, p50, p99, p999        time.Duration
	maxLag, drain                 time.Duration
	schedRate, cancelRate         float64       // per second
	bytes                         float64       // Redis memory per pending timer
	busy                          time.Duration // Redis command time during the run
	note                          string
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func printTables(w io.Writer, c config, rs []result) {
	find := func(sys, run string) (result, bool) {
		for _, r := range rs {
			if r.sys == sys && r.run == run {
				return r, true
			}
		}
		return result{}, false
	}
	fmt.Fprintf(w, "\n%d timers, %d replicas, lease %v, batch %d\n", c.n, c.replicas, c.lease, c.batch)
	section := func(run, title, head string, row func(r result) string) {
		var any bool
		for _, r := range rs {
			if r.run != run {
				continue
			}
			if !any {
				fmt.Fprintf(w, "\n%s\n\n%s\n", title, head)
				any = true
			}
			fmt.Fprintln(w, row(r))
		}
	}
	section("ops", "Schedule, cancel, memory", "| system | schedule/s | cancel/s | cancel µs/timer | bytes/timer | how |\n|---|---|---|---|---|---|",
		func(r result) string {
			return fmt.Sprintf("| %s | %.0f | %.0f | %.2f | %.0f | %s |", r.sys, r.schedRate, r.cancelRate, 1e6/r.cancelRate, r.bytes, r.note)
		})
	section("steady", fmt.Sprintf("Steady load, %d due/s, %v window", c.rate, c.window),
		"| system | fired | dup | miss | early | min lag | p50 | p99 | p99.9 | max | note |\n|---|---|---|---|---|---|---|---|---|---|---|",
		func(r result) string {
			return fmt.Sprintf("| %s | %d | %d | %d | %d | %s | %s | %s | %s | %s | %s |", r.sys, r.fired, r.dups, r.misses, r.early,
				ms(r.minLag), ms(r.p50), ms(r.p99), ms(r.p999), ms(r.maxLag), r.note)
		})
	section("burst", fmt.Sprintf("Burst, %d due at one instant", c.n),
		"| system | fired | dup | miss | early | min lag | p50 | p99 | drain (last fire − due) | Redis busy |\n|---|---|---|---|---|---|---|---|---|---|",
		func(r result) string {
			return fmt.Sprintf("| %s | %d | %d | %d | %d | %s | %s | %s | %s | %s |", r.sys, r.fired, r.dups, r.misses, r.early,
				ms(r.minLag), ms(r.p50), ms(r.p99), ms(r.drain), ms(r.busy))
		})
	section("chaos", "Chaos: replica processes, SIGKILL and FLUSHDB mid-run",
		"| system | timers | fired | dup fires | miss | early | p99 lag | max lag | what happened |\n|---|---|---|---|---|---|---|---|---|",
		func(r result) string {
			return fmt.Sprintf("| %s | %d | %d | %d | %d | %d | %s | %s | %s |", r.sys, r.n, r.fired, r.dups, r.misses, r.early,
				ms(r.p99), ms(r.maxLag), r.note)
		})
	wo, ok1 := find("weibao", "ops")
	ao, ok2 := find("asynq", "ops")
	ws, ok3 := find("weibao", "steady")
	as, ok4 := find("asynq", "steady")
	wb, ok5 := find("weibao", "burst")
	ab, ok6 := find("asynq", "burst")
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return
	}
	fmt.Fprintf(w, "\nRatios weibao/asynq (lower is better)\n\n| fire lag p99 | burst drain | cancel cost | memory/timer |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| %.3f | %.3f | %.3f | %.3f |\n",
		float64(ws.p99)/float64(as.p99), float64(wb.drain)/float64(ab.drain), ao.cancelRate/wo.cancelRate, wo.bytes/ao.bytes)
}
