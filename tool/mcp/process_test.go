//go:build unix

package mcp

import (
	"context"
	"errors"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// gone reports whether no process has the id pid any more.
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func serverPid(t *testing.T, s *testSource) int {
	t.Helper()
	pid, err := strconv.Atoi(s.mustCall(t, "t__pid", nil).Output)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestCloseStopsTheCommand: a server that exits when its input closes is
// stopped at once, without a signal.
func TestCloseStopsTheCommand(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{}, stdioServer(t, "t", "T", nil))
	s.awaitReady(t)
	pid := serverPid(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	began := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) || time.Since(began) >= stopGrace {
		t.Errorf("Close took %s; process %d gone: %v", time.Since(began), pid, gone(pid))
	}
}

// TestCloseKillsAStubbornCommand: a server that ignores its closed input
// and SIGTERM is killed when Close's deadline passes, and Close says so.
func TestCloseKillsAStubbornCommand(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{}, stdioServer(t, "t", "T", map[string]string{"MCPTEST_STUBBORN": "1"}))
	s.awaitReady(t)
	pid := serverPid(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := s.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close past its deadline: %v, want it to say so", err)
	}
	if took := time.Since(began); took > 3*time.Second || !gone(pid) {
		t.Errorf("Close took %s; process %d gone: %v", took, pid, gone(pid))
	}
}

// TestStopEscalates: without a deadline, a stubborn server gets SIGTERM
// and then SIGKILL, each after stopGrace.
func TestStopEscalates(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{}, stdioServer(t, "t", "T", map[string]string{"MCPTEST_STUBBORN": "1"}))
	s.awaitReady(t)
	pid := serverPid(t, s)
	began := time.Now()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 2*stopGrace || took > 2*stopGrace+5*time.Second || !gone(pid) {
		t.Errorf("Close took %s, want about %s; process %d gone: %v", took, 2*stopGrace, pid, gone(pid))
	}
}
