package agent

import "github.com/agentgate/agentgate/internal/clip"

// MaxIDLen is the longest agent_id and client_message_id accepted.
const MaxIDLen = 128

// MaxEpochLen is the longest epoch a client may name: the epochs the server
// gives out are 26 characters.
const MaxEpochLen = 128

// ValidateID reports whether id is a valid agent_id: 1 to 128 characters of
// A-Z a-z 0-9 . _ : -, other than "." and "..". The set is small on
// purpose: ids appear in URLs, Redis keys and log lines, and none of these
// need escaping for it. "." and ".." are path segments that every client
// and proxy normalises away, so that no URL would reach such an agent.
func ValidateID(id string) error {
	if id == "" {
		return invalidf("agent_id is required")
	}
	if len(id) > MaxIDLen {
		return invalidf("agent_id is %d characters long; the limit is %d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return invalidf("agent_id %q has a character outside A-Z a-z 0-9 . _ : - at offset %d", clip.String(id, 40), i)
		}
	}
	if id == "." || id == ".." {
		return invalidf("agent_id %q is not allowed: URLs drop . and .. as path segments, so no URL would reach the agent", id)
	}
	return nil
}

func idChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == ':', c == '-':
		return true
	}
	return false
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
