package agent

import "github.com/agentgate/agentgate/internal/agentid"

// MaxIDLen is the longest agent_id and client_message_id accepted: the
// longest agent id (package agentid).
const MaxIDLen = agentid.MaxLen

// MaxEpochLen is the longest epoch a client may name: the epochs the server
// gives out are 26 characters.
const MaxEpochLen = 128

// ValidateID reports whether id is a valid agent_id, as package agentid
// says (1 to 128 characters of A-Z a-z 0-9 . _ : -, other than "." and
// ".."): nil, or an invalid_argument Error that says what is wrong.
func ValidateID(id string) error {
	if err := agentid.Check(id); err != nil {
		return invalidf("%s", err)
	}
	return nil
}

// ValidateEpoch reports whether epoch may name the log a client resumes
// in: empty (the client knows none) or at most MaxEpochLen characters. An
// epoch the log does not have is not an error: the client is told of the
// new log with a history_reset.
func ValidateEpoch(epoch string) error {
	if len(epoch) > MaxEpochLen {
		return invalidf("epoch is %d characters long; the limit is %d: send the epoch of the last event received", len(epoch), MaxEpochLen)
	}
	return nil
}
