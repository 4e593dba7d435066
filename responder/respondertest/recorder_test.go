package respondertest_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
	"github.com/agentgate/agentgate/tool"
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

func interrupt(id, reason, callID string) func(responder.Stream) error {
	return func(o responder.Stream) error {
		return o.Interrupt(responder.Interrupt{ID: id, Reason: reason, ToolCallID: callID})
	}
}

// TestCheckStep: a later step may answer an earlier step's call that has no
// result, once; interrupts come when no call is open, with ids of their
// own, about no call or one still without a result.
func TestCheckStep(t *testing.T) {
	t.Parallel()
	req := respondertest.NewRequest("hi")
	req.Step = 1
	req.Steps = []responder.Message{{ID: "s0", Role: responder.RoleAssistant, ToolCalls: []responder.ToolCall{
		{ID: "held", Name: "delete"}, {ID: "done", Name: "read", Result: "r"}, {ID: "failed", Name: "read", IsError: true},
	}}}
	for _, tc := range []struct {
		name  string
		calls []func(responder.Stream) error
		want  string // "" for no error
	}{
		{"an earlier call answered", []func(responder.Stream) error{result("held", "deleted"), text("ok")}, ""},
		{"an earlier call answered twice", []func(responder.Stream) error{result("held", "a"), result("held", "b")}, "answered twice"},
		{"an earlier call that has its result", []func(responder.Stream) error{result("done", "x")}, `"done" not started`},
		{"an earlier call that failed", []func(responder.Stream) error{result("failed", "x")}, `"failed" not started`},
		{"an earlier call's args", []func(responder.Stream) error{args("held", "{}")}, "not started"},
		{"an id of an earlier step reused", []func(responder.Stream) error{start("held", "f"), end("held"), result("held", "r")}, ""},
		{"an interrupt about a call of the step", []func(responder.Stream) error{start("c", "f"), end("c"), interrupt("i1", "tool_call", "c")}, ""},
		{"an interrupt about an earlier call", []func(responder.Stream) error{interrupt("i1", "tool_call", "held")}, ""},
		{"an interrupt about nothing", []func(responder.Stream) error{interrupt("i1", "input_required", "")}, ""},
		{"an interrupt without an id", []func(responder.Stream) error{interrupt("", "confirmation", "")}, "without an id"},
		{"an interrupt twice", []func(responder.Stream) error{interrupt("i1", "x", ""), interrupt("i1", "x", "")}, `"i1" reported twice`},
		{"an interrupt with a call open", []func(responder.Stream) error{start("c", "f"), interrupt("i1", "tool_call", "c")}, `"c" is open`},
		{"an interrupt about an answered call", []func(responder.Stream) error{start("c", "f"), end("c"), result("c", "r"), interrupt("i1", "tool_call", "c")}, "has its result"},
		{"an interrupt about no call of the run", []func(responder.Stream) error{interrupt("i1", "tool_call", "nope")}, "not a call of the run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := respondertest.Run(t.Context(), script(tc.calls...), req)
			err := out.Stream.CheckStep(req)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("CheckStep() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckStep() = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// The first step knows no earlier call.
	out := respondertest.Run(t.Context(), script(result("held", "r")), respondertest.NewRequest("hi"))
	if err := out.Stream.Check(); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("Check() = %v, want the result of no call refused", err)
	}
}

// TestOutcomeCheck: a step that reported interrupts must end with
// FinishToolCalls.
func TestOutcomeCheck(t *testing.T) {
	t.Parallel()
	out := respondertest.Run(t.Context(), script(interrupt("i1", "confirmation", "")), respondertest.NewRequest("hi"))
	if err := out.Check(); err == nil || !strings.Contains(err.Error(), `finished with ""`) {
		t.Errorf("Check() = %v, want the finish reason refused", err)
	}
	out.Result.FinishReason = responder.FinishToolCalls
	if err := out.Check(); err != nil {
		t.Errorf("Check() = %v", err)
	}
}

// TestNext drives a run of three steps: a call answered by the test, then
// an upstream's call held by an interrupt and answered by a resume, then the
// upstream's own result for it and the end of the run.
func TestNext(t *testing.T) {
	t.Parallel()
	var seen []responder.Request
	steps := [][]func(responder.Stream) error{
		{text("Looking. "), start("c1", "lookup"), args("c1", `{"q":1}`), end("c1")},
		{start("c2", "delete"), end("c2"), interrupt("i1", "tool_call", "c2")},
		{result("c2", "deleted"), text("Done.")},
	}
	r := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		seen = append(seen, req)
		res, err := script(steps[req.Step]...).Respond(ctx, req, out)
		if req.Step < 2 {
			res.FinishReason = responder.FinishToolCalls
		}
		return res, err
	})
	req := respondertest.NewRequest("hi")
	req.Tools = []tool.Def{{Name: "lookup", Description: "Looks up."}}
	out := respondertest.Run(t.Context(), r, req)
	if err := out.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Next(nil); err == nil || !strings.Contains(err.Error(), `no result for tool call "c1" (lookup)`) {
		t.Fatalf("Next without results: %v", err)
	}
	req, err := out.Next(map[string]tool.Result{"c1": {Output: "not found", IsError: true}})
	if err != nil {
		t.Fatal(err)
	}
	out = respondertest.Run(t.Context(), r, req)
	if err := out.Check(); err != nil {
		t.Fatal(err)
	}
	approve := responder.Resume{InterruptID: "i1", Status: responder.ResumeResolved, Approved: true}
	req, err = out.Next(nil, approve)
	if err != nil {
		t.Fatalf("a call held by an interrupt needs no result: %v", err)
	}
	out = respondertest.Run(t.Context(), r, req)
	if err := out.Check(); err != nil {
		t.Fatal(err)
	}
	last, err := out.Next(nil)
	if err != nil {
		t.Fatal(err)
	}

	if len(seen) != 3 || seen[2].Step != 2 || len(seen[2].Tools) != 1 || !slices.Equal(seen[2].Resume, []responder.Resume{approve}) {
		t.Fatalf("requests %+v", seen)
	}
	want := []responder.Message{
		{ID: "run-1-step0", Role: responder.RoleAssistant, Text: "Looking. ", ToolCalls: []responder.ToolCall{
			{ID: "c1", Name: "lookup", Arguments: `{"q":1}`, Result: "not found", IsError: true}}},
		{ID: "run-1-step1", Role: responder.RoleAssistant, ToolCalls: []responder.ToolCall{{ID: "c2", Name: "delete"}}},
	}
	if !reflect.DeepEqual(seen[2].Steps, want) {
		t.Errorf("steps of step 2\n%+v\nwant\n%+v", seen[2].Steps, want)
	}
	want[1].ToolCalls[0].Result = "deleted"
	want = append(want, responder.Message{ID: "run-1-step2", Role: responder.RoleAssistant, Text: "Done."})
	if !reflect.DeepEqual(last.Steps, want) || last.Step != 3 || last.Resume != nil {
		t.Errorf("after step 2: step %d, resume %v, steps\n%+v\nwant\n%+v", last.Step, last.Resume, last.Steps, want)
	}
}
