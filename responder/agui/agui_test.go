package agui

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

const testToken = "tok-5ecret-value"

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestRespondWire runs every scenario of the Node upstream, whose events are
// written by the official @ag-ui/encoder 1.0.0, through Respond.
func TestRespondWire(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	tests := []struct {
		scenario string
		cfg      Config
		calls    []string
		result   responder.Result
		// code, if set, is the *responder.Error code Respond must return, and
		// message words its message must hold.
		code    string
		message []string
	}{{
		scenario: "text",
		calls:    []string{"text Hello", "text , ", "text world"},
		result: responder.Result{FinishReason: responder.FinishStop,
			Usage: &responder.Usage{InputTokens: 13, OutputTokens: 6, Model: "gpt-test"}},
	}, {
		scenario: "crlf",
		calls:    []string{"text Hello", "text , ", "text world"},
		result: responder.Result{FinishReason: responder.FinishStop,
			Usage: &responder.Usage{InputTokens: 13, OutputTokens: 6, Model: "gpt-test"}},
	}, {
		scenario: "tools",
		calls: []string{
			"text Let me look.",
			"start call_1 get_weather",
			`args call_1 {"city":`, `args call_1 "Paris"`, "args call_1 }",
			"end call_1",
			"result call_1 sunny, 21C",
			"start call_2 get_time",
			`args call_2 {"tz":`, `args call_2 "CET"}`,
			"end call_2",
			"result call_2 12:00",
			"text It is ", "text sunny.",
		},
		result: responder.Result{FinishReason: responder.FinishStop},
	}, {
		scenario: "pending",
		calls:    []string{"start call_9 ask_user", `args call_9 {"q":"ok?"}`, "end call_9"},
		result:   responder.Result{FinishReason: responder.FinishToolCalls},
	}, {
		scenario: "framing",
		calls:    []string{"text first\nline", "text  second"},
		result:   responder.Result{FinishReason: responder.FinishStop},
	}, {
		scenario: "cancelled",
		calls:    []string{"text Stopped"},
		result:   responder.Result{FinishReason: responder.FinishCancelled},
	}, {
		scenario: "interrupt",
		calls:    []string{"text Approve?", "interrupt i1 approval"},
		result:   responder.Result{FinishReason: responder.FinishToolCalls},
	}, {
		scenario: "context-too-long",
		code:     responder.CodeContextTooLong,
		message:  []string{"too long for its model", "maximum context length is 8192 tokens", "context_length_exceeded", "CONTEXT_TOKENS"},
	}, {
		scenario: "context-words",
		code:     responder.CodeContextTooLong,
		message:  []string{"prompt is too long", "BadRequestError"},
	}, {
		scenario: "rate-limited-run",
		code:     codeRateLimited,
		message:  []string{"Rate limit reached for gpt-4o", "rate_limit_exceeded", "wait a little"},
	}, {
		scenario: "error",
		calls:    []string{"text Thinking"},
		code:     "model_overloaded",
		message:  []string{"The model is overloaded, try again later."},
	}, {
		scenario: "error-nocode",
		code:     codeFailed,
		message:  []string{"Something broke."},
	}, {
		scenario: "truncated",
		calls:    []string{"text Half a"},
		code:     codeIncomplete,
		message:  []string{"/truncated", "RUN_FINISHED"},
	}, {
		scenario: "unauthorized",
		code:     codeUnauthenticated,
		message:  []string{"HTTP 401", "/unauthorized"},
	}, {
		scenario: "forbidden",
		code:     codeUnauthenticated,
		message:  []string{"HTTP 403", "/forbidden"},
	}, {
		scenario: "ratelimited",
		code:     codeRateLimited,
		message:  []string{"HTTP 429", "/ratelimited"},
	}, {
		scenario: "broken",
		code:     codeFailed,
		message:  []string{"HTTP 500", "/broken"},
	}, {
		scenario: "no-such-scenario",
		code:     codeFailed,
		message:  []string{"HTTP 404"},
	}, {
		scenario: "json",
		code:     codeFailed,
		message:  []string{"application/json", "text/event-stream"},
	}, {
		scenario: "huge",
		cfg:      Config{MaxFrameBytes: 16 << 10},
		code:     codeEventTooLarge,
		message:  []string{"too large", "more than 16384 bytes"},
	}, {
		scenario: "stall",
		cfg:      Config{IdleTimeout: 200 * time.Millisecond},
		calls:    []string{"text Wait"},
		code:     codeTimeout,
		message:  []string{"sent nothing for 200ms", "/stall"},
	}, {
		scenario: "silent",
		cfg:      Config{IdleTimeout: 200 * time.Millisecond},
		code:     codeTimeout,
		message:  []string{"sent nothing for 200ms", "/silent"},
	}}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Token = testToken
			r := up.responder(t, tt.scenario, tt.cfg)
			var out respondertest.Recorder
			res, err := respond(t, r, request(t), &out)
			if !slices.Equal(out.Lines(), tt.calls) {
				t.Errorf("stream calls\n%q\nwant\n%q", out.Lines(), tt.calls)
			}
			if tt.code == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if !reflect.DeepEqual(res, tt.result) {
					t.Fatalf("result %+v (usage %+v), want %+v (usage %+v)", res, res.Usage, tt.result, tt.result.Usage)
				}
				return
			}
			checkError(t, err, tt.code, tt.message...)
			if too := errors.Is(err, responder.ErrContextTooLong); too != (tt.code == responder.CodeContextTooLong) {
				t.Errorf("errors.Is(err, ErrContextTooLong) = %v for code %s", too, tt.code)
			}
		})
	}
}

// checkError asserts that err is a *responder.Error with code whose message
// holds words, and that the token appears nowhere in it.
func checkError(t *testing.T, err error, code string, words ...string) {
	t.Helper()
	e, ok := responder.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T), want a *responder.Error", err, err)
	}
	if e.Code != code {
		t.Errorf("code %q, want %q (error %v)", e.Code, code, err)
	}
	for _, w := range words {
		if !strings.Contains(e.Message, w) {
			t.Errorf("message %q does not say %q", e.Message, w)
		}
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("the error shows the token: %v", err)
	}
}

// TestRunAgentInputWire checks the RunAgentInput the upstream received: the
// official schema accepts it, and it holds the thread, the run, and the
// history then the new message in AG-UI's shapes.
func TestRunAgentInputWire(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	req := request(t)
	req.History = []responder.Message{
		{ID: "u0", Role: responder.RoleUser, Text: "Weather in Paris, and the time?"},
		{ID: "a0", Role: responder.RoleAssistant, Text: "Let me check.", ToolCalls: []responder.ToolCall{
			{ID: "c1", Name: "get_weather", Arguments: `{"city":"Paris"}`, Result: "sunny"},
			{ID: "c2", Name: "get_time"},
		}},
		{ID: "u1", Role: responder.RoleUser, Text: "And tomorrow?"},
		{ID: "a1", Role: responder.RoleAssistant, ToolCalls: []responder.ToolCall{
			{ID: "c3", Name: "forecast", Arguments: `{"day":1}`, Result: "rain"},
		}},
		{ID: "a2", Role: responder.RoleAssistant, Text: "Rain tomorrow."},
	}
	req.Message = responder.Message{ID: "u2", Role: responder.RoleUser, Text: "Thanks!"}
	want := `{
		"threadId": "agent-1", "runId": "RUN_ID", "protocolVersion": "1.0",
		"state": {}, "tools": [], "context": [], "forwardedProps": {},
		"messages": [
			{"id": "u0", "role": "user", "content": "Weather in Paris, and the time?"},
			{"id": "a0", "role": "assistant", "content": "Let me check.", "toolCalls": [
				{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
				{"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
			{"id": "a0-c1", "role": "tool", "toolCallId": "c1", "content": "sunny"},
			{"id": "u1", "role": "user", "content": "And tomorrow?"},
			{"id": "a1", "role": "assistant", "toolCalls": [
				{"id": "c3", "type": "function", "function": {"name": "forecast", "arguments": "{\"day\":1}"}}]},
			{"id": "a1-c3", "role": "tool", "toolCallId": "c3", "content": "rain"},
			{"id": "a2", "role": "assistant", "content": "Rain tomorrow."},
			{"id": "u2", "role": "user", "content": "Thanks!"}
		]}`

	for name, token := range map[string]string{"token": testToken, "no-token": ""} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := req
			req.RunID = request(t).RunID
			r := up.responder(t, "text", Config{Token: token})
			if _, err := respond(t, r, req, &respondertest.Recorder{}); err != nil {
				t.Fatal(err)
			}
			rec := up.recorded(t, req.RunID)
			if !rec.Valid {
				t.Errorf("the official RunAgentInput schema refused the input: %s", rec.Issues)
			}
			assertJSON(t, rec.Body, strings.ReplaceAll(want, "RUN_ID", req.RunID))
			assertHeader(t, "Accept", rec.Headers.Accept, "text/event-stream")
			assertHeader(t, "Content-Type", rec.Headers.ContentType, "application/json")
			if token != "" {
				assertHeader(t, "Authorization", rec.Headers.Authorization, "Bearer "+token)
			} else if rec.Headers.Authorization != nil {
				t.Errorf("Authorization %q sent without a token", *rec.Headers.Authorization)
			}
		})
	}
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("RunAgentInput\n%s\nwant\n%s", got, want)
	}
}

func assertHeader(t *testing.T, name string, got *string, want string) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s header %v, want %q", name, got, want)
	}
}

// TestCancelWire cancels the reply while the upstream stalls: Respond
// returns the context's error at once, not an upstream failure and not
// after the idle timeout.
func TestCancelWire(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r := up.responder(t, "stall", Config{IdleTimeout: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &respondertest.Recorder{OnText: cancel}
	_, err := r.Respond(ctx, request(t), out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, ok := responder.AsError(err); ok {
		t.Fatalf("error %v is a run error; a cancelled reply is the caller's doing", err)
	}
}

// TestStreamErrorWire returns the Stream's own error as it is: the reply can
// no longer be written, which is not the upstream's fault.
func TestStreamErrorWire(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r := up.responder(t, "tools", Config{})
	gone := errors.New("reply gone")
	out := &respondertest.Recorder{Err: gone}
	_, err := respond(t, r, request(t), out)
	if !errors.Is(err, gone) {
		t.Fatalf("error %v, want the Stream's", err)
	}
	if len(out.Events()) != 1 {
		t.Fatalf("calls %q: Respond went on after the Stream failed", out.Lines())
	}
}

// TestConnectionRefused names the URL when nothing listens there.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/agent?key=query-5ecret"
	ln.Close()
	r, err := New(Config{URL: url, Token: testToken, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = respond(t, r, request(t), &respondertest.Recorder{})
	checkError(t, err, codeFailed, "http://"+ln.Addr().String()+"/agent", "could not reach")
	if strings.Contains(err.Error(), "query-5ecret") {
		t.Errorf("the error shows the URL's query: %v", err)
	}
}
