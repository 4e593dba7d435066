package agent

import (
	"cmp"
	"context"
	"slices"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/responder"
)

// conversation reads what a responder needs to answer the user message at
// seq: the last n user messages and replies before it, oldest first, from
// the log (so any replica reads the same). A reply belongs right after the
// message it answers, even where later messages were appended before it (a
// burst of messages is followed by a burst of replies); run errors are left
// out.
func (s *Service) conversation(ctx context.Context, agentID string, seq uint64, n int) ([]responder.Message, error) {
	if n <= 0 || seq <= 1 {
		return nil, nil
	}
	// Each exchange takes two seqs; read from twice n back to the end of the
	// log, since replies to earlier messages may follow seq.
	after := uint64(0)
	if span := uint64(2 * n); seq-1 > span {
		after = seq - 1 - span
	}
	type entry struct {
		pos uint64 // 2*seq for a message, 2*reply_to_seq+1 for its reply
		msg responder.Message
	}
	var entries []entry
	// Pages of what one reply's context usually spans, and a bound on the
	// whole, for a log where a long burst of messages waits behind seq.
	page := min(2*n+16, MaxPage)
	for read := 0; read < 4*n+MaxPage; {
		p, err := s.eng.Read(ctx, agentID, after, page)
		if err != nil {
			return nil, err
		}
		for _, ev := range p.Events {
			m := ev.GetMessage()
			switch {
			case m == nil:
			case m.GetRole() == agentv1.Role_ROLE_USER && ev.GetSeq() < seq:
				entries = append(entries, entry{2 * ev.GetSeq(), messageOf(m)})
			case m.GetRole() == agentv1.Role_ROLE_ASSISTANT && m.GetReplyToSeq() < seq:
				entries = append(entries, entry{2*m.GetReplyToSeq() + 1, messageOf(m)})
			}
		}
		read += len(p.Events)
		if len(p.Events) == 0 || p.Events[len(p.Events)-1].GetSeq() >= p.LastSeq {
			break
		}
		after = p.Events[len(p.Events)-1].GetSeq()
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	if len(entries) > n {
		entries = entries[len(entries)-n:]
	}
	out := make([]responder.Message, len(entries))
	for i, e := range entries {
		out[i] = e.msg
	}
	return out, nil
}

// messageOf is the responder's view of a persisted message.
func messageOf(m *agentv1.Message) responder.Message {
	out := responder.Message{ID: m.GetMessageId(), Role: responder.RoleUser, Text: m.GetText()}
	if m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
		out.Role = responder.RoleAssistant
	}
	for _, c := range m.GetToolCalls() {
		out.ToolCalls = append(out.ToolCalls, responder.ToolCall{
			ID: c.GetToolCallId(), Name: c.GetName(), Arguments: c.GetArguments(), Result: c.GetResult(),
		})
	}
	return out
}
