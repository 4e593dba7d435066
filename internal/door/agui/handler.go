package agui

import (
	"crypto/rand"
	"errors"
	"net/http"

	"github.com/agentgate/agentgate/internal/agent"
	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/door"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
)

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
	x := h.c.Begin(w, r, edge.AGUI)
	defer x.End()
	agentID := r.PathValue("agent_id")
	x.Rec.AgentID = agentID
	if !x.Check() {
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
	if !x.Authorize(agentID, identity.Write) || !x.Admit() {
		return
	}
	var reply *agent.Follower
	if turn.Text != "" {
		var ok bool
		if reply, ok = x.Ask(agentID, turn.Text, turn.MessageID); !ok {
			return
		}
		defer reply.Close()
	}
	h.stream(x, w, r, turn, reply)
}

// stream writes the run: RUN_STARTED, the reply's events, the end.
func (h *Handler) stream(x *door.Exchange, w http.ResponseWriter, r *http.Request, turn Turn, reply *agent.Follower) {
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
		x.Rec.Outcome = edge.OutcomeEmpty
		return
	}
	if err = sse.DataAll(tr.Take()); err != nil {
		x.Ended(err, "")
		return
	}
	code, err := h.c.Relay(r.Context(), reply, sse, tr)
	if err != nil && !errors.Is(err, door.ErrClientGone) {
		_ = sse.Flush() // the RUN_ERROR
	}
	x.Ended(err, code)
}
