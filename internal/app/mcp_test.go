package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/mcptest"
	"github.com/agentgate/agentgate/internal/tooltest"
	"google.golang.org/protobuf/encoding/protojson"
)

// MCP servers' tools through the whole gateway: the openai responder
// against a scripted model (tooltest.OpenAI) that calls the tools its user
// message names and then writes what they returned, with the MCP
// project's reference server and with a server built with the Go SDK,
// over stdio and Streamable HTTP, on every way in.

// mcpServer is an entry of MCP_SERVERS.
type mcpServer struct {
	Name    string            `json:"name"`
	URL     string            `json:"url,omitempty"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Tools   []string          `json:"tools,omitempty"`
}

// startWithMCP runs a gateway whose model is model and whose MCP servers
// are servers, with env added.
func startWithMCP(t *testing.T, model *tooltest.OpenAI, env map[string]string, servers []mcpServer, opts ...func(*app.Options)) *apptest.Server {
	t.Helper()
	all := model.Env()
	b, err := json.Marshal(servers)
	if err != nil {
		t.Fatal(err)
	}
	all["MCP_SERVERS"] = string(b)
	for k, v := range env {
		all[k] = v
	}
	return apptest.Start(t, all, opts...)
}

// mcpStatus is a server's state in /health's body.
type mcpStatus struct {
	Name      string    `json:"name"`
	Transport string    `json:"transport"`
	State     string    `json:"state"`
	Tools     int       `json:"tools"`
	Reason    string    `json:"reason"`
	Since     time.Time `json:"since"`
}

// healthOf reads /health: its status code and its MCP servers.
func healthOf(t testing.TB, srv *apptest.Server) (int, []mcpStatus) {
	t.Helper()
	res, err := httpClient(t, false).Get(srv.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		MCPServers []mcpStatus `json:"mcp_servers"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body.MCPServers
}

// awaitMCP polls /health until the server name is in state, for at most
// 30 s (what a person watching the probe sees), and returns its status.
func awaitMCP(t testing.TB, srv *apptest.Server, name, state string) mcpStatus {
	t.Helper()
	return awaitMCPSince(t, srv, name, state, time.Time{})
}

// awaitMCPSince is awaitMCP for a state entered after since.
func awaitMCPSince(t testing.TB, srv *apptest.Server, name, state string, since time.Time) mcpStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, servers := healthOf(t, srv)
		for _, s := range servers {
			if s.Name == name && s.State == state && !s.Since.Before(since) {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MCP server %s was not %s within 30 s: %+v", name, state, servers)
		}
		time.Sleep(20 * time.Millisecond) // a bounded poll of the probe
	}
}

func call(name string, args any) tooltest.Call {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return tooltest.Call{Name: name, Arguments: b}
}

// everythingCalls are the calls of the reference server's tools the tests
// make, and what each returns.
var everythingCalls = []struct {
	call tooltest.Call
	want string
}{
	{call("everything__echo", map[string]string{"message": "hello"}), "Echo: hello"},
	{call("everything__get-sum", map[string]int{"a": 2, "b": 3}), "The sum of 2 and 3 is 5."},
}

func askEverything() string {
	var calls []tooltest.Call
	for _, c := range everythingCalls {
		calls = append(calls, c.call)
	}
	return tooltest.Ask(calls...)
}

// wantEverythingAnswer checks the model's last text: it read each call's
// result, in order.
func wantEverythingAnswer(t *testing.T, text string) {
	t.Helper()
	got, err := tooltest.Answer(text)
	if err != nil || len(got) != len(everythingCalls) {
		t.Fatalf("the model wrote %q; want the results of %d calls", text, len(everythingCalls))
	}
	for i, c := range everythingCalls {
		if got[i].Content != c.want {
			t.Errorf("the model read %q for %s; want %q", got[i].Content, c.call.Name, c.want)
		}
	}
}

// wantServerCalls checks the calls of a step: the gateway ran each, and
// kept its result and how long it took.
func wantServerCalls(t *testing.T, step *agentv1.Message) {
	t.Helper()
	calls := step.GetToolCalls()
	if len(calls) != len(everythingCalls) {
		t.Fatalf("the step's calls: %v", calls)
	}
	for i, c := range calls {
		if c.GetName() != everythingCalls[i].call.Name || c.GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER ||
			c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_DONE || c.GetResult() != everythingCalls[i].want || c.GetIsError() ||
			c.GetDuration().AsDuration() <= 0 {
			t.Errorf("call %d: %v", i, c)
		}
	}
}

// TestEverythingServerOnEveryWayIn: the reference server's echo and
// get-sum, over stdio and over Streamable HTTP, called by the model in one
// step through the socket, Connect, AG-UI and the AI SDK door: each way
// in shows the calls, their results and the answer the model wrote from
// them; the socket and Connect carry each call's duration.
func TestEverythingServerOnEveryWayIn(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"stdio", "http"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			entry := mcpServer{Name: "everything", Tools: []string{"echo", "get-sum"}}
			if transport == "stdio" {
				entry.Command = mcptest.Everything(t)
			} else {
				entry.URL = mcptest.EverythingHTTP(t)
			}
			model := tooltest.StartOpenAI(t)
			srv := startWithMCP(t, model, nil, []mcpServer{entry})
			if st := awaitMCP(t, srv, "everything", "ready"); st.Tools != 2 || st.Transport != transport {
				t.Fatalf("/health says %+v; want the two allowed tools over %s", st, transport)
			}
			t.Run("connect", func(t *testing.T) { everythingOverConnect(t, srv) })
			t.Run("socket", func(t *testing.T) { everythingOverTheSocket(t, srv) })
			t.Run("agui", func(t *testing.T) { everythingOverAGUI(t, srv) })
			t.Run("aisdk", func(t *testing.T) { everythingOverAISDK(t, srv) })
			if got := model.Offered(); !slices.Equal(got, []string{"everything__echo", "everything__get-sum"}) {
				t.Errorf("the model was offered %v; want the allowed tools only", got)
			}
		})
	}
}

func everythingOverConnect(t *testing.T, srv *apptest.Server) {
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "mcp-connect", Text: askEverything()}))
	if err != nil {
		t.Fatal(err)
	}
	evs := res.Msg.GetEvents()
	if len(evs) != 2 {
		t.Fatalf("the run's events: %v; want its two steps", evs)
	}
	first := evs[0].GetMessage()
	if first.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS {
		t.Fatalf("the first step: %v", first)
	}
	wantServerCalls(t, first)
	last := res.Msg.GetReply().GetMessage()
	if last.GetStep() != 1 || last.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("the last step: %v", last)
	}
	wantEverythingAnswer(t, last.GetText())
}

func everythingOverTheSocket(t *testing.T, srv *apptest.Server) {
	c := openSock(t, wsURL(srv, "mcp-socket", ""))
	f := c.call("s", "SendMessage", fmt.Sprintf(`{"text":%q}`, askEverything()))
	var sent agentv1.SendMessageResponse
	if f.Error != nil || protojson.Unmarshal(f.Response, &sent) != nil {
		t.Fatalf("SendMessage: %s", f.raw)
	}
	pushed := c.events(func(ev *agentv1.AgentEvent) bool { return ev.GetSeq() == sent.GetReply().GetSeq() })
	want := []string{"*message", "runStarted",
		"toolCallStart", "toolCallArgs", "toolCallEnd", "toolCallStart", "toolCallArgs", "toolCallEnd",
		"toolCallResult", "toolCallResult", "*message", "stepStarted", "textDelta", "*message"}
	if got := deltaKinds(pushed); !slices.Equal(got, want) {
		t.Fatalf("pushed %v\nwant %v", got, want)
	}
	results := map[string]*agentv1.ToolCallResult{}
	for _, ev := range pushed {
		if r := ev.GetToolCallResult(); r != nil {
			results[r.GetToolCallId()] = r
		}
	}
	var step *agentv1.Message
	args := map[string]string{}
	for _, ev := range pushed {
		if m := ev.GetMessage(); m.GetFinishReason() == agentv1.FinishReason_FINISH_REASON_TOOL_CALLS {
			step = m
		}
		if a := ev.GetToolCallArgs(); a != nil {
			args[a.GetToolCallId()] += a.GetDelta()
		}
	}
	wantServerCalls(t, step)
	for _, c := range step.GetToolCalls() {
		r := results[c.GetToolCallId()]
		if r.GetContent() != c.GetResult() || r.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_DONE || r.GetDuration().AsDuration() <= 0 {
			t.Errorf("the live result of %s: %v", c.GetName(), r)
		}
		if args[c.GetToolCallId()] != c.GetArguments() {
			t.Errorf("the live arguments of %s: %q; the step keeps %q", c.GetName(), args[c.GetToolCallId()], c.GetArguments())
		}
	}
	wantEverythingAnswer(t, sent.GetReply().GetMessage().GetText())
}

// sse posts body to url and returns the data of every frame of the
// response, to its end.
func sse(t *testing.T, url, body string) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := httpClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, b)
	}
	var frames []string
	lines := bufio.NewScanner(res.Body)
	lines.Buffer(nil, 1<<20)
	for lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			frames = append(frames, data)
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatal(err)
	}
	return frames
}

func everythingOverAGUI(t *testing.T, srv *apptest.Server) {
	input, _ := json.Marshal(map[string]any{
		"threadId": "mcp-agui", "runId": "r1", "tools": []any{}, "context": []any{}, "state": map[string]any{},
		"messages": []map[string]string{{"id": "m1", "role": "user", "content": askEverything()}},
	})
	var types, names, results []string
	var text strings.Builder
	for _, f := range sse(t, srv.URL+"/agui/mcp-agui", string(input)) {
		var ev struct {
			Type, ToolCallName, Content, Delta string
		}
		if err := json.Unmarshal([]byte(f), &ev); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		types = append(types, ev.Type)
		switch ev.Type {
		case "TOOL_CALL_START":
			names = append(names, ev.ToolCallName)
		case "TOOL_CALL_RESULT":
			results = append(results, ev.Content)
		case "TEXT_MESSAGE_CONTENT":
			text.WriteString(ev.Delta)
		}
	}
	if types[0] != "RUN_STARTED" || types[len(types)-1] != "RUN_FINISHED" {
		t.Fatalf("AG-UI events %v", types)
	}
	slices.Sort(results) // in the order the calls ended
	if !slices.Equal(names, []string{"everything__echo", "everything__get-sum"}) || !slices.Equal(results, []string{"Echo: hello", "The sum of 2 and 3 is 5."}) {
		t.Fatalf("AG-UI calls %v, results %v", names, results)
	}
	wantEverythingAnswer(t, text.String())
}

func everythingOverAISDK(t *testing.T, srv *apptest.Server) {
	body, _ := json.Marshal(map[string]any{
		"id": "mcp-aisdk", "trigger": "submit-message",
		"messages": []any{map[string]any{"id": "m1", "role": "user", "parts": []any{map[string]string{"type": "text", "text": askEverything()}}}},
	})
	var types, names, outputs []string
	var text strings.Builder
	frames := sse(t, srv.URL+"/ai/chat", string(body))
	if frames[len(frames)-1] != "[DONE]" {
		t.Fatalf("the AI SDK stream ended with %q", frames[len(frames)-1])
	}
	for _, f := range frames[:len(frames)-1] {
		var ch struct {
			Type, ToolName, Delta string
			Output                any
		}
		if err := json.Unmarshal([]byte(f), &ch); err != nil {
			t.Fatalf("chunk %s: %v", f, err)
		}
		types = append(types, ch.Type)
		switch ch.Type {
		case "tool-input-start":
			names = append(names, ch.ToolName)
		case "tool-output-available":
			outputs = append(outputs, fmt.Sprint(ch.Output))
		case "text-delta":
			text.WriteString(ch.Delta)
		}
	}
	if types[0] != "start" || types[len(types)-1] != "finish" {
		t.Fatalf("AI SDK chunks %v", types)
	}
	slices.Sort(outputs) // in the order the calls ended
	if !slices.Equal(names, []string{"everything__echo", "everything__get-sum"}) || !slices.Equal(outputs, []string{"Echo: hello", "The sum of 2 and 3 is 5."}) {
		t.Fatalf("AI SDK calls %v, outputs %v", names, outputs)
	}
	wantEverythingAnswer(t, text.String())
}
