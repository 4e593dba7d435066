package agui

import (
	"crypto/rand"
	"errors"
	"net/http"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
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
	var cont Continuation
	if turn.Text == "" {
		if cont, e = NewContinuation(&in); e != nil {
			x.Refuse(e)
			return
		}
	}
	if !x.Authorize(agentID, identity.Write) || !x.Admit() {
		return
	}
	tr := NewTranslator(turn.ThreadID, turn.RunID)
	asm := door.NewAssembler(tr)
	var reply *agent.Follower
	var paused *agentv1.Message
	switch {
	case turn.Text != "":
		var ok bool
		if reply, ok = x.Ask(agentID, turn.Text, turn.MessageID, ToolDefs(in.Tools)...); !ok {
			return
		}
	case len(cont.Answers) > 0:
		res, ok := x.Answer(agentID, cont.Answers)
		if !ok {
			return
		}
		reply, paused = res.Continue(asm, cont.Known...)
	default:
		x.Rec.Outcome = edge.OutcomeEmpty
	}
	if reply != nil {
		defer reply.Close()
	}
	h.stream(x, w, r, asm, tr, reply, paused)
}

// stream writes the run: RUN_STARTED, then the reply's events, or, without
// a reply, the end: RUN_FINISHED, with what the run waits for if paused
// is set.
func (h *Handler) stream(x *door.Exchange, w http.ResponseWriter, r *http.Request, asm *door.Assembler, tr *Translator, reply *agent.Follower, paused *agentv1.Message) {
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
		if err := sse.Flush(); err != nil {
			x.Ended(door.ErrClientGone, "")
		} else if x.Rec.Outcome == "" {
			x.Ended(nil, "")
		}
		return
	}
	code, err := h.c.Relay(r.Context(), reply, sse, asm, tr)
	if err != nil && !errors.Is(err, door.ErrClientGone) {
		_ = sse.Flush() // the RUN_ERROR
	}
	x.Ended(err, code)
}
