// Command soak proves the whole service under faults: it starts 3 `weibao
// serve` processes (built from this tree) on MariaDB (a database of its own,
// behind a pausable TCP proxy) and a redis-server of its own, behind a
// round-robin HTTP proxy, with a fake WeCom and a fake phone gateway; it
// drives nurses, engineers and reporters through the robot and app
// callbacks, injects the faults in turn, and checks the invariants from the
// database and the fakes' logs after each fault and at the end.
//
//	go run ./bench/soak -scenarios all -gap 60s          # the long form
//	go run ./bench/soak -scenarios kill,redis-restart    # the CI short form's faults
//	go run ./bench/soak -throughput 20s                  # callbacks/s, 3 replicas vs 1
//
// It needs MariaDB (-mysql) and redis-server on PATH; it never touches the
// shared Redis.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	var opt options
	flag.StringVar(&opt.MySQL, "mysql", "root@tcp(127.0.0.1:3306)", "MariaDB to create the run's database on (user@tcp(host:port))")
	flag.IntVar(&opt.Replicas, "replicas", 3, "weibao serve processes")
	list := flag.String("scenarios", "kill,redis-restart", "fault scenarios in order, or all: "+strings.Join(scenarioOrder, ","))
	flag.DurationVar(&opt.Warmup, "warmup", 20*time.Second, "load before the first fault")
	flag.DurationVar(&opt.Gap, "gap", 20*time.Second, "load after each fault's recovery")
	flag.DurationVar(&opt.Every, "every", 12*time.Second, "a new report every (on average; the on-call engineer's cards are limited to 30 a minute)")
	flag.Float64Var(&opt.Noise, "noise", 4, "background 1:1 callbacks per second")
	flag.DurationVar(&opt.Drain, "drain", 3*time.Minute, "at most this long for the stories to finish at the end")
	flag.BoolVar(&opt.Keep, "keep", false, "keep the work directory and the database")
	throughput := flag.Duration("throughput", 0, "instead: measure sustained callbacks/s for this long with all replicas, then with one")
	flag.Parse()
	opt.Scenarios = strings.Split(*list, ",")
	if *list == "all" {
		opt.Scenarios = scenarioOrder
	}
	opt.Out = os.Stdout
	root, err := os.Getwd()
	if err == nil {
		opt.Root, err = moduleRoot(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *throughput > 0 {
		err = measureThroughput(ctx, opt, *throughput)
	} else {
		var res *result
		res, err = soakRun(ctx, opt)
		if err == nil && res.Failed() > 0 {
			err = fmt.Errorf("%d invariant violations", res.Failed())
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// moduleRoot is the directory of go.mod at or above dir.
func moduleRoot(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(d + "/go.mod"); err == nil {
			return d, nil
		}
		parent := d[:max(0, strings.LastIndex(d, "/"))]
		if parent == "" || parent == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
		d = parent
	}
}

// soakRun starts the harness, runs it, prints the tables and stops it.
func soakRun(ctx context.Context, opt options) (*result, error) {
	s, err := start(ctx, opt)
	if err != nil {
		return nil, err
	}
	defer s.close()
	res, err := s.run(ctx)
	if err != nil {
		return nil, err
	}
	printResult(opt.Out, res)
	if res.Failed() > 0 && !s.opt.Keep {
		s.opt.Keep = true // the evidence: logs, journals and the database
		fmt.Fprintf(opt.Out, "kept %s and database %s\n", s.dir, s.dbName)
	}
	return res, nil
}

func printResult(out io.Writer, res *result) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\n%d reports in %s\n\n", res.Reports, res.Elapsed.Round(time.Second))
	fmt.Fprintln(w, "scenario\tfault\trecovered after\tcallbacks not answered 200 (retried)\treplies: p50 / max wait\treplies missing or 系统繁忙\tinvariant violations")
	for _, f := range res.Faults {
		// What users saw from the fault's start until it was recovered from
		// (and at least 20 s after its end, for an instant fault like FLUSHALL).
		win := window(res.Users, f.Start, f.End.Add(max(20*time.Second, f.Recovered)))
		fmt.Fprintf(w, "%s\t%s\t%s\t%d of %d\t%s / %s\t%d\t%d\n", f.Name, f.End.Sub(f.Start).Round(100*time.Millisecond), recovered(f.Recovered),
			win.refused, win.answers, win.p50, win.max, win.badReplies, bad(f.Invariants))
	}
	all := window(res.Users, time.Time{}, time.Now())
	fmt.Fprintf(w, "whole run\t\t\t%d of %d\t%s / %s\t%d\t%d\n", all.refused, all.answers, all.p50, all.max, all.badReplies, bad(res.Final))
	w.Flush()

	fmt.Fprintln(w, "\ninvariant (final check)\tchecked\tviolations\texamples")
	for _, inv := range res.Final {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", inv.Name, inv.Checked, inv.Bad, strings.Join(inv.Examples, "; "))
	}
	for _, f := range res.Faults {
		for _, inv := range f.Invariants {
			if inv.Bad > 0 {
				fmt.Fprintf(w, "after %s: %s\t%d\t%d\t%s\n", f.Name, inv.Name, inv.Checked, inv.Bad, strings.Join(inv.Examples, "; "))
			}
		}
	}
	if len(res.Fakes) > 0 {
		fmt.Fprintf(w, "fake WeCom refused malformed calls\t\t%d\t%s\n", len(res.Fakes), strings.Join(res.Fakes[:min(3, len(res.Fakes))], "; "))
	}
	w.Flush()
	errs := map[string]int{}
	for _, o := range res.Users {
		if o.Error != "" {
			errs[o.Kind+": "+o.Error]++
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "\nwhat users saw\tcount")
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range errs {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			fmt.Fprintf(w, "%.120s\t%d\n", k, errs[k])
		}
		w.Flush()
	}
}

func bad(invs []invariant) int {
	n := 0
	for _, inv := range invs {
		n += inv.Bad
	}
	return n
}

type userWindow struct {
	answers, refused, badReplies int
	p50, max                     time.Duration
}

// window sums what users saw from from to to.
func window(obs []observation, from, to time.Time) userWindow {
	var w userWindow
	var waits []time.Duration
	for _, o := range obs {
		if o.At.Before(from) || o.At.After(to) {
			continue
		}
		switch o.Kind {
		case "answer":
			w.answers++
			if !o.OK {
				w.refused++
			}
		case "reply":
			if !o.OK {
				w.badReplies++
			} else {
				waits = append(waits, o.Wait)
			}
		}
	}
	if len(waits) > 0 {
		slices.Sort(waits)
		w.p50 = waits[len(waits)/2].Round(time.Millisecond)
		w.max = waits[len(waits)-1].Round(time.Millisecond)
	}
	return w
}
