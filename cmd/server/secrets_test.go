package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"google.golang.org/protobuf/encoding/protojson"
)

// These tests run the server binary in front of hostile upstreams of our
// own: upstreams that echo the credentials they were sent, send events
// that never end and run error codes that are no codes. No secret of the
// configuration may reach a client, the history, /metrics or a log line,
// and every oversized event ends its reply at once.

// hostileUpstream answers request n (from 0) with handlers[n], the last
// one answering the rest, and counts the requests.
type hostileUpstream struct {
	*httptest.Server
	handlers []http.HandlerFunc
	mu       sync.Mutex
	n        int
}

func newHostileUpstream(t *testing.T, handlers ...http.HandlerFunc) *hostileUpstream {
	u := &hostileUpstream{handlers: handlers}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		n := u.n
		u.n++
		u.mu.Unlock()
		u.handlers[min(n, len(u.handlers)-1)](w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *hostileUpstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

// bearer adds an Authorization header to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// authed is an h2c client of p that sends token.
func authed(t *testing.T, token string) *http.Client {
	c := h2cClient(t)
	c.Transport = bearer{token: token, next: c.Transport}
	return c
}

// leaked returns the first text holding a piece of 12 bytes of a secret,
// or "": a cut leaves pieces, not the whole.
func leaked(secrets []string, texts ...string) string {
	for _, s := range texts {
		for _, secret := range secrets {
			for i := 0; i+12 <= len(secret); i++ {
				if strings.Contains(s, secret[i:i+12]) {
					return s
				}
			}
		}
	}
	return ""
}

// runErrorOf sends text and returns the run error that answers it.
func runErrorOf(ctx context.Context, t *testing.T, c agentv1connect.AgentServiceClient, agentID, text string) *agentv1.RunError {
	t.Helper()
	res := sendTo(ctx, t, c, agentID, text, "")
	re := res.GetReply().GetRunError()
	if re == nil {
		t.Fatalf("reply to %q: %v, want a run error", text, res.GetReply())
	}
	return re
}

// noSecretAnywhere reads the agent's history and /metrics, then stops the
// server and reads every line it logged: none holds a piece of a secret.
func noSecretAnywhere(ctx context.Context, t *testing.T, p *process, httpc *http.Client, agentID string, secrets []string) {
	t.Helper()
	c := agentv1connect.NewAgentServiceClient(httpc, p.url())
	h, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: agentID}))
	if err != nil {
		t.Fatal(err)
	}
	history, _ := protojson.Marshal(h.Msg)
	if s := leaked(secrets, string(history)); s != "" {
		t.Errorf("a secret is in the history: %s", s)
	}
	res, err := httpc.Get(p.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(metrics), "agentgate_") {
		t.Fatalf("/metrics: %d %.200s", res.StatusCode, metrics)
	}
	if s := leaked(secrets, string(metrics)); s != "" {
		t.Errorf("a secret is in /metrics: %s", s)
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	p.wait(t, 20*time.Second)
	lines := 0
	for line := range p.logs {
		lines++
		if s := leaked(secrets, line); s != "" {
			t.Errorf("a secret is in a log line: %s", s)
		}
	}
	if lines == 0 {
		t.Error("the server logged nothing: the test saw no log line to check")
	}
}

// longLines sends n data lines of size bytes and never a blank line.
func longLines(n, size int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		line := "data: " + strings.Repeat("x", size) + "\n"
		for range n {
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
		}
	}
}

// TestOpenAISecretsAndBounds puts the openai responder in front of a
// server that echoes the 164-character key after a short preamble, with
// the base URL's query holding a second key, then sends one line of 40 MB,
// then 300 lines of 1 MB without ending the event.
func TestOpenAISecretsAndBounds(t *testing.T) {
	t.Parallel()
	key := "sk-proj-" + strings.Repeat("G4tewayK3yPart0Z", 9) + "AbCdEfGhIjKl"
	const azure, token = "azure-5ecret-in-the-query-7", "auth-token-5ecret-0123456789"
	var sentQuery atomic.Bool
	up := newHostileUpstream(t,
		func(w http.ResponseWriter, r *http.Request) {
			sentQuery.Store(r.URL.Query().Get("api-key") == azure)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			msg := "Incorrect API key provided for this project: " + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") +
				" (query " + r.URL.RawQuery + "). You can find your API key at https://platform.openai.com/account/api-keys."
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error"}})
			_, _ = w.Write(b)
		},
		longLines(1, 40<<20),
		longLines(300, 1_000_000),
	)
	p := start(t, "RESPONDER=openai", "OPENAI_BASE_URL="+up.URL+"/v1?api-key="+azure, "OPENAI_MODEL=m",
		"OPENAI_API_KEY="+key, "AUTH_TOKENS="+token, "LOG_LEVEL=debug")
	httpc := authed(t, token)
	c := agentv1connect.NewAgentServiceClient(httpc, p.url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	secrets := []string{key, azure, token}

	re := runErrorOf(ctx, t, c, "oa", "hi")
	if re.GetCode() != "upstream_unauthenticated" || !strings.Contains(re.GetMessage(), "provided for this project: [redacted]") ||
		!strings.Contains(re.GetMessage(), "api-key=xxxxx") {
		t.Errorf("run error %v: want upstream_unauthenticated quoting the server, the key redacted, the query masked", re)
	}
	if s := leaked(secrets, re.GetMessage(), re.GetCode()); s != "" {
		t.Errorf("a secret is in the run error: %s", s)
	}
	if !sentQuery.Load() {
		t.Error("the upstream did not get the base URL's query, so it could not echo it")
	}
	for i, text := range []string{"a line of 40 MB", "300 lines of 1 MB"} {
		re := runErrorOf(ctx, t, c, "oa", text)
		if re.GetCode() != "upstream_event_too_large" || !strings.Contains(re.GetMessage(), "too large") || strings.Contains(re.GetMessage(), "attempts") {
			t.Errorf("%s: run error %v; want upstream_event_too_large after one attempt", text, re)
		}
		if n := up.requests(); n != i+2 {
			t.Errorf("%s: the upstream got %d requests in all, want %d: one per reply", text, n, i+2)
		}
	}
	noSecretAnywhere(ctx, t, p, httpc, "oa", secrets)
}

// TestAGUISecretsAndCodes puts the agui responder in front of an agent
// that echoes its Authorization header in a 401 body, a 500 body and a
// RUN_ERROR message, then sends RUN_ERROR codes that are no codes or pose
// as the gateway's, then a line of 40 MB without a line end.
func TestAGUISecretsAndCodes(t *testing.T) {
	t.Parallel()
	const aguiToken, query, token = "agui-token-5ecret-0123456789", "q-5ecret-in-the-agent-url", "auth-token-5ecret-9876543210"
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, "no: you sent %q to %s", r.Header.Get("Authorization"), r.URL)
		}
	}
	events := func(events ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, e := range append([]string{`{"type":"RUN_STARTED","threadId":"t","runId":"r"}`}, events...) {
				fmt.Fprintf(w, "data: %s\n\n", e)
			}
		}
	}
	runError := func(code, message string) string {
		b, _ := json.Marshal(map[string]string{"type": "RUN_ERROR", "code": code, "message": message})
		return string(b)
	}
	hugeCode := "bad\r\ncode\x00<script>alert(1)</script>" + strings.Repeat("z", 50<<10)
	up := newHostileUpstream(t,
		echo(http.StatusUnauthorized),
		echo(http.StatusInternalServerError),
		func(w http.ResponseWriter, r *http.Request) {
			events(runError("auth_failed", "the header "+r.Header.Get("Authorization")+" is not valid"))(w, r)
		},
		events(runError(hugeCode, "it broke")),
		events(runError("upstream_rate_limited", "slow down")),
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: "+strings.Repeat("x", 40<<20))
		},
	)
	p := start(t, "RESPONDER=agui", "AGUI_URL="+up.URL+"/agent?key="+query, "AGUI_TOKEN="+aguiToken,
		"AUTH_TOKENS="+token, "LOG_LEVEL=debug")
	httpc := authed(t, token)
	c := agentv1connect.NewAgentServiceClient(httpc, p.url())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	secrets := []string{aguiToken, query, token}

	for _, tc := range []struct{ text, code, says string }{
		{"401", "upstream_unauthenticated", "HTTP 401"},
		{"500", "upstream_failed", "HTTP 500"},
		{"echo", "auth_failed", "the header Bearer [redacted] is not valid"},
		{"huge code", "upstream_error", "it broke (the agent's error code, not a valid one: bad code<script>alert(1)</script>zzz"},
		{"posing", "upstream_error", "slow down (the agent's error code, not a valid one: upstream_rate_limited)"},
		{"endless line", "upstream_event_too_large", "too large"},
	} {
		re := runErrorOf(ctx, t, c, "ag", tc.text)
		if re.GetCode() != tc.code || !strings.Contains(re.GetMessage(), tc.says) {
			t.Errorf("%s: run error %.300v; want code %s saying %q", tc.text, re, tc.code, tc.says)
		}
		if len(re.GetMessage()) > 2048 || strings.ContainsAny(re.GetMessage(), "\r\n\x00") {
			t.Errorf("%s: message %.300q: want it on one line and cut", tc.text, re.GetMessage())
		}
		if s := leaked(secrets, re.GetMessage(), re.GetCode()); s != "" {
			t.Errorf("%s: a secret is in the run error: %s", tc.text, s)
		}
	}
	noSecretAnywhere(ctx, t, p, httpc, "ag", secrets)
}

// TestStartupErrorsHideSecrets starts the server with bad URLs that hold
// secrets in their password and query: it exits with one line naming the
// variable, and without the secrets.
func TestStartupErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		name string
		exit int
	}{
		{"REDIS_URL=http://user:do-not-print-1@redis:6379/?password=do-not-print-2", "REDIS_URL", 2},
		{"REDIS_URL=redis://:do-not-print-1@127.0.0.1:1/not-a-db?password=do-not-print-2", "REDIS_URL", 2},
		{"RESPONDER=openai OPENAI_MODEL=m OPENAI_BASE_URL=ftp://u:do-not-print-1@proxy/v1?api-key=do-not-print-2", "OPENAI_BASE_URL", 2},
		{"RESPONDER=openai OPENAI_MODEL=m OPENAI_BASE_URL=https://proxy:port/v1?api-key=do-not-print-2", "OPENAI_BASE_URL", 2},
		{"RESPONDER=agui AGUI_URL=ftp://agent/?token=do-not-print-2 AGUI_TOKEN=do-not-print-3", "AGUI_URL", 2},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(binary)
			cmd.Env = append(strings.Fields(tc.env), "PORT=0")
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.exit {
				t.Fatalf("exit %v, want status %d; output %q", err, tc.exit, out)
			}
			if !strings.Contains(string(out), tc.name) || strings.Contains(string(out), "do-not-print") {
				t.Fatalf("output %q, want %s named and no secret", out, tc.name)
			}
		})
	}
}
