// Command callbacks is a load tool for weibao's robot callback endpoint: it
// posts signed, encrypted group messages (and a share of WeCom-style
// retries) at a fixed rate, measures answer times, and with -mysql checks
// afterwards that every message was stored and handled exactly once.
//
//	go run ./bench/callbacks -url http://127.0.0.1:8080/wecom/bot -rate 2000 -duration 30s \
//	    -mysql 'root@tcp(127.0.0.1:3306)/weibao'
package main

import (
	"bufio"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/wecom/bot", "robot callback URL")
	token := flag.String("token", wecomtest.BotToken, "robot token")
	key := flag.String("aeskey", wecomtest.BotAESKey, "robot EncodingAESKey")
	rate := flag.Int("rate", 2000, "callbacks per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	workers := flag.Int("workers", 256, "concurrent senders")
	dup := flag.Float64("dup", 0.05, "share of callbacks sent twice, as WeCom's retries are")
	dsn := flag.String("mysql", "", "weibao's database DSN, to check stored and handled counts")
	flag.Parse()
	if err := run(*url, *token, *key, *rate, *duration, *workers, *dup, *dsn); err != nil {
		fmt.Fprintln(os.Stderr, "callbacks:", err)
		os.Exit(1)
	}
}

func run(url, token, key string, rate int, duration time.Duration, workers int, dup float64, dsn string) error {
	c, err := wecom.NewCrypto(token, key, "")
	if err != nil {
		return err
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	total := int(float64(rate) * duration.Seconds())
	u, err := neturl.Parse(url)
	if err != nil {
		return err
	}
	// Requests are built, encrypted and serialised before the clock starts,
	// and sent as raw HTTP/1.1 on kept-alive connections: the tool shares
	// the two cores with what it measures, and net/http's client cost it
	// about twice the CPU.
	var reqs [][]byte
	every := 0
	if dup > 0 {
		every = int(1 / dup)
	}
	wire := func(q neturl.Values, body []byte) []byte {
		return fmt.Appendf(nil, "POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			u.Path, q.Encode(), u.Host, len(body), body)
	}
	for i := 0; len(reqs) < total; i++ {
		msg := fmt.Sprintf(`{"msgid":"%s-%d","aibotid":"bench","chatid":"wrd%d","chattype":"group","from":{"userid":"nurse%d"},"msgtype":"text","text":{"content":"@运维助手 监护仪黑屏 %d"}}`,
			runID, i, i%20, i%50, i)
		reqs = append(reqs, wire(wecomtest.RobotCallback(c, time.Now(), msg)))
		if every > 0 && i%every == 0 && len(reqs) < total {
			reqs = append(reqs, wire(wecomtest.RobotCallback(c, time.Now(), msg))) // a retry: same message, new signature
		}
	}
	lat := make([]time.Duration, len(reqs))
	var bad, failed atomic.Int64
	jobs := make(chan int, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var conn net.Conn
			var br *bufio.Reader
			for i := range jobs {
				if conn == nil {
					c, err := net.Dial("tcp", u.Host)
					if err != nil {
						failed.Add(1)
						continue
					}
					conn = c
					br = bufio.NewReader(conn)
				}
				start := time.Now()
				conn.SetDeadline(start.Add(5 * time.Second))
				_, err := conn.Write(reqs[i])
				var res *http.Response
				if err == nil {
					res, err = http.ReadResponse(br, nil)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if err != nil {
					failed.Add(1)
					conn.Close()
					conn = nil
					continue
				}
				lat[i] = time.Since(start)
				if res.StatusCode != http.StatusOK {
					bad.Add(1)
				}
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
	cpu0 := readCPU()
	start := time.Now()
	tick := time.Second / time.Duration(rate)
	for i := range reqs {
		if wait := time.Until(start.Add(time.Duration(i) * tick)); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := readCPU()
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("sent %d callbacks (%d unique messages) in %s: %.0f/s\n", len(reqs), countUnique(len(reqs), every), elapsed.Round(time.Millisecond), float64(len(reqs))/elapsed.Seconds())
	fmt.Printf("non-200: %d, transport errors: %d\n", bad.Load(), failed.Load())
	fmt.Printf("answer time p50 %s  p90 %s  p99 %s  max %s\n", pct(.5), pct(.9), pct(.99), lat[len(lat)-1])
	if cpu0 != nil && cpu1 != nil {
		// Steal is time the hypervisor ran something else while this VM's
		// vCPUs wanted to run; on a shared host it moves the tail more
		// than anything in weibao.
		var d [8]float64
		total := 0.0
		for i := range d {
			d[i] = cpu1[i] - cpu0[i]
			total += d[i]
		}
		busy := d[0] + d[1] + d[2] + d[5] + d[6]
		fmt.Printf("machine during the run: busy %.0f%%, steal %.1f%% of vCPU time\n", 100*busy/total, 100*d[7]/total)
	}
	if dsn == "" {
		return nil
	}
	return verify(dsn, runID, countUnique(len(reqs), every))
}

// readCPU returns the first eight fields of /proc/stat's cpu line (user,
// nice, system, idle, iowait, irq, softirq, steal), or nil off Linux.
func readCPU() []float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return nil
	}
	v := make([]float64, 8)
	for i := range v {
		v[i], _ = strconv.ParseFloat(f[i+1], 64)
	}
	return v
}

// countUnique is how many distinct messages n requests carried.
func countUnique(n, every int) int {
	u, sent := 0, 0
	for i := 0; sent < n; i++ {
		u++
		sent++
		if every > 0 && i%every == 0 && sent < n {
			sent++
		}
	}
	return u
}

// verify waits for the inbox to drain and compares stored and handled rows
// with the messages sent.
func verify(dsn, runID string, want int) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	like := "robot:" + runID + "-%"
	deadline := time.Now().Add(60 * time.Second)
	for {
		var stored, handled int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(status = 'done'), 0) FROM inbox WHERE msg_id LIKE ?", like).Scan(&stored, &handled)
		if err != nil {
			return err
		}
		if handled == want || time.Now().After(deadline) {
			fmt.Printf("stored %d, handled %d, expected %d: lost %d, duplicated %d\n", stored, handled, want, max(0, want-stored), max(0, stored-want))
			if stored != want || handled != want {
				return fmt.Errorf("inbox does not match what was sent")
			}
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}
