package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/nodetest"
)

// These tests run the server binary with RESPONDER=openai and
// RESPONDER=agui against real upstreams on loopback: clients of every kind
// see the upstream's reply streamed, with its tool calls, finish reason and
// usage, and a failing upstream as a run error with a code.

// chatUpstream is an OpenAI-compatible server that streams a fixed reply,
// or fails with a status, and records what it was sent.
type chatUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []map[string]any
	auth     []string
	status   int // 0: answer
	finished string
}

func newChatUpstream(t *testing.T) *chatUpstream {
	u := &chatUpstream{finished: "stop"}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *chatUpstream) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	u.mu.Lock()
	u.bodies = append(u.bodies, body)
	u.auth = append(u.auth, r.Header.Get("Authorization"))
	status, finished := u.status, u.finished
	u.mu.Unlock()
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: sk-test-***","type":"invalid_request_error","code":"invalid_api_key"}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta, finish string) string {
		fr := "null"
		if finish != "" {
			fr = fmt.Sprintf("%q", finish)
		}
		return fmt.Sprintf(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"tiny-1","choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}]}`+"\n\n", delta, fr)
	}
	for _, d := range []string{"Hel", "lo", " there"} {
		_, _ = io.WriteString(w, chunk(d, ""))
		w.(http.Flusher).Flush()
	}
	_, _ = io.WriteString(w, chunk("", finished))
	_, _ = io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"tiny-1","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`+"\n\n")
	_, _ = io.WriteString(w, "data: [DONE]\n\n")
}

func (u *chatUpstream) roles(i int) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, m := range u.bodies[i]["messages"].([]any) {
		m := m.(map[string]any)
		out = append(out, fmt.Sprintf("%s:%v", m["role"], m["content"]))
	}
	return strings.Join(out, " | ")
}

// reply reads the socket until the answer to its message: the deltas it
// saw and the persisted answer.
func (s *socket) reply() (deltas string, answer *agentv1.AgentEvent) {
	for {
		ev := s.anyEvent()
		if d := ev.GetTextDelta(); d != nil {
			deltas += d.GetDelta()
		}
		if ev.GetRunError() != nil || ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT {
			return deltas, ev
		}
	}
}

func TestOpenAIResponder(t *testing.T) {
	t.Parallel()
	up := newChatUpstream(t)
	const key = "sk-test-never-in-a-log-4711"
	p := start(t, "RESPONDER=openai", "OPENAI_BASE_URL="+up.URL+"/v1", "OPENAI_MODEL=tiny",
		"OPENAI_API_KEY="+key, "SYSTEM_PROMPT=Be brief.", "LOG_LEVEL=debug")
	ws := dialSocket(t, p, "oa", "")

	ws.send("1", "hi")
	deltas, ev := ws.reply()
	m := ev.GetMessage()
	if deltas != "Hello there" || m.GetText() != "Hello there" || m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("reply %v after deltas %q; want Hello there, finish stop", m, deltas)
	}
	if u := m.GetUsage(); u.GetInputTokens() != 12 || u.GetOutputTokens() != 3 || u.GetModel() != "tiny-1" {
		t.Fatalf("usage %v, want 12 in, 3 out, tiny-1", u)
	}

	up.mu.Lock()
	up.finished = "length"
	up.mu.Unlock()
	ws.send("2", "more")
	if _, ev := ws.reply(); ev.GetMessage().GetFinishReason() != agentv1.FinishReason_FINISH_REASON_LENGTH {
		t.Fatalf("reply %v, want finish length", ev)
	}
	// The upstream got the system prompt, then the conversation in order.
	if got, want := up.roles(1), "system:Be brief. | user:hi | assistant:Hello there | user:more"; got != want {
		t.Fatalf("second request's messages:\n got %s\nwant %s", got, want)
	}
	if up.bodies[1]["model"] != "tiny" || up.auth[1] != "Bearer "+key {
		t.Fatalf("model %v, auth %q", up.bodies[1]["model"], up.auth[1])
	}

	up.mu.Lock()
	up.status = http.StatusUnauthorized
	up.mu.Unlock()
	ws.send("3", "again")
	_, ev = ws.reply()
	if re := ev.GetRunError(); re.GetCode() != "upstream_unauthenticated" || strings.Contains(re.GetMessage(), key) || !strings.Contains(re.GetMessage(), "OPENAI_API_KEY") {
		t.Fatalf("answer %v; want run error upstream_unauthenticated naming OPENAI_API_KEY, without the key", ev)
	}
	assertNoKeyLogged(t, p, key)
}

// assertNoKeyLogged stops the server and reads every line it logged.
func assertNoKeyLogged(t *testing.T, p *process, key string) {
	t.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	p.wait(t, 20*time.Second)
	for line := range p.logs {
		if strings.Contains(line, key) {
			t.Fatalf("the API key is in a log line: %s", line)
		}
	}
}

// startAGUIUpstream runs the agui responder's test agent (Node, on the
// official @ag-ui/encoder) and returns its base URL.
func startAGUIUpstream(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "responder", "agui", "testdata", "upstream")
	line := nodetest.Start(t, dir, "@ag-ui/encoder", "server.mjs")
	port, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		t.Fatalf("the AG-UI test agent said %q", line)
	}
	return "http://127.0.0.1:" + port
}

func TestAGUIResponder(t *testing.T) {
	t.Parallel()
	base := startAGUIUpstream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	tools := start(t, "RESPONDER=agui", "AGUI_URL="+base+"/tools")
	ws := dialSocket(t, tools, "ag", "")
	ws.send("1", "weather in Paris?")
	var calls []string
	for {
		ev := ws.anyEvent()
		switch {
		case ev.GetToolCallStart() != nil:
			calls = append(calls, "start "+ev.GetToolCallStart().GetName())
		case ev.GetToolCallArgs() != nil:
			calls = append(calls, "args")
		case ev.GetToolCallEnd() != nil:
			calls = append(calls, "end")
		case ev.GetToolCallResult() != nil:
			calls = append(calls, "result")
		}
		if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			tc := m.GetToolCalls()
			if len(tc) == 0 || tc[0].GetName() != "get_weather" || tc[0].GetArguments() != `{"city":"Paris"}` || tc[0].GetResult() == "" {
				t.Fatalf("reply %v; want its get_weather call with arguments and result", m)
			}
			break
		}
	}
	if got := strings.Join(calls, ","); !strings.HasPrefix(got, "start get_weather,args,args,args,end,result") {
		t.Fatalf("tool call events %s", got)
	}

	failing := start(t, "RESPONDER=agui", "AGUI_URL="+base+"/error")
	res := sendTo(ctx, t, failing.client(t), "ag", "hi", "")
	if re := res.GetReply().GetRunError(); re.GetCode() != "model_overloaded" {
		t.Fatalf("reply %v; want the agent's RUN_ERROR code model_overloaded", res.GetReply())
	}
}
