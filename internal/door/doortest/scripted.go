// Package doortest is test-only: a scripted responder that makes tool calls
// and fails on demand, which the echo responder does not, and server tools
// for it to call (Tools), so that the doors' tests (Go wire tests here, the
// Node tests with the real client libraries through the gateway program
// in ./gateway) see every kind of event, and runs of several steps that
// pause for the client's tools and a person's approvals. When a responder
// that calls a real agent with tools (RESPONDER=agui against a scripted
// AG-UI upstream) is available, the tests can use it in its place.
package doortest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
)

// Scripted answers by the message's first word:
//
//	weather <city>   text, a tool call "weather" with {"city": <city>} and
//	                 its result, then text that uses the result
//	tools <a+b> then <c>…
//	                 a run of steps through the gateway's tool loop: step
//	                 i calls the tools of the i-th group, each with the
//	                 arguments {"step": i}, after the text "Calling a, b. ";
//	                 the step after the last group says every result:
//	                 "done: a=<result>; b=<result>…", " (error)" after a
//	                 failed one. The tools are the gateway's (Tools), or
//	                 the client's. A last group "say <words…>" is that
//	                 step's text instead, word by word as slow writes it
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
	case "tools":
		script, say, _ := strings.Cut(rest, " then say ")
		if say != "" && req.Step == strings.Count(script, " then ")+1 {
			return s.slow(ctx, say, out)
		}
		return steps(script).Respond(ctx, req, out)
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

// steps is the model of "tools": it calls the groups of tools one step
// after the other, then says what each call returned. Call ids are the
// run's own, as a model's would be.
func steps(script string) respondertest.Model {
	var groups [][]string
	for _, g := range strings.Split(script, " then ") {
		groups = append(groups, strings.Split(strings.TrimSpace(g), "+"))
	}
	return func(req responder.Request) respondertest.Turn {
		if req.Step < len(groups) {
			names := groups[req.Step]
			calls := make([]respondertest.Call, 0, len(names))
			for j, name := range names {
				calls = append(calls, respondertest.Call{ID: fmt.Sprintf("%s-%s-%d-%d", name, req.RunID[:8], req.Step, j),
					Name: name, Arguments: fmt.Sprintf(`{"step":%d}`, req.Step)})
			}
			return respondertest.Turn{Text: "Calling " + strings.Join(names, ", ") + ". ", Calls: calls}
		}
		var said []string
		for _, s := range req.Steps {
			for _, c := range s.ToolCalls {
				r := c.Name + "=" + c.Result
				if c.IsError {
					r += " (error)"
				}
				said = append(said, r)
			}
		}
		return respondertest.Turn{Text: "done: " + strings.Join(said, "; ")}
	}
}

// Tools are server tools for "tools": lookup answers {"found": <its
// arguments>}, transfer "transferred" (the tests ask a person's approval
// for it with TOOL_APPROVAL=transfer), broken fails.
func Tools() tool.Source {
	set, err := tool.NewSet(
		tool.Tool{Def: tool.Def{Name: "lookup", Description: "Looks something up.", Parameters: json.RawMessage(`{"type":"object"}`)},
			Run: func(_ context.Context, args json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: `{"found":` + string(args) + `}`}, nil
			}},
		tool.Tool{Def: tool.Def{Name: "transfer", Description: "Sends money.", Parameters: json.RawMessage(`{"type":"object"}`)},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: "transferred"}, nil
			}},
		tool.Tool{Def: tool.Def{Name: "broken", Description: "Fails."},
			Run: func(context.Context, json.RawMessage) (tool.Result, error) {
				return tool.Result{Output: "the tool is broken", IsError: true}, nil
			}},
	)
	if err != nil {
		panic(err) // the definitions above are valid
	}
	return set
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
