package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/mcptest"
	"github.com/agentgate/agentgate/internal/tooltest"
)

// awaitMCPReady polls the process's /health until its body says the MCP
// server name is ready, for at most 30 s.
func (p *process) awaitMCPReady(t *testing.T, name string) {
	t.Helper()
	c := h1Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := p.get(t, c, "/health")
		var h struct {
			MCPServers []struct{ Name, State string } `json:"mcp_servers"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("/health: %v: %s", err, body)
		}
		for _, s := range h.MCPServers {
			if s.Name == name && s.State == "ready" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("MCP server %s not ready within 30 s: %s", name, body)
		}
		time.Sleep(20 * time.Millisecond) // a bounded poll of the probe
	}
}

// TestReplicaDiesDuringAnMCPCall: the replica that runs a run's MCP call
// is killed while the call is in flight. Nothing of the step was written,
// so the replica that takes the agent over when the lease expires runs the
// step again: the model is asked again, and the call runs a second time
// (execution is at least once); the log holds one step with one result,
// and one answer (persistence is exactly once).
func TestReplicaDiesDuringAnMCPCall(t *testing.T) {
	t.Parallel()
	tools := mcptest.StartHTTP(t)
	model := tooltest.StartOpenAI(t)
	servers := fmt.Sprintf(`[{"name":"t","url":%q}]`, tools.URL)
	_, ps := replicas(t, 2, "RESPONDER=openai", "OPENAI_BASE_URL="+model.URL, "OPENAI_MODEL=m", "MCP_SERVERS="+servers)
	a, b := ps[0], ps[1]
	a.awaitMCPReady(t, "t")
	b.awaitMCPReady(t, "t")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const agentID = "mcp-crash"

	ws := dialSocket(t, b, agentID, "after_seq=0")
	go func() {
		// Sent to A, which takes the lease and runs the call; its answer
		// never comes, since A dies.
		_, _ = a.client(t).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID,
			Text: tooltest.Ask(tooltest.Call{Name: "t__wait", Arguments: json.RawMessage(`{"label":"k"}`)})}))
	}()
	<-tools.Started()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)

	// B takes the run over once A's lease has expired, and calls the tool
	// again.
	<-tools.Started()
	tools.Release()
	var final *agentv1.Message
	for final == nil {
		if m := ws.next().GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT && m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_TOOL_CALLS {
			final = m
		}
	}
	read, err := tooltest.Answer(final.GetText())
	if err != nil || len(read) != 1 || read[0].Content != "released k" {
		t.Fatalf("B's answer %q; want the model to have read the call's result", final.GetText())
	}

	hist, err := b.client(t).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: agentID}))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	runs := map[string]bool{}
	for _, ev := range hist.Msg.GetEvents() {
		m := ev.GetMessage()
		if m.GetRole() != agentv1.Role_ROLE_ASSISTANT {
			continue
		}
		runs[m.GetRunId()] = true
		var results []string
		for _, c := range m.GetToolCalls() {
			results = append(results, c.GetResult())
		}
		steps = append(steps, fmt.Sprintf("step %d %v", m.GetStep(), results))
	}
	if got := strings.Join(steps, ", "); got != "step 0 [released k], step 1 []" || len(runs) != 1 {
		t.Fatalf("the log holds %s in %d runs; want one step 0 with its result and one step 1, of one run", got, len(runs))
	}
	firsts, seconds := model.Requests()
	if calls := tools.Calls("wait"); calls != 2 || firsts != 2 || seconds != 1 {
		t.Fatalf("the tool ran %d times, the model was asked %d times for step 0 and %d for step 1; want 2, 2 and 1", calls, firsts, seconds)
	}
}
