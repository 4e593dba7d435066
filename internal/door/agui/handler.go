package agui

import (
	"crypto/rand"
	"errors"
	"net/http"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
)

// Name is the door's name in logs and metrics.
const Name = "agui"

// Handler serves POST /agui/{agent_id}.
type Handler struct {
	c door.Config
}

// New returns the AG-UI door.
func New(c door.Config) *Handler { return &Handler{c: c.WithDefaults()} }

// ServeHTTP answers one run. Whatever is wrong with the request is an HTTP
// error with a JSON body before any stream; once RUN_STARTED is sent, a
// failure is a RUN_ERROR. A client that disconnects cancels nothing: the
// reply is written to the agent's log, and a retried run streams it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := h.c.Begin(w, r, Name)
	defer x.End()
	agentID := r.PathValue("agent_id")
	x.Rec.AgentID = agentID
	if e := h.c.CheckRequest(r); e != nil {
		x.Refuse(e)
		return
	}
	var in wire.RunAgentInput
	if e := h.c.DecodeBody(w, r, &in); e != nil {
		x.Refuse(e)
		return
	}
	if err := agent.ValidateID(agentID); err != nil {
		x.Refuse(door.ErrorOf(err))
		return
	}
	turn, e := NewTurn(agentID, &in, rand.Text)
	if e != nil {
		x.Refuse(e)
		return
	}
	if !x.Admit() {
		return
	}
	var reply *agent.Reply
	if turn.Text != "" {
		var err error
		if reply, err = h.c.Service.Ask(r.Context(), agentID, turn.Text, turn.MessageID); err != nil {
			x.Refuse(door.ErrorOf(err))
			return
		}
		defer reply.Close()
		x.Rec.Duplicate = reply.Duplicate()
	}
	h.stream(x, w, r, turn, reply)
}

// stream writes the run: RUN_STARTED, the reply's events, the end.
func (h *Handler) stream(x *door.Exchange, w http.ResponseWriter, r *http.Request, turn Turn, reply *agent.Reply) {
	sse, err := door.StartSSE(w, h.c.WriteTimeout)
	x.Streaming()
	if err != nil {
		x.Ended(door.ErrClientGone, "")
		return
	}
	defer sse.End()
	tr := NewTranslator(turn.ThreadID, turn.RunID)
	if reply == nil {
		tr.Finish(nil)
		_ = sse.DataAll(tr.Take())
		_ = sse.Flush()
		x.Rec.Outcome = door.OutcomeEmpty
		return
	}
	asm := door.NewAssembler(tr)
	if err = sse.DataAll(tr.Take()); err != nil {
		x.Ended(err, "")
		return
	}
	var werr error
	err = h.c.Follow(r.Context(), reply, sse, func(ev *agentv1.AgentEvent) {
		asm.Event(ev)
		if werr == nil {
			werr = sse.DataAll(tr.Take())
		}
	})
	if werr != nil {
		err = werr
	}
	code := tr.Code()
	switch {
	case err == nil:
	case errors.Is(err, door.ErrClientGone):
	default:
		e := door.ErrorOf(err)
		if errors.Is(err, door.ErrDraining) {
			e = door.Draining
		}
		asm.Fail(e.Code, e.Message)
		code = e.Code
		_ = sse.DataAll(tr.Take())
		_ = sse.Flush()
	}
	x.Ended(err, code)
}
