package doortest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

func TestAGUITextRun(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	res := post(t, ctx, client(t), srv.URL+"/agui/agui-text", aguiBody("thread-1", "run-1", "u1", "hello there"))
	evs := newEvents(t, res).all()
	verifyAGUI(t, evs)
	if got := types(evs); !strings.HasPrefix(got, "RUN_STARTED TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT") ||
		!strings.HasSuffix(got, "TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END RUN_FINISHED") {
		t.Fatalf("events: %s", got)
	}
	rs, fin := evs[0], evs[len(evs)-1]
	if rs.str("threadId") != "thread-1" || rs.str("runId") != "run-1" || fin.str("threadId") != "thread-1" || fin.str("runId") != "run-1" {
		t.Fatalf("run ids: %v … %v", rs, fin)
	}
	if got := text(evs, "TEXT_MESSAGE_CONTENT", "delta"); got != "echo: hello there" {
		t.Fatalf("text %q", got)
	}
	// The text message is the reply, under the reply's id.
	hist, err := connectClient(t, srv).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "agui-text"}))
	if err != nil {
		t.Fatal(err)
	}
	evsLog := hist.Msg.GetEvents()
	if len(evsLog) != 2 || evsLog[0].GetMessage().GetClientMessageId() != "u1" {
		t.Fatalf("log: %v", evsLog)
	}
	replyID := evsLog[1].GetMessage().GetMessageId()
	for _, ev := range evs[1 : len(evs)-1] {
		if ev.str("messageId") != replyID {
			t.Fatalf("%v is not of the reply %s", ev, replyID)
		}
	}
	if r, _ := fin["result"].(map[string]any); r["messageId"] != replyID || r["finishReason"] != "stop" {
		t.Fatalf("RUN_FINISHED result: %v", fin["result"])
	}
}

func TestAGUIToolCalls(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	res := post(t, testCtx(t), client(t), srv.URL+"/agui/agui-tools", aguiBody("t", "r", "u1", "weather Oslo"))
	evs := newEvents(t, res).all()
	verifyAGUI(t, evs)
	want := "RUN_STARTED TEXT_MESSAGE_START TEXT_MESSAGE_CONTENT TOOL_CALL_START TOOL_CALL_ARGS TOOL_CALL_ARGS " +
		"TOOL_CALL_END TOOL_CALL_RESULT TEXT_MESSAGE_CONTENT TEXT_MESSAGE_END RUN_FINISHED"
	if got := types(evs); got != want {
		t.Fatalf("events:\n%s\nwant\n%s\n%v", got, want, evs)
	}
	start := find(evs, "TOOL_CALL_START")
	if start.str("toolCallName") != "weather" || start.str("parentMessageId") != evs[1].str("messageId") {
		t.Fatalf("TOOL_CALL_START %v", start)
	}
	if got := text(evs, "TOOL_CALL_ARGS", "delta"); got != `{"city":"Oslo"}` {
		t.Fatalf("arguments %q", got)
	}
	result := find(evs, "TOOL_CALL_RESULT")
	var content map[string]any
	if err := json.Unmarshal([]byte(result.str("content")), &content); err != nil || content["temperature"] != 21.0 ||
		result.str("role") != "tool" || result.str("toolCallId") != start.str("toolCallId") || result.str("messageId") == "" {
		t.Fatalf("TOOL_CALL_RESULT %v", result)
	}
	if got := text(evs, "TEXT_MESSAGE_CONTENT", "delta"); got != "Let me check the weather. It is 21 degrees in Oslo." {
		t.Fatalf("text %q", got)
	}
	usage, _ := evs[len(evs)-1]["usage"].([]any)
	if len(usage) != 1 || usage[0].(map[string]any)["model"] != "scripted" {
		t.Fatalf("usage %v", evs[len(evs)-1]["usage"])
	}
}

func TestAGUIRunError(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	res := post(t, testCtx(t), client(t), srv.URL+"/agui/agui-fail", aguiBody("t", "r", "u1", "fail"))
	evs := newEvents(t, res).all()
	verifyAGUI(t, evs)
	last := evs[len(evs)-1]
	if types(evs) != "RUN_STARTED RUN_ERROR" || last.str("code") != "scripted_failure" || !strings.Contains(last.str("message"), "failed") {
		t.Fatalf("events: %v", evs)
	}
}

// A retried run (same message id, another runId) appends nothing and
// streams the reply the first run got.
func TestAGUIRetriedRunStreamsTheSameReply(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	c := client(t)
	first := newEvents(t, post(t, ctx, c, srv.URL+"/agui/agui-retry", aguiBody("t", "r1", "m-1", "weather Bergen"))).all()
	again := newEvents(t, post(t, ctx, c, srv.URL+"/agui/agui-retry", aguiBody("t", "r2", "m-1", "weather Bergen"))).all()
	verifyAGUI(t, again)
	if again[0].str("runId") != "r2" {
		t.Fatalf("the retry's RUN_STARTED: %v", again[0])
	}
	for _, typ := range []string{"TEXT_MESSAGE_START", "TOOL_CALL_START", "TOOL_CALL_RESULT"} {
		a, b := find(first, typ), find(again, typ)
		if b == nil || a.str("messageId") != b.str("messageId") || a.str("toolCallId") != b.str("toolCallId") {
			t.Fatalf("%s: first %v, retry %v", typ, a, b)
		}
	}
	if a, b := text(first, "TEXT_MESSAGE_CONTENT", "delta"), text(again, "TEXT_MESSAGE_CONTENT", "delta"); a != b {
		t.Fatalf("text: first %q, retry %q", a, b)
	}
	if a, b := text(first, "TOOL_CALL_ARGS", "delta"), text(again, "TOOL_CALL_ARGS", "delta"); a != b {
		t.Fatalf("arguments: first %q, retry %q", a, b)
	}
	hist, err := connectClient(t, srv).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "agui-retry"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(hist.Msg.GetEvents()); n != 2 {
		t.Fatalf("the log holds %d events, want 2", n)
	}
}

func TestAGUIRunWithoutANewMessageIsEmpty(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	body := `{"threadId":"t","runId":"r","messages":[{"id":"u1","role":"user","content":"hi"},{"id":"a1","role":"assistant","content":"yo"}]}`
	evs := newEvents(t, post(t, testCtx(t), client(t), srv.URL+"/agui/agui-empty", body)).all()
	verifyAGUI(t, evs)
	if types(evs) != "RUN_STARTED RUN_FINISHED" {
		t.Fatalf("events: %s", types(evs))
	}
	// No threadId, no runId: the agent id and a new id.
	evs = newEvents(t, post(t, testCtx(t), client(t), srv.URL+"/agui/agui-empty", `{"messages":[]}`)).all()
	if evs[0].str("threadId") != "agui-empty" || evs[0].str("runId") == "" || evs[1].str("runId") != evs[0].str("runId") {
		t.Fatalf("events: %v", evs)
	}
}

// TestAGUIRunIsCancelledByAgentID: RUN_STARTED.runId is the client's, not
// the gateway's, so an AG-UI client cancels with CancelRun naming the
// door's agent and no run id (docs/frontends.md): the run it streams
// ends with RUN_FINISHED, finish reason cancelled, and the text so far.
func TestAGUIRunIsCancelledByAgentID(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	ctx := testCtx(t)
	long := "slow " + strings.Repeat("word ", 200)
	ev := newEvents(t, post(t, ctx, client(t), srv.URL+"/agui/agui-cancel", aguiBody("copilot-thread", "copilot-run", "u1", long)))
	seen := ev.until("TEXT_MESSAGE_CONTENT")
	if got := seen[0].str("runId"); got != "copilot-run" {
		t.Fatalf("RUN_STARTED.runId %q, want the client's", got)
	}
	res, err := connectClient(t, srv).CancelRun(ctx, connect.NewRequest(&agentv1.CancelRunRequest{AgentId: "agui-cancel"}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.GetRunId() == "" || res.Msg.GetRunId() == "copilot-run" {
		t.Fatalf("cancelled run %q, want the gateway's own run id", res.Msg.GetRunId())
	}
	evs := append(seen, ev.all()...)
	verifyAGUI(t, evs)
	fin := evs[len(evs)-1]
	r, _ := fin["result"].(map[string]any)
	o, _ := fin["outcome"].(map[string]any)
	if fin.str("type") != "RUN_FINISHED" || fin.str("runId") != "copilot-run" || r["finishReason"] != "cancelled" || o["type"] != "cancelled" {
		t.Fatalf("the run ended with %v", fin)
	}
	if got := text(evs, "TEXT_MESSAGE_CONTENT", "delta"); got == "" || len(got) >= len(long) {
		t.Fatalf("text so far %q", got)
	}
}
