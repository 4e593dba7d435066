package bridge

import "strconv"

// CloseCode is a WebSocket close status the bridge sends (RFC 6455, section
// 7.4). The set is closed: every close the bridge initiates uses one of the
// constants below, so clients can act on the code alone (docs/websocket.md
// says what to do on each).
type CloseCode int

// The close codes the bridge sends.
const (
	// CloseNormal echoes a client's own close.
	CloseNormal CloseCode = 1000
	// CloseGoingAway: the server shuts down, or the client was silent for
	// longer than the pong timeout. Reconnect (with backoff) and resume with
	// after_seq.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError: the client broke the WebSocket framing (a reserved
	// opcode or bit, an unmasked frame, a bad close code). gorilla/websocket
	// sends it from the reader; the bridge records it.
	CloseProtocolError CloseCode = 1002
	// CloseUnsupportedData: the client sent a binary frame; the bridge speaks
	// JSON in text frames only.
	CloseUnsupportedData CloseCode = 1003
	// ClosePolicyViolation: the client broke a rule of the server, such as a
	// rate limit.
	ClosePolicyViolation CloseCode = 1008
	// CloseMessageTooBig: a frame was over the read limit.
	CloseMessageTooBig CloseCode = 1009
	// CloseInternalError: the server failed; reconnect with backoff.
	CloseInternalError CloseCode = 1011
	// CloseTryAgainLater: the client read too slowly and its send queue
	// overflowed, or the event store is unavailable. Reconnect and resume
	// with after_seq: nothing is lost from the log.
	CloseTryAgainLater CloseCode = 1013

	// CloseTokenExpired: the token the socket was opened with (or last
	// refreshed with) expired, and the grace after it (AUTH_EXPIRY_GRACE)
	// passed without a fresh one. Fetch a new token, reconnect with it and
	// resume with after_seq and epoch: nothing is lost from the log. The
	// 4000 range is the application's (RFC 6455, 7.4.2).
	CloseTokenExpired CloseCode = 4001

	// closeAbnormal means the connection is gone and no close frame can be
	// sent. It never appears on the wire (RFC 6455 reserves 1006 for
	// that).
	closeAbnormal CloseCode = 1006
)

// String returns the code's name, such as "going_away (1001)".
func (c CloseCode) String() string {
	name := ""
	switch c {
	case CloseNormal:
		name = "normal"
	case CloseGoingAway:
		name = "going_away"
	case CloseProtocolError:
		name = "protocol_error"
	case CloseUnsupportedData:
		name = "unsupported_data"
	case ClosePolicyViolation:
		name = "policy_violation"
	case CloseMessageTooBig:
		name = "message_too_big"
	case CloseInternalError:
		name = "internal_error"
	case CloseTryAgainLater:
		name = "try_again_later"
	case CloseTokenExpired:
		name = "token_expired"
	case closeAbnormal:
		name = "abnormal"
	default:
		return strconv.Itoa(int(c))
	}
	return name + " (" + strconv.Itoa(int(c)) + ")"
}

// maxCloseReason is the longest close reason: a control frame carries 125
// bytes, two of which are the code.
const maxCloseReason = 123

// closeReason truncates s to fit a close frame, at a UTF-8 boundary.
func closeReason(s string) string {
	if len(s) <= maxCloseReason {
		return s
	}
	i := maxCloseReason
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}
