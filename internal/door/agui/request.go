package agui

import (
	"encoding/json"
	"fmt"
	"strings"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
	"github.com/agentgate/agentgate/tool"
)

// Turn is what a run asks of the agent.
type Turn struct {
	// ThreadID and RunID are echoed in RUN_STARTED and RUN_FINISHED.
	ThreadID, RunID string
	// Text is the new user message; empty if the run has none (its last
	// message is not a user's): the run then answers the paused run
	// (NewContinuation), or is empty.
	Text string
	// MessageID is the user message's id, its client_message_id.
	MessageID string
}

// NewTurn reads the run out of an input for agentID. The thread is the
// agent named by the path: an absent threadId becomes the agent id, any
// other is echoed and otherwise ignored. An absent runId gets newRunID().
//
// The new user message is the last message if it is a user's; the
// messages before it are the client's copy of the conversation, which
// the gateway has in the agent's log already.
func NewTurn(agentID string, in *wire.RunAgentInput, newRunID func() string) (Turn, *door.Error) {
	t := Turn{ThreadID: in.ThreadID, RunID: in.RunID}
	if t.ThreadID == "" {
		t.ThreadID = agentID
	}
	if t.RunID == "" {
		t.RunID = newRunID()
	}
	if len(in.Messages) == 0 {
		return t, nil
	}
	i := len(in.Messages) - 1
	m := in.Messages[i]
	if m.Role != wire.RoleUser {
		return t, nil
	}
	if m.ID == "" {
		return t, door.Invalid(fmt.Sprintf("messages[%d] has no id: the id of the user message makes the run safe to retry", i))
	}
	text, err := userText(m.Content)
	if err != nil {
		return t, door.Invalid(fmt.Sprintf("messages[%d].content %s", i, err))
	}
	if text == "" {
		return t, door.Invalid(fmt.Sprintf("messages[%d] has no text: the agent answers text", i))
	}
	t.Text, t.MessageID = text, m.ID
	return t, nil
}

// userText is the text of a user message's content: the string, or its
// text parts joined by newlines.
func userText(c wire.Content) (string, error) {
	parts, err := c.Parts()
	if err != nil {
		return "", err
	}
	var texts []string
	for _, p := range parts {
		if p.Type == wire.PartText && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// Continuation is what a run without a new user message carries: answers
// to what the agent's paused run waits for.
type Continuation struct {
	// Answers are the results of the client's tools, then the decisions.
	Answers []door.Answer
	// Known are the calls whose result the client has as a tool message:
	// the run's stream does not send them again, since the client would
	// add a second tool message for each.
	Known []string
}

// NewContinuation reads the answers of a run whose last message is not a
// user's (the caller checks that). The trailing tool messages, those
// after the input's last message of another role, are results of the
// client's tools: each its content, or its error, for its toolCallId; a
// tool message the gateway sent itself (a TOOL_CALL_RESULT, whose message
// id is ResultMessageID of its call) is skipped. Each resume entry
// decides the interrupt it names (InterruptID): resolved with payload
// {"approved": bool, "reason"?: string}, or cancelled, which denies it
// (nobody will say yes). The input's tools are ignored: a run keeps the
// tools its message lent.
func NewContinuation(in *wire.RunAgentInput) (Continuation, *door.Error) {
	var c Continuation
	first := len(in.Messages)
	for first > 0 && in.Messages[first-1].Role == wire.RoleTool {
		first--
	}
	for _, m := range in.Messages {
		if m.Role == wire.RoleTool && m.ToolCallID != "" {
			c.Known = append(c.Known, m.ToolCallID)
		}
	}
	for i := first; i < len(in.Messages); i++ {
		m := in.Messages[i]
		where := fmt.Sprintf("messages[%d]", i)
		if m.ToolCallID == "" {
			return c, door.Invalid(where + " has no toolCallId: a tool message answers a tool call")
		}
		if m.ID == ResultMessageID(m.ToolCallID) {
			continue // the gateway's own result
		}
		a := door.Answer{Where: where, ToolCallID: m.ToolCallID}
		if m.Error != "" {
			a.Output, a.IsError = m.Error, true
		} else {
			text, err := m.Content.Text()
			if err != nil {
				return c, door.Invalid(fmt.Sprintf("%s.content %s", where, err))
			}
			a.Output = text
		}
		c.Answers = append(c.Answers, a)
	}
	for i, r := range in.Resume {
		a, e := resumeAnswer(fmt.Sprintf("resume[%d]", i), r)
		if e != nil {
			return c, e
		}
		c.Answers = append(c.Answers, a)
	}
	return c, nil
}

// resumeAnswer is the decision a resume entry gives.
func resumeAnswer(where string, r wire.ResumeEntry) (door.Answer, *door.Error) {
	approvalID, callID, upstreamID, ok := parseInterruptID(r.InterruptID)
	if !ok {
		return door.Answer{}, door.Invalid(fmt.Sprintf("%s.interruptId %q is not an interrupt this gateway asked: answer the ids of RUN_FINISHED's outcome", where, r.InterruptID))
	}
	a := door.Answer{Where: where, Decide: true, ToolCallID: callID, InterruptID: upstreamID, ApprovalID: approvalID}
	switch r.Status {
	case wire.ResumeResolved:
		var p struct {
			Approved *bool  `json:"approved"`
			Reason   string `json:"reason"`
		}
		if err := json.Unmarshal(r.Payload, &p); err != nil || p.Approved == nil {
			return door.Answer{}, door.Invalid(where + `.payload must be {"approved": true or false, "reason"?: "…"}`)
		}
		a.Approve, a.Reason = *p.Approved, p.Reason
	case wire.ResumeCancelled:
		a.Reason = "cancelled"
	default:
		return door.Answer{}, door.Invalid(fmt.Sprintf("%s.status %q is not resolved or cancelled", where, r.Status))
	}
	return a, nil
}

// ToolDefs are the input's tools as the run's client tools.
func ToolDefs(tools []wire.Tool) []tool.Def {
	defs := make([]tool.Def, 0, len(tools))
	for _, t := range tools {
		defs = append(defs, tool.Def{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	return defs
}
