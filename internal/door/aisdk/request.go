package aisdk

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/door"
)

// Turn is what a chat request asks of the agent.
type Turn struct {
	// AgentID is the chat's id.
	AgentID string
	// Text is the new user message; empty if the request has none (its
	// last message is not a user's), which answers with an empty message.
	Text string
	// ClientMessageID makes the send idempotent: the user message's id,
	// or for a regeneration an id derived from it and the message
	// regenerated.
	ClientMessageID string
}

// NewTurn reads what a chat request asks.
//
// submit-message sends the last message if it is a user's: its text parts
// joined by newlines, its id the client_message_id, so that a retry
// appends nothing and streams the reply the first request got.
//
// A submit-message whose messageId is the user message's own is an edit
// (the client replaced that message's text): it is sent as a new message,
// its client_message_id derived from the id and the new text.
//
// regenerate-message answers the last user message again: the client has
// cut its copy of the chat to just before the reply it replaces, and the
// gateway appends the user message to the log once more, as a new message,
// with a new reply after it. The log keeps the earlier exchange: it is
// append-only. The new message's client_message_id is derived from the
// user message's id and the replaced message's, so a retried regeneration
// is idempotent too.
func NewTurn(req *ChatRequest) (Turn, *door.Error) {
	t := Turn{AgentID: req.ID}
	if err := agent.ValidateID(req.ID); err != nil {
		return t, door.Invalid("id names the agent: " + err.Error())
	}
	switch req.Trigger {
	case "", TriggerSubmit, TriggerRegenerate:
	default:
		return t, door.Invalid(fmt.Sprintf("trigger %q is not one of %s, %s", req.Trigger, TriggerSubmit, TriggerRegenerate))
	}
	if len(req.Messages) == 0 {
		return t, nil
	}
	i := len(req.Messages) - 1
	m := req.Messages[i]
	if m.Role != "user" {
		return t, nil
	}
	if m.ID == "" {
		return t, door.Invalid(fmt.Sprintf("messages[%d] has no id: the id of the user message makes the request safe to retry", i))
	}
	var texts []string
	for _, p := range m.Parts {
		if p.Type == "text" && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	if len(texts) == 0 {
		return t, door.Invalid(fmt.Sprintf("messages[%d] has no text part: the agent answers text", i))
	}
	t.Text = strings.Join(texts, "\n")
	t.ClientMessageID = m.ID
	switch {
	case req.Trigger == TriggerRegenerate:
		t.ClientMessageID = regenerationID(m.ID, req.MessageID)
	case req.MessageID == m.ID:
		// An edited message keeps its id; its new text is a new message.
		t.ClientMessageID = derivedID("edit", m.ID, t.Text)
	}
	return t, nil
}

// regenerationID is the client_message_id of a regenerated user message:
// the same for a retry of one regeneration, another for the next one
// (which replaces another reply). Without the replaced message's id, each
// regeneration is new.
func regenerationID(userID, replaced string) string {
	if replaced == "" {
		return ""
	}
	return derivedID("regenerate", userID, replaced)
}

// derivedID is a client_message_id made of kind and a digest of parts:
// the same parts give the same id, and it fits the id's length limit.
func derivedID(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return kind + ":" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// NewContinuation reads the answers of a request whose last message is the
// assistant's (the caller checks that): the tool parts of its last step
// (after its last step-start part) that answer a call. A part whose
// approval was responded to (addToolApprovalResponse) is a decision, on
// the approval id the server issued: a part without one, or with another,
// decides nothing (the request is refused). A part with an output
// (addToolOutput: output-available, or output-error with its errorText) is
// a client tool's result, unless the gateway ran or holds the call
// (providerExecuted). Other parts are left as they are.
func NewContinuation(req *ChatRequest) ([]door.Answer, *door.Error) {
	i := len(req.Messages) - 1
	parts := req.Messages[i].Parts
	first := 0
	for j, p := range parts {
		if p.Type == "step-start" {
			first = j + 1
		}
	}
	var answers []door.Answer
	for j := first; j < len(parts); j++ {
		p := parts[j]
		if p.Type != "dynamic-tool" && !strings.HasPrefix(p.Type, "tool-") {
			continue
		}
		where := fmt.Sprintf("messages[%d].parts[%d]", i, j)
		answered := p.State == StateApprovalResponded || (p.State == StateOutputAvailable || p.State == StateOutputError) && !p.ProviderExecuted
		if !answered {
			continue
		}
		if p.ToolCallID == "" {
			return nil, door.Invalid(where + " has no toolCallId")
		}
		a := door.Answer{Where: where, ToolCallID: p.ToolCallID}
		switch p.State {
		case StateApprovalResponded:
			if p.Approval == nil || p.Approval.ID == "" {
				return nil, door.Invalid(where + " answers an approval without its id: only an approval request the server issued can be answered")
			}
			if p.Approval.Approved == nil {
				return nil, door.Invalid(where + ".approval.approved must be true or false")
			}
			a.Decide, a.ApprovalID, a.Approve, a.Reason = true, p.Approval.ID, *p.Approval.Approved, p.Approval.Reason
		case StateOutputAvailable:
			a.Output = outputText(p.Output)
		case StateOutputError:
			a.Output, a.IsError = p.ErrorText, true
		}
		answers = append(answers, a)
	}
	return answers, nil
}

// outputText is a tool part's output as the result the model reads: a
// string as it is, any other JSON value compacted (nothing is "").
func outputText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
