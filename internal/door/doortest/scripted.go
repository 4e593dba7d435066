// Package doortest is test-only: a scripted responder that makes tool calls
// and fails on demand, which the echo responder does not, so that the
// doors' tests (Go wire tests here, the Node tests with the real client
// libraries through the gateway program in ./gateway) see every kind of
// event. When a responder that calls a real agent with tools (RESPONDER=agui
// against a scripted AG-UI upstream) is available, the tests can use it in
// its place.
package doortest

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/responder"
)

// Scripted answers by the message's first word:
//
//	weather <city>   text, a tool call "weather" with {"city": <city>} and
//	                 its result, then text that uses the result
//	fail             a run error, code "scripted_failure"
//	slow <words…>    echoes the words one by one, Delay before each
//	burst <n>        n deltas "w0 ", "w1 " … at once, as a fast model
//	                 streams them
//	anything else    "echo: <text>", in three pieces
type Scripted struct {
	// Delay is the pause before each word of a slow reply. Default 50ms.
	Delay time.Duration
}

var _ responder.Responder = Scripted{}

// Respond implements responder.Responder.
func (s Scripted) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	verb, rest, _ := strings.Cut(req.Message.Text, " ")
	switch verb {
	case "weather":
		return weather(req.RunID, rest, out)
	case "fail":
		return responder.Result{}, responder.Errorf("scripted_failure", "the scripted agent failed, as it was asked to")
	case "slow":
		return s.slow(ctx, rest, out)
	case "burst":
		n, _ := strconv.Atoi(rest)
		return burst(min(max(n, 1), 1_000_000), out)
	}
	return responder.Echo{}.Respond(ctx, req, out)
}

// weather calls a tool and reports its result.
func weather(runID, city string, out responder.Stream) (responder.Result, error) {
	id := "call-" + runID
	args, _ := json.Marshal(map[string]string{"city": city})
	result, _ := json.Marshal(map[string]any{"city": city, "temperature": 21, "unit": "celsius"})
	half := len(args) / 2
	for _, step := range []func() error{
		func() error { return out.Text("Let me check the weather. ") },
		func() error { return out.ToolCallStart(id, "weather") },
		func() error { return out.ToolCallArgs(id, string(args[:half])) },
		func() error { return out.ToolCallArgs(id, string(args[half:])) },
		func() error { return out.ToolCallEnd(id) },
		func() error { return out.ToolCallResult(id, string(result)) },
		func() error { return out.Text("It is 21 degrees in " + city + ".") },
	} {
		if err := step(); err != nil {
			return responder.Result{}, err
		}
	}
	return responder.Result{FinishReason: responder.FinishStop, Usage: &responder.Usage{InputTokens: 12, OutputTokens: 9, Model: "scripted"}}, nil
}

// burst writes n deltas without a pause.
func burst(n int, out responder.Stream) (responder.Result, error) {
	for i := range n {
		if err := out.Text("w" + strconv.Itoa(i) + " "); err != nil {
			return responder.Result{}, err
		}
	}
	return responder.Result{FinishReason: responder.FinishStop}, nil
}

func (s Scripted) slow(ctx context.Context, text string, out responder.Stream) (responder.Result, error) {
	delay := s.Delay
	if delay <= 0 {
		delay = 50 * time.Millisecond
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for _, w := range strings.SplitAfter(text, " ") {
		select {
		case <-ctx.Done():
			return responder.Result{}, ctx.Err()
		case <-t.C:
		}
		t.Reset(delay)
		if err := out.Text(w); err != nil {
			return responder.Result{}, err
		}
	}
	return responder.Result{FinishReason: responder.FinishStop}, nil
}
