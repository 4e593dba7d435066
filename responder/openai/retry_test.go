package openai

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder/respondertest"
)

// TestRetryAfter checks that a 429's Retry-After is honoured: the second
// request comes no sooner than it asks, although the configured backoff is
// far longer, and the reply then succeeds.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	up := newUpstream(t,
		status(429, "application/json", `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, "Retry-After", "1"),
		replay(t, "openai_stop.sse"))
	h := newHarness(t, up.URL(), func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Hour, time.Hour })
	rec, res, err := h.respond(t, "hi")
	if err != nil {
		t.Fatal(err)
	}
	reqs := up.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried after %s, before the 1s Retry-After", gap)
	}
	if rec.Reply().Text != "Hello! How can I help you today?" || res.FinishReason != "stop" {
		t.Errorf("text %q, finish %q", rec.Reply().Text, res.FinishReason)
	}
}

// TestRetryServerError checks that a 500 is retried and the next answer
// makes the reply.
func TestRetryServerError(t *testing.T) {
	t.Parallel()
	up := newUpstream(t,
		status(500, "application/json", `{"error":{"message":"The server had an error while processing your request.","type":"server_error"}}`),
		replay(t, "openai_stop.sse"))
	rec, res, err := newHarness(t, up.URL()).respond(t, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(up.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if rec.Reply().Text != "Hello! How can I help you today?" || res.FinishReason != "stop" {
		t.Errorf("text %q, finish %q", rec.Reply().Text, res.FinishReason)
	}
}

// TestRateLimitedUntilDeadline checks a server that rate-limits forever:
// retries go on while the context's deadline (the reply timeout) leaves
// time for them, and the reply then fails as rate-limited, by the deadline,
// rather than as timed out, even when the deadline cuts a retry short.
func TestRateLimitedUntilDeadline(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, status(429, "application/json", `{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}`))
	h := newHarness(t, up.URL(), func(c *Config) {
		c.MaxAttempts = 1000
		c.MinBackoff, c.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	})
	// Bounds wide enough for a loaded machine under -race: the point is
	// that retries go on and stop at the deadline, not how fast.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err := h.r.Respond(ctx, respondertest.NewRequest("hi"), &respondertest.Recorder{})
	if late := time.Since(deadline); late > time.Second {
		t.Errorf("returned %s after the deadline", late)
	}
	wantError(t, err, CodeRateLimited, h.logs.String())
	if n := len(up.requests()); n < 2 {
		t.Errorf("%d requests, want retries until the deadline", n)
	}
}

// TestNoRetryAfterFirstDelta checks that a stream cut after a delta was
// written is not retried, although attempts are left: the reply would
// repeat itself.
func TestNoRetryAfterFirstDelta(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, cut(t, "openai_stop.sse", 2, true), replay(t, "openai_stop.sse"))
	h := newHarness(t, up.URL(), func(c *Config) { c.MaxAttempts = 5 })
	rec, _, err := h.respond(t, "hi")
	wantError(t, err, CodeIncomplete, h.logs.String())
	if n := len(up.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if rec.Reply().Text != "Hello" {
		t.Errorf("text %q, want the delta before the cut", rec.Reply().Text)
	}
}

// TestIdleTimeout checks that a server that falls silent fails the reply
// with upstream_timeout once IdleTimeout passes: mid-stream, with the
// deltas before the silence delivered, and before the first byte.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		events int
		text   string
	}{{"after the first delta", 2, "Hello"}, {"before the response", 0, ""}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			handler := stall(t, "openai_stop.sse", c.events, nil)
			if c.events == 0 {
				handler = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
			}
			up := newUpstream(t, handler)
			h := newHarness(t, up.URL(), func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
			start := time.Now()
			rec, _, err := h.respond(t, "hi")
			e := wantError(t, err, CodeTimeout, h.logs.String())
			if took := time.Since(start); took < 200*time.Millisecond {
				t.Errorf("timed out after %s, before the idle timeout", took)
			}
			if !strings.Contains(e.Message, "sent nothing for 200ms") {
				t.Errorf("message %q", e.Message)
			}
			if rec.Reply().Text != c.text {
				t.Errorf("text %q, want %q", rec.Reply().Text, c.text)
			}
			if n := len(up.requests()); n != 1 {
				t.Errorf("%d requests, want 1: a stall is not retried", n)
			}
		})
	}
}

// TestReplyTimeout checks the context's deadline mid-stream: the reply
// fails with upstream_timeout, naming REPLY_TIMEOUT.
func TestReplyTimeout(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, stall(t, "openai_stop.sse", 2, nil))
	h := newHarness(t, up.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	rec := &respondertest.Recorder{}
	_, err := h.r.Respond(ctx, respondertest.NewRequest("hi"), rec)
	e := wantError(t, err, CodeTimeout, h.logs.String())
	if !strings.Contains(e.Message, "REPLY_TIMEOUT") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("message %q, error %v: want REPLY_TIMEOUT and context.DeadlineExceeded", e.Message, err)
	}
	if rec.Reply().Text != "Hello" {
		t.Errorf("text %q", rec.Reply().Text)
	}
}

// TestCancel checks CancelRun mid-stream: Respond returns the context's
// error at once, with what was written kept, while the server is still
// streaming.
func TestCancel(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, stall(t, "openai_stop.sse", 3, nil))
	h := newHarness(t, up.URL())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	written := make(chan struct{})
	rec := &respondertest.Recorder{}
	rec.OnText = func() {
		if rec.Reply().Text == "Hello!" {
			close(written)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.r.Respond(ctx, respondertest.NewRequest("hi"), rec)
		done <- err
	}()
	select {
	case <-written:
	case <-time.After(testWait):
		t.Fatal("the deltas did not arrive")
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("error %v, want context.Canceled itself", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Respond did not return within 1s of the cancel")
	}
	if rec.Reply().Text != "Hello!" {
		t.Errorf("text %q, want what came before the cancel", rec.Reply().Text)
	}
	noKey(t, h.logs.String())
}

// TestRetryAfterHeader checks the forms of Retry-After: seconds, an HTTP
// date, OpenAI's Retry-After-Ms, and values to ignore.
func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		header []string
		want   time.Duration
	}{
		{[]string{"Retry-After", "1"}, time.Second},
		{[]string{"Retry-After", " 2.5 "}, 2500 * time.Millisecond},
		{[]string{"Retry-After", "Fri, 20 Nov 2026 10:00:07 GMT"}, 7 * time.Second},
		{[]string{"Retry-After", "Fri, 20 Nov 2026 09:59:00 GMT"}, 0},
		{[]string{"Retry-After-Ms", "350", "Retry-After", "1"}, 350 * time.Millisecond},
		{[]string{"Retry-After", "0"}, 0},
		{[]string{"Retry-After", "-3"}, 0},
		{[]string{"Retry-After", "NaN"}, 0},
		{[]string{"Retry-After", "+Inf"}, 0},
		{[]string{"Retry-After", "1e300"}, 0},
		{[]string{"Retry-After", "soon"}, 0},
		{nil, 0},
	}
	for _, c := range cases {
		h := http.Header{}
		for i := 0; i+1 < len(c.header); i += 2 {
			h.Set(c.header[i], c.header[i+1])
		}
		if got := retryAfter(h, now); got != c.want {
			t.Errorf("retryAfter(%v) = %s, want %s", c.header, got, c.want)
		}
	}
}

// TestBackoff checks that the backoff doubles from MinBackoff up to
// MaxBackoff, taking off at most half of it as jitter.
func TestBackoff(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Model: "m", MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ceilings := []time.Duration{100, 200, 400, 800, 1000, 1000, 1000}
	for n, ceiling := range ceilings {
		ceiling *= time.Millisecond
		for range 50 {
			if d := r.backoff(n + 1); d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n+1, d, ceiling/2, ceiling)
			}
		}
	}
	if d := r.backoff(200); d > time.Second {
		t.Errorf("backoff(200) = %s overflows MaxBackoff", d)
	}
}

// TestRetryCutByDeadline checks a retry that the reply's deadline cuts
// short before the server answered: the reply fails for the reason it was
// retried (rate limiting), not as a timeout.
func TestRetryCutByDeadline(t *testing.T) {
	t.Parallel()
	up := newUpstream(t,
		status(429, "application/json", `{"error":{"message":"Rate limit reached","type":"requests"}}`, "Retry-After-Ms", "50"),
		func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	h := newHarness(t, up.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := h.r.Respond(ctx, respondertest.NewRequest("hi"), &respondertest.Recorder{})
	e := wantError(t, err, CodeRateLimited, h.logs.String())
	if !strings.Contains(e.Message, "after 2 attempts") {
		t.Errorf("message %q", e.Message)
	}
	if n := len(up.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
