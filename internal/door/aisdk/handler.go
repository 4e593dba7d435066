package aisdk

import (
	"errors"
	"net/http"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/door"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
)

// Handler serves POST /ai/chat (Chat) and GET /ai/chat/{agent_id}/stream
// (Resume).
type Handler struct {
	c door.Config
}

// New returns the AI SDK door.
func New(c door.Config) *Handler { return &Handler{c: c.WithDefaults()} }

// Chat answers a chat request with the reply's UI message stream. Whatever
// is wrong with the request is an HTTP error with a JSON body before any
// stream; once the stream began, a failure is an error chunk. A client that
// disconnects cancels nothing: the reply is written to the agent's log, and
// Resume or a retry streams it.
func (h *Handler) Chat(w http.ResponseWriter, r *http.Request) {
	x := h.c.Begin(w, r, edge.AISDK)
	defer x.End()
	if !x.Check() {
		return
	}
	var req ChatRequest
	if e := h.c.DecodeBody(w, r, &req); e != nil {
		x.Refuse(e)
		return
	}
	x.Rec.AgentID = req.ID
	turn, e := NewTurn(&req)
	if e != nil {
		x.Refuse(e)
		return
	}
	var answers []door.Answer
	if turn.Text == "" && len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "assistant" {
		if answers, e = NewContinuation(&req); e != nil {
			x.Refuse(e)
			return
		}
	}
	if !x.Authorize(turn.AgentID, identity.Write) || !x.Admit() {
		return
	}
	tr := NewTranslator()
	asm := door.NewAssembler(tr)
	var reply *agent.Follower
	var paused *agentv1.Message
	switch {
	case turn.Text != "":
		var ok bool
		if reply, ok = x.Ask(turn.AgentID, turn.Text, turn.ClientMessageID, req.Tools...); !ok {
			return
		}
	case len(answers) > 0:
		res, ok := x.Answer(turn.AgentID, answers)
		if !ok {
			return
		}
		// The stream goes on with the client's assistant message; the
		// answers' events show what the gateway took (a client's output
		// comes back as the gateway's, providerExecuted, so that
		// sendAutomaticallyWhen does not send it again while the run still
		// waits for others), and a denial.
		reply, paused = res.Continue(asm)
	default:
		x.Rec.Outcome = edge.OutcomeEmpty
	}
	if reply != nil {
		defer reply.Close()
	}
	h.stream(x, w, r, asm, tr, reply, paused)
}

// Resume answers useChat's resume request: the reply being written, from
// its start (the text so far, then live), which the client takes as a
// replay of the whole message; else a run that waits for answers, as it
// stands (ending with finish tool-calls); else 204.
func (h *Handler) Resume(w http.ResponseWriter, r *http.Request) {
	x := h.c.Begin(w, r, edge.AISDK)
	defer x.End()
	agentID := r.PathValue("agent_id")
	x.Rec.AgentID = agentID
	if !x.Check() {
		return
	}
	if err := agent.ValidateID(agentID); err != nil {
		x.Refuse(door.ErrorOf(err))
		return
	}
	// Following the reply being written is reading the agent.
	if !x.Authorize(agentID, identity.Read) || !x.Admit() {
		return
	}
	reply, err := h.c.Service.ActiveRun(r.Context(), agentID)
	if err != nil {
		x.Refuse(door.ErrorOf(err))
		return
	}
	tr := NewTranslator()
	asm := door.NewAssembler(tr)
	if reply != nil {
		defer reply.Close()
		h.stream(x, w, r, asm, tr, reply, nil)
		return
	}
	// A run that waits for the client's answers is shown as it stands, so
	// that a page that reloads runs its tools' calls (onToolCall) and asks
	// its approvals again.
	p, err := h.c.Service.Paused(r.Context(), agentID)
	if err != nil {
		x.Refuse(door.ErrorOf(err))
		return
	}
	if p == nil {
		x.Rec.Status, x.Rec.Outcome = http.StatusNoContent, edge.OutcomeEmpty
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for _, ev := range p.Events {
		asm.Pass(ev) // its pauses too: the answers given since follow
	}
	h.stream(x, w, r, asm, tr, nil, door.WaitingStep(p))
}

// stream writes the reply as UI message chunks, then [DONE]; without a
// reply, what asm and tr made, ended with paused (the run waits), or with
// an empty message.
func (h *Handler) stream(x *door.Exchange, w http.ResponseWriter, r *http.Request, asm *door.Assembler, tr *Translator, reply *agent.Follower, paused *agentv1.Message) {
	w.Header().Set(Header, HeaderValue)
	sse, err := door.StartSSE(w, h.c.WriteTimeout)
	x.Streaming()
	if err != nil {
		x.Ended(door.ErrClientGone, "")
		return
	}
	defer sse.End()
	if reply == nil {
		asm.Finish(paused)
		_ = sse.DataAll(tr.Take())
		sse.Raw(Done)
		if err := sse.Flush(); err != nil {
			x.Ended(door.ErrClientGone, "")
		} else if x.Rec.Outcome == "" {
			x.Ended(nil, "")
		}
		return
	}
	code, err := h.c.Relay(r.Context(), reply, sse, asm, tr)
	if errors.Is(err, door.ErrClientGone) {
		x.Ended(err, code)
		return
	}
	sse.Raw(Done)
	_ = sse.Flush()
	x.Ended(err, code)
}
