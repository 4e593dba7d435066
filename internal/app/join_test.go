package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/responder"
)

// gated is a responder that writes some text and a tool call, then waits
// for the test before it writes the rest.
type gated struct {
	halfway chan struct{} // closed by the responder when the first half is out
	resume  chan struct{} // closed by the test
}

func (g gated) Respond(ctx context.Context, _ responder.Request, out responder.Stream) (responder.Result, error) {
	for _, step := range []func() error{
		func() error { return out.Text("first ") },
		func() error { return out.Text("half, ") },
		func() error { return out.ToolCallStart("t1", "search") },
		func() error { return out.ToolCallArgs("t1", `{"q":`) },
		func() error { return out.ToolCallArgs("t1", `"go"}`) },
		func() error { return out.ToolCallEnd("t1") },
	} {
		if err := step(); err != nil {
			return responder.Result{}, err
		}
	}
	close(g.halfway)
	select {
	case <-g.resume:
	case <-ctx.Done():
		return responder.Result{}, ctx.Err()
	}
	_ = out.ToolCallResult("t1", "found")
	_ = out.Text("then ")
	return responder.Result{}, out.Text("the rest")
}

// TestSubscribeJoinsMidReply: a Subscribe that starts halfway through a
// reply gets the run so far (text and tool call), then the rest, each once.
func TestSubscribeJoinsMidReply(t *testing.T) {
	t.Parallel()
	g := gated{halfway: make(chan struct{}), resume: make(chan struct{})}
	srv := apptest.Start(t, nil, func(o *app.Options) { o.Responder = g })
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	done := make(chan error, 1)
	go func() {
		_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "join", Text: "go"}))
		done <- err
	}()
	<-g.halfway
	stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "join"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	// The message answered, then the run so far.
	got := describeAll(collect(t, stream, 6))
	want := []string{"1 user: go", "runStarted", `text "first half, "`, "toolCallStart search", `toolCallArgs {"q":`, `toolCallArgs "go"}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("joined mid-reply:\n got %q\nwant %q", got, want)
	}
	if next := describeAll(collect(t, stream, 1)); next[0] != "toolCallEnd" {
		t.Fatalf("then %q, want toolCallEnd", next)
	}
	close(g.resume)
	got = describeAll(collect(t, stream, 4))
	want = []string{"toolCallResult found", `text "then "`, `text "the rest"`, `2 assistant: first half, then the rest [search {"q":"go"} → found]`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the rest:\n got %q\nwant %q", got, want)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func describeAll(evs []*agentv1.AgentEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		switch k := ev.GetKind().(type) {
		case *agentv1.AgentEvent_Message:
			m := k.Message
			s := fmt.Sprintf("%d %s: %s", ev.GetSeq(), strings.ToLower(strings.TrimPrefix(m.GetRole().String(), "ROLE_")), m.GetText())
			for _, c := range m.GetToolCalls() {
				s += fmt.Sprintf(" [%s %s → %s]", c.GetName(), c.GetArguments(), c.GetResult())
			}
			out[i] = s
		case *agentv1.AgentEvent_RunStarted:
			out[i] = "runStarted"
		case *agentv1.AgentEvent_TextDelta:
			out[i] = fmt.Sprintf("text %q", k.TextDelta.GetDelta())
		case *agentv1.AgentEvent_ToolCallStart:
			out[i] = "toolCallStart " + k.ToolCallStart.GetName()
		case *agentv1.AgentEvent_ToolCallArgs:
			out[i] = "toolCallArgs " + k.ToolCallArgs.GetDelta()
		case *agentv1.AgentEvent_ToolCallEnd:
			out[i] = "toolCallEnd"
		case *agentv1.AgentEvent_ToolCallResult:
			out[i] = "toolCallResult " + k.ToolCallResult.GetContent()
		default:
			out[i] = fmt.Sprintf("%T", k)
		}
	}
	return out
}
