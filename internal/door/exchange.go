package door

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/tool"
)

// Exchange is one door request as it is answered: it keeps the record that
// the edge observes at the end, and the connection slot the stream holds.
type Exchange struct {
	c       *Config
	w       http.ResponseWriter
	r       *http.Request
	start   time.Time
	release func()
	// Rec is filled in as the request goes; End completes it.
	Rec edge.DoorRecord
}

// Begin starts answering r at door d.
func (c *Config) Begin(w http.ResponseWriter, r *http.Request, d edge.Door) *Exchange {
	return &Exchange{c: c, w: w, r: r, start: time.Now(), Rec: edge.DoorRecord{Door: d}}
}

// Refuse answers with e instead of a stream.
func (x *Exchange) Refuse(e *Error) {
	x.Rec.Status, x.Rec.Outcome, x.Rec.Code = e.Status, edge.OutcomeRefused, e.Code
	WriteError(x.w, e)
}

// refuseAtEdge answers with a refusal of the edge, recording its reason,
// and saying when to retry if the refusal knows.
func (x *Exchange) refuseAtEdge(ref *edge.Refusal) {
	x.Rec.Reason = ref.Reason
	if ref.RetryAfter > 0 {
		x.w.Header().Set("Retry-After", strconv.Itoa(ref.RetryAfter))
	}
	x.Refuse(&Error{Status: ref.Status, Code: ref.Code.String(), Message: ref.Message})
}

// Check refuses what a door must not serve before reading a body: a
// browser request from an origin that is not allowed (403), and, for a
// POST, a body that is not JSON (415). Requiring application/json keeps
// cross-site forms out: a browser sends JSON across origins only after a
// CORS preflight, which the allowed origins decide. It reports whether the
// request may go on.
func (x *Exchange) Check() bool {
	if ref := x.c.Edge.CheckOrigin(x.r, x.Rec.Door); ref != nil {
		x.refuseAtEdge(ref)
		return false
	}
	if x.r.Method != http.MethodPost {
		return true
	}
	mt, _, err := mime.ParseMediaType(x.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		x.Refuse(&Error{Status: http.StatusUnsupportedMediaType, Code: "invalid_argument", Message: "the body must be JSON: send Content-Type: application/json"})
		return false
	}
	return true
}

// Authorize refuses (403) a caller that may not do perm to agentID, a
// valid agent id: Write to ask, Read to follow the reply being written. It
// reports whether the request may go on.
func (x *Exchange) Authorize(agentID string, perm identity.Permission) bool {
	if ref := x.c.Edge.Authorize(x.r, x.Rec.Door, agentID, perm); ref != nil {
		x.refuseAtEdge(ref)
		return false
	}
	return true
}

// Admit takes a connection slot for the stream under the edge's
// connection limits; if there is none (503, or 429 for a user at
// USER_MAX_CONNECTIONS), or the token expired (401), it refuses the
// request and returns false.
func (x *Exchange) Admit() bool {
	release, ref := x.c.Edge.Admit(x.r, x.Rec.Door)
	if ref != nil {
		x.refuseAtEdge(ref)
		return false
	}
	x.release = release
	return true
}

// Ask appends text as the user message of the request, with messageID as
// its client_message_id and the client tools it lends, and follows its
// reply (Service.Ask), recording whether the message was a retry. The
// message counts against the user's USER_MESSAGE_RATE first (429 with
// Retry-After). A refusal is answered (Refuse) and reported as false. The
// caller closes the reply.
func (x *Exchange) Ask(agentID, text, messageID string, tools ...tool.Def) (*agent.Follower, bool) {
	if ref := x.c.Edge.LimitMessage(x.r, x.Rec.Door); ref != nil {
		x.refuseAtEdge(ref)
		return nil, false
	}
	reply, err := x.c.Service.Ask(x.r.Context(), agentID, text, messageID, tools...)
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
		x.Rec.Outcome = edge.OutcomeFinished
	case err == nil:
		x.Rec.Outcome = edge.OutcomeRunError
	case errors.Is(err, ErrClientGone):
		x.Rec.Outcome = edge.OutcomeClientGone
	case errors.Is(err, ErrDraining):
		x.Rec.Outcome = edge.OutcomeDraining
	case errors.As(err, new(*edge.Expired)):
		x.Rec.Outcome, x.Rec.Reason = edge.OutcomeExpired, "expired_token"
	default:
		x.Rec.Outcome = edge.OutcomeFailed
	}
}

// End releases the connection slot and has the edge observe the request.
func (x *Exchange) End() {
	if x.release != nil {
		x.release()
	}
	x.Rec.Duration = time.Since(x.start)
	x.c.Edge.ObserveDoor(x.r, x.Rec)
}
