package openai

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentgate/agentgate/responder"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// errIdle is the cause an attempt's context is cancelled with when the
// server stayed silent for longer than IdleTimeout.
var errIdle = errors.New("the model server sent nothing for longer than the idle timeout")

// attempt makes one request and streams its reply to out. It returns nil
// once the model gave a finish reason, a *failure when the reply did not
// finish, and ctx's or out's error as they are.
//
// The idle timer, not a request timeout, bounds the attempt: the SDK's
// request timeout would also cut a long stream that is still flowing.
func (r *Responder) attempt(ctx context.Context, params sdk.ChatCompletionNewParams, out responder.Stream) (responder.Result, error) {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(r.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()

	var rs response
	s := r.stream(actx, params, option.WithMiddleware(rs.record))
	defer s.Close()
	rd := reply{out: out}
	for s.Next() {
		idle.Reset(r.cfg.IdleTimeout)
		if err := rd.chunk(s.Current()); err != nil {
			return rd.result(r.cfg.Model), err
		}
	}
	idle.Stop()
	res := rd.result(r.cfg.Model)
	// Once the model said why it finished, the reply is whole: a stream cut
	// or a stall while waiting for the usage chunk loses only the usage.
	if rd.finish != "" && !isInBand(s.Err()) {
		return res, nil
	}
	return res, r.classify(ctx, actx, s.Err(), &rs, rd.emitted)
}

// reply turns the chunks of one attempt into the calls of a Stream. It reads
// the first choice only: the request asks for one.
//
// Tool calls stream one after another: the pieces of a call carry its index,
// the first of them its id and name, and a call ends when the next index
// begins or the model finishes.
type reply struct {
	out responder.Stream
	// emitted is set once anything was written to out: from then on the
	// attempt must not be retried, or the reply would repeat itself.
	emitted bool
	finish  string
	model   string
	usage   *chunkUsage
	call    *toolCall
}

// toolCall is the tool call being streamed.
type toolCall struct {
	index int64
	id    string
}

func (rd *reply) chunk(c chunk) error {
	if c.Model != "" {
		rd.model = c.Model
	}
	if c.Usage != nil {
		rd.usage = c.Usage
	}
	for _, ch := range c.Choices {
		if ch.Index == 0 {
			return rd.choice(ch)
		}
	}
	return nil
}

func (rd *reply) choice(ch chunkChoice) error {
	if err := rd.text(ch.Delta.Content); err != nil {
		return err
	}
	// A refusal is the model's answer too, and the person should read it.
	if err := rd.text(ch.Delta.Refusal); err != nil {
		return err
	}
	for _, tc := range ch.Delta.ToolCalls {
		if err := rd.toolCall(tc); err != nil {
			return err
		}
	}
	if ch.FinishReason != "" {
		rd.finish = ch.FinishReason
		return rd.endCall()
	}
	return nil
}

func (rd *reply) text(s string) error {
	if s == "" {
		return nil
	}
	rd.emitted = true
	return rd.out.Text(s)
}

func (rd *reply) toolCall(tc chunkToolCall) error {
	if rd.call == nil || rd.call.index != tc.Index {
		if err := rd.endCall(); err != nil {
			return err
		}
		id := tc.ID
		if id == "" { // some servers leave it out; the reply still needs one
			id = fmt.Sprintf("call_%d", tc.Index)
		}
		rd.call = &toolCall{index: tc.Index, id: id}
		rd.emitted = true
		if err := rd.out.ToolCallStart(id, tc.Function.Name); err != nil {
			return err
		}
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	return rd.out.ToolCallArgs(rd.call.id, tc.Function.Arguments)
}

func (rd *reply) endCall() error {
	if rd.call == nil {
		return nil
	}
	id := rd.call.id
	rd.call = nil
	return rd.out.ToolCallEnd(id)
}

// result is how the reply ended so far. model names the model when the
// usage chunk does not.
func (rd *reply) result(model string) responder.Result {
	res := responder.Result{FinishReason: finishReason(rd.finish)}
	if rd.usage != nil {
		res.Usage = &responder.Usage{
			InputTokens:  rd.usage.PromptTokens,
			OutputTokens: rd.usage.CompletionTokens,
			Model:        orDefault(rd.model, model),
		}
	}
	return res
}

// finishReason maps the API's finish reasons onto the reply's. A reason this
// package does not know still ended the reply normally: it becomes stop.
func finishReason(s string) responder.FinishReason {
	switch s {
	case "":
		return ""
	case "length":
		return responder.FinishLength
	case "content_filter":
		return responder.FinishContentFilter
	case "tool_calls", "function_call":
		return responder.FinishToolCalls
	default:
		return responder.FinishStop
	}
}
