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
	if k < 0 || int(k) >= len(kinds) {
		k = agent.KindInternal
	}
	return kinds[k].code, kinds[k].status
}

// kinds is the table of Of, indexed by kind. It is never written.
var kinds = [...]struct {
	code   connect.Code
	status int
}{
	agent.KindInternal:           {connect.CodeInternal, http.StatusInternalServerError},
	agent.KindInvalidArgument:    {connect.CodeInvalidArgument, http.StatusBadRequest},
	agent.KindNotFound:           {connect.CodeNotFound, http.StatusNotFound},
	agent.KindUnavailable:        {connect.CodeUnavailable, http.StatusServiceUnavailable},
	agent.KindResourceExhausted:  {connect.CodeResourceExhausted, http.StatusTooManyRequests},
	agent.KindFailedPrecondition: {connect.CodeFailedPrecondition, http.StatusPreconditionFailed},
	agent.KindDeadlineExceeded:   {connect.CodeDeadlineExceeded, http.StatusGatewayTimeout},
	agent.KindCanceled:           {connect.CodeCanceled, StatusClientClosed},
	agent.KindAborted:            {connect.CodeAborted, http.StatusConflict},
	agent.KindAlreadyExists:      {connect.CodeAlreadyExists, http.StatusConflict},
}
