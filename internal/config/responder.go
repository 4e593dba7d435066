package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/redact"
	"github.com/agentgate/agentgate/responder"
)

// Responder is which agent logic answers, and its settings. Only the
// settings of the chosen kind are read, and those are checked at start, so
// that a gateway never starts with an agent that cannot answer.
type Responder struct {
	// Kind is RESPONDER: "echo" (default), "openai" or "agui".
	Kind string
	// ContextMessages is CONTEXT_MESSAGES: how many persisted messages and
	// replies before a user message the responder gets; 0 gives none.
	// Default agent.DefaultContextMessages.
	ContextMessages int
	// MaxEventBytes is UPSTREAM_MAX_EVENT_BYTES: the largest server-sent
	// event, or single line, that the openai and agui responders accept
	// from their upstream; a larger one fails the reply with
	// upstream_event_too_large, without a retry. Default 1 MiB.
	MaxEventBytes int
	// OpenAI holds the openai responder's settings.
	OpenAI OpenAI
	// AGUI holds the agui responder's settings.
	AGUI AGUI
}

// OpenAI is an OpenAI-compatible Chat Completions upstream.
type OpenAI struct {
	// BaseURL is OPENAI_BASE_URL. Default https://api.openai.com/v1.
	BaseURL string
	// APIKey is OPENAI_API_KEY; optional, as local servers need none.
	APIKey string
	// Model is OPENAI_MODEL; required.
	Model string
	// SystemPrompt is SYSTEM_PROMPT, sent first; optional.
	SystemPrompt string
	// Temperature is OPENAI_TEMPERATURE, from 0 to 2; nil leaves it to the
	// server.
	Temperature *float64
}

// AGUI is an agent that speaks AG-UI over HTTP.
type AGUI struct {
	// URL is AGUI_URL; required.
	URL string
	// Token is AGUI_TOKEN, sent as a bearer token; optional.
	Token string
}

func (p *parser) responder() Responder {
	r := Responder{
		Kind:            p.oneOf("RESPONDER", "echo", "echo", "openai", "agui"),
		ContextMessages: p.contextMessages(),
		MaxEventBytes:   p.maxEventBytes(),
	}
	if _, set := p.get("RESPONDER"); !set {
		p.warnUnusedResponderVars()
	}
	switch r.Kind {
	case "openai":
		r.OpenAI = p.openAI()
	case "agui":
		r.AGUI = p.agui()
	}
	return r
}

// LoadOpenAI reads the openai responder's variables alone, checked as
// RESPONDER=openai checks them: for a Go program that builds the built-in
// responder itself (openai.ConfigFromEnv). Kind, OpenAI and MaxEventBytes
// are set.
func LoadOpenAI(lookup func(string) (string, bool)) (Responder, error) {
	p := parser{lookup: lookup}
	r := Responder{Kind: "openai", OpenAI: p.openAI(), MaxEventBytes: p.maxEventBytes()}
	return r, p.err
}

// LoadAGUI reads the agui responder's variables alone, checked as
// RESPONDER=agui checks them (agui.ConfigFromEnv). Kind, AGUI and
// MaxEventBytes are set.
func LoadAGUI(lookup func(string) (string, bool)) (Responder, error) {
	p := parser{lookup: lookup}
	r := Responder{Kind: "agui", AGUI: p.agui(), MaxEventBytes: p.maxEventBytes()}
	return r, p.err
}

// maxEventBytes reads UPSTREAM_MAX_EVENT_BYTES, which both built-in
// upstream responders share.
func (p *parser) maxEventBytes() int {
	return p.int("UPSTREAM_MAX_EVENT_BYTES", responder.DefaultMaxEventBytes, 1<<10, 16<<20)
}

func (p *parser) openAI() OpenAI {
	return OpenAI{
		BaseURL:      p.httpURL("OPENAI_BASE_URL", "https://api.openai.com/v1", "the API's base URL, such as https://api.openai.com/v1 or http://localhost:11434/v1"),
		APIKey:       p.secret("OPENAI_API_KEY"),
		Model:        p.required("OPENAI_MODEL", "RESPONDER=openai needs the model's name, such as gpt-4o-mini or llama3.2"),
		SystemPrompt: p.text("SYSTEM_PROMPT"),
		Temperature:  p.optionalFloat("OPENAI_TEMPERATURE", 0, 2),
	}
}

func (p *parser) agui() AGUI {
	a := AGUI{
		URL:   p.httpURL("AGUI_URL", "", "the agent's AG-UI endpoint, such as http://localhost:8000/"),
		Token: p.secret("AGUI_TOKEN"),
	}
	if a.URL == "" {
		p.fail("AGUI_URL", "", "RESPONDER=agui needs the agent's AG-UI endpoint, such as http://localhost:8000/")
	}
	return a
}

// httpURL reads an http or https URL; its password and query values, if
// any, are never echoed.
func (p *parser) httpURL(name, def, accept string) string {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, redact.URL(v), "want "+accept)
		return def
	}
	return v
}

func (p *parser) required(name, accept string) string {
	v, ok := p.get(name)
	if !ok {
		p.fail(name, "", accept)
	}
	return v
}

// secret reads a credential: it is never echoed, and characters that cannot
// go in a header are refused.
func (p *parser) secret(name string) string {
	v, _ := p.get(name)
	if strings.ContainsAny(v, "\r\n\x00") {
		p.fail(name, "(redacted)", "want a single line without control characters")
		return ""
	}
	return v
}

// text reads free text, kept as given but for surrounding space.
func (p *parser) text(name string) string {
	v, _ := p.get(name)
	return v
}

// optionalFloat reads a number from lo to hi, or nil if unset.
func (p *parser) optionalFloat(name string, lo, hi float64) *float64 {
	if _, ok := p.get(name); !ok {
		return nil
	}
	f := p.float(name, lo, lo, hi)
	return &f
}

// ownResponder reads what applies to a responder the program brings itself:
// the conversation's length, and nothing of the built-in responders.
func (p *parser) ownResponder() Responder {
	if v, set := p.get("RESPONDER"); set {
		p.warn(fmt.Sprintf("RESPONDER=%s is ignored: this program brings its own responder", v))
	}
	return Responder{Kind: "custom", ContextMessages: p.contextMessages()}
}

// contextMessages reads CONTEXT_MESSAGES, which every responder has.
func (p *parser) contextMessages() int {
	return p.int("CONTEXT_MESSAGES", agent.DefaultContextMessages, 0, 10_000)
}

// warnUnusedResponderVars warns of a built-in responder's variables set
// while RESPONDER is not: the gateway then answers with echo, which looks
// healthy and parrots its users. It warns rather than choosing the
// responder the variables imply, so that what runs is always what
// RESPONDER says, and the fix is one variable named in the line.
func (p *parser) warnUnusedResponderVars() {
	// The variables of each built-in responder but echo, with the
	// RESPONDER value they imply.
	vars := []struct{ kind, name string }{
		{"openai", "OPENAI_MODEL"}, {"openai", "OPENAI_API_KEY"}, {"openai", "OPENAI_BASE_URL"},
		{"agui", "AGUI_URL"}, {"agui", "AGUI_TOKEN"},
	}
	for _, v := range vars {
		if _, set := p.get(v.name); set {
			p.warn(fmt.Sprintf("%s is set but RESPONDER is not, so the echo responder answers: set RESPONDER=%s to use it", v.name, v.kind))
			return
		}
	}
}
