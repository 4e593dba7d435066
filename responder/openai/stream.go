package openai

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
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
			if errors.Is(err, errInterleaved) {
				err = r.failure(CodeFailed, "sent a piece of one tool call after the next call had begun, which the gateway cannot relay",
					"check the model server: OpenAI-compatible servers stream tool calls one after another", err)
			}
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
// Tool calls stream one after another, each call's pieces in order, as
// every server sends them; a call ends when the next one begins or the
// model finishes. Which call a piece belongs to is not told the same way by
// every server, so a piece is matched by what it has (see find): OpenAI
// sends the index on every piece and the id on the first; vLLM may send no
// id at all; Ollama sent no index before 0.4.7, and since sends every call
// of a turn at index 0, each with its own id.
type reply struct {
	out responder.Stream
	// emitted is set once anything was written to out: from then on the
	// attempt must not be retried, or the reply would repeat itself.
	emitted bool
	finish  string
	model   string
	usage   *chunkUsage
	// calls are the reply's tool calls in the order they started; open is
	// the one whose pieces are streaming, if it has not ended.
	calls []*toolCall
	open  *toolCall
}

// toolCall is a tool call of the reply.
type toolCall struct {
	// index and upstreamID are what the server said of the call, if it did.
	index      *int64
	upstreamID string
	// id is the call's id on the Stream: the server's, or one made up when
	// the server sent none or repeated one.
	id   string
	name string
	args bool // arguments were received
}

// errInterleaved is a piece of a tool call that came after the next call
// began: no server is known to do that, and the Stream cannot take it.
var errInterleaved = errors.New("a piece of a tool call came after the next call began")

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

// toolCall writes one piece of a tool call: the start of a new call, and
// the piece of its arguments, if any.
func (rd *reply) toolCall(tc chunkToolCall) error {
	c := rd.find(tc)
	switch {
	case c == nil:
		var err error
		if c, err = rd.start(tc); err != nil {
			return err
		}
	case c != rd.open:
		return fmt.Errorf("%w: tool call %q", errInterleaved, c.id)
	}
	if tc.Function.Arguments == "" {
		return nil
	}
	c.args = true
	return rd.out.ToolCallArgs(c.id, tc.Function.Arguments)
}

// find returns the call a piece continues, or nil when it begins a new
// one. A piece with an id continues the call of that id (some servers
// repeat it on every piece), if their indexes, where both have one, agree.
// A piece without an id continues the latest call of its index, or, with
// no index either, the open call. Without an id, a piece that names the
// tool begins a new call once the call it would continue has a name and
// arguments: that is how Ollama without indexes sent parallel calls, each
// whole in one piece.
func (rd *reply) find(tc chunkToolCall) *toolCall {
	if tc.ID != "" {
		for _, c := range slices.Backward(rd.calls) {
			if c.upstreamID == tc.ID && (tc.Index == nil || c.index == nil || *c.index == *tc.Index) {
				return c
			}
		}
		return nil
	}
	var c *toolCall
	if tc.Index != nil {
		for _, cand := range slices.Backward(rd.calls) {
			if cand.index != nil && *cand.index == *tc.Index {
				c = cand
				break
			}
		}
	} else {
		c = rd.open
	}
	if c != nil && tc.Function.Name != "" && c.name != "" && c.args {
		return nil
	}
	return c
}

// start ends the open call and starts a new one with the piece's id, or
// one made up if the piece has none or its id is taken.
func (rd *reply) start(tc chunkToolCall) (*toolCall, error) {
	if err := rd.endCall(); err != nil {
		return nil, err
	}
	c := &toolCall{index: tc.Index, upstreamID: tc.ID, id: tc.ID, name: tc.Function.Name}
	if c.id == "" || slices.ContainsFunc(rd.calls, func(o *toolCall) bool { return o.id == c.id }) {
		c.id = newCallID()
	}
	rd.calls = append(rd.calls, c)
	rd.open = c
	rd.emitted = true
	return c, rd.out.ToolCallStart(c.id, c.name)
}

// newCallID makes an id for a call the server gave none: random, so that
// it is distinct within the run, and kept for all the call's pieces.
func newCallID() string { return fmt.Sprintf("call_%016x", rand.Uint64()) }

func (rd *reply) endCall() error {
	if rd.open == nil {
		return nil
	}
	id := rd.open.id
	rd.open = nil
	return rd.out.ToolCallEnd(id)
}

// result is how the reply ended so far. model names the model when the
// usage chunk does not.
//
// A model that called tools and says it stopped (as Ollama's parsers of
// some models do) ended the step for its tools: the finish is
// FinishToolCalls, which the tool loop goes on from.
func (rd *reply) result(model string) responder.Result {
	res := responder.Result{FinishReason: finishReason(rd.finish)}
	if res.FinishReason == responder.FinishStop && len(rd.calls) > 0 {
		res.FinishReason = responder.FinishToolCalls
	}
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
