package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/gorilla/websocket"
)

// The users of userServer: alice reads and writes her agents (alice:*),
// reader only reads them, root administers every agent. Their tokens are
// what a JWT verifier would take; the fake one below stands in for it.
const (
	aliceToken  = "alice-token-0123456789"
	readerToken = "reader-token-0123456789"
	rootToken   = "root-token-0123456789"
	// expiredToken is one whose time is up.
	expiredToken = "expired-token-0123456789"
)

// users is the fake Verifier of userServer.
type users struct{}

func (users) Verify(_ context.Context, token string) (identity.Identity, error) {
	switch token {
	case aliceToken:
		return identity.Identity{Kind: identity.KindUser, Subject: "alice", Agents: []string{"alice:*"}, Perms: identity.Read | identity.Write}, nil
	case readerToken:
		return identity.Identity{Kind: identity.KindUser, Subject: "reader", Agents: []string{"alice:*"}, Perms: identity.Read}, nil
	case rootToken:
		return identity.Identity{Kind: identity.KindUser, Subject: "root", Agents: []string{"*"}, Perms: identity.Read | identity.Write | identity.Admin}, nil
	case expiredToken:
		return identity.Identity{}, fmt.Errorf("the token expired at 12:00: fetch a new one: %w", identity.ErrExpired)
	}
	return identity.Identity{}, fmt.Errorf("not a user's token: %w", identity.ErrInvalid)
}

// userServer runs the gateway with AUTH_TOKENS' service token and the fake
// users after it, as the JWT verifier will be.
func userServer(t *testing.T, logs *apptest.LogBuffer) *apptest.Server {
	t.Helper()
	return apptest.Start(t, map[string]string{"AUTH_TOKENS": token}, capture(logs), func(o *app.Options) {
		o.Verifiers = []edge.Verifier{users{}}
	})
}

// TestUsersOverConnect: every protocol of the typed API authorizes each
// call on the agent it names, a stream's on its first request, and
// ListAgents shows a user its own agents only.
func TestUsersOverConnect(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := userServer(t, logs)
	ctx := testCtx(t)
	service := agentv1connect.NewAgentServiceClient(httpClient(t, true), srv.URL, connect.WithInterceptors(bearer(token)))
	send(ctx, t, service, "bob", "the service may write anywhere")
	for _, p := range allProtocols {
		t.Run(p.name, func(t *testing.T) {
			c := agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), srv.URL, append(p.opts, connect.WithInterceptors(bearer(aliceToken)))...)
			agentID := "alice:" + strings.ReplaceAll(p.name, "/", "-")
			send(ctx, t, c, agentID, "hello")
			_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "bob", Text: "hi"}))
			wantDenied(t, "SendMessage to bob", err, `this token does not reach agent "bob"`)
			_, err = c.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: agentID}))
			wantDenied(t, "DeleteAgent of her own", err, "agents:admin")
			stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "bob"}))
			if err != nil {
				t.Fatal(err)
			}
			for stream.Receive() {
			}
			wantDenied(t, "Subscribe to bob", stream.Err(), "bob")
			stream.Close()
			list, err := c.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range list.Msg.GetAgents() {
				if !strings.HasPrefix(a.GetAgentId(), "alice:") {
					t.Errorf("alice lists %s", a.GetAgentId())
				}
			}
		})
	}
	conv := agentv1connect.NewAgentServiceClient(httpClient(t, true), srv.URL, connect.WithInterceptors(bearer(aliceToken))).Converse(ctx)
	if err := conv.Send(&agentv1.ConverseRequest{AgentId: "bob", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	_, err := conv.Receive()
	wantDenied(t, "Converse with bob", err, "bob")
	_ = conv.CloseRequest()
	_ = conv.CloseResponse()

	root := agentv1connect.NewAgentServiceClient(httpClient(t, true), srv.URL, connect.WithInterceptors(bearer(rootToken)))
	list, err := root.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{}))
	if err != nil || len(list.Msg.GetAgents()) != len(allProtocols)+1 {
		t.Errorf("root lists %v, %v; want every agent", list, err)
	}
	if _, err := root.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "bob"})); err != nil {
		t.Errorf("root deleting bob: %v", err)
	}
	_ = srv.Stop()
	wantLogged(t, logs, "msg=rpc", "code=permission_denied", "agent=bob", "subject=alice", "reason=agent")
	wantLogged(t, logs, "procedure=/agent.v1.AgentService/DeleteAgent", "code=permission_denied", "subject=alice", "reason=scope")
}

// TestUsersOverTheSocket: the upgrade needs Read for the push (or only to
// reach the agent without it), and every frame is authorized on its own.
func TestUsersOverTheSocket(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := userServer(t, logs)
	for _, tc := range []struct {
		name, agent, query string
		status             int
	}{
		{"alice, another's agent", "bob", "access_token=" + aliceToken, http.StatusForbidden},
		{"alice, another's agent, no push", "bob", "subscribe=false&access_token=" + aliceToken, http.StatusForbidden},
		{"an expired token", "alice:1", "access_token=" + expiredToken, http.StatusUnauthorized},
	} {
		c, res := dial(t, wsURL(srv, tc.agent, tc.query), nil)
		if c != nil {
			t.Fatalf("%s: the socket opened", tc.name)
		}
		var e struct{ Code, Message string }
		_ = json.NewDecoder(res.Body).Decode(&e)
		if res.StatusCode != tc.status || e.Message == "" {
			t.Errorf("%s: %d %+v, want %d with a message", tc.name, res.StatusCode, e, tc.status)
		}
	}

	c, res := dial(t, wsURL(srv, "alice:ws", ""), nil, "agent.v1", "bearer."+aliceToken)
	if c == nil {
		t.Fatalf("alice's socket to her agent: %d", res.StatusCode)
	}
	if f := roundTrip(t, c, "s1", "over the socket"); !strings.Contains(string(f["response"]), "echo: over the socket") {
		t.Fatalf("SendMessage: %s", f)
	}
	for _, tc := range []struct{ frame, says string }{
		{`{"id":"d1","method":"DeleteAgent"}`, "agents:admin"},
		{`{"id":"l1","method":"GetHistory","request":{"agentId":"bob"}}`, "bob"}, // the socket's own check
	} {
		if f := frameAnswer(t, c, tc.frame); f.Error == nil || f.Error.Code != "permission_denied" || !strings.Contains(f.Error.Message, tc.says) {
			t.Errorf("%s: %s, want permission_denied naming %q", tc.frame, f.raw, tc.says)
		}
	}

	// A reader may follow, but not write.
	r, res := dial(t, wsURL(srv, "alice:ws", "access_token="+readerToken), nil)
	if r == nil {
		t.Fatalf("the reader's socket: %d", res.StatusCode)
	}
	if f := frameAnswer(t, r, `{"id":"w1","method":"SendMessage","request":{"text":"hi"}}`); f.Error == nil || f.Error.Code != "permission_denied" || !strings.Contains(f.Error.Message, "agents:write") {
		t.Errorf("the reader's SendMessage: %s, want permission_denied naming agents:write", f.raw)
	}
	if f := frameAnswer(t, r, `{"id":"h1","method":"GetHistory"}`); f.Error != nil {
		t.Errorf("the reader's GetHistory: %s", f.raw)
	}
	_ = srv.Stop()
	wantLogged(t, logs, `msg="websocket refused" reason=agent subject=alice path=/ws/agent/bob`)
	wantLogged(t, logs, "msg=rpc", "protocol=websocket", "code=permission_denied", "subject=reader", "reason=scope")
	wantLogged(t, logs, `msg="websocket refused" reason=expired_token`)
	if strings.Contains(logs.String(), aliceToken) || strings.Contains(logs.String(), readerToken) || strings.Contains(logs.String(), expiredToken) {
		t.Error("a token is in the logs")
	}
}

// TestUsersAtTheDoors: both doors need Write to ask (the AI SDK's resume
// Read), and log who was refused and why; the console's check needs Admin.
func TestUsersAtTheDoors(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := userServer(t, logs)
	ctx := testCtx(t)
	run := func(agentID string) string {
		return `{"threadId":"` + agentID + `","runId":"r1","messages":[{"id":"m1","role":"user","content":"hi"}]}`
	}
	chat := func(agentID string) string {
		return `{"id":"` + agentID + `","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"hi"}]}]}`
	}
	for _, tc := range []struct {
		name, method, path, body, token string
		status                          int
		code                            string
	}{
		{"AG-UI, another's agent", http.MethodPost, "/agui/bob", run("bob"), aliceToken, 403, "permission_denied"},
		{"AG-UI, a reader", http.MethodPost, "/agui/alice:1", run("alice:1"), readerToken, 403, "permission_denied"},
		{"AG-UI, her agent", http.MethodPost, "/agui/alice:1", run("alice:1"), aliceToken, 200, ""},
		{"AI SDK, another's agent", http.MethodPost, "/ai/chat", chat("bob"), aliceToken, 403, "permission_denied"},
		{"AI SDK, her agent", http.MethodPost, "/ai/chat", chat("alice:2"), aliceToken, 200, ""},
		{"AI SDK resume, another's agent", http.MethodGet, "/ai/chat/bob/stream", "", aliceToken, 403, "permission_denied"},
		{"AI SDK resume, a reader", http.MethodGet, "/ai/chat/alice:2/stream", "", readerToken, 204, ""},
		{"AI SDK, an expired token", http.MethodPost, "/ai/chat", chat("alice:2"), expiredToken, 401, "unauthenticated"},
	} {
		contentType := ""
		if tc.body != "" {
			contentType = "application/json"
		}
		res, body := doAs(t, ctx, tc.token, tc.method, srv.URL+tc.path, contentType, tc.body)
		var e struct{ Code, Message string }
		if tc.code != "" {
			_ = json.Unmarshal([]byte(body), &e)
		}
		if res.StatusCode != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %.200s; want %d %s", tc.name, res.StatusCode, body, tc.status, tc.code)
		}
	}
	check := func(tok string) (int, string) {
		res, body := doAs(t, ctx, tok, http.MethodPost, srv.URL+"/console/check?agent=alice:1", "", "")
		var ans struct{ Reason string }
		_ = json.Unmarshal([]byte(body), &ans)
		return res.StatusCode, ans.Reason
	}
	if status, reason := check(aliceToken); status != http.StatusForbidden || reason != "permission_denied" {
		t.Errorf("console check for alice: %d %s, want 403 permission_denied", status, reason)
	}
	if status, reason := check(expiredToken); status != http.StatusUnauthorized || reason != "expired_token" {
		t.Errorf("console check with an expired token: %d %s, want 401 expired_token", status, reason)
	}
	if status, _ := check(rootToken); status != http.StatusOK {
		t.Errorf("console check for root: %d, want 200", status)
	}
	_ = srv.Stop()
	wantLogged(t, logs, "msg=door door=agui", "path=/agui/bob", "status=403", "outcome=refused", "agent=bob", "subject=alice", "code=permission_denied", "reason=agent")
	wantLogged(t, logs, "msg=door door=aisdk", "status=403", "subject=alice", "reason=agent")
	wantLogged(t, logs, `msg="request refused" reason=expired_token path=/ai/chat`)
}

// wantDenied fails unless err is permission_denied saying says.
func wantDenied(t *testing.T, what string, err error, says string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied || !strings.Contains(ce.Message(), says) {
		t.Errorf("%s: %v; want permission_denied saying %q", what, err, says)
	}
}

// wantLogged fails unless one line of logs holds every part of want.
func wantLogged(t *testing.T, logs *apptest.LogBuffer, want ...string) {
	t.Helper()
	for _, l := range strings.Split(logs.String(), "\n") {
		all := true
		for _, w := range want {
			all = all && strings.Contains(l, w)
		}
		if all {
			return
		}
	}
	t.Errorf("no log line holds all of %q:\n%s", want, logs.String())
}

// frameAnswer sends a frame and returns the first frame answering its id,
// skipping pushed events.
func frameAnswer(t *testing.T, c *websocket.Conn, frame string) socketFrame {
	t.Helper()
	var sent struct{ ID string }
	_ = json.Unmarshal([]byte(frame), &sent)
	if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	data := readAnswer(t, c, sent.ID)
	f := socketFrame{raw: data}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFrameForAnotherAgentIsARefusal: a frame on alice's socket that names
// another agent, even one of hers, is refused as ever (permission_denied
// naming both), and the edge counts and logs it as the refusal it is: who
// sent it, why, on which socket.
func TestFrameForAnotherAgentIsARefusal(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := userServer(t, logs)
	c, res := dial(t, wsURL(srv, "alice:ws", ""), nil, "agent.v1", "bearer."+aliceToken)
	if c == nil {
		t.Fatalf("alice's socket: %d", res.StatusCode)
	}
	f := frameAnswer(t, c, `{"id":"h","method":"GetHistory","request":{"agentId":"alice:other"}}`)
	if f.Error == nil || f.Error.Code != "permission_denied" ||
		f.Error.Message != `this socket talks to agent "alice:ws"; the request names "alice:other": open a socket at /ws/agent/alice:other for it` {
		t.Fatalf("a frame for another agent: %s", f.raw)
	}
	// Counted before the error frame was sent.
	if _, m := doAs(t, testCtx(t), token, http.MethodGet, srv.URL+"/metrics", "", ""); !strings.Contains(m, `agentgate_refusals_total{door="websocket",reason="agent"} 1`) {
		t.Errorf("the refusal is not counted:\n%s", m)
	}
	_ = srv.Stop()
	wantLogged(t, logs, `msg="websocket frame refused" reason=agent subject=alice agent=alice:ws`, "door=websocket", `detail="this socket talks to agent`)
}

// TestRefusedStreamsCostNoPlace: a Connect stream is authorized on its
// first request before it is admitted, so a stream to another's agent is
// refused as such (permission_denied), takes no place and is counted as
// no connection refusal, even while the server or the user is at its cap;
// a stream to her own agent then finds the cap full.
func TestRefusedStreamsCostNoPlace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ cap, reason string }{
		{"MAX_CONNECTIONS", "max_connections"},
		{"USER_MAX_CONNECTIONS", "user_max_connections"},
	} {
		srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": token, tc.cap: "1"},
			func(o *app.Options) { o.Verifiers = []edge.Verifier{users{}} })
		ctx := testCtx(t)
		if c, res := dial(t, wsURL(srv, "alice:held", ""), nil, "agent.v1", "bearer."+aliceToken); c == nil {
			t.Fatalf("%s: alice's socket: %d", tc.cap, res.StatusCode)
		}
		subscribe := func(c agentv1connect.AgentServiceClient, agentID string) error {
			stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: agentID}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			for stream.Receive() {
			}
			return stream.Err()
		}
		for _, p := range allProtocols {
			c := agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), srv.URL, append(p.opts, connect.WithInterceptors(bearer(aliceToken)))...)
			wantDenied(t, tc.cap+", "+p.name+": Subscribe to bob", subscribe(c, "bob"), "bob")
			if err := subscribe(c, "alice:1"); connect.CodeOf(err) != connect.CodeResourceExhausted {
				t.Errorf("%s, %s: Subscribe to her own agent: %v, want resource_exhausted", tc.cap, p.name, err)
			}
		}
		conv := agentv1connect.NewAgentServiceClient(httpClient(t, true), srv.URL, connect.WithInterceptors(bearer(aliceToken))).Converse(ctx)
		if err := conv.Send(&agentv1.ConverseRequest{AgentId: "bob", Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		_, err := conv.Receive()
		wantDenied(t, tc.cap+": Converse with bob", err, "bob")
		_ = conv.CloseRequest()
		_ = conv.CloseResponse()

		// Only the streams to her own agent met the cap, each once.
		_, m := doAs(t, ctx, token, http.MethodGet, srv.URL+"/metrics", "", "")
		capped := 0
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "agentgate_refusals_total{") && strings.Contains(l, `reason="`+tc.reason+`"`) {
				n, _ := strconv.Atoi(l[strings.LastIndexByte(l, ' ')+1:])
				capped += n
			}
		}
		if capped != len(allProtocols) {
			t.Errorf("%s: %d streams refused at the cap, want %d (the streams to her own agent)", tc.cap, capped, len(allProtocols))
		}
	}
}
