// Package errcode is the one mapping from the agent service's error kinds
// (agent.Kind) to the codes its adapters answer with: the Connect code of
// the typed API, whose snake_case name ("invalid_argument") is also the code
// of a door's error, and the HTTP status a door refuses a request with
// before its stream begins. The Connect adapter and the doors both read it,
// so that a client sees the same code for the same failure at every door.
package errcode

import (
	"net/http"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/agent"
)

// StatusClientClosed is the HTTP status of a request whose client went
// away first (canceled), the one nginx made common; net/http has no name
// for it.
const StatusClientClosed = 499

// Of returns the Connect code and the HTTP status of an error of kind k. A
// kind it does not know is internal.
func Of(k agent.Kind) (code connect.Code, status int) {
	switch k {
	case agent.KindInvalidArgument:
		return connect.CodeInvalidArgument, http.StatusBadRequest
	case agent.KindNotFound:
		return connect.CodeNotFound, http.StatusNotFound
	case agent.KindUnavailable:
		return connect.CodeUnavailable, http.StatusServiceUnavailable
	case agent.KindResourceExhausted:
		return connect.CodeResourceExhausted, http.StatusTooManyRequests
	case agent.KindFailedPrecondition:
		return connect.CodeFailedPrecondition, http.StatusPreconditionFailed
	case agent.KindDeadlineExceeded:
		return connect.CodeDeadlineExceeded, http.StatusGatewayTimeout
	case agent.KindCanceled:
		return connect.CodeCanceled, StatusClientClosed
	case agent.KindAborted:
		return connect.CodeAborted, http.StatusConflict
	}
	return connect.CodeInternal, http.StatusInternalServerError
}
