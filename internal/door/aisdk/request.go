package aisdk

import (
	"crypto/sha256"
	"encoding/base64"
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
