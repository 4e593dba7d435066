package openai

import (
	"context"
	"net/http"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// chunk is one streamed chunk of a Chat Completions reply: only the fields
// a reply is made of. The SDK's own chunk type decodes every field of the
// API through reflection, which took nearly half of the gateway's CPU per
// relayed delta; this one is decoded by encoding/json.
type chunk struct {
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *chunkUsage   `json:"usage"`
}

type chunkChoice struct {
	Index        int64      `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason string     `json:"finish_reason"`
}

type chunkDelta struct {
	Content   string          `json:"content"`
	Refusal   string          `json:"refusal"`
	ToolCalls []chunkToolCall `json:"tool_calls"`
}

// chunkToolCall is a piece of a tool call. Index is nil when the server
// sent none.
type chunkToolCall struct {
	Index    *int64 `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chunkUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

// stream starts a streamed completion through the SDK (its request
// encoding, authentication and error types, with the options given) and
// decodes its chunks as chunk. It is what ChatCompletionService.NewStreaming
// does, but for the chunk type, and with the size of an event bounded
// (eventLimiter).
func (r *Responder) stream(ctx context.Context, params sdk.ChatCompletionNewParams, opts ...option.RequestOption) *ssestream.Stream[chunk] {
	var raw *http.Response
	opts = append(opts, option.WithJSONSet("stream", true), option.WithResponseBodyInto(&raw))
	_, err := r.chat.New(ctx, params, opts...)
	if raw != nil && raw.Body != nil {
		raw.Body = newEventLimiter(raw.Body, r.cfg.MaxEventBytes)
	}
	return ssestream.NewStream[chunk](ssestream.NewDecoder(raw), err)
}
