package api

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/identity"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMethodsCoverTheService walks AgentService's descriptor: every unary
// and server-streaming method has its function of the right kind in
// Methods, which takes the method's generated input type (an empty request
// is answered by the service, not refused as of the wrong type); the
// client and bidi streams have none, and Methods holds nothing else.
func TestMethodsCoverTheService(t *testing.T) {
	t.Parallel()
	ms := New(Config{Service: newService(t)}).Methods()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sd := agentv1.File_agent_v1_agent_proto.Services().ByName("AgentService")
	want := 0
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		m, ok := ms[string(md.Name())]
		if md.IsStreamingClient() {
			if ok {
				t.Errorf("%s is a client or bidi stream, but Methods has it", md.Name())
			}
			continue
		}
		want++
		switch {
		case !ok:
			t.Errorf("%s has no function in Methods: the socket cannot reach it", md.Name())
			continue
		case md.IsStreamingServer() != (m.Stream != nil) || (m.Stream != nil) == (m.Unary != nil):
			t.Errorf("%s: unary %v, stream %v; want the method's kind", md.Name(), m.Unary != nil, m.Stream != nil)
			continue
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if err != nil {
			t.Fatal(err)
		}
		req := mt.New().Interface() // no agent_id: the service refuses it at once
		if m.Unary != nil {
			_, err = m.Unary(ctx, req)
		} else {
			err = m.Stream(ctx, req, func(proto.Message) error { return nil })
		}
		if connect.CodeOf(err) == connect.CodeInternal {
			t.Errorf("%s with an empty %s: %v", md.Name(), md.Input().FullName(), err)
		}
	}
	if len(ms) != want {
		t.Errorf("Methods has %d functions, the service %d unary and server-streaming methods", len(ms), want)
	}
}

// newService is the agent service on the memory engine.
func newService(t *testing.T) *agent.Service {
	eng := engine.NewMemory(engine.Config{})
	svc := agent.New(agent.Config{Engine: eng, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() {
		svc.Close()
		_ = eng.Close()
	})
	return svc
}

// TestListAgentsShowsWhatTheCallerReaches: a user lists the agents it
// reaches; a service and an admin list all.
func TestListAgentsShowsWhatTheCallerReaches(t *testing.T) {
	t.Parallel()
	h := New(Config{Service: newService(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range []string{"alice:1", "alice:2", "bob"} {
		if _, err := h.SendMessage(ctx, &agentv1.SendMessageRequest{AgentId: id, Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	user := identity.Identity{Kind: identity.KindUser, Subject: "alice", Agents: []string{"alice:*"}, Perms: identity.Read}
	admin := identity.Identity{Kind: identity.KindUser, Subject: "root", Agents: []string{"root"}, Perms: identity.Admin}
	for _, tc := range []struct {
		id   identity.Identity
		want int
	}{{user, 2}, {admin, 3}, {identity.Service(), 3}} {
		res, err := h.ListAgents(edge.WithIdentity(ctx, tc.id), &agentv1.ListAgentsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.GetAgents()); got != tc.want {
			t.Errorf("%s lists %d agents (%v), want %d", tc.id.Name(), got, res.GetAgents(), tc.want)
		}
		for _, a := range res.GetAgents() {
			if tc.id.Kind == identity.KindUser && tc.id.Perms&identity.Admin == 0 && !tc.id.Reaches(a.GetAgentId()) {
				t.Errorf("%s sees %s", tc.id.Name(), a.GetAgentId())
			}
		}
	}
}
