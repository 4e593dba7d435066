// Package tool is the vocabulary of the tools an agent's model may call
// through the gateway. The gateway runs the tool loop: it offers the model
// the tools of a run, runs the calls of server tools itself, waits for the
// results of client tools, and calls the model again with the results.
//
// A server tool comes from a Source: tools written in Go (NewSet), or the
// tools of an MCP server (package tool/mcp). The gateway lists a Source's
// tools for every step of a run, so a Source whose list changes (an MCP
// server's list_changed) is seen at the next step.
package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
	"unicode/utf8"
)

// The defaults of TOOL_TIMEOUT and TOOL_RESULT_MAX_BYTES, which the
// gateway's tool loop and the MCP source (package tool/mcp) both apply:
// a minute bounds a call that does real work (a search, a build) and
// stops one that hangs; 64 KiB of result is a long page of text, far less
// than a model's window.
const (
	// DefaultTimeout bounds one call of a server tool.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxResultBytes is the longest result of a server tool the
	// model is given (see Cut).
	DefaultMaxResultBytes = 64 << 10
)

// Def is a tool as the model sees it, and as AG-UI's Tool describes it: a
// name, what it does, and the JSON Schema of its arguments.
type Def struct {
	// Name is how the model calls the tool: 1 to 64 characters of
	// a-z A-Z 0-9 _ - (the rule of the model APIs).
	Name string `json:"name"`
	// Description tells the model when to use the tool.
	Description string `json:"description"`
	// Parameters is the JSON Schema of the arguments, a JSON object; nil
	// means a tool without arguments.
	Parameters json.RawMessage `json:"parameters,omitempty"`
}

// Result is what a call of a tool returned.
type Result struct {
	// Output is what the model is given as the call's result, usually
	// text or JSON.
	Output string
	// IsError marks a result that reports the tool's own failure: the
	// model is told the call failed, with Output as the reason.
	IsError bool
}

// Source is a set of server tools that the gateway runs itself.
//
// Its methods are called concurrently. Call must return when ctx is done:
// ctx ends at TOOL_TIMEOUT, on CancelRun and on shutdown. An error of Call
// is a failure to run the tool at all (its server is down, the call timed
// out); the gateway turns it into an error result the model sees, as it
// does a Result with IsError, and the run goes on.
type Source interface {
	// Tools lists the tools offered now.
	Tools(ctx context.Context) []Def
	// Call runs the tool named name with the arguments the model wrote.
	Call(ctx context.Context, name string, args json.RawMessage) (Result, error)
}

// Func is the code of a tool written in Go.
type Func func(ctx context.Context, args json.RawMessage) (Result, error)

// Tool is a tool written in Go: its Def and its code.
type Tool struct {
	Def
	// Run is called with the arguments the model wrote.
	Run Func
}

// Set is a Source of tools written in Go.
type Set struct {
	defs  []Def
	funcs map[string]Func
}

var _ Source = (*Set)(nil)

// NewSet returns a Source of tools. Names must be valid and distinct, and
// each Parameters, if set, a JSON object.
func NewSet(tools ...Tool) (*Set, error) {
	s := &Set{funcs: make(map[string]Func, len(tools))}
	for _, t := range tools {
		if err := ValidateDef(t.Def); err != nil {
			return nil, err
		}
		if t.Run == nil {
			return nil, fmt.Errorf("tool %q has no Run", t.Name)
		}
		if _, dup := s.funcs[t.Name]; dup {
			return nil, fmt.Errorf("tool %q is defined twice", t.Name)
		}
		s.funcs[t.Name] = t.Run
		s.defs = append(s.defs, t.Def)
	}
	return s, nil
}

// Tools implements Source.
func (s *Set) Tools(context.Context) []Def { return s.defs }

// Call implements Source.
func (s *Set) Call(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	f := s.funcs[name]
	if f == nil {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownTool, name)
	}
	return f(ctx, args)
}

// ErrUnknownTool is Call's error for a name the Source does not have.
var ErrUnknownTool = errors.New("no such tool")

// namePattern is the tool name rule of the model APIs (OpenAI's function
// names; Anthropic's and Gemini's are the same or wider).
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// ValidName reports whether name is a valid tool name.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// ValidateDef checks a Def: a valid name, and Parameters, if set, a JSON
// object. The error names the tool.
func ValidateDef(d Def) error {
	if !ValidName(d.Name) {
		return fmt.Errorf("tool name %q is not valid: 1 to 64 characters of a-z A-Z 0-9 _ -", d.Name)
	}
	if len(d.Parameters) == 0 {
		return nil
	}
	var schema map[string]any
	if err := json.Unmarshal(d.Parameters, &schema); err != nil {
		return fmt.Errorf("tool %q: parameters must be a JSON Schema object: %v", d.Name, err)
	}
	return nil
}

// Cut returns s if it is at most max bytes long; otherwise its beginning,
// ended on a whole UTF-8 character, and a marker that says how much was
// left out ("[… result cut: N of M bytes shown]"), max bytes in all. The
// gateway cuts every server tool's result so (TOOL_RESULT_MAX_BYTES).
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	marker := fmt.Sprintf("\n[… result cut: %d of %d bytes shown]", max, len(s))
	n := max - len(marker)
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	marker = fmt.Sprintf("\n[… result cut: %d of %d bytes shown]", n, len(s))
	return s[:n] + marker
}
