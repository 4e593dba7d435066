package agui

import (
	"fmt"
	"strings"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
)

// Turn is what a run asks of the agent.
type Turn struct {
	// ThreadID and RunID are echoed in RUN_STARTED and RUN_FINISHED.
	ThreadID, RunID string
	// Text is the new user message; empty if the run has none (its last
	// message is not a user's), which makes it an empty run.
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
