package agui

import "github.com/agentgate/agentgate/responder"

// protocolVersion is the AG-UI version the input declares, as @ag-ui/client
// 1.0 does, so that an upstream can tell which shapes to expect.
const protocolVersion = "1.0"

// runAgentInput is the AG-UI 1.0 RunAgentInput the responder POSTs. Its
// shape follows what @ag-ui/client's HttpAgent sends: the optional lists
// and objects are sent empty rather than left out, and nothing is ever
// null, because 1.0 validators reject null where a field is optional.
type runAgentInput struct {
	ThreadID        string     `json:"threadId"`
	RunID           string     `json:"runId"`
	ProtocolVersion string     `json:"protocolVersion"`
	State           struct{}   `json:"state"`
	Messages        []message  `json:"messages"`
	Tools           []struct{} `json:"tools"`
	Context         []struct{} `json:"context"`
	ForwardedProps  struct{}   `json:"forwardedProps"`
}

// message is an AG-UI message of role user, assistant or tool; the fields a
// role does not have are left out.
type message struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	// Content is required for user and tool messages, optional for the
	// assistant, which may have only tool calls.
	Content    *string    `json:"content,omitempty"`
	ToolCalls  []toolCall `json:"toolCalls,omitempty"`
	ToolCallID string     `json:"toolCallId,omitempty"`
}

// toolCall is an assistant message's tool call.
type toolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function functionCall `json:"function"`
}

// functionCall names the tool and holds its arguments as a JSON string.
type functionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// newRunAgentInput builds the input for one reply: the agent is the thread,
// and the messages are the history, oldest first, then the new message.
func newRunAgentInput(req responder.Request) runAgentInput {
	msgs := make([]message, 0, len(req.History)+1)
	for _, m := range req.History {
		msgs = appendMessage(msgs, m)
	}
	msgs = append(msgs, userMessage(req.Message))
	return runAgentInput{
		ThreadID:        req.AgentID,
		RunID:           req.RunID,
		ProtocolVersion: protocolVersion,
		Messages:        msgs,
		Tools:           []struct{}{},
		Context:         []struct{}{},
	}
}

// appendMessage appends m as AG-UI messages: a reply becomes an assistant
// message followed by one tool message per tool call that has a result,
// the order in which model APIs expect a tool's answer; any other message
// is the user's, since the gateway's log has only these two roles.
func appendMessage(msgs []message, m responder.Message) []message {
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

func userMessage(m responder.Message) message {
	return message{ID: m.ID, Role: "user", Content: &m.Text}
}

// assistantMessage leaves content out only when the reply has tool calls
// and no text, which is how model APIs write such a turn.
func assistantMessage(m responder.Message) message {
	out := message{ID: m.ID, Role: "assistant"}
	if m.Text != "" || len(m.ToolCalls) == 0 {
		out.Content = &m.Text
	}
	for _, tc := range m.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, toolCall{
			ID:       tc.ID,
			Type:     "function",
			Function: functionCall{Name: tc.Name, Arguments: arguments(tc.Arguments)},
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
func toolMessage(replyID string, tc responder.ToolCall) message {
	return message{
		ID:         replyID + "-" + tc.ID,
		Role:       "tool",
		Content:    &tc.Result,
		ToolCallID: tc.ID,
	}
}
