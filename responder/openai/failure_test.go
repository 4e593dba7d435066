package openai

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
)

// TestFailures runs every way a reply can fail on the wire and checks the
// run error's code, how many requests were made (what is retried and what
// is not), the deltas delivered before the failure, words of the message a
// person acts on, and that the API key is nowhere: not in the error, its
// causes or the log, even where the server echoes it back.
func TestFailures(t *testing.T) {
	t.Parallel()
	openAIError := func(msg, typ, code string) string {
		return `{"error":{"message":"` + msg + `","type":"` + typ + `","param":null,"code":"` + code + `"}}`
	}
	cases := []failureCase{{
		name:     "401 echoing the key",
		handlers: []http.HandlerFunc{status(401, "application/json", openAIError("Incorrect API key provided: "+testKey+".", "invalid_request_error", "invalid_api_key"))},
		code:     CodeUnauthenticated, requests: 1,
		message: []string{"refused the API key (HTTP 401", "check OPENAI_API_KEY", "[redacted]"},
	}, {
		name:     "403",
		handlers: []http.HandlerFunc{status(403, "application/json", openAIError("Project does not have access to model", "invalid_request_error", "model_not_found"))},
		code:     CodeUnauthenticated, requests: 1,
		message: []string{"HTTP 403", "Project does not have access to model", "OPENAI_API_KEY"},
	}, {
		name:     "400",
		handlers: []http.HandlerFunc{status(400, "application/json", openAIError("Invalid value for messages", "invalid_request_error", ""))},
		code:     CodeFailed, requests: 1,
		message: []string{"rejected the request (HTTP 400", "Invalid value for messages"},
	}, {
		name:     "404 plain text",
		handlers: []http.HandlerFunc{status(404, "text/plain; charset=utf-8", "404 page not found\n")},
		code:     CodeFailed, requests: 1,
		message: []string{"HTTP 404", "404 page not found", "OPENAI_BASE_URL", "OPENAI_MODEL"},
	}, {
		name:     "503 with a top-level error string",
		handlers: []http.HandlerFunc{status(503, "application/json", `{"error":"model 'tiny' is loading"}`)},
		code:     CodeFailed, requests: 3,
		message: []string{"HTTP 503", "model 'tiny' is loading", "after 3 attempts"},
	}, {
		name:     "502 HTML from a proxy",
		handlers: []http.HandlerFunc{status(502, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>")},
		code:     CodeFailed, requests: 3,
		message: []string{"failed (HTTP 502)"},
	}, {
		name:     "429 until the attempts run out",
		handlers: []http.HandlerFunc{status(429, "application/json", openAIError("Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded"))},
		code:     CodeRateLimited, requests: 3,
		message: []string{"rate-limiting requests (HTTP 429", "after 3 attempts"},
	}, {
		name: "error event in the stream echoing the key",
		handlers: []http.HandlerFunc{streamOf(t, "openai_stop.sse", 2,
			`data: {"error":{"code":500,"message":"context shift failed for key `+testKey+`","type":"server_error"}}`+"\n\n")},
		code: CodeFailed, requests: 1, text: "Hello",
		message: []string{"reported an error while streaming", "context shift failed", "[redacted]"},
	}, {
		name:     "stream ends without a finish reason",
		handlers: []http.HandlerFunc{cut(t, "openai_stop.sse", 4, false)},
		code:     CodeIncomplete, requests: 1, text: "Hello! How",
		message: []string{"before the reply was finished (no finish reason)"},
	}, {
		name:     "connection dropped after a delta",
		handlers: []http.HandlerFunc{cut(t, "openai_stop.sse", 3, true), replay(t, "openai_stop.sse")},
		code:     CodeIncomplete, requests: 1, text: "Hello!",
		message: []string{"broke off the stream"},
	}, {
		name:     "finish chunk without [DONE] nor usage, then dropped",
		handlers: []http.HandlerFunc{cut(t, "openai_stop.sse", 11, true)},
		code:     "", requests: 1, text: "Hello! How can I help you today?",
	}, {
		name:     "200 that is not an event stream",
		handlers: []http.HandlerFunc{status(200, "text/html", "<html>login</html>")},
		code:     CodeIncomplete, requests: 1,
		message: []string{`answered with "text/html" instead of an event stream`, "OPENAI_BASE_URL"},
	}, {
		name:     "a chunk that is not JSON",
		handlers: []http.HandlerFunc{streamOf(t, "openai_stop.sse", 2, "data: {\"id\":\n\n")},
		code:     CodeFailed, requests: 1, text: "Hello",
		message: []string{"not Chat Completions JSON"},
	}}
	runFailureCases(t, cases)
}

// failureCase is a reply that fails on the wire, or not (code ""): the
// run error's code, how many requests were made, the text delivered
// before the failure, and words of the message a person acts on.
type failureCase struct {
	name     string
	handlers []http.HandlerFunc
	code     string
	requests int
	text     string
	message  []string
}

// runFailureCases answers "hi" against each case's handlers, with at most 3
// attempts, and checks what the case says, that the message names the
// server, that only a context too long wraps responder.ErrContextTooLong,
// and that the key is nowhere.
func runFailureCases(t *testing.T, cases []failureCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, c.handlers...)
			h := newHarness(t, up.URL(), func(c *Config) { c.MaxAttempts = 3 })
			rec, _, err := h.respond(t, "hi")
			if n := len(up.requests()); n != c.requests {
				t.Errorf("%d requests, want %d", n, c.requests)
			}
			if got := rec.Reply().Text; got != c.text {
				t.Errorf("text %q, want %q", got, c.text)
			}
			noKey(t, h.logs.String())
			if c.code == "" {
				if err != nil {
					t.Fatalf("error %v, want a reply", err)
				}
				return
			}
			e := wantError(t, err, c.code, h.logs.String())
			t.Logf("message: %s\ncause: %v", e.Message, e.Err)
			for _, m := range append(c.message, up.URL()) {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q does not say %q", e.Message, m)
				}
			}
			if too := errors.Is(err, responder.ErrContextTooLong); too != (c.code == CodeContextTooLong) {
				t.Errorf("errors.Is(err, ErrContextTooLong) = %v for code %s", too, c.code)
			}
		})
	}
}

// streamOf writes the first n events of a recorded stream, then more,
// byte for byte.
func streamOf(t *testing.T, file string, n int, more ...string) http.HandlerFunc {
	events := append(sseEvents(t, file)[:n], more...)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range events {
			writeFlush(w, ev)
		}
	}
}

// TestConnectionRefused checks a server that is not there: retried, then
// a message that says to check the URL, naming the cause.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "openai_stop.sse"))
	url := up.URL()
	up.srv.Close() // nothing listens on its port any more
	h := newHarness(t, url, func(c *Config) { c.MaxAttempts = 2 })
	_, _, err := h.respond(t, "hi")
	e := wantError(t, err, CodeFailed, h.logs.String())
	for _, m := range []string{"cannot reach the model server at " + url, "connection refused", "after 2 attempts", "OPENAI_BASE_URL"} {
		if !strings.Contains(e.Message, m) {
			t.Errorf("message %q does not say %q", e.Message, m)
		}
	}
	if !strings.Contains(h.logs.String(), "retrying") {
		t.Errorf("the retry was not logged: %s", h.logs.String())
	}
}

// TestRetryBeforeFirstDelta checks that a connection that broke before any
// delta reached the Stream is retried, and that the reply is then written
// once, not twice.
func TestRetryBeforeFirstDelta(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, cut(t, "openai_stop.sse", 1, true), replay(t, "openai_stop.sse"))
	rec, res, err := newHarness(t, up.URL()).respond(t, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(up.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	want := []string{"Hello", "!", " How", " can", " I", " help", " you", " today", "?"}
	if !reflect.DeepEqual(rec.Deltas(), want) || res.FinishReason != "stop" {
		t.Errorf("deltas %q, finish %q; want %q once, stop", rec.Deltas(), res.FinishReason, want)
	}
}
