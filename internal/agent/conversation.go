package agent

import (
	"cmp"
	"context"
	"slices"
	"unicode/utf8"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/responder"
	"github.com/agentgate/agentgate/tool"
)

// conversation is what a responder needs to answer the user message at
// seq: the last n user messages and replies before it, oldest first, from
// the log (so any replica reads the same). A reply belongs right after the
// message it answers, even where later messages were appended before it (a
// burst of messages is followed by a burst of replies); run errors are left
// out. known is a page of the log read already (a Work's): when it holds
// every event the conversation needs, the log is not read again.
func (s *Service) conversation(ctx context.Context, agentID string, seq uint64, n int, known engine.Page) ([]responder.Message, error) {
	if n <= 0 || seq <= 1 {
		return nil, nil
	}
	// Each exchange takes two seqs; read from twice n back to the end of the
	// log, since replies to earlier messages may follow seq.
	after := uint64(0)
	if span := uint64(2 * n); seq-1 > span {
		after = seq - 1 - span
	}
	c := exchanges{seq: seq}
	if holds(known, after) {
		c.add(known.Events, after)
		return c.last(n), nil
	}
	// Pages of what one reply's context usually spans, and a bound on the
	// whole, for a log where a long burst of messages waits behind seq.
	read := 0
	for p, err := range pages(ctx, s.log, agentID, after, min(2*n+16, MaxPage)) {
		if err != nil {
			return nil, err
		}
		c.add(p.Events, after)
		if read += len(p.Events); read >= 4*n+MaxPage {
			break
		}
	}
	return c.last(n), nil
}

// holds reports whether p holds the log from after on to its end.
func holds(p engine.Page, after uint64) bool {
	n := len(p.Events)
	return n > 0 && p.Events[0].GetSeq() <= max(after+1, p.FirstSeq) && p.Events[n-1].GetSeq() == p.LastSeq
}

// exchanges gathers the conversation before the user message at seq.
type exchanges struct {
	seq     uint64
	entries []exchange
	// results are the tool call results persisted after their step (a
	// client's, an approved call's, a denial, a closing), by run and call.
	results map[string]*agentv1.ToolCallResult
}

type exchange struct {
	pos   uint64 // 2*seq for a message, 2*reply_to_seq+1 for its reply's steps
	runID string
	msg   responder.Message
}

// add takes in the messages, steps and results of evs after seq after. A
// step with neither text nor calls (a paused run's end after its closing)
// says nothing to a model and is left out.
func (c *exchanges) add(evs []*agentv1.AgentEvent, after uint64) {
	for _, ev := range evs {
		if r := ev.GetToolCallResult(); r != nil && ev.GetSeq() > after {
			if c.results == nil {
				c.results = map[string]*agentv1.ToolCallResult{}
			}
			c.results[r.GetRunId()+"\x00"+r.GetToolCallId()] = r
			continue
		}
		m := ev.GetMessage()
		switch {
		case m == nil || ev.GetSeq() <= after:
		case m.GetRole() == agentv1.Role_ROLE_USER && ev.GetSeq() < c.seq:
			c.entries = append(c.entries, exchange{pos: 2 * ev.GetSeq(), msg: messageOf(m)})
		case m.GetRole() == agentv1.Role_ROLE_ASSISTANT && m.GetReplyToSeq() < c.seq && (m.GetText() != "" || len(m.GetToolCalls()) > 0):
			c.entries = append(c.entries, exchange{pos: 2*m.GetReplyToSeq() + 1, runID: m.GetRunId(), msg: messageOf(m)})
		}
	}
}

// last is the newest n of the conversation, oldest first, each step's
// calls with the results persisted after it.
func (c *exchanges) last(n int) []responder.Message {
	slices.SortStableFunc(c.entries, func(a, b exchange) int { return cmp.Compare(a.pos, b.pos) })
	entries := c.entries
	if len(entries) > n {
		entries = entries[len(entries)-n:]
	}
	out := make([]responder.Message, len(entries))
	for i, e := range entries {
		out[i] = e.msg
		for j := range e.msg.ToolCalls {
			tc := &out[i].ToolCalls[j]
			if r := c.results[e.runID+"\x00"+tc.ID]; r != nil && tc.Result == "" && !tc.IsError {
				tc.Result, tc.IsError = r.GetContent(), r.GetIsError()
			}
		}
	}
	return out
}

// cutMarker ends a message that was cut to fit the context budget, so that
// the model can tell an end it did not write.
const cutMarker = "\n[cut to fit the context budget]"

// withinBudget keeps the newest messages of history whose bytes (see
// messageBytes) fit in budget, leaving the oldest out first. A newest
// message larger than the whole budget is cut to fit, with cutMarker,
// rather than sent whole or dropped.
func withinBudget(history []responder.Message, budget int) []responder.Message {
	total := 0
	for i := len(history) - 1; i >= 0; i-- {
		n := messageBytes(history[i])
		if total+n <= budget {
			total += n
			continue
		}
		if i == len(history)-1 {
			return []responder.Message{cutMessage(history[i], budget)}
		}
		return history[i+1:]
	}
	return history
}

// messageBytes is what a message weighs in the context budget: its text
// and its tool calls' ids, names, arguments and results.
func messageBytes(m responder.Message) int {
	n := len(m.Text)
	for _, c := range m.ToolCalls {
		n += len(c.ID) + len(c.Name) + len(c.Arguments) + len(c.Result)
	}
	return n
}

// cutMessage cuts m's text, then its tool calls' arguments and results, in
// that order, so that it weighs no more than budget.
// The calls' ids and names are kept whole, and their room is taken first.
func cutMessage(m responder.Message, budget int) responder.Message {
	left := budget
	for _, c := range m.ToolCalls {
		left -= len(c.ID) + len(c.Name)
	}
	m.Text, left = cutField(m.Text, left)
	calls := slices.Clone(m.ToolCalls)
	for i := range calls {
		c := &calls[i]
		c.Arguments, left = cutField(c.Arguments, left)
		c.Result, left = cutField(c.Result, left)
	}
	m.ToolCalls = calls
	return m
}

// cutField returns s, or its start and cutMarker if s is longer than left,
// and what is left after it.
func cutField(s string, left int) (string, int) {
	if len(s) <= left {
		return s, left - len(s)
	}
	if left < len(cutMarker) {
		return "", left
	}
	keep := left - len(cutMarker)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + cutMarker, left - keep - len(cutMarker)
}

// messageOf is the responder's view of a persisted message.
func messageOf(m *agentv1.Message) responder.Message {
	out := responder.Message{ID: m.GetMessageId(), Role: responder.RoleUser, Text: m.GetText()}
	if m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
		out.Role = responder.RoleAssistant
	}
	for _, c := range m.GetToolCalls() {
		out.ToolCalls = append(out.ToolCalls, responder.ToolCall{
			ID: c.GetToolCallId(), Name: c.GetName(), Arguments: c.GetArguments(), Result: c.GetResult(), IsError: c.GetIsError(),
		})
	}
	return out
}

// bytesPerToken is the estimate of CONTEXT_TOKENS: a token is about four
// bytes of English text or JSON for the models' tokenizers, a little more
// for code, less for other scripts. Estimated, not counted, since the
// gateway does not know the model's tokenizer; a model server that finds
// the context too long all the same is retried with less (see run.respond).
const bytesPerToken = 4

// fit cuts what a step sends to budget bytes (see messageBytes and
// toolsBytes): the message, the run so far and the tools come first, and
// the conversation gets what is left, its oldest messages left out first
// (withinBudget). If the run so far alone is over, the conversation is
// left out and each step is cut to an equal share of what is left
// (cutMessage: its text, then its calls' arguments and results, with a
// marker). The message itself is never cut (MaxTextBytes bounds it).
func fit(history []responder.Message, message responder.Message, steps []responder.Message, tools []tool.Def, budget int) ([]responder.Message, []responder.Message) {
	fixed := messageBytes(message) + toolsBytes(tools)
	for _, m := range steps {
		fixed += messageBytes(m)
	}
	if left := budget - fixed; left >= 0 {
		return withinBudget(history, left), steps
	}
	if len(steps) == 0 {
		return nil, steps
	}
	share := max(budget-messageBytes(message)-toolsBytes(tools), 0) / len(steps)
	cut := make([]responder.Message, len(steps))
	for i, m := range steps {
		cut[i] = m
		if messageBytes(m) > share {
			cut[i] = cutMessage(m, share)
		}
	}
	return nil, cut
}

// toolsBytes is what tools weigh in the context budget: their names,
// descriptions and schemas, which the model server sends the model too.
func toolsBytes(tools []tool.Def) int {
	n := 0
	for _, d := range tools {
		n += len(d.Name) + len(d.Description) + len(d.Parameters)
	}
	return n
}

// contextBytes is what a step's request weighs in the context budget.
func contextBytes(history []responder.Message, message responder.Message, steps []responder.Message, tools []tool.Def) int {
	n := messageBytes(message) + toolsBytes(tools)
	for _, m := range history {
		n += messageBytes(m)
	}
	for _, m := range steps {
		n += messageBytes(m)
	}
	return n
}
