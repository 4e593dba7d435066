package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// testKey is a distinctive fake API key: no error, message or log line may
// contain it.
const testKey = "sk-test-QX7vTq3KzL9mWp2RrJ4n"

// testWait bounds every wait of a test, so that a broken test fails instead
// of hanging. Nothing waits for it when the code works.
const testWait = 10 * time.Second

// upstream is an OpenAI-compatible server on a loopback port. Request n
// (from 0) is answered by handlers[n], the last handler answering the rest.
// It records every request it receives.
type upstream struct {
	srv      *httptest.Server
	handlers []http.HandlerFunc
	mu       sync.Mutex
	reqs     []received
}

// received is a request as the upstream saw it.
type received struct {
	at     time.Time
	path   string
	query  string
	header http.Header
	body   []byte
}

func newUpstream(t *testing.T, handlers ...http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{handlers: handlers}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	n := len(u.reqs)
	u.reqs = append(u.reqs, received{at: time.Now(), path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	u.mu.Unlock()
	u.handlers[min(n, len(u.handlers)-1)](w, r)
}

// URL is the API's root, as OPENAI_BASE_URL would name it.
func (u *upstream) URL() string { return u.srv.URL + "/v1" }

func (u *upstream) requests() []received {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]received(nil), u.reqs...)
}

// replay answers with a recorded SSE stream, byte for byte, flushing after
// each event as a streaming server does.
func replay(t *testing.T, file string) http.HandlerFunc {
	events := sseEvents(t, file)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			writeFlush(w, ev)
		}
	}
}

// sseEvents reads a recorded stream from testdata and cuts it after each
// blank line, keeping every byte.
func sseEvents(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	events := strings.SplitAfter(string(b), "\n\n")
	if events[len(events)-1] == "" {
		events = events[:len(events)-1]
	}
	return events
}

func writeFlush(w http.ResponseWriter, s string) {
	_, _ = io.WriteString(w, s)
	w.(http.Flusher).Flush()
}

// status answers with an HTTP error and a body.
func status(code int, contentType, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// stall writes the first n events of a recorded stream, then says nothing
// until the client goes away. sent, if not nil, is closed once they are out.
func stall(t *testing.T, file string, n int, sent chan struct{}) http.HandlerFunc {
	events := sseEvents(t, file)[:n]
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			writeFlush(w, ev)
		}
		if sent != nil {
			close(sent)
		}
		<-r.Context().Done()
	}
}

// cut writes the first n events of a recorded stream and then ends the
// response: cleanly (the body just ends), or by dropping the connection
// in the middle of the chunked body.
func cut(t *testing.T, file string, n int, abort bool) http.HandlerFunc {
	events := sseEvents(t, file)[:n]
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			writeFlush(w, ev)
		}
		if abort {
			panic(http.ErrAbortHandler)
		}
	}
}

// lockedBuffer collects log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness is a Responder wired to an upstream, with its log captured.
type harness struct {
	r    *Responder
	logs *lockedBuffer
}

// newHarness builds a Responder for baseURL with testKey, short backoffs
// and a client of its own, whose connections the test closes.
func newHarness(t *testing.T, baseURL string, edit ...func(*Config)) harness {
	t.Helper()
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	logs := &lockedBuffer{}
	cfg := Config{
		BaseURL:      baseURL,
		APIKey:       testKey,
		Model:        "gpt-4o-mini",
		HTTPClient:   &http.Client{Transport: transport},
		MinBackoff:   time.Millisecond,
		MaxBackoff:   5 * time.Millisecond,
		IdleTimeout:  testWait,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SystemPrompt: "",
	}
	for _, e := range edit {
		e(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return harness{r: r, logs: logs}
}

// respond runs one reply to text with a fresh recorder, bounded by testWait.
func (h harness) respond(t *testing.T, text string) (*respondertest.Recorder, responder.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testWait)
	defer cancel()
	rec := &respondertest.Recorder{}
	res, err := h.r.Respond(ctx, respondertest.NewRequest(text), rec)
	return rec, res, err
}

// wantError checks that err is a *responder.Error with the code, and that
// neither it nor the log holds the API key.
func wantError(t *testing.T, err error, code string, logs string) *responder.Error {
	t.Helper()
	e, ok := responder.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *responder.Error", err, err)
	}
	if e.Code != code {
		t.Errorf("code %q, want %q; error: %v", e.Code, code, err)
	}
	noKey(t, logs, err.Error(), e.Message, fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
	for c := err; c != nil; c = errors.Unwrap(c) {
		noKey(t, c.Error(), fmt.Sprintf("%#v", c))
	}
	noSDKError(t, err)
	return e
}

// noKey fails if any text holds the API key.
func noKey(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, testKey) {
			t.Errorf("the API key leaked: %s", s)
		}
	}
}

// decodeBody decodes a request the upstream received.
func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("request body %q: %v", b, err)
	}
	return m
}

// noSDKError fails if err's chain holds the SDK's error, which carries the
// request and with it the Authorization header.
func noSDKError(t *testing.T, err error) {
	t.Helper()
	var ae *sdk.Error
	var se *ssestream.StreamError
	if errors.As(err, &ae) || errors.As(err, &se) {
		t.Errorf("the error's chain keeps the SDK's error: %v", err)
	}
}
