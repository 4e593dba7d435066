// Package apptest starts the whole gateway (the same wiring as the server
// binary) on a loopback port for tests, and stops it when the test ends.
package apptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/config"
)

// Server is a running gateway.
type Server struct {
	// Addr is host:port, URL is http://host:port.
	Addr string
	URL  string
	// Config is the configuration it runs with.
	Config config.Config

	cancel context.CancelFunc
	done   chan error
}

// Start runs a gateway on 127.0.0.1 with the default configuration plus env
// (variable name to value, as in the process environment) and stops it with
// t.Cleanup. Logs go to the test log.
func Start(t testing.TB, env map[string]string, opts ...func(*app.Options)) *Server {
	t.Helper()
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	cfg, err := config.LoadWith(lookup, config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	o := app.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), Version: "test"}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		cancel()
		t.Fatalf("app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatalf("listen: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), Config: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := a.Serve(ctx, ln)
		a.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	if cfg.RedisURL != "" {
		s.awaitReady(t)
	}
	return s
}

// awaitReady waits until /health says ready: with Redis the server listens
// before it has connected (see app.New), and the tests mean to start with
// a working gateway.
func (s *Server) awaitReady(t testing.TB) {
	t.Helper()
	AwaitReady(t, s.URL)
}

// AwaitReady polls baseURL's /health until it answers 200, for at most
// 15 s, and fails the test if it does not.
func AwaitReady(t testing.TB, baseURL string) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := c.Get(baseURL + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway at %s was not ready within 15 s: %v", baseURL, err)
		}
		time.Sleep(10 * time.Millisecond) // a bounded poll of the probe
	}
}

// HTTPClient returns a client that speaks HTTP/1.1 only, or HTTP/2 with
// prior knowledge over cleartext (h2c), and closes its connections when the
// test ends.
func HTTPClient(t testing.TB, h2c bool) *http.Client {
	var p http.Protocols
	if h2c {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{
		Protocols:       &p,
		TLSClientConfig: &tls.Config{},
		DialContext:     (&net.Dialer{}).DialContext,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Stop drains the server as SIGTERM would and waits until it has stopped.
// It is safe to call more than once.
func (s *Server) Stop() error {
	s.cancel()
	err, ok := <-s.done
	if ok {
		close(s.done)
	}
	return err
}

// Quiet returns an option that discards logs, for benchmarks.
func Quiet() func(*app.Options) {
	return func(o *app.Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// LogBuffer collects a server's log lines, written from many goroutines,
// for a test to read. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
