package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/config"
	"github.com/agentgate/agentgate/internal/mcptest"
	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/tool"
)

// Faults of MCP servers through the whole gateway: each becomes an error
// result the model reads, and the run goes on (or ends as CancelRun asks);
// the metrics count each call once, under its server, and the log has a
// line per call without its arguments or result.

// mcpGateway is a gateway with the model and the test server t (the Go
// SDK's, over HTTP), ready, and a Connect client of it.
type mcpGateway struct {
	*apptest.Server
	model  *tooltest.OpenAI
	mcp    *mcptest.Server
	client agentv1connect.AgentServiceClient
	logs   *apptest.LogBuffer
}

func startMCPGateway(t *testing.T, env map[string]string, opts ...func(*app.Options)) *mcpGateway {
	t.Helper()
	g := &mcpGateway{model: tooltest.StartOpenAI(t), mcp: mcptest.StartHTTP(t), logs: &apptest.LogBuffer{}}
	g.Server = startWithMCP(t, g.model, env, []mcpServer{{Name: "t", URL: g.mcp.URL}}, append([]func(*app.Options){capture(g.logs)}, opts...)...)
	awaitMCP(t, g.Server, "t", "ready")
	g.client = newClient(t, g.URL, h2cConnect)
	return g
}

// ask sends a message that has the model call calls, and returns what
// SendMessage returned.
func ask(ctx context.Context, t *testing.T, c agentv1connect.AgentServiceClient, agentID string, calls ...tooltest.Call) *agentv1.SendMessageResponse {
	t.Helper()
	res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: tooltest.Ask(calls...)}))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg
}

// oneCall returns the only call of a run's first step, and what the model
// read of it in the step that ended the run.
func oneCall(t *testing.T, res *agentv1.SendMessageResponse) (*agentv1.ToolCall, string) {
	t.Helper()
	evs := res.GetEvents()
	calls := evs[0].GetMessage().GetToolCalls()
	if len(calls) != 1 {
		t.Fatalf("the first step's calls: %v", evs[0])
	}
	last := res.GetReply().GetMessage()
	read, err := tooltest.Answer(last.GetText())
	if err != nil || len(read) != 1 || read[0].ID != calls[0].GetToolCallId() {
		t.Fatalf("the model wrote %q after the call %v; want it to have read the call's result", last.GetText(), calls[0])
	}
	return calls[0], read[0].Content
}

// wantFailedCall checks a call the gateway could not run: an error result
// that says why, which the model read, and a run that went on to its end.
func wantFailedCall(t *testing.T, res *agentv1.SendMessageResponse, says string) *agentv1.ToolCall {
	t.Helper()
	c, read := oneCall(t, res)
	// The openai responder sends an error result as "Error: " and the result.
	if c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_ERROR || !c.GetIsError() || !strings.Contains(c.GetResult(), says) || read != "Error: "+c.GetResult() {
		t.Fatalf("the call %v, read by the model as %q; want an error result saying %q", c, read, says)
	}
	if f := res.GetReply().GetMessage().GetFinishReason(); f != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("the run ended with %v; want the model's answer", f)
	}
	return c
}

// metrics reads /metrics.
func metricsOf(t *testing.T, srv *apptest.Server) string {
	t.Helper()
	res, err := httpClient(t, false).Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantToolCalls checks agentgate_tool_calls_total for server, tool and
// outcome, and that the duration histogram counted as many calls.
func wantToolCalls(t *testing.T, srv *apptest.Server, server, tool, outcome string, n int) {
	t.Helper()
	m := metricsOf(t, srv)
	calls := fmt.Sprintf(`agentgate_tool_calls_total{outcome=%q,server=%q,tool=%q} %d`, outcome, server, tool, n)
	if !strings.Contains(m, calls+"\n") {
		t.Errorf("metrics lack %s; they have:\n%s", calls, grepLines(m, "agentgate_tool_call"))
	}
	count := fmt.Sprintf(`agentgate_tool_call_duration_seconds_count{server=%q,tool=%q} `, server, tool)
	if !strings.Contains(m, count) {
		t.Errorf("metrics lack %s", count)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMCPServerKilledMidCall: the server dies while a call runs (an HTTP
// server that stops at once; a stdio process killed with SIGKILL): the
// model reads an error result, the run ends with its answer, and once the
// server is back, its tools work again.
func TestMCPServerKilledMidCall(t *testing.T) {
	t.Parallel()
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		g := startMCPGateway(t, nil)
		ctx := testCtx(t)
		done := make(chan *agentv1.SendMessageResponse, 1)
		go func() {
			res, err := g.client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "killed", Text: tooltest.Ask(call("t__wait", map[string]string{"label": "k"}))}))
			if err != nil {
				t.Error(err)
			}
			done <- res.Msg
		}()
		<-g.mcp.Started()
		killed := time.Now()
		g.mcp.Kill()
		res := <-done
		if res == nil {
			return
		}
		wantFailedCall(t, res, `MCP server "t" failed during the call`)
		wantToolCalls(t, g.Server, "t", "wait", "failed", 1)

		awaitMCPSince(t, g.Server, "t", "down", killed)
		restarted := time.Now()
		g.mcp.Restart(t)
		awaitMCPSince(t, g.Server, "t", "ready", restarted)
		c, _ := oneCall(t, ask(ctx, t, g.client, "killed", call("t__echo", map[string]string{"text": "back"})))
		if c.GetResult() != "echo: back" {
			t.Fatalf("after the restart: %v", c)
		}
	})
	t.Run("stdio", func(t *testing.T) {
		t.Parallel()
		model := tooltest.StartOpenAI(t)
		command, env := mcptest.StdioCommand(t, "")
		srv := startWithMCP(t, model, nil, []mcpServer{{Name: "t", Command: command, Env: env}})
		awaitMCP(t, srv, "t", "ready")
		ctx := testCtx(t)
		c := newClient(t, srv.URL, h2cConnect)
		crashed := time.Now()
		wantFailedCall(t, ask(ctx, t, c, "crashed", call("t__crash", struct{}{})), `MCP server "t" failed during the call`)
		wantToolCalls(t, srv, "t", "crash", "failed", 1)
		// The process is started again.
		awaitMCPSince(t, srv, "t", "ready", crashed)
		call, _ := oneCall(t, ask(ctx, t, c, "crashed", call("t__echo", map[string]string{"text": "back"})))
		if call.GetResult() != "echo: back" {
			t.Fatalf("after the restart: %v", call)
		}
	})
}

// TestMCPServerDownAtStart: a server that is down when the gateway starts
// does not stop it: /health answers 200 and says the server is down, the
// log says so, the model is offered none of its tools; once the server is
// up, its tools are offered and called.
func TestMCPServerDownAtStart(t *testing.T) {
	t.Parallel()
	server := mcptest.StartHTTP(t)
	server.Kill()
	model := tooltest.StartOpenAI(t)
	logs := &apptest.LogBuffer{}
	srv := startWithMCP(t, model, nil, []mcpServer{{Name: "t", URL: server.URL}}, capture(logs))
	down := awaitMCP(t, srv, "t", "down")
	if code, _ := healthOf(t, srv); code != 200 || down.Reason != "unreachable" || down.Transport != "http" {
		t.Fatalf("/health: %d, %+v; want 200, the server down and unreachable", code, down)
	}
	wantLogged(t, logs, `msg="mcp server down"`, "mcp_server=t", "reason=unreachable")
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	echo := call("t__echo", map[string]string{"text": "up?"})
	if res := ask(ctx, t, c, "late", echo); res.GetReply().GetMessage().GetText() != "echo: "+tooltest.Ask(echo) || slices.Contains(model.Offered(), "t__echo") {
		t.Fatalf("while the server is down, the model wrote %q, offered %v; want it offered no t__echo", res.GetReply().GetMessage().GetText(), model.Offered())
	}

	server.Restart(t)
	if st := awaitMCP(t, srv, "t", "ready"); st.Tools != 4 {
		t.Fatalf("/health once up: %+v", st)
	}
	if c, _ := oneCall(t, ask(ctx, t, c, "late", echo)); c.GetResult() != "echo: up?" {
		t.Fatalf("once up: %v", c)
	}
}

// TestMCPCallPastToolTimeout: a call that outlasts TOOL_TIMEOUT ends with
// an error result at the timeout, the server sees its call cancelled, and
// the model goes on with the error.
func TestMCPCallPastToolTimeout(t *testing.T) {
	t.Parallel()
	g := startMCPGateway(t, map[string]string{"TOOL_TIMEOUT": "500ms"})
	ctx := testCtx(t)
	c := wantFailedCall(t, ask(ctx, t, g.client, "slow", call("t__wait", map[string]string{"label": "slow"})), "did not answer within 500ms (TOOL_TIMEOUT)")
	if d := c.GetDuration().AsDuration(); d < 500*time.Millisecond || d > 10*time.Second {
		t.Errorf("the call took %s; want TOOL_TIMEOUT's 500ms", d)
	}
	if got := <-g.mcp.Ended(); got != "slow cancelled" {
		t.Errorf("the server's call: %s; want it cancelled", got)
	}
	wantToolCalls(t, g.Server, "t", "wait", "timeout", 1)
}

// TestMCPHugeResultIsCut: a result over TOOL_RESULT_MAX_BYTES is cut, with
// the marker, in the step the log keeps and in what the model reads; the
// log line gives the whole size, never the result.
func TestMCPHugeResultIsCut(t *testing.T) {
	t.Parallel()
	g := startMCPGateway(t, map[string]string{"TOOL_RESULT_MAX_BYTES": "1024"})
	ctx := testCtx(t)
	c, read := oneCall(t, ask(ctx, t, g.client, "huge", call("t__big", map[string]int{"n": 100_000})))
	res := c.GetResult()
	if len(res) > 1024 || !strings.HasPrefix(res, "xxxx") || !strings.HasSuffix(res, " of 100000 bytes shown]") || c.GetIsError() || read != res {
		t.Fatalf("the result (%d bytes) ends %q, read by the model as %d bytes; want it cut to 1024 with the marker", len(res), res[max(0, len(res)-60):], len(read))
	}
	h, err := g.client.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "huge"}))
	if err != nil {
		t.Fatal(err)
	}
	if kept := h.Msg.GetEvents()[1].GetMessage().GetToolCalls()[0].GetResult(); kept != res {
		t.Fatalf("the log keeps %d bytes; want the cut result", len(kept))
	}
	wantLogged(t, g.logs, `msg="mcp call"`, "tool=big", "outcome=ok", "result_bytes=100000", "cut=true", "agent=huge")
	if strings.Contains(g.logs.String(), "xxxxxxxx") {
		t.Error("the log holds the result")
	}
	wantToolCalls(t, g.Server, "t", "big", "ok", 1)
}

// TestCancelRunDuringAnMCPCall: CancelRun while a call runs ends the run
// at once, with the call closed, the server's call cancelled and the model
// not asked again.
func TestCancelRunDuringAnMCPCall(t *testing.T) {
	t.Parallel()
	g := startMCPGateway(t, nil)
	ctx := testCtx(t)
	done := make(chan *agentv1.SendMessageResponse, 1)
	go func() {
		res, err := g.client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "cancel", Text: tooltest.Ask(call("t__wait", map[string]string{"label": "c"}))}))
		if err != nil {
			t.Error(err)
		}
		done <- res.Msg
	}()
	<-g.mcp.Started()
	if _, err := g.client.CancelRun(ctx, connect.NewRequest(&agentv1.CancelRunRequest{AgentId: "cancel"})); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res == nil {
		return
	}
	step := res.GetReply().GetMessage()
	c := step.GetToolCalls()[0]
	if step.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_CANCELLED || c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_CLOSED || !strings.Contains(c.GetResult(), "cancelled") {
		t.Fatalf("the run's step: %v; want it cancelled, the call closed", step)
	}
	if got := <-g.mcp.Ended(); got != "c cancelled" {
		t.Errorf("the server's call: %s; want it cancelled", got)
	}
	if firsts, seconds := g.model.Requests(); firsts != 1 || seconds != 0 {
		t.Errorf("the model was asked %d and %d times; want once, never again after the cancel", firsts, seconds)
	}
	wantToolCalls(t, g.Server, "t", "wait", "cancelled", 1)
}

// TestServerAndClientToolsInOneRun: one step calls an MCP server's tool, a
// Go tool and a client tool: the server tools run, the run pauses for the
// client's, and goes on once it answers. Each server tool's call is
// counted once, under its server ("go" for Go tools), and logged without
// its arguments or result. A client may not lend a tool named like an MCP
// server's, offered or not.
func TestServerAndClientToolsInOneRun(t *testing.T) {
	t.Parallel()
	set, err := tool.NewSet(tool.Tool{Def: tool.Def{Name: "now", Description: "The time.", Parameters: json.RawMessage(`{"type":"object"}`)},
		Run: func(ctx context.Context, _ json.RawMessage) (tool.Result, error) {
			info, _ := tool.CallInfoFrom(ctx)
			return tool.Result{Output: "noon for " + info.AgentID}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	g := startMCPGateway(t, nil, func(o *app.Options) { o.Tools = []tool.Source{set} })
	ctx := testCtx(t)
	lent := []*agentv1.Tool{{Name: "pick", Description: "The user picks a colour."}}
	res, err := g.client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "mixed", Tools: lent,
		Text: tooltest.Ask(call("t__echo", map[string]string{"text": "private words"}), call("now", struct{}{}), call("pick", struct{}{}))}))
	if err != nil {
		t.Fatal(err)
	}
	calls := res.Msg.GetReply().GetMessage().GetToolCalls()
	if len(calls) != 3 || calls[0].GetResult() != "echo: private words" || calls[1].GetResult() != "noon for mixed" ||
		calls[2].GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_PENDING || calls[2].GetKind() != agentv1.ToolCallKind_TOOL_CALL_KIND_CLIENT {
		t.Fatalf("the paused step's calls: %v", calls)
	}
	done, err := g.client.SubmitToolResult(ctx, connect.NewRequest(&agentv1.SubmitToolResultRequest{AgentId: "mixed", ToolCallId: calls[2].GetToolCallId(),
		Wait: true, Result: &agentv1.SubmitToolResultRequest_Output{Output: "blue"}}))
	if err != nil {
		t.Fatal(err)
	}
	read, err := tooltest.Answer(done.Msg.GetReply().GetMessage().GetText())
	if err != nil || len(read) != 3 || read[0].Content != "echo: private words" || read[1].Content != "noon for mixed" || read[2].Content != "blue" {
		t.Fatalf("the model read %v (%v)", read, err)
	}

	wantToolCalls(t, g.Server, "t", "echo", "ok", 1)
	wantToolCalls(t, g.Server, "go", "now", "ok", 1)
	if m := metricsOf(t, g.Server); strings.Contains(m, `server="go",tool="t__echo"`) {
		t.Error("the MCP call is counted as a Go tool's too")
	}
	wantLogged(t, g.logs, `msg="mcp call"`, "mcp_server=t", "tool=echo", "outcome=ok", "agent=mixed", "run_id=", "tool_call_id="+calls[0].GetToolCallId(), "duration_ms=")
	wantLogged(t, g.logs, `msg="tool call"`, "server=go", "tool=now", "outcome=ok", "agent=mixed", "tool_call_id="+calls[1].GetToolCallId())
	if strings.Contains(g.logs.String(), "private words") {
		t.Error("a log line holds the call's arguments or result")
	}

	for _, name := range []string{"t__echo", "t__not_yet_listed"} {
		_, err := g.client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "mixed", Text: "hi", Tools: []*agentv1.Tool{{Name: name}}}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), name) {
			t.Errorf("a client tool named %s: %v; want invalid_argument naming it", name, err)
		}
	}
}

// TestClientToolsMayNotTakeAnMCPServersNames: CLIENT_TOOLS with a name of
// an MCP server's tools stops the start, though the server is not
// connected yet.
func TestClientToolsMayNotTakeAnMCPServersNames(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadWith(func(k string) (string, bool) {
		v, ok := map[string]string{
			"CLIENT_TOOLS": `[{"name":"files__read","description":"A client's."}]`,
			"MCP_SERVERS":  `[{"name":"files","url":"http://127.0.0.1:1/mcp"}]`,
		}[k]
		return v, ok
	}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.DiscardHandler)})
	if cerr, ok := errors.AsType[*config.Error](err); !ok || cerr.Var != "CLIENT_TOOLS" || cerr.Value != "files__read" {
		t.Fatalf("app.New: %v; want a CLIENT_TOOLS error naming files__read", err)
	}
}

// TestApprovalOfAnMCPTool: TOOL_APPROVAL names an MCP tool as the model
// sees it (server__tool); an approved call runs; one approved after its
// server went down gets an error result saying so, counted under the
// server.
func TestApprovalOfAnMCPTool(t *testing.T) {
	t.Parallel()
	g := startMCPGateway(t, map[string]string{"TOOL_APPROVAL": "t__echo"})
	ctx := testCtx(t)
	decide := func(agentID string) *agentv1.DecideToolCallResponse {
		t.Helper()
		res := ask(ctx, t, g.client, agentID, call("t__echo", map[string]string{"text": "go"}))
		c := res.GetReply().GetMessage().GetToolCalls()[0]
		if c.GetState() != agentv1.ToolCallState_TOOL_CALL_STATE_AWAITING_APPROVAL {
			t.Fatalf("the call: %v; want it awaiting approval", c)
		}
		if agentID == "approve-down" {
			g.mcp.Kill()
			awaitMCP(t, g.Server, "t", "down")
		}
		d, err := g.client.DecideToolCall(ctx, connect.NewRequest(&agentv1.DecideToolCallRequest{AgentId: agentID, ToolCallId: c.GetToolCallId(),
			ApprovalId: c.GetApprovalId(), Approve: true, Wait: true}))
		if err != nil {
			t.Fatal(err)
		}
		return d.Msg
	}
	read, err := tooltest.Answer(decide("approve").GetReply().GetMessage().GetText())
	if err != nil || len(read) != 1 || read[0].Content != "echo: go" {
		t.Fatalf("approved: the model read %v (%v)", read, err)
	}
	read, err = tooltest.Answer(decide("approve-down").GetReply().GetMessage().GetText())
	if err != nil || len(read) != 1 || !strings.Contains(read[0].Content, `MCP server "t" is unavailable (down for`) {
		t.Fatalf("approved while down: the model read %v (%v)", read, err)
	}
	wantToolCalls(t, g.Server, "t", "", "unavailable", 1)
}

// TestMCPProcessStoppedOnShutdown: a stdio server's process is stopped
// when the gateway shuts down, within SHUTDOWN_TIMEOUT.
func TestMCPProcessStoppedOnShutdown(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	command, env := mcptest.StdioCommand(t, pidFile)
	srv := startWithMCP(t, tooltest.StartOpenAI(t), map[string]string{"SHUTDOWN_TIMEOUT": "5s"}, []mcpServer{{Name: "t", Command: command, Env: env}})
	awaitMCP(t, srv, "t", "ready")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the shutdown took %s; want within SHUTDOWN_TIMEOUT", d)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("the server's process %d after the shutdown: %v; want it gone", pid, err)
	}
}
