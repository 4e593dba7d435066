package agui

import (
	"strings"

	wire "github.com/agentgate/agentgate/internal/agui"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/internal/upstreamerr"
	"github.com/agentgate/agentgate/responder"
)

// codeUpstreamError is the code of a RUN_ERROR whose own code cannot be
// kept; the agent's code goes into the message instead.
const codeUpstreamError = "upstream_error"

const (
	// maxCodeBytes is the longest code of the agent's that is kept.
	maxCodeBytes = 64
	// maxMessageRunes bounds the agent's message in a run error.
	maxMessageRunes = 1024
)

// keepCode reports whether an agent's RUN_ERROR code may stand as the run
// error's code: a short snake_case word (at most 64 bytes of a-z, 0-9 and
// _, starting with a letter) outside the gateway's own codes, so that an
// agent can neither pose as the gateway (upstream_rate_limited, a Connect
// code such as unavailable) nor put arbitrary text where clients expect a
// code.
func keepCode(code string) bool {
	if code == "" || len(code) > maxCodeBytes || code[0] < 'a' || code[0] > 'z' {
		return false
	}
	for _, c := range []byte(code) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return !gatewayCode(code)
}

// gatewayCode reports whether code is one of the gateway's own: the
// upstream_ failures of its responders, the codes of its domain
// (responder_failed, reply_timeout, history_reset, agent_deleted), and
// the Connect codes its doors and API answer with.
func gatewayCode(code string) bool {
	if strings.HasPrefix(code, "upstream_") {
		return true
	}
	switch code {
	case "responder_failed", "reply_timeout", "history_reset", "agent_deleted",
		"canceled", "cancelled", "unknown", "invalid_argument", "deadline_exceeded", "not_found",
		"already_exists", "permission_denied", "resource_exhausted", "failed_precondition",
		"aborted", "out_of_range", "unimplemented", "internal", "unavailable", "data_loss",
		"unauthenticated":
		return true
	}
	return false
}

// runErrorOf is the run error a RUN_ERROR becomes. The agent's message is
// kept, with the gateway's secrets taken out, on one line and cut.
//
// A conversation too long for the agent's model (by its code, such as
// context_length_exceeded, or its words, which agents pass on from their
// model) is upstream_context_too_long, wrapping
// responder.ErrContextTooLong, so that the gateway retries with less of the
// conversation; a rate limit (rate_limit_exceeded, insufficient_quota) is
// upstream_rate_limited, which clients handle as any upstream's; both name
// the agent's code in the message. Otherwise the agent's code is kept when
// keepCode allows it, and else the code is upstream_error and the agent's
// code, cleaned and cut, is quoted in the message. A missing code is
// upstream_failed. A refused key keeps the agent's own code: it is the
// agent's credentials at fault, not the gateway's token, which
// upstream_unauthenticated would point to.
func runErrorOf(e wire.RunError, red *redact.Redactor) *responder.Error {
	msg := red.Excerpt(e.Message, maxMessageRunes)
	if msg == "" {
		msg = "the AG-UI agent reported an error without a message"
	}
	said := ""
	if e.Code != "" {
		said = " (the agent's error code: " + red.Excerpt(e.Code, maxCodeBytes) + ")"
	}
	switch upstreamerr.Classify(e.Code, "", e.Message) {
	case upstreamerr.ContextTooLong:
		return &responder.Error{Code: responder.CodeContextTooLong, Err: responder.ErrContextTooLong,
			Message: "the AG-UI agent says the conversation is too long for its model: " + msg + said +
				"; lower CONTEXT_TOKENS or CONTEXT_MESSAGES, or start a new conversation"}
	case upstreamerr.RateLimited:
		return &responder.Error{Code: codeRateLimited, Message: msg + said + "; wait a little and send the message again"}
	}
	switch {
	case e.Code == "":
		return &responder.Error{Code: codeFailed, Message: msg}
	case keepCode(e.Code) && red.String(e.Code) == e.Code:
		return &responder.Error{Code: e.Code, Message: msg}
	}
	code := red.Excerpt(e.Code, maxCodeBytes)
	return &responder.Error{Code: codeUpstreamError, Message: msg + " (the agent's error code, not a valid one: " + code + ")"}
}
