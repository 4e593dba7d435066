package app_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// metricsWith reads srv's /metrics with the service token, and fails
// unless it holds every line of want.
func metricsWith(t *testing.T, srv *apptest.Server, want ...string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	m, _ := io.ReadAll(res.Body)
	for _, w := range want {
		if !strings.Contains(string(m), w) {
			t.Errorf("metrics lack %q", w)
		}
	}
}

// retryAfter is the Retry-After metadata of a Connect error, in seconds.
func retryAfter(err error) int {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return 0
	}
	n, _ := strconv.Atoi(ce.Meta().Get("Retry-After"))
	return n
}

// TestUserMessageRate: a user's messages count against USER_MESSAGE_RATE
// whichever way they come in (each protocol of the typed API, the
// socket's frames, Converse, both doors), and one over it is refused with
// resource_exhausted and when to retry: Retry-After metadata, a socket
// error frame's retryAfter, HTTP 429 with Retry-After. Other users and the
// service token are not held back, and every refusal is counted by
// reason and door.
func TestUserMessageRate(t *testing.T) {
	t.Parallel()
	srv, logs := startSecretGateway(t, map[string]string{"USER_MESSAGE_RATE": "2"})
	ctx := testCtx(t)
	alice := hsToken(t, aliceClaims(nil))
	send(ctx, t, jwtClient(t, srv, allProtocols[0], alice), "alice:1", "one")
	send(ctx, t, jwtClient(t, srv, allProtocols[1], alice), "alice:1", "two")
	for _, p := range allProtocols {
		_, err := jwtClient(t, srv, p, alice).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "alice:1", Text: "three"}))
		if connect.CodeOf(err) != connect.CodeResourceExhausted || retryAfter(err) < 1 || retryAfter(err) > 30 ||
			!strings.Contains(err.Error(), "at most 2 a minute") {
			t.Errorf("%s: %v (Retry-After %d), want resource_exhausted with when to retry", p.name, err, retryAfter(err))
		}
	}
	// Reading is not sending.
	if _, err := jwtClient(t, srv, h2cConnect, alice).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "alice:1"})); err != nil {
		t.Errorf("GetHistory over the rate: %v", err)
	}

	c, res := dial(t, wsURL(srv, "alice:1", "subscribe=false"), nil, "agent.v1", "bearer."+alice)
	if c == nil {
		t.Fatalf("the socket: %d", res.StatusCode)
	}
	f := frameAnswer(t, c, `{"id":"s1","method":"SendMessage","request":{"text":"four"}}`)
	var e struct {
		Error struct {
			Code       string
			RetryAfter int
		}
	}
	if json.Unmarshal(f.raw, &e) != nil || e.Error.Code != "resource_exhausted" || e.Error.RetryAfter < 1 {
		t.Errorf("a SendMessage frame over the rate: %s, want resource_exhausted with retryAfter", f.raw)
	}

	conv := jwtClient(t, srv, h2cConnect, alice).Converse(ctx)
	if err := conv.Send(&agentv1.ConverseRequest{AgentId: "alice:1", Text: "five"}); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		_, err = conv.Receive()
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted || retryAfter(err) < 1 {
		t.Errorf("Converse over the rate: %v (Retry-After %d)", err, retryAfter(err))
	}
	_ = conv.CloseRequest()
	_ = conv.CloseResponse()

	for path, body := range map[string]string{
		"/agui/alice:1": `{"threadId":"alice:1","runId":"r1","messages":[{"id":"a1","role":"user","content":"six"}]}`,
		"/ai/chat":      `{"id":"alice:1","messages":[{"id":"a2","role":"user","parts":[{"type":"text","text":"seven"}]}]}`,
	} {
		res, b := doAs(t, ctx, alice, http.MethodPost, srv.URL+path, "application/json", body)
		if n, _ := strconv.Atoi(res.Header.Get("Retry-After")); res.StatusCode != http.StatusTooManyRequests || n < 1 || !strings.Contains(b, "resource_exhausted") {
			t.Errorf("%s over the rate: %d Retry-After %q %s, want 429 with Retry-After", path, res.StatusCode, res.Header.Get("Retry-After"), b)
		}
	}

	// Bob and the service have allowances of their own, or none.
	bob := hsToken(t, claimsOf("bob", jwt.MapClaims{"agents": []string{"bob"}}))
	send(ctx, t, jwtClient(t, srv, h2cConnect, bob), "bob", "hi")
	for range 3 {
		send(ctx, t, jwtClient(t, srv, h2cConnect, token), "alice:1", "from the service")
	}

	metricsWith(t, srv,
		`agentgate_refusals_total{door="connect",reason="user_message_rate"} 3`,
		`agentgate_refusals_total{door="grpc",reason="user_message_rate"} 1`,
		`agentgate_refusals_total{door="grpcweb",reason="user_message_rate"} 2`,
		`agentgate_refusals_total{door="websocket",reason="user_message_rate"} 1`,
		`agentgate_refusals_total{door="agui",reason="user_message_rate"} 1`,
		`agentgate_refusals_total{door="aisdk",reason="user_message_rate"} 1`)
	_ = srv.Stop()
	wantLogged(t, logs, "msg=rpc", "code=resource_exhausted", "subject=alice", "reason=user_message_rate")
	wantLogged(t, logs, "msg=door door=agui", "status=429", "subject=alice", "reason=user_message_rate")
}

// dialWhenFree opens a socket, retrying while it is refused with 429 for
// up to 10 s: a socket the client closed is given back once the server's
// side of it has ended, just after the client saw the close.
func dialWhenFree(t *testing.T, url, tok string) *websocket.Conn {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, res := dial(t, url, nil, "agent.v1", "bearer."+tok)
		switch {
		case c != nil:
			return c
		case res.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline):
			t.Fatalf("the socket: %d", res.StatusCode)
		}
		time.Sleep(10 * time.Millisecond) // a bounded poll of the refusal
	}
}

// TestUserMaxConnections: a user holds at most USER_MAX_CONNECTIONS
// sockets and streams at once, whatever they are (sockets, Subscribe and
// Converse streams, the doors' streams); one more is refused with
// resource_exhausted (429 before a socket or a door's stream), and one
// frees a place when it ends. A stream that a socket carries is no
// connection of its own. Other users are not held back.
func TestUserMaxConnections(t *testing.T) {
	t.Parallel()
	srv, _ := startSecretGateway(t, map[string]string{"USER_MAX_CONNECTIONS": "2"})
	ctx := testCtx(t)
	alice := hsToken(t, aliceClaims(nil))
	first := dialWhenFree(t, wsURL(srv, "alice:1", ""), alice)
	second := dialWhenFree(t, wsURL(srv, "alice:2", ""), alice)

	// The sockets' own streams are theirs.
	roundTrip(t, second, "m1", "hello")
	if f := frameAnswer(t, second, `{"id":"sub","method":"Subscribe","request":{"afterSeq":"0"}}`); f.Error != nil {
		t.Fatalf("a Subscribe frame on an open socket: %s", f.raw)
	}

	c, res := dial(t, wsURL(srv, "alice:3", ""), nil, "agent.v1", "bearer."+alice)
	var e struct{ Code, Message string }
	if c != nil || res.StatusCode != http.StatusTooManyRequests || json.NewDecoder(res.Body).Decode(&e) != nil ||
		e.Code != "resource_exhausted" || !strings.Contains(e.Message, "at most 2 at once") {
		t.Fatalf("a third socket: %d %+v, want 429 resource_exhausted", res.StatusCode, e)
	}
	stream, err := jwtClient(t, srv, h2cConnect, alice).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "alice:1"}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if connect.CodeOf(stream.Err()) != connect.CodeResourceExhausted {
		t.Errorf("a Subscribe stream: %v, want resource_exhausted", stream.Err())
	}
	_ = stream.Close()
	res, body := doAs(t, ctx, alice, http.MethodPost, srv.URL+"/agui/alice:1", "application/json",
		`{"threadId":"alice:1","runId":"r1","messages":[{"id":"a1","role":"user","content":"hi"}]}`)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "resource_exhausted") {
		t.Errorf("an AG-UI stream: %d %s, want 429", res.StatusCode, body)
	}

	// Bob has places of his own.
	bob := hsToken(t, claimsOf("bob", jwt.MapClaims{"agents": []string{"bob"}}))
	dialWhenFree(t, wsURL(srv, "bob", ""), bob).Close()

	// A socket that closes gives its place back.
	_ = first.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	_, _, _ = first.ReadMessage()
	dialWhenFree(t, wsURL(srv, "alice:3", ""), alice)

	metricsWith(t, srv,
		`agentgate_refusals_total{door="websocket",reason="user_max_connections"} `,
		`agentgate_refusals_total{door="connect",reason="user_max_connections"} 1`,
		`agentgate_refusals_total{door="agui",reason="user_max_connections"} 1`)
}
