package openai

import (
	"encoding/json"
	"slices"

	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/param"
)

// params builds the request for one step: the system prompt, the
// conversation before the message in order, the message, then the run so
// far (each earlier step's reply with its tool calls and their results),
// and the tools the model may call. Usage is asked for, so that the reply
// can record what it cost, and the temperature sent only when configured.
func (r *Responder) params(req responder.Request) sdk.ChatCompletionNewParams {
	msgs := make([]sdk.ChatCompletionMessageParamUnion, 0, len(req.History)+len(req.Steps)*2+2)
	if r.cfg.SystemPrompt != "" {
		msgs = append(msgs, sdk.SystemMessage(r.cfg.SystemPrompt))
	}
	for _, m := range req.History {
		msgs = appendMessage(msgs, m, false)
	}
	msgs = appendMessage(msgs, req.Message, false)
	for _, m := range req.Steps {
		msgs = appendMessage(msgs, m, true)
	}
	p := sdk.ChatCompletionNewParams{
		Model:         r.cfg.Model,
		Messages:      msgs,
		StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
		Tools:         tools(req.Tools),
	}
	if t := r.cfg.Temperature; t != nil {
		p.Temperature = sdk.Float(*t)
	}
	return p
}

// tools offers the step's tools as function tools. Nothing is sent when
// there are none: the model may then call nothing.
func tools(defs []tool.Def) []sdk.ChatCompletionToolUnionParam {
	if len(defs) == 0 {
		return nil
	}
	out := make([]sdk.ChatCompletionToolUnionParam, len(defs))
	for i, d := range defs {
		fn := sdk.FunctionDefinitionParam{Name: d.Name, Parameters: parameters(d.Parameters)}
		if d.Description != "" {
			fn.Description = param.NewOpt(d.Description)
		}
		out[i] = sdk.ChatCompletionFunctionTool(fn)
	}
	return out
}

// emptySchema is the parameters of a tool without arguments. It is sent
// rather than nothing: OpenAI takes a missing schema for no arguments, but
// some servers require one.
var emptySchema = sdk.FunctionParameters{"type": json.RawMessage(`"object"`), "properties": json.RawMessage(`{}`)}

// parameters is a tool's JSON Schema as the SDK takes it. Each member is
// kept as the raw JSON it was, so that the schema reaches the model as it
// was written, nested key order and numbers included; only the top-level
// members are sorted. A schema that is not a JSON object (tool.ValidateDef
// refuses it, so the gateway never passes one) is sent as the empty one.
func parameters(schema json.RawMessage) sdk.FunctionParameters {
	var members map[string]json.RawMessage
	if len(schema) == 0 || json.Unmarshal(schema, &members) != nil || members == nil {
		return emptySchema
	}
	out := make(sdk.FunctionParameters, len(members))
	for k, v := range members {
		out[k] = v
	}
	return out
}

// errorPrefix marks the content of a tool message that reports a failure:
// the Chat Completions API has no field for it, so the model reads it.
const errorPrefix = "Error: "

// appendMessage appends m as the API's messages: a user message, or an
// assistant message with its tool calls followed by a tool message for each,
// a failure's content marked with errorPrefix. A reply left with neither
// text nor calls is left out.
//
// In History, a call with no result is one never answered (see
// responder.ToolCall.Result), and is left out: the API refuses a tool call
// without its tool message, which would fail every later reply of the
// conversation. In Steps (steps set) every call is sent, an empty result as
// an empty tool message: leaving out a call the model made in this run
// would have it make the call again.
func appendMessage(msgs []sdk.ChatCompletionMessageParamUnion, m responder.Message, steps bool) []sdk.ChatCompletionMessageParamUnion {
	if m.Role != responder.RoleAssistant {
		return append(msgs, sdk.UserMessage(m.Text))
	}
	if !steps {
		m.ToolCalls = slices.DeleteFunc(slices.Clone(m.ToolCalls), func(tc responder.ToolCall) bool {
			return tc.Result == "" && !tc.IsError
		})
	}
	if m.Text == "" && len(m.ToolCalls) == 0 {
		return msgs
	}
	msgs = append(msgs, sdk.ChatCompletionMessageParamUnion{OfAssistant: assistant(m)})
	for _, tc := range m.ToolCalls {
		content := tc.Result
		if tc.IsError {
			content = errorPrefix + content
		}
		msgs = append(msgs, sdk.ToolMessage(content, tc.ID))
	}
	return msgs
}

// assistant converts a reply. Its content is left out when the reply is only
// tool calls, as the API allows.
func assistant(m responder.Message) *sdk.ChatCompletionAssistantMessageParam {
	var a sdk.ChatCompletionAssistantMessageParam
	if m.Text != "" || len(m.ToolCalls) == 0 {
		a.Content.OfString = param.NewOpt(m.Text)
	}
	for _, tc := range m.ToolCalls {
		args := tc.Arguments
		if !isObject(args) {
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

// isObject reports whether args is a JSON object. Arguments that are not
// (none, or what a model cut short) are sent as {}: servers that render the
// conversation with the model's chat template decode them (vLLM, LiteLLM),
// and would refuse every later request of the conversation; the call's
// result already tells the model what was wrong with them.
func isObject(args string) bool {
	var obj map[string]json.RawMessage
	return json.Unmarshal([]byte(args), &obj) == nil && obj != nil
}
