package agui

import (
	"encoding/json"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/responder"
)

// newRunAgentInput builds the input for one reply: the agent is the thread,
// and the messages are the history, oldest first, then the new message. Its
// shape follows what @ag-ui/client's HttpAgent sends: the optional lists
// and objects are sent empty rather than left out, and nothing is ever
// null, because 1.0 validators reject null where a field is optional.
func newRunAgentInput(req responder.Request) wire.RunAgentInput {
	msgs := make([]wire.Message, 0, len(req.History)+1)
	for _, m := range req.History {
		msgs = appendMessage(msgs, m)
	}
	msgs = append(msgs, userMessage(req.Message))
	return wire.RunAgentInput{
		ThreadID:        req.AgentID,
		RunID:           req.RunID,
		ProtocolVersion: wire.ProtocolVersion,
		State:           json.RawMessage(`{}`),
		Messages:        msgs,
		ForwardedProps:  json.RawMessage(`{}`),
	}
}

// appendMessage appends m as AG-UI messages: a reply becomes an assistant
// message followed by one tool message per tool call that has a result,
// the order in which model APIs expect a tool's answer; any other message
// is the user's, since the gateway's log has only these two roles.
func appendMessage(msgs []wire.Message, m responder.Message) []wire.Message {
	if m.Role != responder.RoleAssistant {
		return append(msgs, userMessage(m))
	}
	msgs = append(msgs, assistantMessage(m))
	for _, tc := range m.ToolCalls {
		if tc.Result != "" {
			msgs = append(msgs, toolMessage(m.ID, tc))
		}
	}
	return msgs
}

func userMessage(m responder.Message) wire.Message {
	return wire.Message{ID: m.ID, Role: wire.RoleUser, Content: wire.TextContent(m.Text)}
}

// assistantMessage leaves content out only when the reply has tool calls
// and no text, which is how model APIs write such a turn.
func assistantMessage(m responder.Message) wire.Message {
	out := wire.Message{ID: m.ID, Role: wire.RoleAssistant}
	if m.Text != "" || len(m.ToolCalls) == 0 {
		out.Content = wire.TextContent(m.Text)
	}
	for _, tc := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, wire.ToolCall{
			ID:       tc.ID,
			Type:     wire.ToolCallFunction,
			Function: wire.FunctionCall{Name: tc.Name, Arguments: arguments(tc.Arguments)},
		})
	}
	return out
}

// arguments sends "{}" for a call that had no arguments: frameworks parse
// the string as JSON when they hand the history to a model, and an empty
// string would fail every later run of the conversation.
func arguments(args string) string {
	if args == "" {
		return "{}"
	}
	return args
}

// toolMessage is the result of tc. Its id is derived from the reply's id and
// the call's, so the same history always yields the same ids.
func toolMessage(replyID string, tc responder.ToolCall) wire.Message {
	return wire.Message{
		ID:         replyID + "-" + tc.ID,
		Role:       wire.RoleTool,
		Content:    wire.TextContent(tc.Result),
		ToolCallID: tc.ID,
	}
}
