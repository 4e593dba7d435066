package agui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// These tests put hostile AG-UI agents of our own on loopback: agents that
// echo the Authorization header they were sent, send codes that are no
// codes, or lines that never end.

// hostile runs handler as the agent and returns a Responder for it, with
// testToken (or token, if given), whose log goes to the returned buffer.
func hostile(t *testing.T, handler http.HandlerFunc, token ...string) (*Responder, *bytes.Buffer) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	var logs bytes.Buffer
	token = append(token, testToken)
	r, err := New(Config{URL: srv.URL + "/agent?key=" + testQuery, Token: token[0],
		HTTPClient: &http.Client{Transport: transport},
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	return r, &logs
}

// testQuery is a secret in the agent's URL.
const testQuery = "q-5ecret-in-the-url"

// sse answers with the events given, each a data: line and a blank line.
func sse(events ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			_, _ = io.WriteString(w, "data: "+e+"\n\n")
		}
	}
}

// echoing answers with status and a body that repeats the request's
// Authorization header after a preamble, as a debugging proxy might.
func echoing(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprintf(w, "denied: you sent %q for %s%s", r.Header.Get("Authorization"), strings.Repeat("padding ", 60), r.URL.RawQuery)
	}
}

// noSecret fails if any text holds the token or the URL's secret.
func noSecret(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{testToken, testQuery} {
			if strings.Contains(s, secret[:12]) || strings.Contains(s, secret[len(secret)-12:]) {
				t.Errorf("a secret (%s) leaked: %s", secret, s)
			}
		}
	}
}

// TestEchoedToken is an agent that echoes its Authorization header in a
// 401 body, a 500 body and a RUN_ERROR message: the token appears in no
// message, no cause, no log line.
func TestEchoedToken(t *testing.T) {
	t.Parallel()
	for name, h := range map[string]http.HandlerFunc{
		"401": echoing(http.StatusUnauthorized),
		"500": echoing(http.StatusInternalServerError),
		"RUN_ERROR": func(w http.ResponseWriter, r *http.Request) {
			msg := fmt.Sprintf("%q", "the key "+r.Header.Get("Authorization")+" is not valid here")
			sse(`{"type":"RUN_STARTED","threadId":"t","runId":"r"}`, `{"type":"RUN_ERROR","code":"auth","message":`+msg+`}`)(w, r)
		},
		"RUN_ERROR context too long": func(w http.ResponseWriter, r *http.Request) {
			msg := fmt.Sprintf("%q", "maximum context length exceeded for key "+r.Header.Get("Authorization"))
			sse(`{"type":"RUN_STARTED","threadId":"t","runId":"r"}`, `{"type":"RUN_ERROR","code":"context_length_exceeded","message":`+msg+`}`)(w, r)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, logs := hostile(t, h)
			_, err := respond(t, r, request(t), &respondertest.Recorder{})
			e, ok := responder.AsError(err)
			if !ok {
				t.Fatalf("error %v, want a run error", err)
			}
			t.Logf("code %s, message %s, cause %v", e.Code, e.Message, e.Err)
			noSecret(t, e.Code, e.Message, err.Error(), fmt.Sprintf("%+v", err), logs.String())
			if name == "RUN_ERROR" && e.Message != "the key Bearer [redacted] is not valid here" {
				t.Errorf("message %q: want the agent's words with the token redacted", e.Message)
			}
			if name != "RUN_ERROR" && !strings.Contains(err.Error(), "[redacted]") {
				t.Errorf("cause %v: want the body, redacted, for the log", err)
			}
		})
	}
}

// TestEchoedTokenInterrupt is an agent whose interrupt asks a question that
// echoes its Authorization header: the question reaches the Stream with the
// token redacted.
func TestEchoedTokenInterrupt(t *testing.T) {
	t.Parallel()
	r, logs := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		msg, _ := json.Marshal("Approve the call made with " + r.Header.Get("Authorization") + "?")
		sse(`{"type":"RUN_STARTED","threadId":"t","runId":"r"}`,
			`{"type":"RUN_FINISHED","threadId":"t","runId":"r","outcome":{"type":"interrupt","interrupts":[{"id":"i1","reason":"confirmation","message":`+string(msg)+`}]}}`)(w, r)
	})
	out := &respondertest.Recorder{}
	if _, err := respond(t, r, request(t), out); err != nil {
		t.Fatal(err)
	}
	got := out.Interrupts()
	if len(got) != 1 || got[0].Message != "Approve the call made with Bearer [redacted]?" {
		t.Fatalf("interrupts %+v: want the question with the token redacted", got)
	}
	noSecret(t, got[0].Message, logs.String())
}

// TestHostileRunErrorCodes sends RUN_ERROR codes that must not stand as
// they are: text that is no code, a code posing as the gateway's, one that
// is the token. They become upstream_error, with the agent's code cleaned
// and cut in the message; a fair code is kept.
func TestHostileRunErrorCodes(t *testing.T) {
	t.Parallel()
	huge := "x\r\nSet-Cookie: a=b\x00<script>alert(1)</script>" + strings.Repeat("y", 50<<10)
	tests := []struct {
		code, want string
		quoted     string // in the message, if the code is not kept
	}{
		{huge, codeUpstreamError, `x Set-Cookie: a=b<script>alert(1)</script>yyyy`},
		{"upstream_rate_limited", codeUpstreamError, "upstream_rate_limited"},
		{"responder_failed", codeUpstreamError, "responder_failed"},
		{"history_reset", codeUpstreamError, "history_reset"},
		{"unavailable", codeUpstreamError, "unavailable"},
		{"AGENT_ERROR", codeUpstreamError, "AGENT_ERROR"},
		{"rate limited", codeUpstreamError, "rate limited"},
		{strings.Repeat("a", 65), codeUpstreamError, strings.Repeat("a", 64) + "…"},
		{"tok5ecretvalue0042", codeUpstreamError, "[redacted]"}, // the token
		{"model_overloaded", "model_overloaded", ""},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), ""},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.code[:min(len(tt.code), 20)], func(t *testing.T) {
			t.Parallel()
			code, _ := json.Marshal(tt.code)
			ev := fmt.Sprintf(`{"type":"RUN_ERROR","code":%s,"message":"it broke\r\n\u0000again"}`, code)
			r, _ := hostile(t, sse(`{"type":"RUN_STARTED","threadId":"t","runId":"r"}`, ev), "tok5ecretvalue0042")
			_, err := respond(t, r, request(t), &respondertest.Recorder{})
			e, ok := responder.AsError(err)
			if !ok {
				t.Fatalf("error %v, want a run error", err)
			}
			if e.Code != tt.want {
				t.Errorf("code %.80q, want %q", e.Code, tt.want)
			}
			if !strings.HasPrefix(e.Message, "it broke again") || strings.ContainsAny(e.Message, "\r\n\x00") || len(e.Message) > 300 {
				t.Errorf("message %.400q: want the agent's, on one line, short", e.Message)
			}
			if tt.quoted != "" && !strings.Contains(e.Message, tt.quoted) {
				t.Errorf("message %.400q does not quote the code as %q", e.Message, tt.quoted)
			}
			if tt.code == "tok5ecretvalue0042" && strings.Contains(e.Message+e.Code, tt.code) {
				t.Errorf("the token is in the run error: %v", e)
			}
		})
	}
}

// TestEndlessLine is an agent that sends one line of 40 MB without a line
// end, and one whose event never ends: each fails with
// upstream_event_too_large once the limit is passed.
func TestEndlessLine(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"line":  "data: " + strings.Repeat("x", 40<<20),
		"event": strings.Repeat("data: "+strings.Repeat("x", 1000)+"\n", 2000),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, _ := hostile(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, body)
			})
			_, err := respond(t, r, request(t), &respondertest.Recorder{})
			checkError(t, err, codeEventTooLarge, "too large", "1048576 bytes")
		})
	}
}
