package openai

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/responder"
)

// longKey is as long as the key that leaked: 164 characters.
var longKey = "sk-proj-" + strings.Repeat("T3stKeyPart0Xy9Z", 9) + "AbCdEfGhIjKl"

// leaks returns the first piece of 12 bytes of secret found in any of
// texts, or "". A message cut after the quoted words would keep a prefix.
func leaks(secret string, texts ...string) string {
	for _, s := range texts {
		for i := 0; i+12 <= len(secret); i++ {
			if strings.Contains(s, secret[i:i+12]) {
				return s
			}
		}
	}
	return ""
}

// TestEchoedKeyCut is the defect: a server echoes a 164-character key
// after a short preamble, and the message quotes its words cut to 200
// characters. The key is taken out before the cut, so no piece of it is
// left, in the message, the cause or the log.
func TestEchoedKeyCut(t *testing.T) {
	t.Parallel()
	body := `{"error":{"message":"Incorrect API key provided for this project: ` + longKey +
		`. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}`
	for _, code := range []int{401, 500} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, status(code, "application/json", body))
			hr := newHarness(t, up.URL(), func(c *Config) { c.APIKey = longKey; c.MaxAttempts = 2 })
			_, _, err := hr.respond(t, "hi")
			e, ok := responder.AsError(err)
			if !ok {
				t.Fatalf("error %v, want a run error", err)
			}
			if s := leaks(longKey, e.Message, err.Error(), fmt.Sprintf("%+v", err), hr.logs.String()); s != "" {
				t.Fatalf("a piece of the key leaked: %s", s)
			}
			if !strings.Contains(e.Message, "Incorrect API key provided for this project: [redacted]") {
				t.Errorf("message %q: want the server's words with the key redacted", e.Message)
			}
		})
	}
}

// TestBaseURLQuery is an OPENAI_BASE_URL with the key in its query, as
// Azure-style proxies take it: the query's values appear in no run error,
// cause or log line; the messages still name the server.
func TestBaseURLQuery(t *testing.T) {
	t.Parallel()
	const secret = "azure-5ecret-QX7vTq3KzL9m"
	up := newUpstream(t, status(503, "application/json", `{"error":"overloaded"}`), replay(t, "openai_stop.sse"))
	hr := newHarness(t, up.URL()+"?api-key="+secret, func(c *Config) { c.MaxAttempts = 1 })
	_, _, err := hr.respond(t, "hi")
	e := wantError(t, err, CodeFailed, hr.logs.String())
	if s := leaks(secret, e.Message, err.Error(), fmt.Sprintf("%+v", err), hr.logs.String()); s != "" {
		t.Fatalf("the query's secret leaked: %s", s)
	}
	if !strings.Contains(e.Message, up.URL()+"?api-key=xxxxx") {
		t.Errorf("message %q does not name the server with its query masked", e.Message)
	}
	_, err = New(Config{Model: "m", BaseURL: "ftp://proxy/v1?api-key=" + secret})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("New: %v; want an error without the secret", err)
	}
}

// TestBaseURLQueryIsSent checks that the query of the base URL, which
// Azure-style proxies read the key from, goes with every request.
func TestBaseURLQueryIsSent(t *testing.T) {
	t.Parallel()
	up := newUpstream(t, replay(t, "openai_stop.sse"))
	hr := newHarness(t, up.URL()+"?api-key=k-5ecret&api-version=2024-10-21")
	if _, _, err := hr.respond(t, "hi"); err != nil {
		t.Fatal(err)
	}
	reqs := up.requests()
	if len(reqs) != 1 || reqs[0].query != "api-key=k-5ecret&api-version=2024-10-21" || reqs[0].path != "/v1/chat/completions" {
		t.Errorf("the server saw %+v, want /v1/chat/completions with the base URL's query", reqs)
	}
}
