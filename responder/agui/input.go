package agui

import (
	"encoding/json"
	"fmt"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
)

// newRunAgentInput builds the input for one step: the agent is the thread,
// the messages are the history, oldest first, then the new message, then
// the run so far (each earlier step's reply and its tool results); the
// tools are those the agent may call in the step, and resume answers the
// interrupts of the step before. Its shape follows what @ag-ui/client's
// HttpAgent sends: the optional lists and objects are sent empty rather
// than left out, and nothing is ever null, because 1.0 validators reject
// null where a field is optional.
func newRunAgentInput(req responder.Request) wire.RunAgentInput {
	msgs := make([]wire.Message, 0, len(req.History)+1+2*len(req.Steps))
	for _, m := range req.History {
		msgs = appendMessage(msgs, m)
	}
	msgs = append(msgs, userMessage(req.Message))
	held := heldCalls(req)
	for _, m := range req.Steps {
		msgs = appendStep(msgs, m, held)
	}
	return wire.RunAgentInput{
		ThreadID:        req.AgentID,
		RunID:           runID(req),
		ProtocolVersion: wire.ProtocolVersion,
		State:           json.RawMessage(`{}`),
		Messages:        msgs,
		Tools:           tools(req.Tools),
		ForwardedProps:  json.RawMessage(`{}`),
		Resume:          resume(req.Resume),
	}
}

// runID is the AG-UI run of a step. Each step is a run of its own in
// AG-UI's terms (a run ends when it waits for tools or for a person, and
// the next run carries the answers), so every step after the first gets
// the gateway's run id with the step appended.
func runID(req responder.Request) string {
	if req.Step == 0 {
		return req.RunID
	}
	return fmt.Sprintf("%s-%d", req.RunID, req.Step)
}

// tools are the tools of the step, as AG-UI's Tool is the same JSON.
func tools(defs []tool.Def) []wire.Tool {
	out := make([]wire.Tool, len(defs))
	for i, d := range defs {
		out[i] = wire.Tool{Name: d.Name, Description: d.Description, Parameters: d.Parameters}
	}
	return out
}

// approval is the payload of a resolved interrupt, the shape AG-UI gives
// an approval's answer.
type approval struct {
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
}

// resume answers the interrupts of the step before: resolved with the
// person's decision as the payload, or cancelled with none.
func resume(answers []responder.Resume) []wire.ResumeEntry {
	var out []wire.ResumeEntry
	for _, a := range answers {
		e := wire.ResumeEntry{InterruptID: a.InterruptID, Status: wire.ResumeCancelled}
		if a.Status == responder.ResumeResolved {
			e.Status = wire.ResumeResolved
			e.Payload, _ = json.Marshal(approval{Approved: a.Approved, Reason: a.Reason}) // always encodes
		}
		out = append(out, e)
	}
	return out
}

// appendMessage appends m, a message of the conversation before the run,
// as AG-UI messages: a reply becomes an assistant message followed by one
// tool message per tool call that has a result, the order in which model
// APIs expect a tool's answer; any other message is the user's, since the
// gateway's log has only these two roles.
func appendMessage(msgs []wire.Message, m responder.Message) []wire.Message {
	if m.Role != responder.RoleAssistant {
		return append(msgs, userMessage(m))
	}
	msgs = append(msgs, assistantMessage(m))
	for _, tc := range m.ToolCalls {
		if tc.Result != "" || tc.IsError {
			msgs = append(msgs, toolMessage(m.ID, tc))
		}
	}
	return msgs
}

// appendStep appends a step of the run as AG-UI messages: its reply, then a
// tool message for each of its calls, an empty result included (a call
// without its result would fail the agent's next model call), except the
// calls held, which the agent answers itself.
func appendStep(msgs []wire.Message, m responder.Message, held map[string]bool) []wire.Message {
	msgs = append(msgs, assistantMessage(m))
	for _, tc := range m.ToolCalls {
		if !held[tc.ID] || tc.Result != "" || tc.IsError {
			msgs = append(msgs, toolMessage(m.ID, tc))
		}
	}
	return msgs
}

// heldCalls are the calls the interrupts of the step before held: those of
// the last step still without a result, when the step answers interrupts.
// The gateway answers every other call of a step before it goes on.
func heldCalls(req responder.Request) map[string]bool {
	held := map[string]bool{}
	if len(req.Resume) == 0 || len(req.Steps) == 0 {
		return held
	}
	for _, tc := range req.Steps[len(req.Steps)-1].ToolCalls {
		if tc.Result == "" && !tc.IsError {
			held[tc.ID] = true
		}
	}
	return held
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

// arguments sends "{}" for a call whose arguments are not a JSON object
// (none, or what a model cut short): frameworks parse the string as JSON
// when they hand the history to a model, and would fail every later run of
// the conversation; the call's result tells the model what was wrong.
func arguments(args string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
		return "{}"
	}
	return args
}

// failedCall is the error of a failed call that said nothing of why.
const failedCall = "the tool call failed"

// toolMessage is the result of tc. Its id is derived from the reply's id and
// the call's, so the same history always yields the same ids. A failure is
// the message's error, and its content too, for agents that read content
// alone.
func toolMessage(replyID string, tc responder.ToolCall) wire.Message {
	out := wire.Message{
		ID:         replyID + "-" + tc.ID,
		Role:       wire.RoleTool,
		Content:    wire.TextContent(tc.Result),
		ToolCallID: tc.ID,
	}
	if tc.IsError {
		out.Error = tc.Result
		if out.Error == "" {
			out.Error = failedCall
			out.Content = wire.TextContent(failedCall)
		}
	}
	return out
}
