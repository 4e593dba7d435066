package doortest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// The AG-UI door's tool loop on the wire: runs of several steps in one
// AG-UI run, pauses for the client's tools (RUN_FINISHED with
// pendingToolCallIds) and for approvals (an interrupt outcome), and the
// next run that answers them and goes on in the same response.

// getLocation is a client tool, in AG-UI's Tool shape.
var getLocation = map[string]any{"name": "get_location", "description": "Where the user is.",
	"parameters": map[string]any{"type": "object", "properties": map[string]any{}}}

// aguiRun is a RunAgentInput of messages, tools and resume entries.
func aguiRun(runID string, messages []any, tools []any, resume []any) string {
	in := map[string]any{"threadId": "t", "runId": runID, "state": map[string]any{}, "context": []any{},
		"forwardedProps": map[string]any{}, "messages": messages, "tools": tools}
	if tools == nil {
		in["tools"] = []any{}
	}
	if resume != nil {
		in["resume"] = resume
	}
	b, _ := json.Marshal(in)
	return string(b)
}

// clientMessages is the message list @ag-ui/client keeps of a run: the
// user message, an assistant message per text message, its tool calls,
// and the tool messages of TOOL_CALL_RESULT.
func clientMessages(user map[string]any, evs []event) []any {
	msgs := []any{user}
	byID := map[string]map[string]any{}
	calls := map[string]map[string]any{}
	for _, ev := range evs {
		switch ev.str("type") {
		case "TEXT_MESSAGE_START":
			m := map[string]any{"id": ev.str("messageId"), "role": "assistant", "content": ""}
			byID[ev.str("messageId")] = m
			msgs = append(msgs, m)
		case "TEXT_MESSAGE_CONTENT":
			m := byID[ev.str("messageId")]
			m["content"] = m["content"].(string) + ev.str("delta")
		case "TOOL_CALL_START":
			m := byID[ev.str("parentMessageId")]
			if m == nil {
				m = map[string]any{"id": ev.str("parentMessageId"), "role": "assistant"}
				byID[ev.str("parentMessageId")] = m
				msgs = append(msgs, m)
			}
			c := map[string]any{"id": ev.str("toolCallId"), "type": "function", "function": map[string]any{"name": ev.str("toolCallName"), "arguments": ""}}
			calls[ev.str("toolCallId")] = c
			tc, _ := m["toolCalls"].([]any)
			m["toolCalls"] = append(tc, c)
		case "TOOL_CALL_ARGS":
			f := calls[ev.str("toolCallId")]["function"].(map[string]any)
			f["arguments"] = f["arguments"].(string) + ev.str("delta")
		case "TOOL_CALL_RESULT":
			msgs = append(msgs, map[string]any{"id": ev.str("messageId"), "role": "tool", "toolCallId": ev.str("toolCallId"), "content": ev.str("content")})
		}
	}
	return msgs
}

func outcome(ev event) map[string]any { o, _ := ev["outcome"].(map[string]any); return o }

func TestAGUIAStepThatGoesOnStaysInTheRun(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	evs := newEvents(t, post(t, ctx, client(t), srv.URL+"/agui/agui-steps", aguiBody("t", "r", "u1", `lookup {"step":0}`))).all()
	verifyAGUI(t, evs)
	want := "RUN_STARTED TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT TEXT_MESSAGE_CONTENT TOOL_CALL_START TOOL_CALL_ARGS TOOL_CALL_ARGS " +
		"TOOL_CALL_END TOOL_CALL_RESULT TEXT_MESSAGE_END TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END RUN_FINISHED"
	if got := coalesced(evs); got != coalescedTypes(want) {
		t.Fatalf("events:\n%s\nwant\n%s", got, coalescedTypes(want))
	}
	hist, err := connectClient(t, srv).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "agui-steps"}))
	if err != nil {
		t.Fatal(err)
	}
	steps := hist.Msg.GetEvents()[1:]
	if len(steps) != 2 {
		t.Fatalf("log: %v", hist.Msg.GetEvents())
	}
	var starts []string
	for _, ev := range evs {
		if ev.str("type") == "TEXT_MESSAGE_START" {
			starts = append(starts, ev.str("messageId"))
		}
	}
	if starts[0] != steps[0].GetMessage().GetMessageId() || starts[1] != steps[1].GetMessage().GetMessageId() {
		t.Fatalf("text messages %v, want the steps' ids", starts)
	}
	if s := find(evs, "TOOL_CALL_START"); s.str("parentMessageId") != starts[0] {
		t.Fatalf("the call's parent %q, want the first step", s.str("parentMessageId"))
	}
	if r := find(evs, "TOOL_CALL_RESULT"); r.str("content") != `{"found":{"step":0}}` {
		t.Fatalf("result %v", r)
	}
	if got := text(evs, "TEXT_MESSAGE_CONTENT", "delta"); got != `Calling lookup. Done: lookup → {"found":{"step":0}}.` {
		t.Fatalf("text %q", got)
	}
	fin := evs[len(evs)-1]
	if r, _ := fin["result"].(map[string]any); r["messageId"] != starts[1] || r["finishReason"] != "stop" || fin["outcome"] != nil {
		t.Fatalf("RUN_FINISHED %v", fin)
	}
}

// coalesced is the events' types with runs of one type of delta made one:
// how many frames a burst of deltas takes depends on timing, and a step
// read from the log has its arguments in one piece.
func coalesced(evs []event) string { return coalescedTypes(types(evs)) }

func coalescedTypes(s string) string {
	for _, typ := range []string{"TEXT_MESSAGE_CONTENT", "TOOL_CALL_ARGS", "text-delta", "tool-input-delta"} {
		for strings.Contains(s, typ+" "+typ) {
			s = strings.ReplaceAll(s, typ+" "+typ, typ)
		}
	}
	return s
}

// TestAGUIClientToolPause: a step that calls a client tool and a server
// tool ends the run with the server tool's result and the client's call
// pending; the next run carries the client's tool message (and the
// gateway's own result, which is not submitted again) and goes on in the
// same response, with no result echoed for either.
func TestAGUIClientToolPause(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	user := map[string]any{"id": "u1", "role": "user", "content": `get_location lookup {"step":0}`}
	first := newEvents(t, post(t, ctx, c, srv.URL+"/agui/agui-pause", aguiRun("r1", []any{user}, []any{getLocation}, nil))).all()
	verifyAGUI(t, first)
	fin := first[len(first)-1]
	o := outcome(fin)
	ids, _ := o["pendingToolCallIds"].([]any)
	if o["type"] != "success" || len(ids) != 1 || !strings.HasPrefix(ids[0].(string), "get_location-") {
		t.Fatalf("the pause: %v", fin)
	}
	callID := ids[0].(string)
	if r, _ := fin["result"].(map[string]any); r["finishReason"] != "tool_calls" {
		t.Fatalf("RUN_FINISHED result %v", fin["result"])
	}
	results := 0
	for _, ev := range first {
		if ev.str("type") == "TOOL_CALL_RESULT" {
			results++
			if strings.HasPrefix(ev.str("toolCallId"), "get_location") {
				t.Fatalf("a result for the client's call: %v", ev)
			}
		}
	}
	if results != 1 {
		t.Fatalf("%d results, want the server tool's", results)
	}

	msgs := append(clientMessages(user, first), map[string]any{"id": "tool-1", "role": "tool", "toolCallId": callID, "content": "Paris"})
	second := newEvents(t, post(t, ctx, c, srv.URL+"/agui/agui-pause", aguiRun("r2", msgs, []any{getLocation}, nil))).all()
	verifyAGUI(t, second)
	if got := coalesced(second); got != "RUN_STARTED TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END RUN_FINISHED" {
		t.Fatalf("the run that goes on: %s\n%v", got, second)
	}
	if second[0].str("runId") != "r2" {
		t.Fatalf("RUN_STARTED %v", second[0])
	}
	if got := text(second, "TEXT_MESSAGE_CONTENT", "delta"); got != `Done: get_location → Paris; lookup → {"found":{"step":0}}.` {
		t.Fatalf("text %q", got)
	}
	if o := outcome(second[len(second)-1]); o != nil {
		t.Fatalf("outcome %v, want none (success)", o)
	}

	// The same run again: a duplicate, which streams what the first one
	// did; another result for the call is refused.
	again := newEvents(t, post(t, ctx, c, srv.URL+"/agui/agui-pause", aguiRun("r3", msgs, nil, nil))).all()
	verifyAGUI(t, again)
	if a, b := text(again, "TEXT_MESSAGE_CONTENT", "delta"), text(second, "TEXT_MESSAGE_CONTENT", "delta"); a != b ||
		find(again, "TEXT_MESSAGE_START").str("messageId") != find(second, "TEXT_MESSAGE_START").str("messageId") {
		t.Fatalf("the retried run streamed %q, the first %q", a, b)
	}
	other := append(clientMessages(user, first), map[string]any{"id": "tool-1", "role": "tool", "toolCallId": callID, "content": "Rome"})
	res := post(t, ctx, c, srv.URL+"/agui/agui-pause", aguiRun("r4", other, nil, nil))
	if code, msg := errorBody(t, res); res.StatusCode != http.StatusConflict || code != "already_exists" || !strings.Contains(msg, "messages[3]") {
		t.Fatalf("another result: %d %s %q", res.StatusCode, code, msg)
	}
	hist, err := connectClient(t, srv).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "agui-pause"}))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range hist.Msg.GetEvents() {
		kinds = append(kinds, kindOf(ev))
	}
	if got := strings.Join(kinds, " "); got != "message message tool_call_result message" {
		t.Fatalf("log: %s", got)
	}
}

func kindOf(ev *agentv1.AgentEvent) string {
	return string(ev.ProtoReflect().WhichOneof(ev.ProtoReflect().Descriptor().Oneofs().ByName("kind")).Name())
}

// TestAGUIApprovals: a call that needs a person's approval ends the run
// with an interrupt; the next run's resume approves it (the tool runs: its
// TOOL_CALL_RESULT against the original call, no start again) or denies
// it (the denial as its result), and the run goes on in the same response.
func TestAGUIApprovals(t *testing.T) {
	t.Parallel()
	srv := start(t, map[string]string{"TOOL_APPROVAL": "transfer"})
	ctx := testCtx(t)
	c := client(t)
	for _, tc := range []struct {
		name    string
		payload any
		status  string
		result  string
	}{
		{"approved", map[string]any{"approved": true}, "resolved", "transferred 100 to the landlord"},
		{"denied", map[string]any{"approved": false, "reason": "too much"}, "resolved", "denied: the user did not approve this call: too much"},
		{"cancelled", nil, "cancelled", "denied: the user did not approve this call: cancelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agentID := "agui-approval-" + tc.name
			user := map[string]any{"id": "u1", "role": "user", "content": `transfer {"amount":100}`}
			first := newEvents(t, post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r1", []any{user}, nil, nil))).all()
			verifyAGUI(t, first)
			o := outcome(first[len(first)-1])
			ints, _ := o["interrupts"].([]any)
			if o["type"] != "interrupt" || len(ints) != 1 {
				t.Fatalf("the pause: %v", first[len(first)-1])
			}
			in := ints[0].(map[string]any)
			callID := find(first, "TOOL_CALL_START").str("toolCallId")
			if in["reason"] != "tool_call" || in["toolCallId"] != callID || in["id"] == "" {
				t.Fatalf("the interrupt %v", in)
			}
			msgs := clientMessages(user, first)

			// An interrupt id the server did not issue decides nothing.
			forged := strings.Replace(in["id"].(string), ":c:", "X:c:", 1)
			res := post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r2", msgs, nil, []any{
				map[string]any{"interruptId": forged, "status": "resolved", "payload": map[string]any{"approved": true}}}))
			if code, msg := errorBody(t, res); res.StatusCode != http.StatusPreconditionFailed || code != "failed_precondition" || !strings.Contains(msg, "resume[0]") {
				t.Fatalf("a forged approval: %d %s %q", res.StatusCode, code, msg)
			}
			res = post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r2", msgs, nil, []any{
				map[string]any{"interruptId": "nope", "status": "resolved", "payload": map[string]any{"approved": true}}}))
			if code, _ := errorBody(t, res); res.StatusCode != http.StatusBadRequest || code != "invalid_argument" {
				t.Fatalf("an id of no interrupt: %d %s", res.StatusCode, code)
			}

			entry := map[string]any{"interruptId": in["id"], "status": tc.status}
			if tc.payload != nil {
				entry["payload"] = tc.payload
			}
			second := newEvents(t, post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r3", msgs, nil, []any{entry}))).all()
			verifyAGUI(t, second)
			if got := coalesced(second); got != "RUN_STARTED TOOL_CALL_RESULT TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END RUN_FINISHED" {
				t.Fatalf("the run after the decision: %s\n%v", got, second)
			}
			r := find(second, "TOOL_CALL_RESULT")
			if r.str("toolCallId") != callID || r.str("content") != tc.result {
				t.Fatalf("the call's result %v, want %q", r, tc.result)
			}
			wantText := "Done: transfer → " + tc.result + "."
			if tc.name != "approved" {
				wantText = "Done: transfer failed: " + tc.result + "."
			}
			if got := text(second, "TEXT_MESSAGE_CONTENT", "delta"); got != wantText {
				t.Fatalf("text %q, want %q", got, wantText)
			}
			// The resume again is safe: the same stream.
			again := newEvents(t, post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r4", msgs, nil, []any{entry}))).all()
			if coalesced(again) != coalesced(second) || text(again, "TEXT_MESSAGE_CONTENT", "delta") != wantText {
				t.Fatalf("the resume replayed: %v", again)
			}
		})
	}
}

// TestAGUIAnswersThatCannotBe: a result for a call the agent never made is
// a 404 before any stream; one for a call of a run cancelled while it
// waited, or closed because the user moved on, a 412.
func TestAGUIAnswersThatCannotBe(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	toolMessage := func(callID string) []any {
		return []any{map[string]any{"id": "u1", "role": "user", "content": "get_location"},
			map[string]any{"id": "t1", "role": "tool", "toolCallId": callID, "content": "Paris"}}
	}
	res := post(t, ctx, c, srv.URL+"/agui/agui-unknown", aguiRun("r", toolMessage("never-made"), nil, nil))
	if code, msg := errorBody(t, res); res.StatusCode != http.StatusNotFound || code != "not_found" || !strings.Contains(msg, "never-made") {
		t.Fatalf("an unknown call: %d %s %q", res.StatusCode, code, msg)
	}
	res = post(t, ctx, c, srv.URL+"/agui/agui-unknown", aguiRun("r", []any{map[string]any{"id": "t1", "role": "tool", "content": "x"}}, nil, nil))
	if code, _ := errorBody(t, res); res.StatusCode != http.StatusBadRequest || code != "invalid_argument" {
		t.Fatalf("a tool message without its call: %d %s", res.StatusCode, code)
	}
	bad := []any{map[string]any{"name": "no spaces please", "description": "x"}}
	res = post(t, ctx, c, srv.URL+"/agui/agui-unknown", aguiRun("r", toolMessage("x")[:1], bad, nil))
	if code, msg := errorBody(t, res); res.StatusCode != http.StatusBadRequest || code != "invalid_argument" || !strings.Contains(msg, "no spaces please") {
		t.Fatalf("a tool that is not valid: %d %s %q", res.StatusCode, code, msg)
	}
	res = post(t, ctx, c, srv.URL+"/ai/chat", chatRequest("ai-bad-tool", []any{chatUser("u1", "hi")}, bad))
	if code, msg := errorBody(t, res); res.StatusCode != http.StatusBadRequest || code != "invalid_argument" || !strings.Contains(msg, "no spaces please") {
		t.Fatalf("a chat's tool that is not valid: %d %s %q", res.StatusCode, code, msg)
	}

	for _, how := range []string{"cancelled", "moved on"} {
		agentID := "agui-closed-" + strings.ReplaceAll(how, " ", "-")
		first := newEvents(t, post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r1", toolMessage("x")[:1], []any{getLocation}, nil))).all()
		ids, _ := outcome(first[len(first)-1])["pendingToolCallIds"].([]any)
		if len(ids) != 1 {
			t.Fatalf("%s: the pause %v", how, first[len(first)-1])
		}
		switch how {
		case "cancelled":
			if _, err := connectClient(t, srv).CancelRun(context.WithoutCancel(ctx), connect.NewRequest(&agentv1.CancelRunRequest{AgentId: agentID})); err != nil {
				t.Fatal(err)
			}
		case "moved on":
			// A new message instead of the tool's result: answered as usual.
			evs := newEvents(t, post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiBody("t", "r2", "u2", "hello"))).all()
			if text(evs, "TEXT_MESSAGE_CONTENT", "delta") != "echo: hello" || evs[len(evs)-1].str("type") != "RUN_FINISHED" {
				t.Fatalf("the new message: %v", evs)
			}
		}
		res := post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r3", toolMessage(ids[0].(string)), nil, nil))
		if code, msg := errorBody(t, res); res.StatusCode != http.StatusPreconditionFailed || code != "failed_precondition" || !strings.Contains(msg, "closed") {
			t.Fatalf("%s: a result for the closed call: %d %s %q", how, res.StatusCode, code, msg)
		}
	}
}

// TestDoorContinuationEndsWhenTheAgentIsDeleted: the stream of a run that
// goes on after the client's answer ends, as any door stream does, when
// the agent is deleted mid-step: RUN_ERROR, and the AI SDK's error chunk,
// with agent_deleted.
func TestDoorContinuationEndsWhenTheAgentIsDeleted(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	say := "get_location then slow " + strings.Repeat("word ", 300)
	for _, door := range []string{"agui", "aisdk"} {
		t.Run(door, func(t *testing.T) {
			agentID := "continued-" + door
			var first []event
			var body func(callID string) string
			var path, delta string
			switch door {
			case "agui":
				user := map[string]any{"id": "u1", "role": "user", "content": say}
				first = newEvents(t, post(t, ctx, c, srv.URL+"/agui/"+agentID, aguiRun("r1", []any{user}, []any{getLocation}, nil))).all()
				body = func(callID string) string {
					return aguiRun("r2", append(clientMessages(user, first), map[string]any{"id": "t1", "role": "tool", "toolCallId": callID, "content": "Paris"}), nil, nil)
				}
				path, delta = "/agui/"+agentID, "TEXT_MESSAGE_CONTENT"
			case "aisdk":
				user := chatUser("u1", say)
				first = newEvents(t, post(t, ctx, c, srv.URL+"/ai/chat", chatRequest(agentID, []any{user}, []any{getLocation}))).all()
				body = func(string) string {
					return chatRequest(agentID, []any{user, assistantOf(first, func(p map[string]any) {
						p["state"], p["output"] = "output-available", "Paris"
					})}, nil)
				}
				path, delta = "/ai/chat", "text-delta"
			}
			callID := find(first, map[string]string{"agui": "TOOL_CALL_START", "aisdk": "tool-input-start"}[door]).str("toolCallId")
			stream := newEvents(t, post(t, ctx, c, srv.URL+path, body(callID)))
			seen := stream.until(delta)
			if _, err := connectClient(t, srv).DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: agentID})); err != nil {
				t.Fatal(err)
			}
			rest := stream.all()
			n := len(rest)
			switch door {
			case "agui":
				verifyAGUI(t, append(seen, rest...))
				if end := rest[n-1]; end.str("type") != "RUN_ERROR" || end.str("code") != "agent_deleted" {
					t.Fatalf("ended with %v", end)
				}
			case "aisdk":
				if n < 2 || rest[n-2].str("type") != "error" || !strings.HasPrefix(rest[n-2].str("errorText"), "agent_deleted: ") {
					t.Fatalf("ended with %v", rest[max(0, n-2):])
				}
			}
		})
	}
}
