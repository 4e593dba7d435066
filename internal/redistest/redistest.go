// Package redistest runs a real, throwaway redis-server for tests.
//
// Tests of the Redis engine must exercise the real server (Lua, pub/sub,
// expiry and what happens when the connection drops), so this package starts
// redis-server on a free loopback port with persistence turned off, and stops
// it when the test ends. Stop and Restart let a test simulate an outage: the
// server comes back on the same port, empty, as a restarted Redis without
// persistence would.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/freeport"
)

// startTimeout bounds how long one redis-server start may take before the
// test fails: a healthy server is ready in milliseconds.
const startTimeout = 10 * time.Second

// Server is one redis-server process owned by a test. Its methods are safe
// for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	// persist keeps the data across Restart (append-only file, fsync on
	// every write), as a Redis that restarts or fails over does.
	persist bool

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of redis-server: the command and the goroutine that
// reads its log.
type process struct {
	cmd    *exec.Cmd
	logged chan struct{} // closed when the log reader has seen EOF
	tail   *tail
}

// Start starts redis-server on a free loopback port and waits until it
// answers PING. The server is stopped by t.Cleanup.
//
// A missing redis-server fails the test rather than skipping it: the Redis
// engine must never go untested by accident. Install it with
// scripts/setup.sh (Debian and Ubuntu: the redis-server package).
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartPersistent is Start for a server that keeps its data across Restart:
// an outage of a Redis with persistence, rather than the loss of one.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, persist bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redistest: redis-server not found in PATH; the CI job must install it (package redis-server, see scripts/setup.sh): %v", err)
		}
		t.Fatalf("redistest: redis-server not found in PATH; run scripts/setup.sh to install it: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), persist: persist}
	t.Cleanup(s.Stop)

	var lastErr error
	for range 5 { // another process may take the port between probe and start
		port, err := freeport.Loopback()
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: redis-server did not start: %v", lastErr)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is the server's redis:// URL, for engine.RedisConfig.URL.
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Stop kills the server, as a crash or a network outage would look to
// clients: connections drop at once. Stopping a stopped server is a no-op.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	_ = s.proc.cmd.Wait()
	<-s.proc.logged
	s.proc = nil
}

// Restart stops the server if it runs and starts it again on the same port,
// empty unless it was started with StartPersistent. It fails the test if the server does not come back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	for range 5 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return
		}
	}
	s.t.Fatalf("redistest: redis-server did not restart on port %d: %v", s.port, err)
}

// start runs redis-server on s.port and returns once it accepts commands,
// or with an error (and no process left behind) if it does not.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	appendonly, fsync := "no", "everysec"
	if s.persist {
		appendonly, fsync = "yes", "always"
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", appendonly,
		"--appendfsync", fsync,
		"--dir", s.dir,
		"--logfile", "",
		"--daemonize", "no",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, logged: make(chan struct{}), tail: &tail{}}
	ready := make(chan struct{})
	go p.readLog(out, ready)

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-p.logged: // the log ended before the server was ready: it exited
		_ = cmd.Wait()
		return fmt.Errorf("redis-server exited early: %s", p.tail)
	case <-timer.C:
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-p.logged
		return fmt.Errorf("redis-server not ready after %v: %s", startTimeout, p.tail)
	}
	if err := ping(net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-p.logged
		return fmt.Errorf("redis-server does not answer PING: %w; log: %s", err, p.tail)
	}
	s.proc = p
	return nil
}

// readLog reads the server's log to its end, so the server never blocks on a full
// pipe, and signals ready when the server logs that it accepts connections:
// a real signal, where polling the port would be a guess.
func (p *process) readLog(r io.Reader, ready chan<- struct{}) {
	defer close(p.logged)
	sc := bufio.NewScanner(r)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		p.tail.add(line)
		if !signalled && strings.Contains(line, "Ready to accept connections") {
			signalled = true
			close(ready)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, startTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(startTimeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return errors.New("unexpected reply " + strconv.Quote(line))
	}
	return nil
}

// tail keeps the last lines of the server's log for error messages.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}
