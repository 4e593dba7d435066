package doortest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// errorBody reads a JSON error answer.
func errorBody(t *testing.T, res *http.Response) (code, msg string) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("content-type %q: %s", ct, b)
	}
	var e struct{ Code, Message string }
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	return e.Code, e.Message
}

func TestDoorsRefuseBadRequestsBeforeAnyStream(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"READ_MAX_BYTES": "2048"})
	ctx := testCtx(t)
	c := client(t)
	big := aguiBody("t", "r", "u1", strings.Repeat("x", 4096))
	for _, tc := range []struct {
		name, path, body, contentType string
		status                        int
		code, msg                     string
	}{
		{"agui: not JSON", "/agui/a", "{", "", 400, "invalid_argument", "not valid JSON"},
		{"agui: empty", "/agui/a", "", "", 400, "invalid_argument", "empty"},
		{"agui: null", "/agui/a", "null", "", 400, "invalid_argument", "the body is null"},
		{"agui: not an object", "/agui/a", "[]", "", 400, "invalid_argument", "the body must be an object"},
		{"agui: messages of the wrong type", "/agui/a", `{"messages":{}}`, "", 400, "invalid_argument", "messages must be an array"},
		{"agui: a user message without id", "/agui/a", `{"messages":[{"role":"user","content":"hi"}]}`, "", 400, "invalid_argument", "has no id"},
		{"agui: a bad agent id", "/agui/a%20b", aguiBody("t", "r", "u", "hi"), "", 400, "invalid_argument", "agent_id"},
		{"agui: not JSON content", "/agui/a", aguiBody("t", "r", "u", "hi"), "text/plain", 415, "invalid_argument", "Content-Type: application/json"},
		{"agui: too large", "/agui/a", big, "", 413, "resource_exhausted", "READ_MAX_BYTES"},
		{"agui: text too long for the agent", "/agui/a", aguiBody("t", "r", "u", strings.Repeat("x", 1500)), "", 200, "", ""},
		{"aisdk: no id", "/ai/chat", `{"messages":[]}`, "", 400, "invalid_argument", "agent_id is required"},
		{"aisdk: null", "/ai/chat", " null ", "", 400, "invalid_argument", "the body is null"},
		{"aisdk: null and more", "/ai/chat", "null {}", "", 400, "invalid_argument", "more than one JSON value"},
		{"aisdk: a bad trigger", "/ai/chat", `{"id":"a","messages":[],"trigger":"nope"}`, "", 400, "invalid_argument", "trigger"},
		{"aisdk: parts of the wrong type", "/ai/chat", `{"id":"a","messages":[{"id":"u","role":"user","parts":"hi"}]}`, "", 400, "invalid_argument", "must be an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			res := post(t, ctx, c, srv.URL+tc.path, tc.body, "Content-Type", ct)
			if res.StatusCode != tc.status {
				b, _ := io.ReadAll(res.Body)
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, b)
			}
			if tc.status == 200 {
				newEvents(t, res).all()
				return
			}
			code, msg := errorBody(t, res)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("error %s %q, want %s with %q", code, msg, tc.code, tc.msg)
			}
		})
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/agui/a"}, {http.MethodGet, "/ai/chat"}, {http.MethodPost, "/ai/chat/a/stream"},
	} {
		req, _ := http.NewRequestWithContext(ctx, tc.method, srv.URL+tc.path, nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", tc.method, tc.path, res.StatusCode)
		}
	}
}

func TestDoorsNeedTheBearerToken(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"AUTH_TOKENS": "open-sesame-0123456789"})
	ctx := testCtx(t)
	c := client(t)
	for _, tc := range []struct{ name, method, path, body string }{
		{"agui", http.MethodPost, "/agui/auth", aguiBody("t", "r", "u1", "hi")},
		{"aisdk", http.MethodPost, "/ai/chat", chatBody("auth", "u2", "hi")},
		{"aisdk resume", http.MethodGet, "/ai/chat/auth/stream", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, auth := range []string{"", "Bearer wrong", "Bearer open-sesame-0123456789"} {
				req, _ := http.NewRequestWithContext(ctx, tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
				req.Header.Set("Content-Type", "application/json")
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				want := http.StatusUnauthorized
				if auth == "Bearer open-sesame-0123456789" {
					want = http.StatusOK
					if tc.method == http.MethodGet {
						want = http.StatusNoContent
					}
				}
				if res.StatusCode != want {
					t.Errorf("%q: status %d, want %d", auth, res.StatusCode, want)
				}
			}
		})
	}
}

// TestDoorRefusalsAreJSON: whichever layer refuses a door request (the
// token check, the method, the content type, the path), the answer is the door's
// JSON error body with the status, never plain text.
func TestDoorRefusalsAreJSON(t *testing.T) {
	t.Parallel()
	const token = "open-sesame-0123456789"
	srv := start(t, map[string]string{"AUTH_TOKENS": token, "ALLOWED_ORIGINS": "https://app.example.com"})
	ctx := testCtx(t)
	c := client(t)
	for _, tc := range []struct {
		name, method, path, contentType, auth string
		status                                int
		code                                  string
	}{
		{"text/plain without a token", http.MethodPost, "/agui/j", "text/plain", "", 401, "unauthenticated"},
		{"text/plain", http.MethodPost, "/agui/j", "text/plain", token, 415, "invalid_argument"},
		{"aisdk text/plain without a token", http.MethodPost, "/ai/chat", "text/plain", "", 401, "unauthenticated"},
		{"OPTIONS without Access-Control-Request-Method", http.MethodOptions, "/agui/j", "", "", 401, "unauthenticated"},
		{"OPTIONS without Access-Control-Request-Method, with a token", http.MethodOptions, "/agui/j", "", token, 405, "invalid_argument"},
		{"resume OPTIONS without Access-Control-Request-Method", http.MethodOptions, "/ai/chat/j/stream", "", "", 401, "unauthenticated"},
		{"a wrong token", http.MethodPost, "/ai/chat", "application/json", "wrong", 401, "unauthenticated"},
		{"no agent id", http.MethodPost, "/agui/", "application/json", token, 404, "not_found"},
		{"a slash in the agent id", http.MethodPost, "/agui/a/b", "application/json", token, 404, "not_found"},
		{"a resume without /stream", http.MethodGet, "/ai/chat/a", "", token, 404, "not_found"},
		{"a resume path too long", http.MethodGet, "/ai/chat/a/stream/b", "", token, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tc.method, srv.URL+tc.path, strings.NewReader("hi"))
			req.Header.Set("Origin", "https://app.example.com")
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", "Bearer "+tc.auth)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status %d, want %d", res.StatusCode, tc.status)
			}
			if code, msg := errorBody(t, res); code != tc.code || msg == "" {
				t.Errorf("error %s %q, want %s", code, msg, tc.code)
			}
		})
	}
}

func TestDoorsFollowAllowedOrigins(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"ALLOWED_ORIGINS": "https://app.example.com"})
	ctx := testCtx(t)
	c := client(t)
	for _, path := range []string{"/agui/cors", "/ai/chat", "/ai/chat/cors/stream"} {
		for _, origin := range []string{"https://app.example.com", "https://evil.example.org"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, srv.URL+path, nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			// Sorted and in lower case, as browsers send it.
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			allowed := res.Header.Get("Access-Control-Allow-Origin") == origin &&
				strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization")
			if want := origin == "https://app.example.com"; allowed != want || res.StatusCode >= 300 {
				t.Errorf("preflight %s from %s: status %d, allowed %v (%v)", path, origin, res.StatusCode, allowed, res.Header)
			}
		}
	}
	res := post(t, ctx, c, srv.URL+"/agui/cors", aguiBody("t", "r", "u1", "hi"), "Origin", "https://evil.example.org")
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a POST from another origin: status %d, want 403", res.StatusCode)
	}
	res = post(t, ctx, c, srv.URL+"/agui/cors", aguiBody("t", "r", "u1", "hi"), "Origin", "https://app.example.com")
	if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("allowed origin: headers %v", res.Header)
	}
	newEvents(t, res).all()
}

func TestDoorStreamsCountAgainstMaxConnections(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"MAX_CONNECTIONS": "1"})
	ctx := testCtx(t)
	c := client(t)
	held := newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatBody("cap", "u1", "slow a b c d e f g h i j k l m n o p")))
	held.until("text-delta")
	for _, tc := range []struct{ path, body string }{
		{"/agui/cap2", aguiBody("t", "r", "u1", "hi")}, {"/ai/chat", chatBody("cap2", "u1", "hi")},
	} {
		res := post(t, ctx, c, srv.URL+tc.path, tc.body)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d, want 503", tc.path, res.StatusCode)
		}
		if code, msg := errorBody(t, res); code != "resource_exhausted" || !strings.Contains(msg, "max_connections") {
			t.Fatalf("%s: %s %q", tc.path, code, msg)
		}
	}
	held.all()
	// The slot is free again once the stream ended.
	newEvents(t, post(t, ctx, c, srv.URL+"/agui/cap2", aguiBody("t", "r", "u1", "hi"))).all()
}

// A client that goes away mid-reply cancels nothing: the reply is written
// whole, and a retry with the same message id gets it.
func TestClientDisconnectCancelsNothing(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	text := "slow one two three four five six"
	for _, tc := range []struct{ name, path, body, delta string }{
		{"agui", "/agui/gone-agui", aguiBody("t", "r", "m-gone", text), "TEXT_MESSAGE_CONTENT"},
		{"aisdk", "/ai/chat", chatBody("gone-aisdk", "m-gone", text), "text-delta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rctx, cancel := context.WithCancel(ctx)
			ev := newEvents(t, post(t, rctx, client(t), srv.URL+tc.path, tc.body))
			ev.until(tc.delta)
			cancel()
			agentID := "gone-" + tc.name
			res, err := connectClient(t, srv).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{
				AgentId: agentID, Text: text, ClientMessageId: "m-gone"}))
			if err != nil {
				t.Fatal(err)
			}
			m := res.Msg.GetReply().GetMessage()
			if !res.Msg.GetDuplicate() || m.GetText() != "one two three four five six" ||
				m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
				t.Fatalf("reply after the disconnect: duplicate %v, %v", res.Msg.GetDuplicate(), m)
			}
		})
	}
}

// SIGTERM ends open door streams at once, with an error the client can act
// on, and the server drains cleanly.
func TestShutdownEndsDoorStreams(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"SHUTDOWN_TIMEOUT": "5s"})
	ctx := testCtx(t)
	c := client(t)
	long := "slow " + strings.Repeat("word ", 500)
	agui := newEvents(t, post(t, ctx, c, srv.URL+"/agui/drain-agui", aguiBody("t", "r", "u1", long)))
	seen := agui.until("TEXT_MESSAGE_CONTENT")
	ai := newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatBody("drain-aisdk", "u1", long)))
	ai.until("text-delta")
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()

	rest := agui.all()
	verifyAGUI(t, append(seen, rest...))
	if last := rest[len(rest)-1]; last.str("type") != "RUN_ERROR" || last.str("code") != "unavailable" ||
		!strings.Contains(last.str("message"), "retry") {
		t.Fatalf("AG-UI stream ended with %v", last)
	}
	if find(rest, "TEXT_MESSAGE_END") == nil {
		t.Fatal("the open text message was not closed before RUN_ERROR")
	}
	chunks := ai.all()
	if n := len(chunks); n < 2 || chunks[n-1].str("type") != "[DONE]" || chunks[n-2].str("type") != "error" ||
		!strings.HasPrefix(chunks[n-2].str("errorText"), "unavailable: ") {
		t.Fatalf("AI SDK stream ended with %v", chunks[max(0, n-2):])
	}
	if err := <-stopped; err != nil {
		t.Fatalf("drain: %v", err)
	}
}

func TestDoorMetrics(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	newEvents(t, post(t, ctx, c, srv.URL+"/agui/metrics", aguiBody("t", "r", "u1", "hi"))).all()
	newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatBody("metrics", "u2", "fail"))).all()
	post(t, ctx, c, srv.URL+"/ai/chat", "{").Body.Close()
	res, err := c.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, want := range []string{
		`agentgate_door_requests_total{door="agui",outcome="finished"} 1`,
		`agentgate_door_requests_total{door="aisdk",outcome="run_error"} 1`,
		`agentgate_door_requests_total{door="aisdk",outcome="refused"} 1`,
		`agentgate_door_streams_open{door="agui"} 0`,
		`agentgate_door_request_duration_seconds_count{door="aisdk"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s\n%s", want, grep(string(b), "agentgate_door"))
		}
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
