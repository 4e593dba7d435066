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
			res, err := feed(newReply(&out, slog.New(slog.DiscardHandler)), tt.events)
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
	}
	for _, tt := range tests {
		_, err := newReply(&respondertest.Recorder{}, slog.New(slog.DiscardHandler)).handle([]byte(tt.event))
		e, ok := responder.AsError(err)
		if !ok || e.Code != tt.code || e.Message != tt.message {
			t.Errorf("%s: error %v, want code %q message %q", tt.event, err, tt.code, tt.message)
		}
	}
}
