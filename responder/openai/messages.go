package openai

import (
	"slices"

	"github.com/agentgate/agentgate/responder"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// params builds the request for one reply: the system prompt, the
// conversation before the message in order, then the message. Usage is
// asked for, so that the reply can record what it cost, and the
// temperature sent only when configured.
func (r *Responder) params(req responder.Request) sdk.ChatCompletionNewParams {
	msgs := make([]sdk.ChatCompletionMessageParamUnion, 0, len(req.History)+2)
	if r.cfg.SystemPrompt != "" {
		msgs = append(msgs, sdk.SystemMessage(r.cfg.SystemPrompt))
	}
	for _, m := range req.History {
		msgs = appendMessage(msgs, m)
	}
	msgs = appendMessage(msgs, req.Message)
	p := sdk.ChatCompletionNewParams{
		Model:         r.cfg.Model,
		Messages:      msgs,
		StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
	}
	if t := r.cfg.Temperature; t != nil {
		p.Temperature = sdk.Float(*t)
	}
	return p
}

// appendMessage appends m as the API's messages: a user message, or an
// assistant message with its tool calls followed by a tool message for each.
// A tool call whose result was never reported is left out: the API refuses
// a tool call without its tool message, which would fail every later reply
// of the conversation; and a reply left with neither text nor calls is left
// out too.
func appendMessage(msgs []sdk.ChatCompletionMessageParamUnion, m responder.Message) []sdk.ChatCompletionMessageParamUnion {
	if m.Role != responder.RoleAssistant {
		return append(msgs, sdk.UserMessage(m.Text))
	}
	m.ToolCalls = slices.DeleteFunc(slices.Clone(m.ToolCalls), func(tc responder.ToolCall) bool { return tc.Result == "" })
	if m.Text == "" && len(m.ToolCalls) == 0 {
		return msgs
	}
	msgs = append(msgs, sdk.ChatCompletionMessageParamUnion{OfAssistant: assistant(m)})
	for _, tc := range m.ToolCalls {
		msgs = append(msgs, sdk.ToolMessage(tc.Result, tc.ID))
	}
	return msgs
}

// assistant converts a reply. Its content is left out when the reply is only
// tool calls, as the API allows; empty arguments become {} because the API
// wants them to be JSON.
func assistant(m responder.Message) *sdk.ChatCompletionAssistantMessageParam {
	var a sdk.ChatCompletionAssistantMessageParam
	if m.Text != "" || len(m.ToolCalls) == 0 {
		a.Content.OfString = param.NewOpt(m.Text)
	}
	for _, tc := range m.ToolCalls {
		args := tc.Arguments
		if args == "" {
			args = "{}"
		}
		a.ToolCalls = append(a.ToolCalls, sdk.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &sdk.ChatCompletionMessageFunctionToolCallParam{
				ID:       tc.ID,
				Function: sdk.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: args},
			},
		})
	}
	return &a
}
