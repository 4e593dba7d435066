package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// The tool loop on the wire: a client tool's round trip and an approval,
// over the socket and over Connect in every protocol, with the openai
// responder against a scripted OpenAI-compatible server (tooltest.OpenAI)
// that streams tool calls as real servers do (it replays the openai
// responder's recordings), and with the scripted responder
// (tooltest.Responder).

// clientTools are CLIENT_TOOLS: the two tools the recorded streams call.
const clientTools = `[
 {"name": "get_weather", "description": "The weather in a city.", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
 {"name": "get_time", "description": "The time in a zone.", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}
]`

// startOpenAIWithTools runs the gateway with the openai responder against
// model, and clientTools lent to every client.
func startOpenAIWithTools(t *testing.T, model *tooltest.OpenAI) *apptest.Server {
	t.Helper()
	env := model.Env()
	env["CLIENT_TOOLS"] = clientTools
	return apptest.Start(t, env)
}

// recordings are the recorded streams of tool calls the tests replay: as
// OpenAI, Ollama and vLLM stream them.
var recordings = []string{"openai_tool_calls", "ollama_no_index", "vllm_no_id"}

// TestClientToolRoundTripOverConnect: in each protocol, a SendMessage pauses
// with the model's calls pending, SubmitToolResult answers them, and the
// last answer's wait returns the step the model wrote from the results;
// the model got each call and its result, by id.
func TestClientToolRoundTripOverConnect(t *testing.T) {
	t.Parallel()
	model := tooltest.StartOpenAI(t)
	srv := startOpenAIWithTools(t, model)
	for i, p := range allProtocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newClient(t, srv.URL, p)
			agentID := fmt.Sprintf("tools-%d", i)
			sent, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: tooltest.Replay(recordings[i%3])}))
			if err != nil {
				t.Fatal(err)
			}
			step := sent.Msg.GetReply().GetMessage()
			if step.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS || len(step.GetToolCalls()) < 2 {
				t.Fatalf("the reply: %v; want a paused step with the calls", step)
			}
			if n := len(sent.Msg.GetEvents()); n != 1 || sent.Msg.GetEvents()[0].GetSeq() != sent.Msg.GetReply().GetSeq() {
				t.Fatalf("the run's events: %v; want the step alone", sent.Msg.GetEvents())
			}
			calls := step.GetToolCalls()
			for j, call := range calls {
				if call.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING || call.GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_CLIENT || call.GetToolCallId() == "" {
					t.Fatalf("call %d: %v; want a pending client call with an id", j, call)
				}
				var args map[string]any
				if err := json.Unmarshal([]byte(call.GetArguments()), &args); err != nil {
					t.Fatalf("call %d's arguments %q: %v", j, call.GetArguments(), err)
				}
			}
			var last *agentv1.SubmitToolResultResponse
			for j, call := range calls {
				res, err := c.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{
					AgentId: agentID, ToolCallId: call.GetToolCallId(), Wait: j == len(calls)-1,
					Result: &agentv1.SubmitToolResultRequest_Output{Output: fmt.Sprintf(`{"n":%d}`, j)},
				}))
				if err != nil {
					t.Fatal(err)
				}
				if res.Msg.GetRunResumed() != (j == len(calls)-1) {
					t.Fatalf("answer %d: run_resumed %v", j, res.Msg.GetRunResumed())
				}
				last = res.Msg
			}
			var want []tooltest.Result
			for j, call := range calls {
				want = append(want, tooltest.Result{ID: call.GetToolCallId(), Content: fmt.Sprintf(`{"n":%d}`, j)})
			}
			if got, err := tooltest.Answer(last.GetReply().GetMessage().GetText()); err != nil || !slices.Equal(got, want) {
				t.Fatalf("the model read %v (%v); want %v", got, err, want)
			}
			// The model was sent the assistant's calls, then each result.
			received := model.Received()
			req := received[len(received)-1]
			n := len(req.Messages)
			if len(req.Tools) != 2 || req.Messages[n-len(calls)-1].Role != "assistant" || len(req.Messages[n-len(calls)-1].ToolCalls) != len(calls) {
				t.Fatalf("the second request: %+v", req)
			}
			// Another result for a call answered: refused, nothing lost.
			_, err = c.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{
				AgentId: agentID, ToolCallId: calls[0].GetToolCallId(), Result: &agentv1.SubmitToolResultRequest_Error{Error: "changed my mind"},
			}))
			if connect.CodeOf(err) != connect.CodeAlreadyExists {
				t.Fatalf("another result: %v, want already_exists", err)
			}
			if _, err := c.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{AgentId: agentID, ToolCallId: "nope"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("a request without output or error: %v, want invalid_argument", err)
			}
		})
	}
}

// sock is a socket of a test: call frames and their answers, with the
// events pushed meanwhile kept, in order, for events.
type sock struct {
	t      *testing.T
	c      *websocket.Conn
	pushed []*agentv1.AgentEvent
}

func openSock(t *testing.T, url string) *sock {
	c, _ := dial(t, url, nil)
	return &sock{t: t, c: c}
}

// read reads the next frame: an event is kept, and nil returned.
func (s *sock) read() *socketFrame {
	s.t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := s.c.ReadMessage()
	if err != nil {
		s.t.Fatalf("reading the socket: %v", err)
	}
	var f struct {
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		s.t.Fatal(err)
	}
	if f.Event != nil {
		ev := &agentv1.AgentEvent{}
		if err := protojson.Unmarshal(f.Event, ev); err != nil {
			s.t.Fatal(err)
		}
		s.pushed = append(s.pushed, ev)
		return nil
	}
	fr := &socketFrame{raw: data}
	if err := json.Unmarshal(data, fr); err != nil {
		s.t.Fatal(err)
	}
	return fr
}

// call sends a call frame and returns the frame that answers it.
func (s *sock) call(id, method, request string) socketFrame {
	s.t.Helper()
	writeFrame(s.t, s.c, fmt.Sprintf(`{"id":%q,"method":%q,"request":%s}`, id, method, request))
	for {
		if f := s.read(); f != nil && f.ID == id {
			return *f
		}
	}
}

// events returns the events pushed up to the one stop says is the last,
// reading on as needed; those after it stay for the next call.
func (s *sock) events(stop func(*agentv1.AgentEvent) bool) []*agentv1.AgentEvent {
	s.t.Helper()
	for i := 0; ; i++ {
		for i >= len(s.pushed) {
			s.read()
		}
		if stop(s.pushed[i]) {
			out := s.pushed[:i+1]
			s.pushed = s.pushed[i+1:]
			return out
		}
	}
}

// kinds names each event's kind as its JSON does, starred for persisted
// ones.
func kinds(evs []*agentv1.AgentEvent) []string {
	var out []string
	for _, ev := range evs {
		name := ev.ProtoReflect().WhichOneof(ev.ProtoReflect().Descriptor().Oneofs().ByName("kind")).JSONName()
		if ev.GetSeq() != 0 {
			name = "*" + name
		}
		out = append(out, name)
	}
	return out
}

// deltaKinds names the events as kinds does, with each run of deltas of
// one kind named once: a socket that joins a run while it streams is sent
// the run so far, in which the deltas it missed come as one, so how many
// pieces a call's arguments or a step's text arrive in is not for a test
// to fix.
func deltaKinds(evs []*agentv1.AgentEvent) []string {
	var out []string
	for _, k := range kinds(evs) {
		if (k == "toolCallArgs" || k == "textDelta") && len(out) > 0 && out[len(out)-1] == k {
			continue
		}
		out = append(out, k)
	}
	return out
}

// TestClientToolRoundTripOverTheSocket: the same round trip in frames, a
// client's tools sent with its message, the events every socket of the
// agent is pushed, and a reload that shows the call still pending.
func TestClientToolRoundTripOverTheSocket(t *testing.T) {
	t.Parallel()
	model := tooltest.StartOpenAI(t)
	env := model.Env()
	env["TOOL_RESULT_MAX_BYTES"] = "1024"
	srv := apptest.Start(t, env)
	c := openSock(t, wsURL(srv, "sock", ""))
	tools := `[{"name":"get_weather","description":"The weather.","parameters":{"type":"object","properties":{"city":{"type":"string"}}}},` +
		`{"name":"get_time","description":"The time.","parameters":{"type":"object"}}]`
	f := c.call("s1", "SendMessage", fmt.Sprintf(`{"text":%q,"tools":%s}`, tooltest.Replay("openai_tool_calls"), tools))
	var sent agentv1.SendMessageResponse
	if f.Error != nil || protojson.Unmarshal(f.Response, &sent) != nil {
		t.Fatalf("SendMessage: %s", f.raw)
	}
	calls := sent.GetReply().GetMessage().GetToolCalls()
	if len(calls) != 2 || calls[0].GetToolCallId() != "call_Xj3kP9qLr2" || calls[1].GetToolCallId() != "call_Vb8nT4mWs6" {
		t.Fatalf("the paused step's calls: %v", calls)
	}
	// The user message keeps the tools it lent.
	if got := sent.GetMessage().GetMessage().GetTools(); len(got) != 2 || got[0].GetParameters().GetFields()["type"].GetStringValue() != "object" {
		t.Fatalf("the message's tools: %v", got)
	}
	pushed := c.events(func(ev *agentv1.AgentEvent) bool { return ev.GetSeq() == sent.GetReply().GetSeq() })
	want := []string{"*message", "runStarted", "toolCallStart", "toolCallArgs", "toolCallEnd",
		"toolCallStart", "toolCallArgs", "toolCallEnd", "*message"}
	if got := deltaKinds(pushed); !slices.Equal(got, want) {
		t.Fatalf("pushed %v\nwant %v", got, want)
	}

	// A reload: a new socket that resumes sees the call pending.
	r := openSock(t, wsURL(srv, "sock", fmt.Sprintf("after_seq=1&epoch=%s", sent.GetMessage().GetEpoch())))
	replayed := r.events(func(ev *agentv1.AgentEvent) bool { return ev.GetSeq() == sent.GetReply().GetSeq() })
	if m := replayed[len(replayed)-1].GetMessage(); m.GetToolCalls()[0].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING {
		t.Fatalf("the replayed step: %v", m)
	}

	f = c.call("r1", "SubmitToolResult", `{"toolCallId":"call_Xj3kP9qLr2","output":"sunny"}`)
	if f.Error != nil || !strings.Contains(string(f.Response), `"toolCallResult"`) || strings.Contains(string(f.Response), "runResumed") {
		t.Fatalf("the first result: %s", f.raw)
	}
	f = c.call("r2", "SubmitToolResult", `{"toolCallId":"call_Vb8nT4mWs6","error":"no clock here","wait":true}`)
	var res agentv1.SubmitToolResultResponse
	if f.Error != nil || protojson.Unmarshal(f.Response, &res) != nil || !res.GetRunResumed() {
		t.Fatalf("the last result: %s", f.raw)
	}
	read := []tooltest.Result{{ID: "call_Xj3kP9qLr2", Content: "sunny"}, {ID: "call_Vb8nT4mWs6", Content: "Error: no clock here"}}
	if got, err := tooltest.Answer(res.GetReply().GetMessage().GetText()); err != nil || !slices.Equal(got, read) {
		t.Fatalf("the model read %v (%v); want %v", got, err, read)
	}
	pushed = c.events(func(ev *agentv1.AgentEvent) bool { return ev.GetSeq() == res.GetReply().GetSeq() })
	want = []string{"*toolCallResult", "*toolCallResult", "stepStarted", "textDelta", "*message"}
	if got := kinds(pushed); !slices.Equal(got, want) {
		t.Fatalf("pushed after the results %v\nwant %v", got, want)
	}
	// Bad input on the socket: a clear code, the socket stays open.
	for _, bad := range []struct{ request, code string }{
		{`{"toolCallId":"call_Xj3kP9qLr2","output":"rainy"}`, "already_exists"},
		{`{"toolCallId":"unknown","output":"x"}`, "not_found"},
		{`{"toolCallId":"call_Xj3kP9qLr2","output":"` + strings.Repeat("x", 1025) + `"}`, "invalid_argument"},
		{`{"toolCallId":"call_Xj3kP9qLr2","outptu":"typo"}`, "invalid_argument"},
	} {
		if f := c.call("bad", "SubmitToolResult", bad.request); f.Error == nil || f.Error.Code != bad.code {
			t.Fatalf("SubmitToolResult %.60s: %s; want %s", bad.request, f.raw, bad.code)
		}
	}
}

// startWithApproval runs the gateway with the scripted responder and its
// server tools, transfers waiting for a person's approval.
func startWithApproval(t *testing.T) *apptest.Server {
	return apptest.Start(t, map[string]string{"TOOL_APPROVAL": "transfer"}, func(o *app.Options) {
		o.Responder = tooltest.Responder{}
		o.Tools = []tool.Source{tooltest.ServerTools()}
	})
}

// TestApprovalOverTheSocket: a server tool that needs approval pauses the
// run with an approval request, pushed live and persisted in the step;
// DecideToolCall approves (the tool runs) or denies (the model is told),
// once; a forged decision is refused.
func TestApprovalOverTheSocket(t *testing.T) {
	t.Parallel()
	srv := startWithApproval(t)
	for _, approve := range []bool{true, false} {
		agentID := fmt.Sprint("approval-", approve)
		c := openSock(t, wsURL(srv, agentID, ""))
		f := c.call("s", "SendMessage", `{"text":"transfer {\"amount\":100}"}`)
		var sent agentv1.SendMessageResponse
		if f.Error != nil || protojson.Unmarshal(f.Response, &sent) != nil {
			t.Fatalf("SendMessage: %s", f.raw)
		}
		call := sent.GetReply().GetMessage().GetToolCalls()[0]
		id := call.GetToolCallId()
		if call.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL || call.GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_SERVER || call.GetApprovalId() == "" {
			t.Fatalf("the call: %v", call)
		}
		pushed := c.events(func(ev *agentv1.AgentEvent) bool { return ev.GetSeq() == sent.GetReply().GetSeq() })
		var asked *agentv1.ToolApprovalRequest
		for _, ev := range pushed {
			if a := ev.GetToolApprovalRequest(); a != nil {
				asked = a
			}
		}
		if asked.GetApprovalId() != call.GetApprovalId() || asked.GetToolCallId() != id || asked.GetName() != "transfer" {
			t.Fatalf("the approval request pushed: %v", asked)
		}
		if f := c.call("forged", "DecideToolCall", fmt.Sprintf(`{"toolCallId":%q,"approve":true,"approvalId":"made-up"}`, id)); f.Error == nil || f.Error.Code != "failed_precondition" {
			t.Fatalf("a forged approval: %s", f.raw)
		}
		f = c.call("d", "DecideToolCall", fmt.Sprintf(`{"toolCallId":%q,"approve":%v,"reason":"checked","approvalId":%q,"wait":true}`, id, approve, call.GetApprovalId()))
		var res agentv1.DecideToolCallResponse
		if f.Error != nil || protojson.Unmarshal(f.Response, &res) != nil || !res.GetRunResumed() {
			t.Fatalf("the decision: %s", f.raw)
		}
		if d := res.GetDecision().GetToolCallDecision(); d.GetApproved() != approve || d.GetDecidedBy() != "anonymous" {
			t.Fatalf("the decision persisted: %v", d)
		}
		want := "Done: transfer → transferred 100 to the landlord."
		if !approve {
			want = "Done: transfer failed: denied: the user did not approve this call: checked."
		}
		if got := res.GetReply().GetMessage().GetText(); got != want {
			t.Fatalf("approve %v: the model wrote %q, want %q", approve, got, want)
		}
		if f := c.call("replay", "DecideToolCall", fmt.Sprintf(`{"toolCallId":%q,"approve":%v,"reason":"checked"}`, id, approve)); f.Error != nil || !strings.Contains(string(f.Response), `"duplicate":true`) {
			t.Fatalf("the decision replayed: %s", f.raw)
		}
		if f := c.call("other", "DecideToolCall", fmt.Sprintf(`{"toolCallId":%q,"approve":%v}`, id, !approve)); f.Error == nil || f.Error.Code != "already_exists" {
			t.Fatalf("the other decision: %s", f.raw)
		}
	}
}

// TestToolsAreValidated: a bad schema, a duplicate name, a server tool's
// name: invalid_argument naming the tool.
func TestToolsAreValidated(t *testing.T) {
	t.Parallel()
	srv := startWithApproval(t)
	c := newClient(t, srv.URL, h2cConnect)
	ctx := testCtx(t)
	schema := func(js string) *structpb.Struct {
		s := &structpb.Struct{}
		if err := protojson.Unmarshal([]byte(js), s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		tools []*agentv1.Tool
		says  string
	}{
		{[]*agentv1.Tool{{Name: "a b"}}, `"a b"`},
		{[]*agentv1.Tool{{Name: "list", Parameters: schema(`{"type":"array"}`)}}, `"list"`},
		{[]*agentv1.Tool{{Name: "bad", Parameters: schema(`{"type":"object","properties":{"x":{"type":12}}}`)}}, `"bad"`},
		{[]*agentv1.Tool{{Name: "twice"}, {Name: "twice"}}, `"twice"`},
		{[]*agentv1.Tool{{Name: "transfer"}}, `"transfer" is a server tool`},
	} {
		_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "v", Text: "hi", Tools: tc.tools}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("tools %v: %v; want invalid_argument saying %s", tc.tools, err, tc.says)
		}
	}
	if h, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "v"})); err != nil || len(h.Msg.GetEvents()) != 0 {
		t.Fatalf("a refused message was appended: %v, %v", h, err)
	}
}

// TestClientToolOverConverse: a Converse message lends its tools; the
// stream shows the paused step, and, once SubmitToolResult answered it,
// the results and the run's next step.
func TestClientToolOverConverse(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, tooltest.StartOpenAI(t).Env())
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	stream := c.Converse(ctx)
	defer func() {
		_ = stream.CloseRequest()
		_ = stream.CloseResponse()
	}()
	tools := []*agentv1.Tool{{Name: "get_weather", Description: "The weather."}, {Name: "get_time", Description: "The time."}}
	if err := stream.Send(&agentv1.ConverseRequest{AgentId: "conv-tools", Text: tooltest.Replay("vllm_no_id"), Tools: tools, SkipDeltas: true}); err != nil {
		t.Fatal(err)
	}
	next := func(stop func(*agentv1.AgentEvent) bool) []*agentv1.AgentEvent {
		var out []*agentv1.AgentEvent
		for {
			res, err := stream.Receive()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.GetEvent())
			if stop(res.GetEvent()) {
				return out
			}
		}
	}
	paused := next(func(ev *agentv1.AgentEvent) bool { return ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT })
	step := paused[len(paused)-1].GetMessage()
	if len(step.GetToolCalls()) != 2 || step.GetToolCalls()[0].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING {
		t.Fatalf("the paused step: %v", step)
	}
	for _, call := range step.GetToolCalls() {
		// vLLM sent no ids: the responder made them, the same on every
		// event of the call.
		if !strings.HasPrefix(call.GetToolCallId(), "call_") {
			t.Fatalf("a call without the id made for it: %v", call)
		}
		if _, err := c.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{
			AgentId: "conv-tools", ToolCallId: call.GetToolCallId(), Result: &agentv1.SubmitToolResultRequest_Output{Output: call.GetName() + " done"},
		})); err != nil {
			t.Fatal(err)
		}
	}
	rest := next(func(ev *agentv1.AgentEvent) bool { return ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT })
	if got := kinds(rest); !slices.Equal(got, []string{"*toolCallResult", "*toolCallResult", "stepStarted", "*message"}) {
		t.Fatalf("after the results: %v", got)
	}
	read, err := tooltest.Answer(rest[len(rest)-1].GetMessage().GetText())
	if err != nil || len(read) != 2 || read[0].Content != "get_weather done" || read[1].Content != "get_time done" {
		t.Fatalf("the model read %v (%v)", read, err)
	}
}

// TestFailedServerToolOnTheWire: a server tool that fails, or panics, is
// a result marked as an error, whose text says why and nothing more; the
// model reads it once marked, by the openai responder, in the request
// body it receives: "Error: " and the reason.
func TestFailedServerToolOnTheWire(t *testing.T) {
	t.Parallel()
	set, err := tool.NewSet(
		tool.Tool{Def: tool.Def{Name: "full", Description: "Fails."},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{}, errors.New("the disk is full")
			}},
		tool.Tool{Def: tool.Def{Name: "panics", Description: "Panics."},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) { panic("no") }},
	)
	if err != nil {
		t.Fatal(err)
	}
	model := tooltest.StartOpenAI(t)
	srv := apptest.Start(t, model.Env(), func(o *app.Options) { o.Tools = []tool.Source{set} })
	res := send(testCtx(t), t, newClient(t, srv.URL, h2cConnect), "failed-tools", tooltest.Ask(tooltest.Call{Name: "full"}, tooltest.Call{Name: "panics"}))
	var calls []*agentv1.ToolCall
	for _, ev := range res.GetEvents() {
		calls = append(calls, ev.GetMessage().GetToolCalls()...)
	}
	want := []string{"the disk is full", "the tool failed"}
	if len(calls) != 2 {
		t.Fatalf("the run's calls: %v", calls)
	}
	for i, c := range calls {
		if !c.GetIsError() || c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_ERROR || c.GetResult() != want[i] {
			t.Errorf("call %s: %v; want an error result %q", c.GetName(), c, want[i])
		}
	}
	received := model.Received()
	var read []string
	for _, m := range received[len(received)-1].Messages {
		if m.Role == "tool" {
			read = append(read, m.Text())
		}
	}
	if !slices.Equal(read, []string{"Error: the disk is full", "Error: the tool failed"}) {
		t.Fatalf("the tool messages the model received: %q", read)
	}
}

// TestClientToolNamedLikeAServerTool: a gateway whose CLIENT_TOOLS holds a
// server tool's name does not start, and says which.
func TestClientToolNamedLikeAServerTool(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadWith(func(k string) (string, bool) {
		v, ok := map[string]string{"CLIENT_TOOLS": `[{"name":"transfer","description":"A client's."}]`}[k]
		return v, ok
	}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := tool.NewSet(tool.Tool{Def: tool.Def{Name: "transfer"}, Run: func(context.Context, json.RawMessage) (tool.Result, error) { return tool.Result{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(context.Background(), cfg, app.Options{Tools: []tool.Source{set}, Logger: slog.New(slog.DiscardHandler)})
	if cerr, ok := errors.AsType[*config.Error](err); !ok || cerr.Var != "CLIENT_TOOLS" || cerr.Value != "transfer" {
		t.Fatalf("app.New: %v; want a CLIENT_TOOLS error naming transfer", err)
	}
}

// TestContextTooLongIsTriedAgainWithLess: the openai responder against a
// model server that refuses the conversation as too long (HTTP 400,
// context_length_exceeded): the step is tried once more with half the
// context, and the reply is written; a server that always refuses gives a
// run error with that code, and the agent answers its next message all
// the same.
func TestContextTooLongIsTriedAgainWithLess(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sizes []int // bytes of each request's messages
	refuse := 0     // how many requests to refuse from now on
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := 0
		for _, m := range req.Messages {
			n += len(m)
		}
		mu.Lock()
		sizes = append(sizes, n)
		no := refuse > 0
		if no {
			refuse--
		}
		mu.Unlock()
		if no {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", strings.Repeat("words ", 100))
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	srv := apptest.Start(t, map[string]string{"RESPONDER": "openai", "OPENAI_BASE_URL": up.URL, "OPENAI_MODEL": "m"})
	c := newClient(t, srv.URL, h2cConnect)
	ctx := testCtx(t)
	for i := range 4 {
		send(ctx, t, c, "long", fmt.Sprint("message ", i, strings.Repeat(" padding", 50)))
	}
	mu.Lock()
	refuse = 1
	mu.Unlock()
	res := send(ctx, t, c, "long", "once more")
	if res.GetReply().GetMessage().GetText() == "" {
		t.Fatalf("the reply after one refusal: %v", res.GetReply())
	}
	mu.Lock()
	tried, retried := sizes[len(sizes)-2], sizes[len(sizes)-1]
	refuse = 2
	mu.Unlock()
	if retried > tried/2+200 || retried == 0 {
		t.Fatalf("sent %d bytes of messages, then %d once refused; want about half", tried, retried)
	}
	res = send(ctx, t, c, "long", "and again")
	if re := res.GetReply().GetRunError(); re.GetCode() != responder.CodeContextTooLong {
		t.Fatalf("always refused: %v; want a run error %s", res.GetReply(), responder.CodeContextTooLong)
	}
	if res := send(ctx, t, c, "long", "still there?"); res.GetReply().GetMessage().GetText() == "" {
		t.Fatalf("the next message: %v", res.GetReply())
	}
}
