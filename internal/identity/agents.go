package identity

import (
	"fmt"
	"strings"

	"github.com/agentgate/agentgate/internal/agentid"
	"github.com/agentgate/agentgate/internal/clip"
)

// maxPatterns bounds the agents a token may list: Reaches reads them all
// on every call.
const maxPatterns = 1000

// checkPattern accepts what Reaches understands: an agent id, or a prefix
// of agent id characters followed by one '*' ("alice:*", or "*" for every
// agent).
func checkPattern(p string) error {
	body, prefix := strings.CutSuffix(p, "*")
	switch {
	case p == "":
		return fmt.Errorf("an empty entry")
	case len(body) > agentid.MaxLen:
		return fmt.Errorf("an entry of %d characters; an agent id has at most %d", len(body), agentid.MaxLen)
	case !agentid.OfChars(body):
		return fmt.Errorf("%q, which is neither an agent id (%s) nor such a prefix followed by *", clip.String(p, 64), agentid.Chars)
	case !prefix && (p == "." || p == ".."):
		return fmt.Errorf("%q, which no agent id can be", p)
	}
	return nil
}

// templates are the default agents of AUTH_DEFAULT_AGENTS: the patterns an
// identity whose token has no agents claim reaches, made from its subject.
//
// Every template holds {sub} once, as a whole segment: the same text
// before it in every template (prefix), and after it nothing or a ':'
// followed by agent id characters, perhaps ending in '*' (suffixes). A
// subject is put in only if it is 1 to 128 agent id characters without
// ':' (and so without '*'). Together these make one subject's patterns
// reach none of another's agents: the agent ids made for a subject s all
// read prefix, s, then the end or a ':', and s holds no ':', so s is read
// back from any of them. A subject that does not fit ("auth0|123",
// "a@b.example", "alice:x", "*") gets no default agents at all, rather
// than patterns that might reach someone else's.
type templates struct {
	prefix   string
	suffixes []string
}

// subjectPlaceholder is what a template's subject is written as.
const subjectPlaceholder = "{sub}"

// CheckDefaultAgents reports whether list is valid for AUTH_DEFAULT_AGENTS
// (see templates for the rules), with an error that names the template at
// fault. An empty list is valid: without an agents claim, an identity
// reaches no agent.
func CheckDefaultAgents(list []string) error {
	_, err := parseTemplates(list)
	return err
}

func parseTemplates(list []string) (templates, error) {
	var t templates
	for i, s := range list {
		before, after, err := splitTemplate(s)
		if err != nil {
			return templates{}, err
		}
		if i > 0 && before != t.prefix {
			return templates{}, fmt.Errorf("the template %q has %q before {sub} and %q has %q: every template must have the same text before {sub}, or one subject's agents could be another's", list[0], t.prefix, s, before)
		}
		t.prefix = before
		t.suffixes = append(t.suffixes, after)
	}
	return t, nil
}

// splitTemplate returns the text before and after {sub} in s.
func splitTemplate(s string) (before, after string, err error) {
	if strings.Count(s, subjectPlaceholder) != 1 {
		return "", "", fmt.Errorf("the template %q must hold {sub} once, such as {sub} or {sub}:*", s)
	}
	before, after, _ = strings.Cut(s, subjectPlaceholder)
	if !agentid.OfChars(before) {
		return "", "", fmt.Errorf("the template %q has characters other than %s before {sub}", s, agentid.Chars)
	}
	if after == "" {
		return before, after, nil
	}
	rest, ok := strings.CutPrefix(after, ":")
	rest = strings.TrimSuffix(rest, "*")
	if !ok || !agentid.OfChars(rest) {
		return "", "", fmt.Errorf("the template %q must end at {sub} or go on with a ':' and agent id characters, perhaps ending in *, such as {sub}:*: anything else could make one subject's agents another's", s)
	}
	return before, after, nil
}

// fitsTemplate reports whether a subject may be put into the templates:
// 1 to 128 agent id characters, none of them ':'.
func fitsTemplate(sub string) bool {
	return sub != "" && len(sub) <= agentid.MaxLen && agentid.OfChars(sub) && !strings.Contains(sub, ":")
}

// expand returns the patterns of subject sub: none if it does not fit.
// A pattern longer than any agent id is left out: it would reach nothing.
func (t templates) expand(sub string) []string {
	if len(t.suffixes) == 0 || !fitsTemplate(sub) {
		return nil
	}
	out := make([]string, 0, len(t.suffixes))
	for _, suffix := range t.suffixes {
		p := t.prefix + sub + suffix
		if len(strings.TrimSuffix(p, "*")) <= agentid.MaxLen {
			out = append(out, p)
		}
	}
	return out
}
