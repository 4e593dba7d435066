package doortest_test

import (
	"slices"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/door/doortest"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// TestScripted checks the script the doors' tests rely on: a weather
// question makes one whole tool call around the text, fail fails with its
// code, and slow writes word by word.
func TestScripted(t *testing.T) {
	t.Parallel()
	s := doortest.Scripted{Delay: time.Millisecond}
	req := respondertest.NewRequest("weather Oslo")
	out := respondertest.Run(t.Context(), s, req)
	if out.Err != nil || out.Result.FinishReason != responder.FinishStop || out.Result.Usage == nil {
		t.Fatalf("weather: %v, %+v", out.Err, out.Result)
	}
	if err := out.Stream.Check(); err != nil {
		t.Fatal(err)
	}
	reply := out.Stream.Reply()
	want := []responder.ToolCall{{ID: "call-" + req.RunID, Name: "weather", Arguments: `{"city":"Oslo"}`,
		Result: `{"city":"Oslo","temperature":21,"unit":"celsius"}`}}
	if reply.Text != "Let me check the weather. It is 21 degrees in Oslo." || !slices.Equal(reply.ToolCalls, want) {
		t.Errorf("weather reply %+v", reply)
	}
	pieces := 0
	for _, e := range out.Stream.Events() {
		if e.Kind == respondertest.KindToolCallArgs {
			pieces++
		}
	}
	if pieces != 2 {
		t.Errorf("the arguments come in %d pieces, want 2: %q", pieces, out.Stream.Lines())
	}

	out = respondertest.Run(t.Context(), s, respondertest.NewRequest("fail"))
	if e, ok := responder.AsError(out.Err); !ok || e.Code != "scripted_failure" || len(out.Stream.Events()) != 0 {
		t.Errorf("fail: %v, %q", out.Err, out.Stream.Lines())
	}

	out = respondertest.Run(t.Context(), s, respondertest.NewRequest("slow one two three"))
	if d := out.Stream.Deltas(); out.Err != nil || !slices.Equal(d, []string{"one ", "two ", "three"}) {
		t.Errorf("slow: %v, %q", out.Err, d)
	}
}
