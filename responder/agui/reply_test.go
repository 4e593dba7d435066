package agui

import (
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"testing"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/responder/respondertest"
)

// TestReplyMapping feeds event sequences the encoder scenarios do not
// produce (out-of-order and unknown ids, several models, malformed fields)
// straight to a reply, and checks the Stream calls and the result.
func TestReplyMapping(t *testing.T) {
	t.Parallel()
	finished := `{"type":"RUN_FINISHED","threadId":"t","runId":"r"}`
	tests := []struct {
		name   string
		events []string
		calls  []string
		result *responder.Result
		badEv  bool
	}{{
		name: "calls still open at the run's end are ended in start order",
		events: []string{
			`{"type":"TOOL_CALL_START","toolCallId":"a","toolCallName":"x"}`,
			`{"type":"TOOL_CALL_START","toolCallId":"b","toolCallName":"y"}`,
			`{"type":"TOOL_CALL_END","toolCallId":"b"}`,
			`{"type":"TOOL_CALL_CHUNK","toolCallId":"c","toolCallName":"z"}`,
			finished,
		},
		calls:  []string{"start a x", "start b y", "end b", "start c z", "end a", "end c"},
		result: &responder.Result{FinishReason: responder.FinishStop},
	}, {
		name: "a chunk for another id ends the chunked call before it",
		events: []string{
			`{"type":"TOOL_CALL_CHUNK","toolCallId":"a","toolCallName":"x","delta":"{"}`,
			`{"type":"TOOL_CALL_CHUNK","delta":"}"}`,
			`{"type":"TOOL_CALL_CHUNK","toolCallId":"b","toolCallName":"y","delta":"[]"}`,
			finished,
		},
		calls:  []string{"start a x", "args a {", "args a }", "end a", "start b y", "args b []", "end b"},
		result: &responder.Result{FinishReason: responder.FinishStop},
	}, {
		name: "events for calls that are not open are skipped",
		events: []string{
			`{"type":"TOOL_CALL_ARGS","toolCallId":"ghost","delta":"{}"}`,
			`{"type":"TOOL_CALL_END","toolCallId":"ghost"}`,
			`{"type":"TOOL_CALL_RESULT","messageId":"m","toolCallId":"ghost","content":"x"}`,
			`{"type":"TOOL_CALL_CHUNK","delta":"{}"}`,
			`{"type":"TOOL_CALL_START","toolCallId":"a","toolCallName":"x"}`,
			`{"type":"TOOL_CALL_START","toolCallId":"a","toolCallName":"again"}`,
			`{"type":"TOOL_CALL_END","toolCallId":"a"}`,
			`{"type":"TOOL_CALL_END","toolCallId":"a"}`,
			`{"type":"TOOL_CALL_ARGS","toolCallId":"a","delta":"late"}`,
			`{"type":"TOOL_CALL_RESULT","messageId":"m","toolCallId":"a","content":[]}`,
			finished,
		},
		calls:  []string{"start a x", "end a", "result a "},
		result: &responder.Result{FinishReason: responder.FinishStop},
	}, {
		name: "only the assistant's text is the reply",
		events: []string{
			`{"type":"TEXT_MESSAGE_START","messageId":"s","role":"system"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"s","delta":"sys"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"u","role":"user","delta":"me"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","delta":"too"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"a","delta":"A"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"b","delta":"B"}`,
			`{"type":"TEXT_MESSAGE_CONTENT","messageId":"b","delta":""}`,
			finished,
		},
		calls:  []string{"text A", "text B"},
		result: &responder.Result{FinishReason: responder.FinishStop},
	}, {
		name: "usage of several models is summed, the models named",
		events: []string{`{"type":"RUN_FINISHED","threadId":"t","runId":"r","usage":[
			{"model":"big","inputTokens":100,"outputTokens":10},
			{"model":"small","inputTokens":5},
			{"model":"big","outputTokens":1},
			{"provider":"p"}]}`},
		result: &responder.Result{FinishReason: responder.FinishStop,
			Usage: &responder.Usage{InputTokens: 105, OutputTokens: 11, Model: "big,small"}},
	}, {
		name:   "an empty usage list is no usage",
		events: []string{`{"type":"RUN_FINISHED","threadId":"t","runId":"r","usage":[],"outcome":{"type":"success"}}`},
		result: &responder.Result{FinishReason: responder.FinishStop},
	}, {
		name: "events the responder does not use are skipped, whatever their shape",
		events: []string{
			`{"type":"STATE_DELTA","delta":[{"op":"add","path":"/a","value":1}]}`,
			`{"type":"REASONING_MESSAGE_CONTENT","messageId":"r","delta":"hmm"}`,
			`{"type":"SOMETHING_NEW","toolCallId":5}`,
			finished,
		},
		result: &responder.Result{FinishReason: responder.FinishStop},
	}, {
		name:   "an event that is not JSON",
		events: []string{`{"type":"TEXT_MESSAGE_CONTENT",`},
		badEv:  true,
	}, {
		name:   "a known field of the wrong type",
		events: []string{`{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":5}`},
		badEv:  true,
	}, {
		name:   "a tool result that is neither text nor parts",
		events: []string{`{"type":"TOOL_CALL_START","toolCallId":"a","toolCallName":"x"}`, `{"type":"TOOL_CALL_RESULT","messageId":"m","toolCallId":"a","content":{}}`},
		calls:  []string{"start a x"},
		badEv:  true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out respondertest.Recorder
			res, err := feed(newReply(&out, slog.New(slog.DiscardHandler), responder.Request{}), tt.events)
			if !slices.Equal(out.Lines(), tt.calls) {
				t.Errorf("calls %q, want %q", out.Lines(), tt.calls)
			}
			if errors.Is(err, errBadEvent) != tt.badEv || (err != nil && !tt.badEv) {
				t.Fatalf("error %v, want a bad event: %v", err, tt.badEv)
			}
			if !reflect.DeepEqual(res, tt.result) {
				t.Fatalf("result %+v, want %+v", res, tt.result)
			}
		})
	}
}

// TestReplyInterrupts feeds interrupts and results of a later step: the
// interrupts of an interrupted run are reported after the calls end, and
// end the step with tool_calls; one without an id makes the event invalid,
// a repeated id is skipped, and a call the run does not hold is left out of
// its interrupt. A result may answer an earlier step's call without a
// result, once.
func TestReplyInterrupts(t *testing.T) {
	t.Parallel()
	interrupted := func(interrupts string) string {
		return `{"type":"RUN_FINISHED","threadId":"t","runId":"r","outcome":{"type":"interrupt","interrupts":` + interrupts + `}}`
	}
	req := responder.Request{Step: 1, Steps: []responder.Message{{ID: "s0", Role: responder.RoleAssistant, ToolCalls: []responder.ToolCall{
		{ID: "held", Name: "delete"}, {ID: "done", Name: "read", Result: "r"},
	}}}}
	tests := []struct {
		name   string
		events []string
		calls  []string
		finish responder.FinishReason
		badEv  bool
	}{{
		name: "interrupts after the calls, each call held at most by a call that waits",
		events: []string{
			`{"type":"TOOL_CALL_START","toolCallId":"a","toolCallName":"x"}`,
			`{"type":"TOOL_CALL_START","toolCallId":"b","toolCallName":"y"}`,
			`{"type":"TOOL_CALL_END","toolCallId":"b"}`,
			`{"type":"TOOL_CALL_RESULT","messageId":"m","toolCallId":"b","content":"ran"}`,
			interrupted(`[{"id":"i1","reason":"tool_call","toolCallId":"a"},{"id":"i2","reason":"tool_call","toolCallId":"b"},
				{"id":"i3","reason":"tool_call","toolCallId":"held"},{"id":"i4","reason":"tool_call","toolCallId":"done"},
				{"id":"i5","reason":"tool_call","toolCallId":"nowhere"},{"id":"i1","reason":"again"},{"id":"i6","reason":"confirmation"}]`),
		},
		calls: []string{"start a x", "start b y", "end b", "result b ran", "end a",
			"interrupt i1 tool_call a", "interrupt i2 tool_call", "interrupt i3 tool_call held",
			"interrupt i4 tool_call", "interrupt i5 tool_call", "interrupt i6 confirmation"},
		finish: responder.FinishToolCalls,
	}, {
		name:   "an interrupt without an id",
		events: []string{interrupted(`[{"id":"","reason":"confirmation"}]`)},
		badEv:  true,
	}, {
		name:   "an interrupt outcome without interrupts asks nothing",
		events: []string{interrupted(`[]`)},
		finish: responder.FinishStop,
	}, {
		name: "a result for an earlier call that waits, once; for one that has its result, none",
		events: []string{
			`{"type":"TOOL_CALL_RESULT","messageId":"m1","toolCallId":"held","content":"deleted"}`,
			`{"type":"TOOL_CALL_RESULT","messageId":"m2","toolCallId":"held","content":"again"}`,
			`{"type":"TOOL_CALL_RESULT","messageId":"m3","toolCallId":"done","content":"twice"}`,
			`{"type":"TEXT_MESSAGE_CHUNK","messageId":"t","delta":"ok"}`,
			`{"type":"RUN_FINISHED","threadId":"t","runId":"r"}`,
		},
		calls:  []string{"result held deleted", "text ok"},
		finish: responder.FinishStop,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out respondertest.Recorder
			res, err := feed(newReply(&out, slog.New(slog.DiscardHandler), req), tt.events)
			if !slices.Equal(out.Lines(), tt.calls) {
				t.Errorf("calls\n%q\nwant\n%q", out.Lines(), tt.calls)
			}
			if tt.badEv {
				if !errors.Is(err, errBadEvent) {
					t.Fatalf("error %v, want a bad event", err)
				}
				return
			}
			if err != nil || res == nil || res.FinishReason != tt.finish {
				t.Fatalf("result %+v, error %v; want finish %q", res, err, tt.finish)
			}
			if err := out.CheckStep(req); err != nil {
				t.Errorf("the gateway would refuse the step: %v", err)
			}
		})
	}
}

// feed hands events to rep until one finishes the run or fails.
func feed(rep *reply, events []string) (*responder.Result, error) {
	for _, e := range events {
		res, err := rep.handle([]byte(e))
		if err != nil || res != nil {
			return res, err
		}
	}
	return nil, nil
}

// TestRunErrorEvent keeps the upstream's code and message, with defaults
// for what it left out.
func TestRunErrorEvent(t *testing.T) {
	t.Parallel()
	tests := []struct{ event, code, message string }{
		{`{"type":"RUN_ERROR","message":"no key","code":"auth"}`, "auth", "no key"},
		{`{"type":"RUN_ERROR","message":"oops"}`, codeFailed, "oops"},
		{`{"type":"RUN_ERROR","message":""}`, codeFailed, "the AG-UI agent reported an error without a message"},
		{`{"type":"RUN_ERROR","message":"slow down","code":"insufficient_quota"}`, codeRateLimited,
			"slow down (the agent's error code: insufficient_quota); wait a little and send the message again"},
		{`{"type":"RUN_ERROR","message":"Input is too long for requested model."}`, responder.CodeContextTooLong,
			"the AG-UI agent says the conversation is too long for its model: Input is too long for requested model.; lower CONTEXT_TOKENS or CONTEXT_MESSAGES, or start a new conversation"},
		{`{"type":"RUN_ERROR","message":"bad key","code":"invalid_api_key"}`, "invalid_api_key", "bad key"},
	}
	for _, tt := range tests {
		_, err := newReply(&respondertest.Recorder{}, slog.New(slog.DiscardHandler), responder.Request{}).handle([]byte(tt.event))
		e, ok := responder.AsError(err)
		if !ok || e.Code != tt.code || e.Message != tt.message {
			t.Errorf("%s: error %v, want code %q message %q", tt.event, err, tt.code, tt.message)
		}
	}
}
