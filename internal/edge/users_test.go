package edge

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/userlimit"
)

// expiringAlice is alice with a token that expires at exp.
func expiringAlice(exp time.Time) identity.Identity {
	id := alice
	id.Expires = exp
	return id
}

// TestDeadlineAndExpiring: a connection ends at its token's exp plus the
// grace, with an *Expired as the cause its door turns into
// unauthenticated; a token that never expires sets no end; one whose end
// has passed is refused before it opens, with 401 expired_token.
func TestDeadlineAndExpiring(t *testing.T) {
	t.Parallel()
	p := New(Config{Verifiers: []Verifier{fakeVerifier{}}, ExpiryGrace: 25 * time.Second})
	exp := time.Now().Add(time.Hour)
	if end, ok := p.Deadline(expiringAlice(exp)); !ok || !end.Equal(exp.Add(25*time.Second)) {
		t.Fatalf("deadline %v %v", end, ok)
	}
	if _, ok := p.Deadline(identity.Service()); ok {
		t.Fatal("a service token has a deadline")
	}
	ctx, cancel := p.Expiring(WithIdentity(context.Background(), identity.Service()))
	cancel()
	if _, ok := ctx.Deadline(); ok || ctx.Err() != nil || ExpiredOf(ctx) != nil {
		t.Fatal("a service token's stream ends")
	}

	past := time.Now().Add(-26 * time.Second)
	ctx, cancel = p.Expiring(WithIdentity(context.Background(), expiringAlice(past)))
	defer cancel()
	e := ExpiredOf(ctx)
	if e == nil || !e.At.Equal(past) || !errors.Is(e, identity.ErrExpired) || connect.CodeOf(e.ConnectError()) != connect.CodeUnauthenticated ||
		!strings.Contains(e.Error(), "fetch a new one") {
		t.Fatalf("the end of an expired token's stream: %v", e)
	}
	if ExpiredOf(context.Background()) != nil {
		t.Fatal("a live context has expired")
	}
	canceled, stop := context.WithCancel(context.Background())
	stop()
	if ExpiredOf(canceled) != nil {
		t.Fatal("a canceled context has expired")
	}

	r := httptest.NewRequest(http.MethodGet, "/ws/agent/alice:1", nil)
	r = r.WithContext(WithIdentity(r.Context(), expiringAlice(past)))
	if _, ref := p.Admit(r, WebSocket); ref == nil || ref.Status != http.StatusUnauthorized || ref.Reason != "expired_token" {
		t.Fatalf("admitting a connection past its end: %+v", ref)
	}
	r = r.WithContext(WithIdentity(r.Context(), expiringAlice(time.Now().Add(-20*time.Second)))) // within the grace
	release, ref := p.Admit(r, WebSocket)
	if ref != nil {
		t.Fatalf("admitting a connection within the grace: %+v", ref)
	}
	release()
}

// TestRefresh: a fresh token for an open socket must be a valid token of
// the same caller that still allows what the socket needs; a refusal keeps
// the caller the socket had and is counted and logged without the token.
func TestRefresh(t *testing.T) {
	t.Parallel()
	p, m, logs := newPolicy(t)
	ctx := context.Background()
	later := expiringAlice(time.Now().Add(time.Hour))
	reader := expiringAlice(time.Now().Add(time.Hour))
	reader.Perms = identity.Read
	stale := expiringAlice(time.Now().Add(-time.Hour))
	p.verifiers = append(p.verifiers, fakeVerifier{"later": later, "reader": reader, "stale": stale, "bob": {Kind: identity.KindUser, Subject: "bob", Agents: []string{"*"}, Perms: identity.Read}})
	cur := expiringAlice(time.Now().Add(time.Minute))
	for _, tc := range []struct {
		token  string
		perm   identity.Permission
		reason string
	}{
		{"later", identity.Read, ""},
		{"reader", identity.Read, ""},
		{"reader", identity.Write, "scope"},
		{"bob", identity.Read, "subject"},
		{"root-token", identity.Read, "subject"},
		{"stale", identity.Read, "expired_token"},
		{"old-token", identity.Read, "expired_token"},
		{"nobody", identity.Read, "invalid_token"},
		{"", identity.Read, "unauthenticated"},
	} {
		id, ref := p.Refresh(ctx, cur, tc.token, "alice:1", tc.perm)
		switch {
		case tc.reason == "" && (ref != nil || id.Expires.Before(time.Now().Add(time.Minute))):
			t.Errorf("%q: %+v, %+v; want the new identity", tc.token, id, ref)
		case tc.reason != "" && (ref == nil || ref.Reason != tc.reason || !id.Expires.Equal(cur.Expires)):
			t.Errorf("%q: %+v, %+v; want a refusal for %s keeping the identity", tc.token, id, ref, tc.reason)
		}
	}
	if _, ref := p.Refresh(ctx, cur, "later", "bob", identity.Read); ref == nil || ref.Code != connect.CodePermissionDenied || ref.Reason != "agent" {
		t.Errorf("a token without the socket's agent: %+v", ref)
	}
	if v := value(t, m, "agentgate_refusals_total", "reason", "subject", "door", "websocket"); v != 2 {
		t.Errorf("subject refusals counted %v, want 2", v)
	}
	if !strings.Contains(logs.String(), `msg="websocket refresh refused" reason=subject subject=alice agent=alice:1`) || strings.Contains(logs.String(), "root-token") {
		t.Errorf("want the refusals logged with who and why, without a token:\n%s", logs.String())
	}
}

// TestUserLimitsAtTheEdge: messages count against the user's rate on the
// calls that send one, only those, after their authorization; connections
// against the user's cap in Admit, refused with 429; each refusal is
// counted by reason and door; the service is not limited.
func TestUserLimitsAtTheEdge(t *testing.T) {
	t.Parallel()
	lim := userlimit.NewMemory(nil)
	t.Cleanup(func() { _ = lim.Close() })
	p, m, _ := newPolicy(t)
	p.limits = userlimit.New(lim, userlimit.Config{MessageRate: 1, MaxConnections: 1})
	ctx := WithIdentity(context.Background(), alice)
	method := Unary(func(_ context.Context, req *agentv1.SendMessageRequest) (*agentv1.SendMessageResponse, error) {
		return &agentv1.SendMessageResponse{}, nil
	})
	history := Unary(func(_ context.Context, req *agentv1.GetHistoryRequest) (*agentv1.GetHistoryResponse, error) {
		return &agentv1.GetHistoryResponse{}, nil
	})
	send := Call{Door: WebSocket, Procedure: agentv1connect.AgentServiceSendMessageProcedure}
	if _, err := p.Unary(ctx, send, method, &agentv1.SendMessageRequest{AgentId: "bob", Text: "hi"}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("a refused send: %v", err) // and not counted
	}
	if _, err := p.Unary(ctx, send, method, &agentv1.SendMessageRequest{AgentId: "alice:1", Text: "hi"}); err != nil {
		t.Fatalf("the first message: %v", err)
	}
	read := Call{Door: WebSocket, Procedure: agentv1connect.AgentServiceGetHistoryProcedure}
	if _, err := p.Unary(ctx, read, history, &agentv1.GetHistoryRequest{AgentId: "alice:1"}); err != nil {
		t.Fatalf("a read over the rate: %v", err)
	}
	_, err := p.Unary(ctx, send, method, &agentv1.SendMessageRequest{AgentId: "alice:1", Text: "again"})
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted || ce.Meta().Get("Retry-After") != "60" {
		t.Fatalf("the second message: %v, want resource_exhausted retrying in 60s", err)
	}
	svc := WithIdentity(context.Background(), identity.Service())
	for range 3 {
		if _, err := p.Unary(svc, send, method, &agentv1.SendMessageRequest{AgentId: "alice:1", Text: "hi"}); err != nil {
			t.Fatalf("the service: %v", err)
		}
	}

	r := httptest.NewRequest(http.MethodPost, "/agui/alice:1", nil)
	r = r.WithContext(ctx)
	if ref := p.LimitMessage(r, AGUI); ref == nil || ref.Status != http.StatusTooManyRequests || ref.RetryAfter != 60 {
		t.Fatalf("a door's message over the rate: %+v", ref)
	}
	w := httptest.NewRecorder()
	(&Refusal{Status: http.StatusTooManyRequests, Code: connect.CodeResourceExhausted, Message: "slow down", RetryAfter: 7}).Write(w)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "7" {
		t.Fatalf("a refusal with when to retry is written as %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}

	release, ref := p.Admit(r, AGUI)
	if ref != nil {
		t.Fatalf("the first connection: %+v", ref)
	}
	if _, ref := p.Admit(r, WebSocket); ref == nil || ref.Status != http.StatusTooManyRequests || ref.Reason != userlimit.ReasonMaxConnections {
		t.Fatalf("the second connection: %+v, want 429 for the user's cap", ref)
	}
	release()
	release2, ref := p.Admit(r, WebSocket)
	if ref != nil {
		t.Fatalf("a connection once the first closed: %+v", ref)
	}
	release2()
	for door, want := range map[string]float64{"websocket": 1, "agui": 1} {
		if v := value(t, m, "agentgate_refusals_total", "reason", userlimit.ReasonMessageRate, "door", door); v != want {
			t.Errorf("%s message refusals %v, want %v", door, v, want)
		}
	}
	if v := value(t, m, "agentgate_refusals_total", "reason", userlimit.ReasonMaxConnections, "door", "websocket"); v != 1 {
		t.Errorf("connection refusals %v, want 1", v)
	}
	if !sendsMessage(agentv1connect.AgentServiceConverseProcedure, &agentv1.ConverseRequest{Text: "hi"}) ||
		sendsMessage(agentv1connect.AgentServiceConverseProcedure, &agentv1.ConverseRequest{AgentId: "a"}) ||
		sendsMessage(agentv1connect.AgentServiceGetHistoryProcedure, &agentv1.GetHistoryRequest{}) {
		t.Error("sendsMessage: only SendMessage and Converse requests with text send a message")
	}
}
