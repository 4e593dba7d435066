package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
)

const inputToken = "input-token-0123456789"

// inputServer runs a gateway with tokens and origins set, and headers and
// bodies large enough for a client to send a megabyte in either.
func inputServer(t *testing.T, logs *apptest.LogBuffer) (*apptest.Server, agentv1connect.AgentServiceClient) {
	t.Helper()
	srv := apptest.Start(t, map[string]string{
		"AUTH_TOKENS":      inputToken,
		"ALLOWED_ORIGINS":  "https://app.example.com",
		"MAX_HEADER_BYTES": "1048576",
		"READ_MAX_BYTES":   "2097152",
	}, capture(logs))
	return srv, agentv1connect.NewAgentServiceClient(httpClient(t, true), srv.URL, connect.WithInterceptors(bearer(inputToken)))
}

// do sends one HTTP request with the token unless noToken, and returns the
// response with its body read.
func do(t *testing.T, ctx context.Context, method, url, contentType, body string, noToken bool) (*http.Response, string) {
	t.Helper()
	tok := inputToken
	if noToken {
		tok = ""
	}
	return doAs(t, ctx, tok, method, url, contentType, body)
}

// doAs sends one HTTP request with the bearer token tok, if any, and
// returns the response with its body read.
func doAs(t *testing.T, ctx context.Context, tok, method, url, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := httpClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// TestClientValuesAreCutInLogs: a client that sends an id of a megabyte is
// refused, and every log line about it holds the id's first bytes only, on
// each door, on the socket's URL and header, and in a Connect call.
func TestClientValuesAreCutInLogs(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv, c := inputServer(t, logs)
	ctx := testCtx(t)
	huge := strings.Repeat("x", 1_000_000)

	if res, b := do(t, ctx, http.MethodPost, srv.URL+"/ai/chat", "application/json", `{"id":"`+huge+`","messages":[]}`, false); res.StatusCode != http.StatusBadRequest {
		t.Errorf("AI SDK door, a huge id: status %d, %.200s", res.StatusCode, b)
	}
	if res, b := do(t, ctx, http.MethodPost, srv.URL+"/agui/"+huge, "application/json", `{}`, false); res.StatusCode != http.StatusBadRequest {
		t.Errorf("AG-UI door, a huge agent id: status %d, %.200s", res.StatusCode, b)
	}
	if res, b := do(t, ctx, http.MethodGet, srv.URL+"/ai/chat/"+huge+"/stream", "", "", false); res.StatusCode != http.StatusBadRequest {
		t.Errorf("AI SDK resume, a huge agent id: status %d, %.200s", res.StatusCode, b)
	}
	if res, b := do(t, ctx, http.MethodPost, srv.URL+"/agui/"+huge, "application/json", `{}`, true); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("AG-UI door without a token: status %d, %.200s", res.StatusCode, b)
	}
	if _, res := dial(t, wsURL(srv, huge, "access_token="+inputToken), nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("socket, a huge agent id: status %d", res.StatusCode)
	}
	if _, res := dial(t, wsURL(srv, "ok", "access_token="+inputToken), http.Header{"Origin": {"https://" + huge}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("socket, a huge origin: status %d", res.StatusCode)
	}
	if _, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: huge, Text: "hi"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("SendMessage, a huge agent id: %v", err)
	}
	stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: huge}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if connect.CodeOf(stream.Err()) != connect.CodeInvalidArgument {
		t.Errorf("Subscribe, a huge agent id: %v", stream.Err())
	}
	stream.Close()
	_ = srv.Stop() // every line is written

	got := logs.String()
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 4096 {
			t.Errorf("a log line of %d bytes: %.300s…", len(l), l)
		}
	}
	cut := strings.Repeat("x", 200)
	for _, want := range []string{
		"msg=door door=aisdk method=POST path=/ai/chat status=400",
		"msg=door door=agui method=POST path=/agui/" + cut,
		"msg=door door=aisdk method=GET path=/ai/chat/" + cut,
		"msg=\"request refused\" reason=unauthenticated path=/agui/" + cut,
		"msg=\"websocket refused\" reason=bad_agent_id subject=service path=/ws/agent/" + cut,
		"msg=\"websocket refused\" reason=origin origin=https://" + cut,
		"procedure=/agent.v1.AgentService/SendMessage",
		"procedure=/agent.v1.AgentService/Subscribe",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no log line with %q", want)
		}
	}
	wantLogged(t, logs, "reason=bad_agent_id", "door=websocket status=400 detail=")
	if n := strings.Count(got, "agent="+cut); n < 5 {
		t.Errorf("%d lines name the cut agent id, want one per door request and RPC (5)", n)
	}
}
