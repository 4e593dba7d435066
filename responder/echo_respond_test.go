package responder_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// TestEchoRespond: the echo is "echo: <text>" in at most Chunks deltas cut
// at words, a normal finish, and no tool calls.
func TestEchoRespond(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		echo   responder.Echo
		deltas []string
	}{
		{responder.Echo{}, []string{"echo: a ", "b c ", "d e f"}},
		{responder.Echo{Chunks: 1}, []string{"echo: a b c d e f"}},
		{responder.Echo{Chunks: 10}, []string{"echo: ", "a ", "b ", "c ", "d ", "e ", "f"}},
	} {
		out := respondertest.Run(t.Context(), tc.echo, respondertest.NewRequest("a b c d e f"))
		if out.Err != nil || out.Result.FinishReason != responder.FinishStop {
			t.Fatalf("%+v: %v, %+v", tc.echo, out.Err, out.Result)
		}
		if err := out.Stream.Check(); err != nil {
			t.Fatal(err)
		}
		reply := out.Stream.Reply()
		if d := out.Stream.Deltas(); !slices.Equal(d, tc.deltas) || reply.Text != "echo: a b c d e f" || len(reply.ToolCalls) != 0 {
			t.Errorf("%+v: deltas %q, reply %+v; want %q", tc.echo, d, reply, tc.deltas)
		}
	}
}

// TestEchoStops: a cancelled reply writes nothing more, and a Stream that
// fails stops the echo at once.
func TestEchoStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	out := respondertest.Run(ctx, responder.Echo{Delay: time.Hour}, respondertest.NewRequest("hi"))
	if !errors.Is(out.Err, context.Canceled) || len(out.Stream.Events()) != 0 {
		t.Errorf("cancelled: %v, %q; want context.Canceled and nothing written", out.Err, out.Stream.Lines())
	}

	gone := errors.New("the run was cancelled")
	rec := &respondertest.Recorder{Err: gone}
	if _, err := (responder.Echo{}).Respond(t.Context(), respondertest.NewRequest("a b c"), rec); !errors.Is(err, gone) || len(rec.Events()) != 1 {
		t.Errorf("failing stream: %v, %q; want its error after one delta", err, rec.Lines())
	}
}
