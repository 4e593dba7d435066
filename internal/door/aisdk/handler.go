package aisdk

import (
	"errors"
	"net/http"

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
	if !x.Authorize(turn.AgentID, identity.Write) || !x.Admit() {
		return
	}
	var reply *agent.Follower
	if turn.Text != "" {
		var ok bool
		if reply, ok = x.Ask(turn.AgentID, turn.Text, turn.ClientMessageID); !ok {
			return
		}
		defer reply.Close()
	}
	h.stream(x, w, r, reply)
}

// Resume answers useChat's resume request: 204 when the agent writes no
// reply now, else the reply being written from its start (the text so far,
// then live), which the client takes as a replay of the whole message.
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
	if reply == nil {
		x.Rec.Status, x.Rec.Outcome = http.StatusNoContent, edge.OutcomeEmpty
		w.WriteHeader(http.StatusNoContent)
		return
	}
	defer reply.Close()
	h.stream(x, w, r, reply)
}

// stream writes the reply as UI message chunks, then [DONE].
func (h *Handler) stream(x *door.Exchange, w http.ResponseWriter, r *http.Request, reply *agent.Follower) {
	w.Header().Set(Header, HeaderValue)
	sse, err := door.StartSSE(w, h.c.WriteTimeout)
	x.Streaming()
	if err != nil {
		x.Ended(door.ErrClientGone, "")
		return
	}
	defer sse.End()
	tr := NewTranslator()
	if reply == nil {
		tr.Start("")
		tr.Finish(nil)
		_ = sse.DataAll(tr.Take())
		sse.Raw(Done)
		_ = sse.Flush()
		x.Rec.Outcome = edge.OutcomeEmpty
		return
	}
	code, err := h.c.Relay(r.Context(), reply, sse, tr)
	if errors.Is(err, door.ErrClientGone) {
		x.Ended(err, code)
		return
	}
	sse.Raw(Done)
	_ = sse.Flush()
	x.Ended(err, code)
}
