// Package clip cuts text a client sent before the server writes it into an
// error message or a log line, so that a request can never make the server
// write more than a line's worth of what it sent: an id of a megabyte is
// refused, and its refusal quotes the id's first bytes only.
//
// Values are cut where they are written, not where they are read: the
// server still sees, and validates, the whole value.
package clip

import "unicode/utf8"

// ValueLen is the length a client's value (an agent id, a message or run id,
// a method, a path, an origin) is cut to in a log line. Every valid id (at
// most 128 characters) and an ordinary path or origin fit whole, so that an
// operator can search the logs for them.
const ValueLen = 256

// MessageLen is the length an error message is cut to in a log line. The
// server's own messages quote client values cut already and fit whole;
// the cut bounds messages that quote a client's input in full (a decoder's
// syntax error names the token it could not read).
const MessageLen = 1024

// Marker ends a string that was cut.
const Marker = "…"

// String returns s if it is at most n bytes long; otherwise its first n
// bytes, backed off to a whole UTF-8 character, followed by Marker.
func String(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Marker
}

// Value is String(s, ValueLen): a client's value, fit for a log line.
func Value(s string) string { return String(s, ValueLen) }

// Message is String(s, MessageLen): an error message, fit for a log line.
func Message(s string) string { return String(s, MessageLen) }
