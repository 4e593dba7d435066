package redact

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Excerpt makes an upstream's words fit for a message or a log line: the
// secrets taken out first, then control characters removed (line breaks
// and tabs become spaces, runs of spaces one), then cut to at most max
// runes, with "…" where it was cut. A max of 0 or less does not cut.
//
// The order is the point: a text cut before it is redacted can keep most
// of a secret without the whole of it.
func (r *Redactor) Excerpt(s string, max int) string {
	s = r.String(s)
	s = r.String(Clean(s))
	if max > 0 && utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return s
}

// Clean returns s on one line: invalid UTF-8 and control characters
// removed, except that line breaks and tabs become spaces, and runs of
// white space one space, trimmed at both ends.
func Clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, c := range s {
		switch {
		case unicode.IsSpace(c):
			space = b.Len() > 0
			continue
		case c == utf8.RuneError, unicode.IsControl(c), unicode.Is(unicode.Cf, c):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(c)
	}
	return b.String()
}
