package tooltest

import (
	"encoding/json"
	"strings"
)

// script is a message's script of tool calls: the calls of each step of a
// run, and the text of a last step that says slow words instead of the
// results.
type script struct {
	steps [][]Call
	slow  string
}

// parse reads the script of text, whose words that are calls must name a
// tool of offered. ok is false for a text that is not a script: a word
// that names no offered tool, JSON that is not an object, arguments of no
// call or twice, an empty step.
//
// The grammar, as Responder's doc shows it: a step is one or more calls,
// each a tool's name and, optionally, the JSON object of its arguments
// ({} without one); "then" ends a step; a last step "slow <words…>" is
// the rest of the text, as written.
func parse(text string, offered map[string]bool) (s script, ok bool) {
	var step []Call
	rest := strings.TrimSpace(text)
	for rest != "" {
		if rest[0] == '{' {
			if len(step) == 0 || step[len(step)-1].Arguments != nil {
				return script{}, false // arguments of no call, or twice
			}
			var obj map[string]any
			dec := json.NewDecoder(strings.NewReader(rest))
			if err := dec.Decode(&obj); err != nil || obj == nil {
				return script{}, false
			}
			n := dec.InputOffset()
			step[len(step)-1].Arguments = json.RawMessage(rest[:n])
			rest = strings.TrimSpace(rest[n:])
			continue
		}
		end := strings.IndexAny(rest, " \t\n{")
		if end < 0 {
			end = len(rest)
		}
		word, after := rest[:end], strings.TrimSpace(rest[end:])
		switch {
		case word == "slow" && len(step) == 0 && after != "":
			s.slow = after
			return s.withArguments(), true
		case word == "then" && len(step) > 0:
			s.steps, step = append(s.steps, step), nil
		case offered[word]:
			step = append(step, Call{Name: word})
		default:
			return script{}, false
		}
		rest = after
	}
	if len(step) == 0 {
		return script{}, false // empty, or ends with "then"
	}
	s.steps = append(s.steps, step)
	return s.withArguments(), true
}

// withArguments gives every call written without arguments the empty
// object.
func (s script) withArguments() script {
	for _, step := range s.steps {
		for i := range step {
			if step[i].Arguments == nil {
				step[i].Arguments = json.RawMessage("{}")
			}
		}
	}
	return s
}
