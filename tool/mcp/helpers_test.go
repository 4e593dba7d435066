package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/tool"
)

// awaitTimeout bounds every wait of the tests for a server's state.
const awaitTimeout = 30 * time.Second

// watcher is an Observer that the tests wait on.
type watcher struct {
	mu      sync.Mutex
	calls   []Call
	changes []Status
	notify  chan struct{}
}

func newWatcher() *watcher { return &watcher{notify: make(chan struct{}, 1)} }

func (w *watcher) Called(c Call) {
	w.mu.Lock()
	w.calls = append(w.calls, c)
	w.mu.Unlock()
	w.poke()
}

func (w *watcher) Changed(s Status) {
	w.mu.Lock()
	w.changes = append(w.changes, s)
	w.mu.Unlock()
	w.poke()
}

func (w *watcher) poke() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *watcher) lastCall() Call {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.calls) == 0 {
		return Call{}
	}
	return w.calls[len(w.calls)-1]
}

// testSource is a Source with its watcher and its log.
type testSource struct {
	*Source
	w   *watcher
	log *records
}

// newSource starts a Source of servers, with short reconnect delays, that
// the test's end closes. Its log is kept, unless cfg has a Logger.
func newSource(t testing.TB, cfg Config, servers ...Server) *testSource {
	t.Helper()
	w := newWatcher()
	rec := newRecords()
	cfg.Servers = servers
	cfg.Observer = w
	if cfg.Logger == nil {
		cfg.Logger = slog.New(rec)
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 200*time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testSource{Source: s, w: w, log: rec}
}

// await waits until ok holds of the servers' status, as the watcher is
// told of each change.
func (s *testSource) await(t testing.TB, what string, ok func([]Status) bool) []Status {
	t.Helper()
	deadline := time.NewTimer(awaitTimeout)
	defer deadline.Stop()
	for {
		st := s.Status()
		if ok(st) {
			return st
		}
		select {
		case <-s.w.notify:
		case <-deadline.C:
			t.Fatalf("waited %s for %s; status %+v", awaitTimeout, what, st)
		}
	}
}

// awaitState waits until the server name is in state.
func (s *testSource) awaitState(t testing.TB, name string, state State) Status {
	t.Helper()
	var got Status
	s.await(t, name+" "+string(state), func(st []Status) bool {
		for _, x := range st {
			if x.Name == name && x.State == state {
				got = x
				return true
			}
		}
		return false
	})
	return got
}

// awaitReady waits until every server is ready.
func (s *testSource) awaitReady(t testing.TB) {
	t.Helper()
	s.await(t, "every server ready", func(st []Status) bool {
		return !slices.ContainsFunc(st, func(x Status) bool { return x.State != Ready })
	})
}

// call calls a tool with args given as a Go value.
func (s *testSource) call(t testing.TB, name string, args any) (tool.Result, error) {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return s.Call(context.Background(), name, b)
}

// mustCall calls a tool that must answer.
func (s *testSource) mustCall(t testing.TB, name string, args any) tool.Result {
	t.Helper()
	res, err := s.call(t, name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

// names lists the names of the tools offered now.
func (s *testSource) names() []string {
	var out []string
	for _, d := range s.Tools(context.Background()) {
		out = append(out, d.Name)
	}
	return out
}

// kindOf is the Kind of a *CallError, or "" for another error.
func kindOf(err error) Outcome {
	if cerr, ok := errors.AsType[*CallError](err); ok {
		return cerr.Kind
	}
	return ""
}

// records is an slog.Handler that keeps every record, with the
// attributes of its logger, for a test to read.
type records struct {
	mu    *sync.Mutex
	all   *[]map[string]any
	attrs []slog.Attr
}

func newRecords() *records { return &records{mu: &sync.Mutex{}, all: &[]map[string]any{}} }

func (r *records) Enabled(context.Context, slog.Level) bool { return true }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]any{"msg": rec.Message, "level": rec.Level.String()}
	for _, a := range r.attrs {
		m[a.Key] = a.Value.Any()
	}
	rec.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	r.mu.Lock()
	*r.all = append(*r.all, m)
	r.mu.Unlock()
	return nil
}

func (r *records) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(slices.Clip(r.attrs), attrs...)
	return &c
}

func (r *records) WithGroup(string) slog.Handler { return r }

// lines returns the records whose message is msg.
func (r *records) lines(msg string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, m := range *r.all {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// String is every record, one a line, for a failing test's message and
// for searching.
func (r *records) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, m := range *r.all {
		fmt.Fprintln(&b, m)
	}
	return b.String()
}
