package door

import (
	"errors"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
)

// Exchange is one door request as it is answered: it keeps the Record that
// Observe gets at the end, and the connection slot the stream holds.
type Exchange struct {
	c       *Config
	w       http.ResponseWriter
	r       *http.Request
	start   time.Time
	release func()
	// Rec is filled in as the request goes; End completes it.
	Rec Record
}

// Begin starts answering r for the door named name.
func (c *Config) Begin(w http.ResponseWriter, r *http.Request, name string) *Exchange {
	return &Exchange{c: c, w: w, r: r, start: time.Now(), Rec: Record{Door: name}}
}

// Refuse answers with e instead of a stream.
func (x *Exchange) Refuse(e *Error) {
	x.Rec.Status, x.Rec.Outcome, x.Rec.Code = e.Status, OutcomeRefused, e.Code
	WriteError(x.w, e)
}

// Admit takes a connection slot for the stream (see Config.Admit); if
// there is none, it refuses the request with 503 and returns false.
func (x *Exchange) Admit() bool {
	if x.c.Admit == nil {
		return true
	}
	release, refusal := x.c.Admit(x.r)
	if release == nil {
		x.Refuse(&Error{Status: http.StatusServiceUnavailable, Code: "resource_exhausted",
			Message: "the server is at its connection limit (" + refusal + "); retry later"})
		return false
	}
	x.release = release
	return true
}

// Ask appends text as the user message of the request, with messageID as
// its client_message_id, and follows its reply (Service.Ask), recording
// whether the message was a retry. A refusal of the service is answered
// (Refuse) and reported as false. The caller closes the reply.
func (x *Exchange) Ask(agentID, text, messageID string) (*agent.Follower, bool) {
	reply, err := x.c.Service.Ask(x.r.Context(), agentID, text, messageID)
	if err != nil {
		x.Refuse(ErrorOf(err))
		return nil, false
	}
	x.Rec.Duplicate = reply.Duplicate()
	return reply, true
}

// Streaming records that the stream began (200).
func (x *Exchange) Streaming() { x.Rec.Status = http.StatusOK }

// Ended records how a stream that began ended, from what Follow returned
// and the code of the error frame sent, if any.
func (x *Exchange) Ended(err error, code string) {
	x.Rec.Code = code
	switch {
	case err == nil && code == "":
		x.Rec.Outcome = OutcomeFinished
	case err == nil:
		x.Rec.Outcome = OutcomeRunError
	case errors.Is(err, ErrClientGone):
		x.Rec.Outcome = OutcomeClientGone
	case errors.Is(err, ErrDraining):
		x.Rec.Outcome = OutcomeDraining
	default:
		x.Rec.Outcome = OutcomeFailed
	}
}

// End releases the connection slot and reports the request to Observe.
func (x *Exchange) End() {
	if x.release != nil {
		x.release()
	}
	x.Rec.Duration = time.Since(x.start)
	if x.c.Observe != nil {
		x.c.Observe(x.r, x.Rec)
	}
}
