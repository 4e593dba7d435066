// Package agentid is the syntax of an agent id: 1 to MaxLen characters of
// A-Z a-z 0-9 . _ : -, other than "." and "..". The domain (package agent)
// refuses a request that names anything else, and the identities (package
// identity) read the agents a token names by the same rules, so the rules
// are written once, here, in a leaf that both import.
//
// The set is small on purpose: ids appear in URLs, Redis keys and log
// lines, and none of these need escaping for it. "." and ".." are path
// segments that every client and proxy normalises away, so that no URL
// would reach such an agent.
package agentid

import (
	"errors"
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/internal/clip"
)

// MaxLen is the longest agent id.
const MaxLen = 128

// Chars names the characters of an agent id, for messages.
const Chars = "A-Z a-z 0-9 . _ : -"

// Char reports whether c may be part of an agent id.
func Char(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == ':', c == '-':
		return true
	}
	return false
}

// OfChars reports whether s is made of agent id characters only (the
// empty string is).
func OfChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !Char(s[i]) {
			return false
		}
	}
	return true
}

// Check returns nil if id is an agent id, and otherwise an error that says
// what is wrong with it, quoting at most 40 characters of it.
func Check(id string) error {
	if id == "" {
		return errors.New("agent_id is required")
	}
	if len(id) > MaxLen {
		return fmt.Errorf("agent_id is %d characters long; the limit is %d", len(id), MaxLen)
	}
	for i := 0; i < len(id); i++ {
		if !Char(id[i]) {
			return fmt.Errorf("agent_id %q has a character outside %s at offset %d", clip.String(id, 40), Chars, i)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("agent_id %q is not allowed: URLs drop . and .. as path segments, so no URL would reach the agent", id)
	}
	return nil
}

// The least and the greatest agent id characters.
const (
	minChar = '-'
	maxChar = 'z'
)

// Before returns the position to list agents after so that the listing
// starts at s, a non-empty string of agent id characters: the greatest
// string of at most MaxLen agent id characters that sorts before s (s cut
// to MaxLen, if it is longer). An agent id sorts before s exactly when it
// sorts before the position, or is it. It is s without its last character
// when that character is the least one ('-'), and otherwise s with its
// last character replaced by the one before it and filled up to MaxLen
// characters with the greatest one ('z').
func Before(s string) string {
	if len(s) > MaxLen {
		return s[:MaxLen]
	}
	last := s[len(s)-1]
	if last == minChar {
		return s[:len(s)-1]
	}
	c := last - 1
	for !Char(c) {
		c--
	}
	return s[:len(s)-1] + string(c) + strings.Repeat(string(rune(maxChar)), MaxLen-len(s))
}
