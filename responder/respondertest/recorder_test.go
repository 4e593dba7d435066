package respondertest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// script is a responder that makes the calls it is given, stopping at the
// first error the Stream returns.
func script(calls ...func(responder.Stream) error) responder.Responder {
	return responder.Func(func(_ context.Context, _ responder.Request, out responder.Stream) (responder.Result, error) {
		for _, call := range calls {
			if err := call(out); err != nil {
				return responder.Result{}, err
			}
		}
		return responder.Result{}, nil
	})
}

func text(s string) func(responder.Stream) error {
	return func(o responder.Stream) error { return o.Text(s) }
}
func start(id, name string) func(responder.Stream) error {
	return func(o responder.Stream) error { return o.ToolCallStart(id, name) }
}
func args(id, s string) func(responder.Stream) error {
	return func(o responder.Stream) error { return o.ToolCallArgs(id, s) }
}
func end(id string) func(responder.Stream) error {
	return func(o responder.Stream) error { return o.ToolCallEnd(id) }
}
func result(id, s string) func(responder.Stream) error {
	return func(o responder.Stream) error { return o.ToolCallResult(id, s) }
}

// TestReplyInterleaved: two tool calls whose pieces interleave are kept
// apart, in the order they started, and text around them joins.
func TestReplyInterleaved(t *testing.T) {
	t.Parallel()
	out := respondertest.Run(t.Context(), script(
		text("a"), start("c1", "one"), start("c2", "two"), args("c2", "[2"), args("c1", "{1"),
		args("c2", "]"), args("c1", "}"), end("c2"), end("c1"), result("c2", "r2"), text("b"), result("c1", "r1"),
	), respondertest.NewRequest("hi"))
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if err := out.Stream.Check(); err != nil {
		t.Fatal(err)
	}
	got := out.Stream.Reply()
	want := responder.Message{Role: responder.RoleAssistant, Text: "ab", ToolCalls: []responder.ToolCall{
		{ID: "c1", Name: "one", Arguments: "{1}", Result: "r1"},
		{ID: "c2", Name: "two", Arguments: "[2]", Result: "r2"},
	}}
	if got.Text != want.Text || !slices.Equal(got.ToolCalls, want.ToolCalls) || got.Role != want.Role {
		t.Errorf("reply %+v, want %+v", got, want)
	}
	if d := out.Stream.Deltas(); !slices.Equal(d, []string{"a", "b"}) {
		t.Errorf("deltas %q", d)
	}
	if n := len(out.Stream.Events()); n != 12 {
		t.Errorf("%d events, want 12", n)
	}
}

// TestCheck: each way of breaking the Stream's contract is named.
func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		calls []func(responder.Stream) error
		want  string
	}{
		{"args before start", []func(responder.Stream) error{args("c", "{}")}, `"c" not started`},
		{"started twice", []func(responder.Stream) error{start("c", "f"), start("c", "f")}, "started twice"},
		{"args after end", []func(responder.Stream) error{start("c", "f"), end("c"), args("c", "x")}, "already ended"},
		{"ended twice", []func(responder.Stream) error{start("c", "f"), end("c"), end("c")}, "already ended"},
		{"result before end", []func(responder.Stream) error{start("c", "f"), result("c", "r")}, "not ended"},
		{"two results", []func(responder.Stream) error{start("c", "f"), end("c"), result("c", "r"), result("c", "r")}, "answered twice"},
		{"result of no call", []func(responder.Stream) error{text("x"), result("c", "r")}, "call 2 (result c r)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := respondertest.Run(t.Context(), script(tc.calls...), respondertest.NewRequest("hi"))
			if err := out.Stream.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check() = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestRecorderErr: a Recorder with Err records the call, returns Err, and
// the responder stops there; OnText runs after each text is recorded.
func TestRecorderErr(t *testing.T) {
	t.Parallel()
	gone := errors.New("the run was cancelled")
	var seen []int
	rec := &respondertest.Recorder{Err: gone}
	rec.OnText = func() { seen = append(seen, len(rec.Events())) }
	_, err := script(text("a"), text("b")).Respond(t.Context(), respondertest.NewRequest("hi"), rec)
	if !errors.Is(err, gone) {
		t.Fatalf("err %v, want the Recorder's", err)
	}
	if lines := rec.Lines(); !slices.Equal(lines, []string{"text a"}) || !slices.Equal(seen, []int{1}) {
		t.Errorf("lines %q, OnText saw %v; want one text, seen once after it was recorded", lines, seen)
	}
}
