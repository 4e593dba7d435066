package tooltest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// Responder answers as its message says:
//
//	get_weather {"city": "Paris"} get_time then transfer {"amount": 100}
//	                 a script of tool calls, run by the gateway's tool
//	                 loop: each word that names a tool the step offers is
//	                 a call, with the JSON object after it as its
//	                 arguments ({} without one); "then" ends a step. Step
//	                 i makes the i-th step's calls after the text
//	                 "Calling <names>. "; the step after the last says
//	                 what every call returned: "Done: get_weather → …;
//	                 transfer failed: …."
//	lookup then slow <words…>
//	                 a last step "slow" says its words as slow does,
//	                 instead of the results
//	slow <words…>    the words one by one, Delay before each
//	weather <city>   text, a tool call "weather" with {"city": <city>}
//	                 that the agent answers itself (its result in the
//	                 stream, as an upstream's own tool), and text that
//	                 uses the result
//	fail             a run error, code "scripted_failure"
//	burst <n>        n deltas "w0 ", "w1 " … at once, as a fast model
//	                 streams them
//	anything else    "echo: <text>", as responder.Echo writes it
//
// A text that is not a script (a word that names no offered tool, JSON
// that is not an object) is anything else. A call's id is its name, the
// run and its place ("lookup-0a1b2c3d-1-0"): unique in the agent's log.
// It keeps no state, as a model keeps none: a run another replica takes
// over goes on the same way.
type Responder struct {
	// Delay is the pause before each word of a slow reply. Default 50ms.
	Delay time.Duration
}

var _ responder.Responder = Responder{}

// Respond implements responder.Responder.
func (r Responder) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	verb, rest, _ := strings.Cut(req.Message.Text, " ")
	switch verb {
	case "weather":
		return weather(req.RunID, rest, out)
	case "fail":
		return responder.Result{}, responder.Errorf("scripted_failure", "the scripted agent failed, as it was asked to")
	case "burst":
		n, _ := strconv.Atoi(rest)
		return burst(min(max(n, 1), 1_000_000), out)
	}
	// The tools offered, and those the run called already: a tool can go
	// away mid-run (an MCP server that went down), and its result is
	// still the model's to read.
	offered := map[string]bool{}
	for _, d := range req.Tools {
		offered[d.Name] = true
	}
	for _, m := range req.Steps {
		for _, c := range m.ToolCalls {
			offered[c.Name] = true
		}
	}
	s, ok := parse(req.Message.Text, offered)
	switch {
	case !ok:
		return responder.Echo{}.Respond(ctx, req, out)
	case req.Step < len(s.steps):
		return respondertest.Model(stepOf(s.steps[req.Step])).Respond(ctx, req, out)
	case s.slow != "":
		return r.slow(ctx, s.slow, out)
	}
	return respondertest.Model(done).Respond(ctx, req, out)
}

// stepOf is the model of a step that makes calls.
func stepOf(calls []Call) respondertest.Model {
	return func(req responder.Request) respondertest.Turn {
		made := make([]respondertest.Call, len(calls))
		names := make([]string, len(calls))
		for i, c := range calls {
			made[i] = respondertest.Call{ID: callID(c.Name, req.RunID, req.Step, i), Name: c.Name, Arguments: string(c.Arguments)}
			names[i] = c.Name
		}
		return respondertest.Turn{Text: "Calling " + strings.Join(names, ", ") + ". ", Calls: made}
	}
}

// callID is unique within the run, as the gateway wants, and across the
// agent's runs too, so that a test never answers another run's call.
func callID(name, runID string, step, i int) string {
	return fmt.Sprintf("%s-%.8s-%d-%d", name, runID, step, i)
}

// done says what each call of the run returned.
func done(req responder.Request) respondertest.Turn {
	var said []string
	for _, m := range req.Steps {
		for _, c := range m.ToolCalls {
			if c.IsError {
				said = append(said, c.Name+" failed: "+c.Result)
			} else {
				said = append(said, c.Name+" → "+c.Result)
			}
		}
	}
	return respondertest.Turn{Text: "Done: " + strings.Join(said, "; ") + "."}
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

// slow writes text word by word, Delay before each.
func (r Responder) slow(ctx context.Context, text string, out responder.Stream) (responder.Result, error) {
	delay := r.Delay
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
