// Package tooltest is test-only: a scripted model that calls the tools a
// run offers, as the message tells it to, and two server tools written in
// Go with fixed answers. The gateway program in ./gateway runs the whole
// gateway with them, for the tests of the TypeScript client and of the
// console (clients/ts), which need client tools to answer, approvals to
// give and runs of several steps, which the echo responder does not make.
package tooltest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// Model answers a message that is a script of tool calls:
//
//	get_weather {"city": "Paris"} get_time then transfer {"amount": 100}
//
// Each word that names a tool the step offers is a call, with the JSON
// object after it as its arguments ({} without one); "then" ends a step.
// The model makes each step's calls in turn, with "Calling <names>." as
// the step's text, and after the last it writes what every call returned:
// "Done: get_weather → …; transfer failed: …". A message that is not such
// a script (a word that names no offered tool, JSON that is not an
// object) is echoed: "echo: <text>". It keeps no state, as a model keeps
// none: a run another replica takes over goes on the same way.
var Model respondertest.Model = model

func model(req responder.Request) respondertest.Turn {
	offered := map[string]bool{}
	for _, d := range req.Tools {
		offered[d.Name] = true
	}
	steps, ok := parse(req.Message.Text, offered)
	if !ok {
		return respondertest.Turn{Text: "echo: " + req.Message.Text}
	}
	if req.Step < len(steps) {
		calls := steps[req.Step]
		names := make([]string, len(calls))
		for i := range calls {
			calls[i].ID = callID(req.RunID, req.Step, i)
			names[i] = calls[i].Name
		}
		return respondertest.Turn{Text: "Calling " + strings.Join(names, ", ") + ". ", Calls: calls}
	}
	return respondertest.Turn{Text: summary(req.Steps)}
}

// callID is unique within the run, as the gateway wants, and across the
// agent's runs too, so that a test never answers another run's call.
func callID(runID string, step, i int) string {
	return fmt.Sprintf("call_%.8s_%d_%d", runID, step, i)
}

// summary says what each call of the run returned.
func summary(steps []responder.Message) string {
	var said []string
	for _, m := range steps {
		for _, c := range m.ToolCalls {
			if c.IsError {
				said = append(said, c.Name+" failed: "+c.Result)
			} else {
				said = append(said, c.Name+" → "+c.Result)
			}
		}
	}
	return "Done: " + strings.Join(said, "; ") + "."
}

// parse reads a script into its steps' calls; ok is false for a text that
// is not one.
func parse(text string, offered map[string]bool) (steps [][]respondertest.Call, ok bool) {
	var step []respondertest.Call
	args := false // the last call of step has its arguments
	rest := strings.TrimSpace(text)
	for rest != "" {
		if rest[0] == '{' {
			if len(step) == 0 || args {
				return nil, false // arguments of no call, or twice
			}
			args = true
			var obj map[string]any
			dec := json.NewDecoder(strings.NewReader(rest))
			if err := dec.Decode(&obj); err != nil || obj == nil {
				return nil, false
			}
			n := dec.InputOffset()
			step[len(step)-1].Arguments = rest[:n]
			rest = strings.TrimSpace(rest[n:])
			continue
		}
		end := strings.IndexAny(rest, " \t\n{")
		if end < 0 {
			end = len(rest)
		}
		word := rest[:end]
		rest = strings.TrimSpace(rest[end:])
		args = false
		switch {
		case word == "then" && len(step) > 0:
			steps, step = append(steps, step), nil
		case offered[word]:
			step = append(step, respondertest.Call{Name: word, Arguments: "{}"})
		default:
			return nil, false
		}
	}
	if len(step) == 0 {
		return nil, false // empty, or ends with "then"
	}
	return append(steps, step), true
}
