package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/agentgate/agentgate/internal/tooltest"
)

// The tool loop across replicas on Redis, with real server processes: a
// run paused on one replica goes on once on another, after the first was
// killed; approvals are the server's to issue; a reload shows what waits.

// weatherAndTime are CLIENT_TOOLS: the two tools of OpenAI's recorded
// stream, which tooltest.OpenAI replays.
const weatherAndTime = `[{"name":"get_weather","description":"The weather.","parameters":{"type":"object"}},` +
	`{"name":"get_time","description":"The time.","parameters":{"type":"object"}}]`

// TestPausedRunGoesOnOnceOnAnotherReplica: A pauses the run for two client
// tools; a reload on B shows both calls pending; one result goes to A,
// then A is killed, and the last goes to B: the run goes on there, once,
// with the same run and run_seq going on.
func TestPausedRunGoesOnOnceOnAnotherReplica(t *testing.T) {
	t.Parallel()
	up := tooltest.StartOpenAI(t)
	env := []string{"RESPONDER=openai", "OPENAI_BASE_URL=" + up.URL, "OPENAI_MODEL=m", "CLIENT_TOOLS=" + weatherAndTime}
	_, ps := replicas(t, 2, env...)
	a, b := ps[0], ps[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const agentID = "paused"

	sent := sendTo(ctx, t, a.client(t), agentID, tooltest.Replay("openai_tool_calls"), "")
	step := sent.GetReply()
	calls := step.GetMessage().GetToolCalls()
	if len(calls) != 2 || calls[0].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING {
		t.Fatalf("A's reply: %v; want the step paused for two calls", step)
	}

	// A reload on B: the replay shows what waits.
	ws := dialSocket(t, b, agentID, "after_seq=0&epoch="+sent.GetMessage().GetEpoch())
	ws.next() // the message
	if replayed := ws.next(); replayed.GetMessage().GetToolCalls()[1].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING {
		t.Fatalf("the replayed step: %v", replayed)
	}

	if _, err := a.client(t).SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{
		AgentId: agentID, ToolCallId: calls[0].GetToolCallId(), Result: &agentv1.SubmitToolResultRequest_Output{Output: "sunny"},
	})); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)

	res, err := b.client(t).SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{
		AgentId: agentID, ToolCallId: calls[1].GetToolCallId(), Wait: true, Result: &agentv1.SubmitToolResultRequest_Output{Output: "noon"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []tooltest.Result{{ID: calls[0].GetToolCallId(), Content: "sunny"}, {ID: calls[1].GetToolCallId(), Content: "noon"}}
	reply := res.Msg.GetReply()
	if read, err := tooltest.Answer(reply.GetMessage().GetText()); !res.Msg.GetRunResumed() || err != nil || !slices.Equal(read, want) {
		t.Fatalf("B went on with %v; want the model to have read %v", reply, want)
	}
	if reply.GetMessage().GetRunId() != step.GetMessage().GetRunId() || reply.GetMessage().GetStep() != 1 || reply.GetRunSeq() <= step.GetRunSeq() {
		t.Fatalf("the run on B: run %q step %d run_seq %d; want run %q, step 1, run_seq past %d",
			reply.GetMessage().GetRunId(), reply.GetMessage().GetStep(), reply.GetRunSeq(), step.GetMessage().GetRunId(), step.GetRunSeq())
	}
	// Once: one continuation asked of the model, one step 1 in the log.
	hist, err := b.client(t).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: agentID}))
	if err != nil {
		t.Fatal(err)
	}
	steps := 0
	for _, ev := range hist.Msg.GetEvents() {
		if ev.GetMessage().GetStep() == 1 {
			steps++
		}
	}
	if _, continued := up.Requests(); steps != 1 || continued != 1 {
		t.Fatalf("%d steps 1 in the log, %d continuations asked; want one of each", steps, continued)
	}
	// The socket on B saw the results and the next step live.
	for {
		ev := ws.next()
		if ev.GetSeq() == reply.GetSeq() {
			break
		}
	}
}

// aguiInterrupts is a scripted AG-UI agent that deploys only once a person
// approves: its first run calls its own tool "deploy" and ends with an
// interrupt about it; the run that resumes it reports the call's result
// if approved, and says what it was told. It counts resumed runs.
type aguiInterrupts struct {
	*httptest.Server
	mu      sync.Mutex
	resumed []string
}

func newAGUIInterrupts(t *testing.T) *aguiInterrupts {
	t.Helper()
	u := &aguiInterrupts{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ThreadID string `json:"threadId"`
			RunID    string `json:"runId"`
			Resume   []struct {
				InterruptID string          `json:"interruptId"`
				Status      string          `json:"status"`
				Payload     json.RawMessage `json:"payload"`
			} `json:"resume"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		send := func(ev string) { fmt.Fprintf(w, "data: %s\n\n", ev) }
		send(fmt.Sprintf(`{"type":"RUN_STARTED","threadId":%q,"runId":%q}`, in.ThreadID, in.RunID))
		if len(in.Resume) == 0 {
			send(`{"type":"TOOL_CALL_START","toolCallId":"deploy-1","toolCallName":"deploy"}`)
			send(`{"type":"TOOL_CALL_ARGS","toolCallId":"deploy-1","delta":"{\"env\":\"prod\"}"}`)
			send(`{"type":"TOOL_CALL_END","toolCallId":"deploy-1"}`)
			send(fmt.Sprintf(`{"type":"RUN_FINISHED","threadId":%q,"runId":%q,"outcome":{"type":"interrupt","interrupts":[{"id":"int-1","reason":"tool_call","toolCallId":"deploy-1","message":"Deploy to prod?"}]}}`, in.ThreadID, in.RunID))
			return
		}
		u.mu.Lock()
		u.resumed = append(u.resumed, fmt.Sprintf("%s %s %s", in.Resume[0].InterruptID, in.Resume[0].Status, in.Resume[0].Payload))
		u.mu.Unlock()
		send(`{"type":"TOOL_CALL_RESULT","messageId":"r1","toolCallId":"deploy-1","content":"deployed"}`)
		send(`{"type":"TEXT_MESSAGE_START","messageId":"m1","role":"assistant"}`)
		send(fmt.Sprintf(`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m1","delta":%q}`, "told "+string(in.Resume[0].Payload)))
		send(`{"type":"TEXT_MESSAGE_END","messageId":"m1"}`)
		send(fmt.Sprintf(`{"type":"RUN_FINISHED","threadId":%q,"runId":%q}`, in.ThreadID, in.RunID))
	}))
	t.Cleanup(u.Close)
	return u
}

// TestApprovalAcrossReplicas: an upstream's interrupt pauses the run on A
// with an approval request the server issued; a reload on B shows it; a
// decision with a forged approval id is refused; A is killed; B's
// decision resumes the agent once; the decision replayed is a duplicate,
// and the opposite one refused.
func TestApprovalAcrossReplicas(t *testing.T) {
	t.Parallel()
	up := newAGUIInterrupts(t)
	rs := redistest.Start(t)
	env := []string{"REDIS_URL=" + rs.URL(), "LEASE_TTL=1s", "RESPONDER=agui", "AGUI_URL=" + up.URL}
	a, b := start(t, env...), start(t, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const agentID = "approve"

	sent := sendTo(ctx, t, a.client(t), agentID, "deploy it", "")
	step := sent.GetReply().GetMessage()
	in := step.GetInterrupts()
	if len(in) != 1 || in[0].GetToolCallId() != "deploy-1" || in[0].GetApprovalId() == "" ||
		step.GetToolCalls()[0].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL {
		t.Fatalf("the paused step: %v", step)
	}

	ws := dialSocket(t, b, agentID, "after_seq=1&epoch="+sent.GetMessage().GetEpoch())
	if replayed := ws.next().GetMessage(); replayed.GetInterrupts()[0].GetApprovalId() != in[0].GetApprovalId() {
		t.Fatalf("the replayed step: %v", replayed)
	}
	if resp, code := ws.call("forged", "DecideToolCall", `{"toolCallId":"deploy-1","approve":true,"approvalId":"I-MADE-THIS-UP"}`); code != "failed_precondition" {
		t.Fatalf("a forged approval on B: %s %s", resp, code)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)

	res, err := b.client(t).DecideToolCall(ctx, connect.NewRequest(&agentv1.DecideToolCallRequest{
		AgentId: agentID, ToolCallId: "deploy-1", Approve: true, Reason: "ship it", ApprovalId: in[0].GetApprovalId(), Wait: true,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.GetReply().GetMessage().GetText(); got != `told {"approved":true,"reason":"ship it"}` {
		t.Fatalf("the resumed agent wrote %q", got)
	}
	var held *agentv1.ToolCallResult
	for _, ev := range res.Msg.GetEvents() {
		if r := ev.GetToolCallResult(); r != nil {
			held = r
		}
	}
	if held.GetToolCallId() != "deploy-1" || held.GetContent() != "deployed" {
		t.Fatalf("the held call's result, the upstream's: %v", held)
	}
	up.mu.Lock()
	resumed := append([]string(nil), up.resumed...)
	up.mu.Unlock()
	if len(resumed) != 1 || resumed[0] != `int-1 resolved {"approved":true,"reason":"ship it"}` {
		t.Fatalf("the upstream was resumed %v; want once, approved", resumed)
	}
	if resp, code := ws.call("replay", "DecideToolCall", `{"toolCallId":"deploy-1","approve":true,"reason":"ship it"}`); code != "" || !strings.Contains(resp, `"duplicate":true`) {
		t.Fatalf("the decision replayed: %s %s", resp, code)
	}
	if resp, code := ws.call("other", "DecideToolCall", `{"toolCallId":"deploy-1","approve":false}`); code != "already_exists" {
		t.Fatalf("the opposite decision: %s %s", resp, code)
	}
}
