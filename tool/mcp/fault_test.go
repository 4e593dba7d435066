package mcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// reservePort returns a loopback address that nothing listens on now.
func reservePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestHTTPServerDownAtStart: the Source starts without its server, says
// so, refuses calls with an error the model can read, and offers the tools
// once the server is up.
func TestHTTPServerDownAtStart(t *testing.T) {
	t.Parallel()
	addr := reservePort(t)
	s := newSource(t, Config{}, Server{Name: "late", URL: "http://" + addr + "/mcp"})
	st := s.awaitState(t, "late", Down)
	if st.Reason != "unreachable" {
		t.Errorf("down for %q, want unreachable", st.Reason)
	}
	if len(s.Tools(context.Background())) != 0 {
		t.Errorf("tools of a server that is down are offered")
	}
	_, err := s.call(t, "late__echo", map[string]string{"text": "x"})
	if kindOf(err) != Unavailable || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("a call while down: %v, want unavailable with the reason", err)
	}
	if lines := s.log.lines("mcp server down"); len(lines) == 0 || lines[0]["level"] != "WARN" {
		t.Errorf("no warning that the server is down:\n%s", s.log)
	}

	h := &httpServer{mcp: newTestServer("L", nil), hooks: newHooks()}
	h.serve(t, addr)
	t.Cleanup(h.kill)
	s.awaitState(t, "late", Ready)
	if got := s.mustCall(t, "late__echo", map[string]string{"text": "x"}); got.Output != "L: x" {
		t.Errorf("echo once up: %+v", got)
	}
}

// TestStdioServerDownAtStart: a command that exits at once is started
// again, with backoff, until it stays up.
func TestStdioServerDownAtStart(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	s := newSource(t, Config{}, stdioServer(t, "late", "L", map[string]string{"MCPTEST_GATE": gate}))
	st := s.awaitState(t, "late", Down)
	if st.Reason != "process exited with status 1" {
		t.Errorf("down for %q, want the exit status", st.Reason)
	}
	if !strings.Contains(s.log.String(), "gate closed") {
		t.Errorf("the log lacks the command's last line on stderr:\n%s", s.log)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s.awaitState(t, "late", Ready)
	if got := s.mustCall(t, "late__echo", map[string]string{"text": "x"}); got.Output != "L: x" {
		t.Errorf("echo once up: %+v", got)
	}
}

// TestHTTPServerDiesMidCall: the call in flight fails at once, not at its
// timeout, and the server is used again once it is back.
func TestHTTPServerDiesMidCall(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "T", "127.0.0.1:0")
	s := newSource(t, Config{Timeout: time.Minute}, Server{Name: "t", URL: h.URL})
	s.awaitReady(t)
	errc := make(chan error, 1)
	go func() {
		_, err := s.call(t, "t__sleep", map[string]int{"ms": 600_000})
		errc <- err
	}()
	<-h.hooks.started
	began := time.Now()
	h.kill()
	err := <-errc
	if kindOf(err) != Failed || time.Since(began) > 20*time.Second {
		t.Fatalf("call when its server died: %v after %s, want failed at once", err, time.Since(began))
	}
	s.awaitState(t, "t", Down)
	h.restart(t)
	s.awaitState(t, "t", Ready)
	if got := s.mustCall(t, "t__echo", map[string]string{"text": "x"}); got.Output != "T: x" {
		t.Errorf("echo once back: %+v", got)
	}
}

// TestStdioServerExits: a command that exits during a call fails the call
// at once, and runs again, as a new process, with its tools offered again.
func TestStdioServerExits(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Timeout: time.Minute}, stdioServer(t, "t", "T", nil))
	s.awaitReady(t)
	first := s.mustCall(t, "t__pid", nil).Output
	began := time.Now()
	if _, err := s.call(t, "t__die", nil); kindOf(err) != Failed || time.Since(began) > 20*time.Second {
		t.Fatalf("a call whose process exited: %v after %s, want failed at once", err, time.Since(began))
	}
	s.await(t, "a new process", func(st []Status) bool {
		if st[0].State != Ready {
			return false
		}
		// The old session may still show ready while it closes.
		res, err := s.call(t, "t__pid", nil)
		return err == nil && res.Output != first
	})
	s.w.mu.Lock()
	downs := slices.IndexFunc(s.w.changes, func(st Status) bool { return st.State == Down && st.Reason == "process exited with status 3" })
	s.w.mu.Unlock()
	if downs < 0 {
		t.Errorf("no change to down with the exit status: %+v", s.w.changes)
	}
}

// TestTimeout: a tool that runs past Timeout ends the call, and the
// session stays up for the next.
func TestTimeout(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, srv Server, _ *httpServer) {
		s := newSource(t, Config{Timeout: 300 * time.Millisecond}, srv)
		s.awaitReady(t)
		began := time.Now()
		_, err := s.call(t, "t__sleep", map[string]int{"ms": 600_000})
		if kindOf(err) != Timeout || !errors.Is(err, errTimeout) || time.Since(began) > 10*time.Second {
			t.Fatalf("a call past its timeout: %v after %s", err, time.Since(began))
		}
		if !strings.Contains(err.Error(), "300ms") {
			t.Errorf("%q does not say the timeout", err)
		}
		if got := s.mustCall(t, "t__echo", map[string]string{"text": "x"}); got.Output != "T: x" {
			t.Errorf("echo after a timeout: %+v", got)
		}
		if st := s.Status()[0]; st.State != Ready {
			t.Errorf("status %+v after a timeout, want ready", st)
		}
	})
}

// TestCallersDeadline: a call whose context's deadline passes first is a
// timeout too.
func TestCallersDeadline(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "T", "127.0.0.1:0")
	s := newSource(t, Config{}, Server{Name: "t", URL: h.URL})
	s.awaitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Call(ctx, "t__sleep", []byte(`{"ms": 600000}`)); kindOf(err) != Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call past the caller's deadline: %v, want a timeout", err)
	}
}

// TestCancelledCall: a call whose context ends (CancelRun) returns at once.
func TestCancelledCall(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "T", "127.0.0.1:0")
	s := newSource(t, Config{}, Server{Name: "t", URL: h.URL})
	s.awaitReady(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.Call(ctx, "t__sleep", []byte(`{"ms": 600000}`))
		errc <- err
	}()
	<-h.hooks.started
	cancel()
	err := <-errc
	if kindOf(err) != Cancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled call: %v, want cancelled", err)
	}
	if got := s.mustCall(t, "t__echo", map[string]string{"text": "x"}); got.Output != "T: x" {
		t.Errorf("echo after a cancelled call: %+v", got)
	}
}

// TestHugeResult: a result over the limit is cut on a character, with a
// marker, within the limit.
func TestHugeResult(t *testing.T) {
	t.Parallel()
	transports(t, func(t *testing.T, srv Server, _ *httpServer) {
		s := newSource(t, Config{MaxResultBytes: 2048}, srv)
		s.awaitReady(t)
		res := s.mustCall(t, "t__big", map[string]int{"n": 1 << 20})
		if len(res.Output) > 2048 || !utf8.ValidString(res.Output) || !strings.HasSuffix(res.Output, fmt.Sprintf("of %d bytes shown]", 1<<20)) {
			t.Errorf("result of %d bytes ending %q", len(res.Output), res.Output[max(0, len(res.Output)-60):])
		}
		if c := s.w.lastCall(); !c.Cut || c.ResultBytes != 1<<20 {
			t.Errorf("observed %+v, want cut from 1 MiB", c)
		}
		if got := s.mustCall(t, "t__big", map[string]int{"n": 2048}); len(got.Output) != 2048 || strings.Contains(got.Output, "cut") {
			t.Errorf("a result of exactly the limit: %d bytes", len(got.Output))
		}
	})
}

// TestCallsAfterClose fail as unavailable, and nothing is offered.
func TestCallsAfterClose(t *testing.T) {
	t.Parallel()
	h := startHTTP(t, "T", "127.0.0.1:0")
	s := newSource(t, Config{}, Server{Name: "t", URL: h.URL})
	s.awaitReady(t)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.call(t, "t__echo", map[string]string{"text": "x"}); kindOf(err) != Unavailable {
		t.Errorf("a call after Close: %v", err)
	}
	if len(s.Tools(context.Background())) != 0 || s.Status()[0].State != Closed {
		t.Errorf("after Close: tools %v, status %+v", s.names(), s.Status())
	}
}

// TestHTTPUnauthorized: a server that refuses the gateway's credentials is
// down for "HTTP 401", and retried.
func TestHTTPUnauthorized(t *testing.T) {
	t.Parallel()
	mcpHandler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return newTestServer("T", nil) }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer right" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := newSource(t, Config{}, Server{Name: "wrong", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer wrong"}},
		Server{Name: "right", URL: srv.URL, Headers: map[string]string{"Authorization": "Bearer right"}})
	if st := s.awaitState(t, "wrong", Down); st.Reason != "HTTP 401" {
		t.Errorf("down for %q, want HTTP 401", st.Reason)
	}
	s.awaitState(t, "right", Ready)
}
