// Command rss-endless measures the gateway's memory through a reply that
// never ends by itself: an OpenAI-compatible upstream of its own streams
// one-character deltas as fast as the gateway reads them for -stream, the
// gateway (RESPONDER=openai, the binary given by -server) relays them, and
// the tool samples the server's RSS from /proc/PID/status before, during and
// after the run. With -redis-url it runs the gateway on Redis and samples the
// size of the run's progress there too.
//
// Everything is on loopback and bounded in time: the upstream stops after
// -stream, the reply after REPLY_TIMEOUT, the tool after -after past the
// reply. scripts/rss-endless.sh builds the server and runs it; see
// docs/benchmarks.md for the figures.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rss-endless:", err)
		os.Exit(1)
	}
}

type options struct {
	server, redisURL string
	stream, after    time.Duration
	env              string
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("rss-endless", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.server, "server", "", "the gateway binary (required)")
	fs.StringVar(&o.redisURL, "redis-url", "", "run the gateway on this Redis (REDIS_URL) and sample the run's keys")
	fs.DurationVar(&o.stream, "stream", 12*time.Second, "how long the upstream streams")
	fs.DurationVar(&o.after, "after", 10*time.Second, "how long to sample after the reply")
	fs.StringVar(&o.env, "env", "", "extra environment for the server, comma-separated NAME=value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.server == "" {
		return errors.New("-server is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.stream+o.after+2*time.Minute)
	defer cancel()

	up, err := startUpstream(o.stream)
	if err != nil {
		return err
	}
	defer up.srv.Close()
	srv, err := startServer(ctx, o, up.baseURL())
	if err != nil {
		return err
	}
	defer srv.stop()

	idle := rss(srv.pid())
	s := &sampler{pid: srv.pid()}
	if o.redisURL != "" {
		opts, err := redis.ParseURL(o.redisURL)
		if err != nil {
			return err
		}
		s.rdb = redis.NewClient(opts)
		defer s.rdb.Close()
	}
	stop := s.start(ctx)
	t0 := time.Now()
	status, body, err := sendMessage(ctx, srv.addr)
	took := time.Since(t0)
	stop()
	if err != nil {
		return err
	}
	after := s.settle(ctx, o.after, out)
	fmt.Fprintf(out, "server          %s\n", o.server)
	fmt.Fprintf(out, "engine          %s\n", map[bool]string{true: "redis", false: "memory"}[o.redisURL != ""])
	fmt.Fprintf(out, "upstream        wrote %d deltas (streams for %s, or until the gateway hangs up)\n", up.sent.Load(), o.stream)
	fmt.Fprintf(out, "reply           HTTP %d after %s, %s\n", status, took.Round(time.Millisecond), describe(body))
	fmt.Fprintf(out, "rss idle        %.1f MB\n", mb(idle))
	fmt.Fprintf(out, "rss peak        %.1f MB (VmHWM %.1f MB)\n", mb(s.peak.Load()), mb(hwm(srv.pid())))
	fmt.Fprintf(out, "rss after       %.1f MB (%s after the reply)\n", mb(after), o.after)
	if s.rdb != nil {
		fmt.Fprintf(out, "redis run keys  peak %.2f MB (MEMORY USAGE of the run's keys)\n", mb(s.redisPeak.Load()))
	}
	return nil
}

func mb(b int64) float64 { return float64(b) / 1e6 }

// describe summarises the reply without printing megabytes of it.
func describe(body []byte) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d bytes", len(body))
	for _, key := range []string{`"finishReason":"`, `"code":"`} {
		if i := bytes.Index(body, []byte(key)); i >= 0 {
			rest := body[i+len(key):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 {
				fmt.Fprintf(&sb, ", %s%s", strings.Trim(key, `:"`)+" ", rest[:j])
			}
		}
	}
	return sb.String()
}

// upstream streams one-character content deltas for d, then a finish.
type upstream struct {
	srv  *http.Server
	ln   net.Listener
	d    time.Duration
	sent atomic.Int64
}

func startUpstream(d time.Duration) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &upstream{ln: ln, d: d}
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

func (u *upstream) baseURL() string { return "http://" + u.ln.Addr().String() + "/v1" }

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	chunk := []byte(`data: {"id":"e","object":"chat.completion.chunk","created":1,"model":"endless","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}` + "\n\n")
	end := time.Now().Add(u.d)
	for i := 0; ; i++ {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		u.sent.Add(1)
		if i%16 == 0 {
			f.Flush()
			if time.Now().After(end) {
				break
			}
		}
	}
	_, _ = io.WriteString(w, `data: {"id":"e","object":"chat.completion.chunk","created":1,"model":"endless","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
}

type server struct {
	cmd  *exec.Cmd
	addr string
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func startServer(ctx context.Context, o options, baseURL string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	cmd := exec.Command(o.server)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOST=127.0.0.1", "PORT=" + strconv.Itoa(port), "LOG_LEVEL=warn",
		"RESPONDER=openai", "OPENAI_BASE_URL=" + baseURL, "OPENAI_MODEL=endless",
		"REPLY_TIMEOUT=" + (o.stream + time.Minute).String(),
	}
	if o.redisURL != "" {
		cmd.Env = append(cmd.Env, "REDIS_URL="+o.redisURL)
	}
	if o.env != "" {
		cmd.Env = append(cmd.Env, strings.Split(o.env, ",")...)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get("http://" + s.addr + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("server at %s not healthy: %v", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendMessage sends one message through Connect's JSON protocol and waits
// for the reply.
func sendMessage(ctx context.Context, addr string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/agent.v1.AgentService/SendMessage",
		strings.NewReader(`{"agentId":"endless","text":"go on forever"}`))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// sampler records the peak RSS of pid, and of the run's keys in Redis.
type sampler struct {
	pid       int
	rdb       *redis.Client
	peak      atomic.Int64
	redisPeak atomic.Int64
}

func (s *sampler) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

func (s *sampler) sample(ctx context.Context) {
	if v := rss(s.pid); v > s.peak.Load() {
		s.peak.Store(v)
	}
	if s.rdb == nil {
		return
	}
	keys, err := s.rdb.Keys(ctx, "*{agent:endless}:run*").Result()
	if err != nil {
		return
	}
	var n int64
	for _, k := range keys {
		u, err := s.rdb.MemoryUsage(ctx, k).Result()
		if err == nil {
			n += u
		}
	}
	if n > s.redisPeak.Load() {
		s.redisPeak.Store(n)
	}
}

// settle waits d after the run, printing the RSS at a few points on the
// way (1 s, 5 s, 10 s, then every 30 s), and returns the last.
func (s *sampler) settle(ctx context.Context, d time.Duration, out io.Writer) int64 {
	start := time.Now()
	marks := []time.Duration{time.Second, 5 * time.Second, 10 * time.Second}
	for m := 30 * time.Second; m < d; m += 30 * time.Second {
		marks = append(marks, m)
	}
	for _, m := range marks {
		if m >= d {
			break
		}
		if !sleepUntil(ctx, start.Add(m)) {
			return rss(s.pid)
		}
		fmt.Fprintf(out, "rss at +%-7s %.1f MB\n", m, mb(rss(s.pid)))
	}
	sleepUntil(ctx, start.Add(d))
	return rss(s.pid)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func rss(pid int) int64 { return status(pid, "VmRSS:") }
func hwm(pid int) int64 { return status(pid, "VmHWM:") }

// status reads one kB field of /proc/PID/status, in bytes.
func status(pid int, field string) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
