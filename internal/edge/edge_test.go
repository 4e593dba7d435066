package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/metrics"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Identities of the tests: alice reads and writes her own agents; root is
// an admin of every agent.
var (
	alice = identity.Identity{Kind: identity.KindUser, Subject: "alice", Agents: []string{"alice:*"}, Perms: identity.Read | identity.Write}
	root  = identity.Identity{Kind: identity.KindUser, Subject: "root", Agents: []string{"*"}, Perms: identity.Read | identity.Write | identity.Admin}
)

// fakeVerifier knows a few tokens, and calls any token starting with
// "old-" expired.
type fakeVerifier map[string]identity.Identity

func (f fakeVerifier) Verify(_ context.Context, token string) (identity.Identity, error) {
	if id, ok := f[token]; ok {
		return id, nil
	}
	if strings.HasPrefix(token, "old-") {
		return identity.Identity{}, fmt.Errorf("the token expired at noon: %w", identity.ErrExpired)
	}
	return identity.Identity{}, fmt.Errorf("unknown to this verifier: %w", identity.ErrInvalid)
}

// newPolicy is a policy with alice and root, its metrics and its log. The
// tests call it from one goroutine, so the log needs no lock of its own.
func newPolicy(t *testing.T) (*Policy, *metrics.Metrics, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	m := metrics.New("test", "memory")
	p := New(Config{
		Verifiers: []Verifier{fakeVerifier{"alice-token": alice}, fakeVerifier{"root-token": root}},
		Metrics:   m,
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
	})
	return p, m, logs
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	p, _, _ := newPolicy(t)
	ctx := context.Background()
	for _, tc := range []struct {
		token, subject, reason string
	}{
		{"alice-token", "alice", ""},
		{"root-token", "root", ""}, // the second verifier, after the first refused
		{"", "", "unauthenticated"},
		{"nobody-token", "", "invalid_token"},
		{"old-token", "", "expired_token"}, // both refuse; the expiry wins
	} {
		id, err := p.Authenticate(ctx, tc.token)
		switch {
		case tc.reason == "" && (err != nil || id.Subject != tc.subject):
			t.Errorf("%q: %v, %v; want %s", tc.token, id, err, tc.subject)
		case tc.reason != "" && (err == nil || authReason(err) != tc.reason):
			t.Errorf("%q: %v; want a refusal for %s", tc.token, err, tc.reason)
		}
	}
	if ref := authRefusal(identity.ErrExpired, "send a token"); ref.Status != http.StatusUnauthorized || ref.Message == "send a token" {
		t.Errorf("an expiry is told as %d %q; want 401 saying it expired", ref.Status, ref.Message)
	}
	open := New(Config{})
	if id, err := open.Authenticate(ctx, "anything"); err != nil || id.Kind != identity.KindAnonymous {
		t.Errorf("without verifiers: %v, %v; want Anonymous", id, err)
	}
}

// refusing is a Verifier that refuses every token with err.
type refusing struct{ err error }

// foreignToken is the refusal of a Verifier that does not know the
// token's kind.
type foreignToken string

func (f foreignToken) Error() string { return string(f) }
func (f foreignToken) Is(target error) bool {
	return target == identity.ErrInvalid || target == identity.ErrUnrecognized
}

func (r refusing) Verify(context.Context, string) (identity.Identity, error) {
	return identity.Identity{}, r.err
}

// TestAuthRefusalSaysWhy: a refused token is told what is wrong with it:
// the refusals of the Verifiers that knew its kind, or every refusal when
// none did, then how to send one; the log says it too, as the detail.
func TestAuthRefusalSaysWhy(t *testing.T) {
	t.Parallel()
	audience := fmt.Errorf("its audience is another gateway's: %w", identity.ErrInvalid)
	for _, tc := range []struct {
		verifiers []Verifier
		says      string
	}{
		{[]Verifier{refusing{foreignToken("no service token")}, refusing{audience}}, "its audience is another gateway's: the token is not valid; send it so"},
		{[]Verifier{refusing{foreignToken("no service token")}, refusing{foreignToken("no JWT")}}, "no service token; no JWT; send it so"},
		{[]Verifier{refusing{foreignToken("no service token")}}, "no service token; send it so"},
	} {
		logs := &bytes.Buffer{}
		p := New(Config{Verifiers: tc.verifiers, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		_, err := p.Authenticate(context.Background(), "tok-0123456789")
		ref := authRefusal(err, "send it so")
		if ref.Reason != "invalid_token" || ref.Message != tc.says {
			t.Errorf("%q, want %q", ref.Message, tc.says)
		}
		p.refused(httptest.NewRequest(http.MethodGet, "/x", nil), Connect, ref)
		if !strings.Contains(logs.String(), "detail=") || strings.Contains(logs.String(), "tok-0123456789") {
			t.Errorf("the log: %s; want the detail, without the token", logs)
		}
	}
}

// TestEveryProcedureHasARow: a method of AgentService without a row in the
// permission table would need Admin, silently; it must be written down,
// and the row must say what SPEC says the method needs: agents:read to
// read and follow, agents:write to send, cancel, answer tool calls and
// decide them, agents:admin to delete; listing is open to everyone and
// filtered. A method added to the service fails here until it is given
// its expected permission below.
func TestEveryProcedureHasARow(t *testing.T) {
	t.Parallel()
	anyone := need{anyone: true}
	expected := map[string]need{
		"GetHistory":       {perm: identity.Read},
		"GetAgent":         {perm: identity.Read},
		"Subscribe":        {perm: identity.Read},
		"SendMessage":      {perm: identity.Write},
		"Converse":         {perm: identity.Write},
		"CancelRun":        {perm: identity.Write},
		"SubmitToolResult": {perm: identity.Write},
		"DecideToolCall":   {perm: identity.Write},
		"DeleteAgent":      {perm: identity.Admin},
		"ListAgents":       anyone,
	}
	sd := agentv1.File_agent_v1_agent_proto.Services().ByName("AgentService")
	for i := range sd.Methods().Len() {
		name := string(sd.Methods().Get(i).Name())
		procedure := fmt.Sprintf("/%s/%s", sd.FullName(), name)
		n, ok := needOf(procedure)
		want, known := expected[name]
		switch {
		case !ok:
			t.Errorf("%s has no row in needOf", procedure)
		case !known:
			t.Errorf("%s has no expected permission in this test: add it", procedure)
		case n != want:
			t.Errorf("%s needs %+v (%v), want %+v (%v)", procedure, n, n.perm, want, want.perm)
		}
		delete(expected, name)
	}
	for name := range expected {
		t.Errorf("%s is expected, and no method of the service", name)
	}
	if n, ok := needOf("/probe.v1.Probe/Echo"); ok || n.perm != identity.Admin {
		t.Errorf("an unknown procedure needs %v (known %v); want Admin", n.perm, ok)
	}
}

func TestAuthorizeCall(t *testing.T) {
	t.Parallel()
	p, _, _ := newPolicy(t)
	as := func(id identity.Identity) context.Context { return WithIdentity(context.Background(), id) }
	for _, tc := range []struct {
		ctx       context.Context
		procedure string
		agentID   string
		code      connect.Code // 0: allowed
		says      string
	}{
		{as(alice), agentv1connect.AgentServiceSendMessageProcedure, "alice:1", 0, ""},
		{as(alice), agentv1connect.AgentServiceSubscribeProcedure, "alice:1", 0, ""},
		{as(alice), agentv1connect.AgentServiceSendMessageProcedure, "bob", connect.CodePermissionDenied, `does not reach agent "bob"`},
		{as(alice), agentv1connect.AgentServiceDeleteAgentProcedure, "alice:1", connect.CodePermissionDenied, "agents:admin"},
		{as(alice), agentv1connect.AgentServiceListAgentsProcedure, "", 0, ""},
		{as(alice), agentv1connect.AgentServiceGetAgentProcedure, "no spaces", connect.CodeInvalidArgument, "agent_id"},
		{as(alice), "/probe.v1.Probe/Echo", "alice:1", connect.CodePermissionDenied, "agents:admin"},
		{as(root), agentv1connect.AgentServiceDeleteAgentProcedure, "bob", 0, ""},
		{as(identity.Service()), agentv1connect.AgentServiceDeleteAgentProcedure, "bob", 0, ""},
		// Authentication is on: a context the edge never saw is refused.
		{context.Background(), agentv1connect.AgentServiceGetAgentProcedure, "bob", connect.CodeUnauthenticated, ""},
	} {
		err := p.authorizeCall(tc.ctx, tc.procedure, tc.agentID)
		name := IdentityFrom(tc.ctx).Name() + " " + tc.procedure + " " + tc.agentID
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s: %v, want allowed", name, err)
		case tc.code != 0 && (connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.says)):
			t.Errorf("%s: %v, want %v saying %q", name, err, tc.code, tc.says)
		}
	}
	if err := New(Config{}).authorizeCall(context.Background(), agentv1connect.AgentServiceDeleteAgentProcedure, "bob"); err != nil {
		t.Errorf("without authentication, a call without an identity is Anonymous's: %v", err)
	}
}

// TestUnaryRefusalIsObserved: a call the edge refuses never reaches its
// method, answers permission_denied with the Denied's message, and is
// logged with who and why, and counted by door.
func TestUnaryRefusalIsObserved(t *testing.T) {
	t.Parallel()
	p, m, logs := newPolicy(t)
	ran := 0
	method := Unary(func(_ context.Context, req *agentv1.SendMessageRequest) (*agentv1.SendMessageResponse, error) {
		ran++
		return &agentv1.SendMessageResponse{}, nil
	})
	ctx := WithIdentity(context.Background(), alice)
	c := Call{Door: WebSocket, Procedure: agentv1connect.AgentServiceSendMessageProcedure, Peer: "192.0.2.1:1"}
	_, err := p.Unary(ctx, c, method, &agentv1.SendMessageRequest{AgentId: "bob", Text: "hi"})
	var d *identity.Denied
	if connect.CodeOf(err) != connect.CodePermissionDenied || !errors.As(err, &d) || d.Reason != "agent" {
		t.Fatalf("refused call: %v; want permission_denied for the agent", err)
	}
	if _, err := p.Unary(ctx, c, method, &agentv1.SendMessageRequest{AgentId: "alice:1", Text: "hi"}); err != nil || ran != 1 {
		t.Fatalf("allowed call: %v, ran %d times; want it to run once", err, ran)
	}
	line := logs.String()
	for _, want := range []string{"msg=rpc", "protocol=websocket", "code=permission_denied", "agent=bob", "subject=alice", "reason=agent"} {
		if !strings.Contains(line, want) {
			t.Errorf("the log lacks %s:\n%s", want, line)
		}
	}
	denied := value(t, m, "agentgate_rpcs_total", "procedure", c.Procedure, "code", "permission_denied", "door", "websocket")
	ok := value(t, m, "agentgate_rpcs_total", "procedure", c.Procedure, "code", "ok", "door", "websocket")
	if inFlight := value(t, m, "agentgate_rpcs_in_flight"); denied != 1 || ok != 1 || inFlight != 0 {
		t.Errorf("counted %v refused and %v ok calls, %v in flight; want 1, 1, 0", denied, ok, inFlight)
	}
}

// TestPanicIsAnInternalError: a call made in process has no net/http to
// recover it; the edge does, observes it as internal, and says nothing of
// it to the client.
func TestPanicIsAnInternalError(t *testing.T) {
	t.Parallel()
	p, m, logs := newPolicy(t)
	ctx := WithIdentity(context.Background(), identity.Service())
	c := Call{Door: WebSocket, Procedure: agentv1connect.AgentServiceSubscribeProcedure}
	boom := ServerStream(func(context.Context, *agentv1.SubscribeRequest, func(*agentv1.SubscribeResponse) error) error {
		panic("the secret cause")
	})
	err := p.Stream(ctx, c, boom, &agentv1.SubscribeRequest{AgentId: "a"}, func(proto.Message) error { return nil })
	if connect.CodeOf(err) != connect.CodeInternal || strings.Contains(err.Error(), "secret") {
		t.Fatalf("panicking stream: %v; want an internal error that reveals nothing", err)
	}
	if !strings.Contains(logs.String(), "panic in a call") || !strings.Contains(logs.String(), "code=internal") {
		t.Errorf("the panic is not logged:\n%s", logs.String())
	}
	if n := value(t, m, "agentgate_rpcs_in_flight"); n != 0 {
		t.Errorf("%v calls left in flight", n)
	}
}

// TestServerStreamPassesLiveness: a nil response (the stream is live) reaches
// the caller's send as nil, not as a typed nil message.
func TestServerStreamPassesLiveness(t *testing.T) {
	t.Parallel()
	var got []proto.Message
	m := ServerStream(func(_ context.Context, _ *agentv1.SubscribeRequest, send func(*agentv1.SubscribeResponse) error) error {
		if err := send(nil); err != nil {
			return err
		}
		return send(&agentv1.SubscribeResponse{})
	})
	err := m.Stream(context.Background(), &agentv1.SubscribeRequest{}, func(res proto.Message) error {
		got = append(got, res)
		return nil
	})
	if err != nil || len(got) != 2 || got[0] != nil || got[1] == nil {
		t.Fatalf("sent %v, %v; want nil, then the response", got, err)
	}
	if _, err := Unary(func(context.Context, *agentv1.GetAgentRequest) (*agentv1.GetAgentResponse, error) {
		return nil, nil
	}).Unary(context.Background(), &agentv1.SendMessageRequest{}); connect.CodeOf(err) != connect.CodeInternal {
		t.Errorf("a request of the wrong type: %v, want internal", err)
	}
}

// TestAuthorizeOutsideACall: an upgrade, a door or the console is refused
// with 403 and the Denied's words; the socket's refusal is logged with who
// and why, and every refusal is counted by door.
func TestAuthorizeOutsideACall(t *testing.T) {
	t.Parallel()
	p, m, logs := newPolicy(t)
	r := httptest.NewRequest(http.MethodGet, "/ws/agent/bob", nil)
	r = r.WithContext(WithIdentity(r.Context(), alice))
	ref := p.Authorize(r, WebSocket, "bob", identity.Read)
	if ref == nil || ref.Status != http.StatusForbidden || ref.Code != connect.CodePermissionDenied || !strings.Contains(ref.Message, "bob") {
		t.Fatalf("alice following bob: %+v; want 403 permission_denied naming bob", ref)
	}
	if ref := p.Authorize(r, AGUI, "alice:1", identity.Write); ref != nil {
		t.Fatalf("alice writing to her agent: %+v", ref)
	}
	if ref := p.Authorize(r, AISDK, "alice:1", identity.Admin); ref == nil || ref.Reason != "scope" {
		t.Fatalf("alice as an admin: %+v; want a refusal for the scope", ref)
	}
	if got := logs.String(); !strings.Contains(got, `msg="websocket refused" reason=agent subject=alice path=/ws/agent/bob`) ||
		strings.Contains(got, "door=aisdk") {
		t.Errorf("want the socket's refusal logged with who and why, the door's left to the door's own line:\n%s", got)
	}
	ws := value(t, m, "agentgate_refusals_total", "reason", "agent", "door", "websocket")
	ai := value(t, m, "agentgate_refusals_total", "reason", "scope", "door", "aisdk")
	if ws != 1 || ai != 1 {
		t.Errorf("refusals counted: websocket %v, aisdk %v; want 1 each", ws, ai)
	}
}

// TestFrames: a socket may send a burst of twice the rate; past it frames
// are refused, and past a second burst of refusals it is a flood.
func TestFrames(t *testing.T) {
	t.Parallel()
	m := metrics.New("test", "memory")
	p := New(Config{FrameRate: 2, Metrics: m})
	f := p.Frames()
	now := time.Unix(1000, 0)
	var got []FrameVerdict
	for range 10 {
		got = append(got, f.Allow(now))
	}
	want := []FrameVerdict{FrameServed, FrameServed, FrameServed, FrameServed, FrameRefused, FrameRefused, FrameRefused, FrameRefused, FrameFlood, FrameFlood}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	if f.Allow(now.Add(time.Second)) != FrameServed {
		t.Error("the bucket does not fill again")
	}
	if n := value(t, m, "agentgate_refusals_total", "reason", "frame_rate", "door", "websocket"); n != 6 {
		t.Errorf("%v refused frames counted, want 6", n)
	}
	open := New(Config{}).Frames()
	for range 1000 {
		if open.Allow(now) != FrameServed {
			t.Fatal("a socket without a frame rate was refused")
		}
	}
}

// value reads a counter or gauge of m with the given labels (name, value,
// name, value …), 0 if it has none.
func value(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range mt.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
	}
	return 0
}
