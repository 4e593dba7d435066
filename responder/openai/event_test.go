package openai

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// TestEventLimiter reads streams through a limit of 16 bytes, whole and a
// byte at a time: an event of up to 16 bytes, line ends included, passes;
// one more byte before the blank line fails. Only what the SDK's decoder
// takes for a blank line ends an event.
func TestEventLimiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in  string
		big bool
	}{
		{"data: 123456789\n\n", false}, // 16 bytes, then the blank line
		{"data: 1234567890\n\n", true},
		{"data: 12345678\r\n\r\ndata: 12345678\r\n\r\n", false},
		{"data: 1234\ndata: 1234\n\n", true}, // two lines, one event
		{"data: 1234\n\ndata: 1234\n\n", false},
		{"data: 1234\n\r\r\ndata: 1234\n\n", true}, // "\r\r" is not a blank line
		{strings.Repeat("x", 17), true},            // a line that never ends
		{"\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", false},
		{": comment\n: comment\n", true},
	}
	for _, tt := range tests {
		for name, wrap := range map[string]func(io.Reader) io.Reader{"whole": func(r io.Reader) io.Reader { return r }, "bytes": iotest.OneByteReader} {
			l := newEventLimiter(io.NopCloser(wrap(strings.NewReader(tt.in))), 16)
			_, err := io.ReadAll(l)
			var e *eventTooLarge
			if errors.As(err, &e) != tt.big {
				t.Errorf("%q (%s): error %v, want too large %v", tt.in, name, err, tt.big)
			}
		}
	}
}

// longLines sends n data lines of size bytes each and never a blank line,
// as fast as the client takes them, until the client goes away.
func longLines(n, size int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		line := "data: " + strings.Repeat("x", size) + "\n"
		for range n {
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
		}
	}
}

// TestEventTooLarge is a server that sends 300 data lines of 1 MB without
// ending the event, and one that sends a single line of 40 MB: either
// fails the reply at once, after one request, with a message that says
// the chunk was too large and what the limit is, not "token too long" after
// six attempts.
func TestEventTooLarge(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]http.HandlerFunc{
		"300 lines of 1 MB": longLines(300, 1_000_000),
		"one line of 40 MB": longLines(1, 40<<20),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, h)
			hr := newHarness(t, up.URL(), func(c *Config) { c.MaxAttempts = 0 })
			_, _, err := hr.respond(t, "hi")
			e := wantError(t, err, CodeEventTooLarge, hr.logs.String())
			if n := len(up.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			for _, want := range []string{"too large", "1048576 bytes", "UPSTREAM_MAX_EVENT_BYTES"} {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message %q does not say %q", e.Message, want)
				}
			}
			if strings.Contains(e.Message, "attempts") || strings.Contains(err.Error(), "token too long") {
				t.Errorf("error %v: want one attempt, and the limit named", err)
			}
		})
	}
}

// TestEventLimitConfig checks MaxEventBytes: an event within a small limit
// is read, and the limit is checked at New.
func TestEventLimitConfig(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "openai_stop.sse"))
	hr := newHarness(t, up.URL(), func(c *Config) { c.MaxEventBytes = 1024 })
	if rec, _, err := hr.respond(t, "hi"); err != nil || rec.Reply().Text == "" {
		t.Fatalf("reply %q, %v; want it read within 1 KiB per event", rec.Reply().Text, err)
	}
	hr = newHarness(t, up.URL(), func(c *Config) { c.MaxEventBytes = 64 })
	_, _, err := hr.respond(t, "hi")
	wantError(t, err, CodeEventTooLarge, hr.logs.String())
	for _, n := range []int{-1, 16<<20 + 1} {
		if _, err := New(Config{Model: "m", MaxEventBytes: n}); err == nil || !strings.Contains(err.Error(), "MaxEventBytes") {
			t.Errorf("MaxEventBytes %d: %v, want it refused", n, err)
		}
	}
}
