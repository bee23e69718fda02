package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// freePort returns a port free on 127.0.0.1 right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// buildWeibao builds `weibao` from the tree into dir.
func buildWeibao(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "weibao")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/weibao")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// redisServer is the harness's own redis-server: stopped, restarted and
// flushed by the scenarios, never the shared one. Its append-only file
// makes a restart keep the data, as a production Redis does.
type redisServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(dir string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{port: port, dir: dir}
	return r, r.start()
}

func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server is needed (apt-get install redis-server): %w", err)
	}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.done) }()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	for range 100 {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("redis-server did not answer")
}

// stop shuts Redis down as a restart does (SIGTERM: it writes its AOF).
func (r *redisServer) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	<-r.done
}

func (r *redisServer) flushAll() error {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.port)})
	defer c.Close()
	return c.FlushAll(context.Background()).Err()
}

// tcpProxy forwards a local port to the shared MariaDB and can hold every
// byte (paused) or refuse and reset every connection (down), standing in
// for a database restart without touching the shared server.
type tcpProxy struct {
	addr, upstream string
	mu             sync.Mutex
	l              net.Listener
	conns          map[net.Conn]bool
	paused         chan struct{} // closed when not paused
}

func startTCPProxy(upstream string) (*tcpProxy, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &tcpProxy{addr: fmt.Sprintf("127.0.0.1:%d", port), upstream: upstream, conns: map[net.Conn]bool{}, paused: make(chan struct{})}
	close(p.paused)
	return p, p.up()
}

func (p *tcpProxy) up() error {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return nil
}

// down closes the listener (new connections are refused) and resets every
// open connection.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.l.Close()
	for c := range p.conns {
		c.Close()
	}
}

func (p *tcpProxy) pause() {
	p.mu.Lock()
	p.paused = make(chan struct{})
	p.mu.Unlock()
}

func (p *tcpProxy) resume() {
	p.mu.Lock()
	select {
	case <-p.paused:
	default:
		close(p.paused)
	}
	p.mu.Unlock()
}

func (p *tcpProxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *tcpProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

func (p *tcpProxy) serve(c net.Conn) {
	<-p.gate()
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, true)
	p.track(u, true)
	defer func() { p.track(c, false); p.track(u, false); c.Close(); u.Close() }()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				<-p.gate()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
	}
	wg.Add(2)
	go pipe(u, c)
	go pipe(c, u)
	wg.Wait()
}

// replica is one `weibao serve` process.
type replica struct {
	n     int
	addr  string
	bin   string
	cfg   string
	env   []string
	log   string
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	alive atomic.Bool
}

func (r *replica) URL() string { return "http://" + r.addr }

func (r *replica) start() error {
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, "serve", "--config", r.cfg)
	// The configuration is the harness's alone: none of the caller's
	// WEIBAO_ variables (the tests' own, say) reaches a replica.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "WEIBAO_") })
	cmd.Env = append(cmd.Env, r.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			log, _ := os.ReadFile(r.log)
			return fmt.Errorf("replica %d exited at start: %s", r.n, log[max(0, len(log)-1000):])
		default:
		}
		res, err := healthClient.Get(r.URL() + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				r.alive.Store(true)
				return nil
			}
			err = fmt.Errorf("HTTP %d", res.StatusCode)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("replica %d not healthy in 60s: %v (log %s)", r.n, lastErr, r.log)
}

var healthClient = &http.Client{Timeout: 2 * time.Second}

// kill is SIGKILL: no shutdown, the journal and leases as they are.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	r.alive.Store(false)
	cmd.Process.Kill()
	<-done
}

// stop is a graceful shutdown (SIGTERM).
func (r *replica) stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	r.alive.Store(false)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// balancer is a tiny round-robin HTTP proxy in front of the replicas, as a
// load balancer without health checks would be, except that a refused
// connection is tried on the next replica (what any LB does).
type balancer struct {
	replicas []*replica
	next     atomic.Uint64
	client   *http.Client
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := b.next.Add(1)
	var lastErr error
	for i := range len(b.replicas) {
		rep := b.replicas[(int(start)+i)%len(b.replicas)]
		if !rep.alive.Load() {
			continue
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, rep.URL()+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := b.client.Do(req)
		if err != nil {
			lastErr = err
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				continue // refused: the next replica
			}
			break
		}
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
		res.Body.Close()
		return
	}
	http.Error(w, fmt.Sprint("no replica answered: ", lastErr), http.StatusBadGateway)
}

// createDatabase makes a fresh database for the run on the shared MariaDB.
func createDatabase(base, name string) error {
	db, err := sql.Open("mysql", base+"/")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
		return err
	}
	_, err = db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4")
	return err
}
