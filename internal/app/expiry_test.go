package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/responder"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// The tests of tokens that expire on open connections use tokens that
// live a second or two and a grace of a fraction of one: they wait for the
// clock, as a client does, and never sleep to let the server catch up.
const shortGrace = 300 * time.Millisecond

// startShortGraceGateway runs an HS256 gateway with shortGrace, no limit
// of messages or frames (a test sends as fast as the server answers), and
// the responder of the expiry tests.
func startShortGraceGateway(t *testing.T) *apptest.Server {
	t.Helper()
	env := jwtEnv(map[string]string{"AUTH_JWT_SECRET": jwtSecret, "AUTH_EXPIRY_GRACE": shortGrace.String(), "USER_MESSAGE_RATE": "0", "WS_FRAME_RATE": "100000"})
	return apptest.Start(t, env, func(o *app.Options) { o.Responder = waiter{} })
}

// waiter echoes after 5 ms, as a fast model would, except a message
// "wait": that reply is written until its run is canceled (the server
// stops), so that a stream following it is still open when its token
// expires.
type waiter struct{}

func (waiter) Respond(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
	if req.Message.Text == "wait" {
		if err := out.Text("waiting"); err != nil {
			return responder.Result{}, err
		}
		<-ctx.Done()
		return responder.Result{}, ctx.Err()
	}
	select {
	case <-time.After(5 * time.Millisecond):
	case <-ctx.Done():
		return responder.Result{}, ctx.Err()
	}
	return responder.Result{}, out.Text("echo: " + req.Message.Text)
}

// shortToken is alice's token that expires in one to two seconds (exp is
// in whole seconds), and its exp.
func shortToken(t *testing.T) (string, time.Time) {
	t.Helper()
	exp := time.Unix(time.Now().Add(2*time.Second).Unix(), 0)
	return hsToken(t, aliceClaims(jwt.MapClaims{"exp": exp.Unix()})), exp
}

// expiring is the times of an expiring frame, or of a refresh's response.
type expiring struct {
	ExpireTime, CloseTime time.Time
}

// TestSocketClosedWhenTokenExpires: a socket that outlives its token is
// told before (an expiring frame with the token's exp and when the socket
// closes), then closed with 4001 once the grace passed, not before. The
// client fetches a new token, reconnects and resumes with after_seq and
// epoch, and misses nothing.
func TestSocketClosedWhenTokenExpires(t *testing.T) {
	t.Parallel()
	srv := startShortGraceGateway(t)
	tok, exp := shortToken(t)
	end := exp.Add(shortGrace)
	c, res := dial(t, wsURL(srv, "alice:expiry", ""), nil, "agent.v1", "bearer."+tok)
	if c == nil {
		t.Fatalf("the socket: %d", res.StatusCode)
	}
	first := roundTrip(t, c, "s1", "before")
	var sent struct{ Message *struct{ Seq, Epoch string } }
	if err := json.Unmarshal(first["response"], &sent); err != nil || sent.Message == nil {
		t.Fatalf("SendMessage: %s", first)
	}
	f, err := frameWithin(t, c, 10*time.Second, func(f map[string]json.RawMessage) bool { return f["expiring"] != nil })
	if err != nil {
		t.Fatalf("no expiring frame before the close: %v", err)
	}
	var e expiring
	if err := json.Unmarshal(f["expiring"], &e); err != nil || !e.ExpireTime.Equal(exp) || !e.CloseTime.Equal(end) {
		t.Fatalf("expiring %s, want expireTime %s and closeTime %s", f["expiring"], exp, end)
	}
	_, err = frameWithin(t, c, 10*time.Second, func(map[string]json.RawMessage) bool { return false })
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4001 || !strings.Contains(ce.Text, "fetch a new one") {
		t.Fatalf("the socket ended with %v, want close 4001 saying to fetch a new token", err)
	}
	if now := time.Now(); now.Before(end) {
		t.Fatalf("closed at %s, before the token's exp plus the grace, %s", now, end)
	}

	// A new token, the same socket's URL with where it stood: the replay
	// starts after what it saw.
	fresh := hsToken(t, aliceClaims(nil))
	c, res = dial(t, wsURL(srv, "alice:expiry", "after_seq="+sent.Message.Seq+"&epoch="+sent.Message.Epoch), nil, "agent.v1", "bearer."+fresh)
	if c == nil {
		t.Fatalf("the socket with a fresh token: %d", res.StatusCode)
	}
	f, err = frameWithin(t, c, 10*time.Second, func(f map[string]json.RawMessage) bool { return f["event"] != nil })
	var ev struct{ Seq string }
	if err != nil || json.Unmarshal(f["event"], &ev) != nil || ev.Seq != "2" {
		t.Fatalf("the first event after resuming: %s, %v; want the reply, seq 2", f["event"], err)
	}
}

// TestSocketRefreshedInTimeMissesNothing: a client that hands a fresh
// token when it is told to keeps its socket past the first token's end,
// and every event of the messages it sends across the refresh arrives, in
// seq order, without a gap.
func TestSocketRefreshedInTimeMissesNothing(t *testing.T) {
	t.Parallel()
	srv := startShortGraceGateway(t)
	tok, exp := shortToken(t)
	end := exp.Add(shortGrace)
	c, res := dial(t, wsURL(srv, "alice:refreshed", ""), nil, "agent.v1", "bearer."+tok)
	if c == nil {
		t.Fatalf("the socket: %d", res.StatusCode)
	}
	freshExp := time.Unix(time.Now().Add(time.Hour).Unix(), 0)
	fresh := hsToken(t, aliceClaims(jwt.MapClaims{"exp": freshExp.Unix()}))
	var seqs []uint64
	refreshed, told := false, false
	// Send messages one after another until well past the first token's
	// end, refreshing when the server says so.
	sent := 0
	for ; !refreshed || time.Now().Before(end.Add(shortGrace)); sent++ {
		i := sent
		id := fmt.Sprint("m", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":"`+id+`","method":"SendMessage","request":{"text":"`+id+`"}}`)); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		_, err := frameWithin(t, c, 10*time.Second, func(f map[string]json.RawMessage) bool {
			switch {
			case f["event"] != nil:
				var ev struct {
					Seq uint64 `json:",string"`
				}
				_ = json.Unmarshal(f["event"], &ev)
				if ev.Seq != 0 {
					seqs = append(seqs, ev.Seq)
				}
			case f["expiring"] != nil && !told:
				told = true
				if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":"r1","refresh":{"token":"`+fresh+`"}}`)); err != nil {
					t.Fatal(err)
				}
			case string(f["id"]) == `"r1"`:
				var e expiring
				if json.Unmarshal(f["response"], &e) != nil || !e.ExpireTime.Equal(freshExp) || !e.CloseTime.Equal(freshExp.Add(shortGrace)) {
					t.Fatalf("the refresh's answer: %s", f["response"])
				}
				refreshed = true
			}
			return string(f["id"]) == `"`+id+`"`
		})
		if err != nil {
			t.Fatalf("waiting for the answer to %s (refreshed %v): %v", id, refreshed, err)
		}
		if i > 100000 {
			t.Fatal("the loop does not end")
		}
	}
	// The last reply's event may come after the answer to its message.
	if len(seqs) < 2*sent {
		if _, err := frameWithin(t, c, 10*time.Second, func(f map[string]json.RawMessage) bool {
			var ev struct {
				Seq uint64 `json:",string"`
			}
			_ = json.Unmarshal(f["event"], &ev)
			if ev.Seq != 0 {
				seqs = append(seqs, ev.Seq)
			}
			return len(seqs) >= 2*sent
		}); err != nil {
			t.Fatalf("%d events of %d messages: %v", len(seqs), sent, err)
		}
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("event %d has seq %d: the seqs are %v…", i, s, seqs[:min(len(seqs), i+3)])
		}
	}
	if len(seqs) != 2*sent {
		t.Fatalf("%d persisted events of %d messages", len(seqs), sent)
	}
	t.Logf("%d messages across the refresh, their events seq 1 to %d", len(seqs)/2, len(seqs))
}

// TestStreamsEndWhenTokenExpires: a Subscribe stream (Connect, gRPC and
// gRPC-Web), a Converse stream and both doors' streams live no longer than
// their token plus the grace, and end then with unauthenticated: the
// client fetches a new token and resumes.
func TestStreamsEndWhenTokenExpires(t *testing.T) {
	t.Parallel()
	srv := startShortGraceGateway(t)
	ctx := testCtx(t)
	wantExpired := func(what string, err error, end time.Time) {
		t.Helper()
		if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "expired") {
			t.Errorf("%s ended with %v, want unauthenticated saying the token expired", what, err)
		}
		if now := time.Now(); now.Before(end) {
			t.Errorf("%s ended at %s, before %s", what, now, end)
		}
	}
	for _, p := range threeProtocols {
		tok, exp := shortToken(t)
		stream, err := jwtClient(t, srv, p, tok).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "alice:sub"}))
		if err != nil {
			t.Fatal(err)
		}
		for stream.Receive() {
		}
		wantExpired(p.name+" Subscribe", stream.Err(), exp.Add(shortGrace))
		_ = stream.Close()
	}

	tok, exp := shortToken(t)
	conv := jwtClient(t, srv, h2cConnect, tok).Converse(ctx)
	if err := conv.Send(&agentv1.ConverseRequest{AgentId: "alice:conv", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	var err error
	for err == nil {
		_, err = conv.Receive()
	}
	wantExpired("Converse", err, exp.Add(shortGrace))
	_ = conv.CloseRequest()
	_ = conv.CloseResponse()

	// An AG-UI run whose reply is still being written when the token
	// expires ends with RUN_ERROR unauthenticated.
	tok, exp = shortToken(t)
	events := doorStream(t, ctx, srv.URL+"/agui/alice:door", tok,
		`{"threadId":"alice:door","runId":"r1","messages":[{"id":"w1","role":"user","content":"wait"}]}`)
	last := events[len(events)-1]
	if now := time.Now(); now.Before(exp.Add(shortGrace)) {
		t.Errorf("the AG-UI stream ended at %s, before %s", now, exp.Add(shortGrace))
	}
	var runErr struct{ Type, Code, Message string }
	if json.Unmarshal([]byte(last), &runErr) != nil || runErr.Type != "RUN_ERROR" || runErr.Code != "unauthenticated" || !strings.Contains(runErr.Message, "expired") {
		t.Errorf("the AG-UI stream's last event: %s, want RUN_ERROR unauthenticated", last)
	}

	// An AI SDK chat whose reply is still being written when the token
	// expires ends with an error chunk that says unauthenticated, then the
	// stream's end.
	tok, exp = shortToken(t)
	chunks := doorStream(t, ctx, srv.URL+"/ai/chat", tok,
		`{"id":"alice:chat","messages":[{"id":"w2","role":"user","parts":[{"type":"text","text":"wait"}]}]}`)
	if now := time.Now(); now.Before(exp.Add(shortGrace)) {
		t.Errorf("the AI SDK stream ended at %s, before %s", now, exp.Add(shortGrace))
	}
	var failed struct{ Type, ErrorText string }
	n := len(chunks)
	if n < 2 || chunks[n-1] != "[DONE]" || json.Unmarshal([]byte(chunks[n-2]), &failed) != nil || failed.Type != "error" ||
		!strings.HasPrefix(failed.ErrorText, "unauthenticated: ") || !strings.Contains(failed.ErrorText, "expired") {
		t.Errorf("the AI SDK stream's last chunks: %q, want an error chunk unauthenticated, then [DONE]", chunks[max(n-3, 0):])
	}
}

// doorStream posts body to a door's url with tok, and returns the data of
// every server-sent event of its answer, once the stream has ended.
func doorStream(t *testing.T, ctx context.Context, url, tok, body string) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := httpClient(t, false).Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %v, %v", url, res, err)
	}
	defer res.Body.Close()
	var data []string
	for sc := bufio.NewScanner(res.Body); sc.Scan(); {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	if len(data) == 0 {
		t.Fatalf("%s: no event", url)
	}
	return data
}

// TestExpiredTokenOpensNoConnection: a token whose exp plus the grace has
// passed, though still within the verifier's leeway for a single call,
// opens no socket and no stream: 401, or unauthenticated at once.
func TestExpiredTokenOpensNoConnection(t *testing.T) {
	t.Parallel()
	srv := startShortGraceGateway(t)
	ctx := testCtx(t)
	tok := hsToken(t, aliceClaims(jwt.MapClaims{"exp": time.Now().Add(-5 * time.Second).Unix()}))
	if _, err := jwtClient(t, srv, h2cConnect, token).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "alice:late", Text: "hi"})); err != nil {
		t.Fatal(err)
	}
	if _, err := jwtClient(t, srv, h2cConnect, tok).GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "alice:late"})); err != nil {
		t.Fatalf("a unary call within the leeway: %v", err)
	}
	if c, res := dial(t, wsURL(srv, "alice:late", ""), nil, "agent.v1", "bearer."+tok); c != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the socket: %d, want 401", res.StatusCode)
	}
	stream, err := jwtClient(t, srv, h2cConnect, tok).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "alice:late"}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
	}
	if connect.CodeOf(stream.Err()) != connect.CodeUnauthenticated {
		t.Fatalf("Subscribe: %v, want unauthenticated", stream.Err())
	}
	_ = stream.Close()
	res, body := doAs(t, ctx, tok, http.MethodGet, srv.URL+"/ai/chat/alice:late/stream", "", "")
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("the AI SDK's resume: %d %s, want 401 expired", res.StatusCode, body)
	}
}
