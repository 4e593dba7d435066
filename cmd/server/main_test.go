package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// binary is the server built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agentgate-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the server:", err)
		os.Exit(1)
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		code = m.Run()
		if code == 0 {
			if err := goleak.Find(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}
	}()
	os.Exit(code)
}

// process is a running server binary.
type process struct {
	cmd  *exec.Cmd
	port string
	// startLine is the "serving" line's fields; early holds the lines
	// written before it, warnings among them.
	startLine map[string]any
	early     []string
	logs      chan string // every stderr line after the start line
	done      chan error
}

// start runs the server with env on a free port and waits until it is
// ready: its start line written and, with Redis, /health answering 200
// (the server listens before it has connected to Redis). The process is
// killed when the test ends if it is still running.
func start(t *testing.T, env ...string) *process {
	t.Helper()
	p := startListening(t, env...)
	for _, e := range env {
		if strings.HasPrefix(e, "REDIS_URL=") {
			p.awaitReady(t)
		}
	}
	return p
}

// awaitReady polls /health until it answers 200, for at most 15 s.
func (p *process) awaitReady(t *testing.T) {
	t.Helper()
	apptest.AwaitReady(t, "http://127.0.0.1:"+p.port)
}

// startListening runs the server with env on a free port and waits for its
// start line only.
func startListening(t *testing.T, env ...string) *process {
	t.Helper()
	cmd := exec.Command(binary)
	cmd.Env = append([]string{"PORT=0", "PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: make(chan string, 1000), done: make(chan error, 1)}
	lines := bufio.NewScanner(stderr)
	started := make(chan map[string]any, 1)
	var early []string // written by the reader until it sends on started
	go func() {
		defer close(p.logs)
		serving := false
		for lines.Scan() {
			var rec map[string]any
			if !serving && json.Unmarshal(lines.Bytes(), &rec) == nil && rec["msg"] == "serving" {
				serving = true
				started <- rec
				continue
			}
			if !serving {
				early = append(early, lines.Text())
				continue
			}
			select {
			case p.logs <- lines.Text():
			default:
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case rec := <-started:
		addr, _ := rec["addr"].(string)
		_, p.port, _ = net.SplitHostPort(addr)
		p.startLine, p.early = rec, early
	case err := <-p.done:
		t.Fatalf("server exited before serving: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start within 20s")
	}
	return p
}

// wait waits for the process to exit within d and returns its exit code.
func (p *process) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("server did not exit within %s", d)
		return -1
	}
}

func h2cClient(t *testing.T) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func h1Client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestBadConfigExitsWithStatus2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ env, name string }{
		{"PORT=abc", "PORT"},
		{"PORT=70000", "PORT"},
		{"SHUTDOWN_TIMEOUT=soon", "SHUTDOWN_TIMEOUT"},
		{"LOG_LEVEL=loud", "LOG_LEVEL"},
		{"HISTORY_LIMIT=0", "HISTORY_LIMIT"},
		{"REDIS_URL=http://x", "REDIS_URL"},
		{"REDIS_URL=redis://user:do-not-print@127.0.0.1:6379/abc", "REDIS_URL"},
		{"RESPONDER=claude", "RESPONDER"},
		{"RESPONDER=openai OPENAI_API_KEY=sk-do-not-print", "OPENAI_MODEL"},
		{"RESPONDER=openai OPENAI_MODEL=m OPENAI_BASE_URL=localhost:11434", "OPENAI_BASE_URL"},
		{"RESPONDER=agui AGUI_TOKEN=do-not-print", "AGUI_URL"},
		{"CONTEXT_MESSAGES=-5", "CONTEXT_MESSAGES"},
		{"AUTH_JWT_SECRET=short-do-not-print", "AUTH_JWT_SECRET"},
		{"AUTH_JWKS_URL=https://idp/jwks AUTH_JWT_SECRET=0123456789abcdef0123456789abcdef-do-not-print AUTH_JWT_ISSUER=i AUTH_JWT_AUDIENCE=a", "AUTH_JWT_SECRET"},
		{"AUTH_JWKS_URL=https://idp/jwks AUTH_JWT_AUDIENCE=agentgate", "AUTH_JWT_ISSUER"},
		{"AUTH_JWKS_URL=idp.example.com/jwks", "AUTH_JWKS_URL"},
		{"AUTH_JWT_SECRET=0123456789abcdef0123456789abcdef AUTH_DEFAULT_AGENTS=shared", "AUTH_DEFAULT_AGENTS"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary)
			cmd.Env = strings.Fields(tc.env)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2; output %q", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.name) || strings.Contains(lines[0], "do-not-print") {
				t.Fatalf("output %q, want one line naming %s (and no secret)", out, tc.name)
			}
		})
	}
}

func TestListensOnIPv4AndIPv6(t *testing.T) {
	t.Parallel()
	p := start(t)
	c := h1Client(t)
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		for _, path := range []string{"/", "/health", "/health/live"} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+host+":"+p.port+path, nil)
			req.Host = "healthcheck.railway.app"
			res, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET %s on %s: %v", path, host, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s on %s: %d %s", path, host, res.StatusCode, body)
			}
			if path == "/" && string(body) != "OK" {
				t.Fatalf("GET / body %q, want OK", body)
			}
			if path == "/health" && !strings.Contains(string(body), `"status":"ok"`) {
				t.Fatalf("GET /health body %q, want JSON status ok", body)
			}
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
}

func TestSIGTERMEndsStreamsAndExitsZero(t *testing.T) {
	t.Parallel()
	p := start(t, "SHUTDOWN_TIMEOUT=5s")
	base := "http://127.0.0.1:" + p.port
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := agentv1connect.NewAgentServiceClient(h2cClient(t), base, connect.WithGRPC())
	stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "term"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	stream.ResponseHeader() // the subscription is live once headers arrive
	if _, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "term", Text: "before"})); err != nil {
		t.Fatal(err)
	}

	begin := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if code := connect.CodeOf(stream.Err()); code != connect.CodeUnavailable {
		t.Fatalf("stream ended with %v, want unavailable", stream.Err())
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("exit took %s, more than SHUTDOWN_TIMEOUT", d)
	}
}

func TestDrainingIsVisibleToProbes(t *testing.T) {
	t.Parallel()
	p := start(t, "SHUTDOWN_TIMEOUT=10s", "DRAIN_DELAY=3s")
	conn, err := grpc.NewClient("127.0.0.1:"+p.port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	health := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "agent.v1.AgentService"} {
		res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q before SIGTERM: %v %v, want SERVING", svc, res, err)
		}
	}
	if _, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); err == nil {
		t.Fatal("health of an unknown service succeeded, want NOT_FOUND")
	}

	begin := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Readiness turns at once; the server still answers during DRAIN_DELAY.
	c := h1Client(t)
	deadline := time.Now().Add(2 * time.Second)
	for {
		res, err := c.Get("http://127.0.0.1:" + p.port + "/health")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusServiceUnavailable {
			if !strings.Contains(string(body), "draining") {
				t.Fatalf("503 body %q, want the reason draining", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health still %d after SIGTERM", res.StatusCode)
		}
	}
	res, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: ""})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health while draining: %v %v, want NOT_SERVING", res, err)
	}
	live, err := c.Get("http://127.0.0.1:" + p.port + "/health/live")
	if err != nil {
		t.Fatal(err)
	}
	live.Body.Close()
	if live.StatusCode != http.StatusOK {
		t.Fatalf("/health/live while draining: %d, want 200", live.StatusCode)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	if d := time.Since(begin); d < 3*time.Second {
		t.Fatalf("exited after %s, before DRAIN_DELAY", d)
	}
}
