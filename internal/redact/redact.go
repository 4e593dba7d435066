// Package redact takes the gateway's secrets out of text before it is
// logged, persisted or shown: API keys, tokens, the passwords and query
// values of configured URLs. One Redactor is built from every configured
// secret and used everywhere: the log handler (Handler), the run errors the
// domain persists, the responders' messages and the start-up errors.
//
// Redact first, then cut: a text cut before it is redacted may keep most
// of a secret without the whole of it. To be safe against cuts made
// elsewhere (by an upstream, a proxy, a log shipper), a Redactor also
// takes out any piece of MinPiece bytes or more of a secret, wherever it
// appears, so that what a cut leaves of a secret is at most MinPiece-1
// bytes at either end of the cut.
//
// Secrets shorter than MinSecret bytes are ignored: replacing every
// occurrence of a short word would blank out ordinary text, and such a
// secret is too weak to protect anyway. Configuration refuses most of them
// (AUTH_TOKENS need 16 characters); a short URL password or query value is
// still masked in the URL itself (URL), but not elsewhere.
package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

const (
	// Marker is what replaces a secret, or a piece of one.
	Marker = "[redacted]"
	// MinSecret is the length in bytes below which a secret is ignored.
	MinSecret = 8
	// MinPiece is the length in bytes of the shortest piece of a secret
	// that is redacted on its own. Secrets shorter than MinPiece are
	// redacted when they appear whole.
	MinPiece = 12
	// maxPasses bounds the passes of String: a pass can join the text
	// around a redaction into a new match only when a secret contains the
	// marker, and the text left after maxPasses is checked once more.
	maxPasses = 4
)

// Redactor replaces secrets in text with Marker. The zero value and a nil
// *Redactor redact nothing. A Redactor is immutable and safe for
// concurrent use.
type Redactor struct {
	// whole are the secrets (and their escaped forms) shorter than
	// MinPiece, matched whole.
	whole []string
	// pieces holds every MinPiece-byte substring of the longer secrets and
	// their escaped forms; starts has a bit for the first two bytes of each,
	// a cheap filter before the map lookup.
	pieces map[string]struct{}
	starts []uint64
}

// New returns a Redactor of secrets. Empty strings, secrets shorter than
// MinSecret and secrets that the marker itself contains are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		for _, v := range forms(s) {
			r.add(v)
		}
	}
	return r
}

// forms are the ways a secret shows up in text: as it is, and escaped for a
// URL's query or path or for a JSON string.
func forms(s string) []string {
	if len(s) < MinSecret || strings.Contains(Marker, s) {
		return nil
	}
	out := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	if b, err := json.Marshal(s); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (r *Redactor) add(s string) {
	if len(s) < MinPiece {
		if !slices.Contains(r.whole, s) {
			r.whole = append(r.whole, s)
		}
		return
	}
	if r.pieces == nil {
		r.pieces = map[string]struct{}{}
		r.starts = make([]uint64, 1<<16/64)
	}
	for i := 0; i+MinPiece <= len(s); i++ {
		p := s[i : i+MinPiece]
		r.pieces[p] = struct{}{}
		k := start(p)
		r.starts[k/64] |= 1 << (k % 64)
	}
}

func start(s string) int { return int(s[0])<<8 | int(s[1]) }

// Empty reports whether r redacts nothing.
func (r *Redactor) Empty() bool {
	return r == nil || (len(r.whole) == 0 && len(r.pieces) == 0)
}

// String returns s with every secret, and every piece of MinPiece bytes or
// more of one, replaced by Marker. Overlapping and adjacent matches become
// one Marker.
func (r *Redactor) String(s string) string {
	if r.Empty() {
		return s
	}
	for range maxPasses {
		out, changed := r.pass(s)
		if !changed {
			return out
		}
		s = out
	}
	if _, changed := r.pass(s); changed {
		return Marker
	}
	return s
}

// span is a range [from, to) of a text to redact.
type span struct{ from, to int }

// pass redacts s once, and reports whether it found anything.
func (r *Redactor) pass(s string) (string, bool) {
	spans := r.pieceSpans(s, nil)
	for _, w := range r.whole {
		for i := 0; ; {
			j := strings.Index(s[i:], w)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(w)})
			i += j + 1
		}
	}
	if len(spans) == 0 {
		return s, false
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for i := 0; i < len(spans); {
		from, to := spans[i].from, spans[i].to
		for i++; i < len(spans) && spans[i].from <= to; i++ {
			to = max(to, spans[i].to)
		}
		b.WriteString(s[at:from])
		b.WriteString(Marker)
		at = to
	}
	b.WriteString(s[at:])
	return b.String(), true
}

// pieceSpans appends the spans of s that are pieces of a secret, merging
// the overlapping ones as it goes.
func (r *Redactor) pieceSpans(s string, spans []span) []span {
	if r.pieces == nil {
		return spans
	}
	for i := 0; i+MinPiece <= len(s); i++ {
		k := start(s[i:])
		if r.starts[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		if _, ok := r.pieces[s[i:i+MinPiece]]; !ok {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].to >= i {
			spans[n-1].to = i + MinPiece
		} else {
			spans = append(spans, span{i, i + MinPiece})
		}
	}
	return spans
}
