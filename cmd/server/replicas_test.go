package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// These tests run two or three server processes against one real
// redis-server, as replicas behind a load balancer would.

func replicas(t *testing.T, n int, env ...string) (*redistest.Server, []*process) {
	t.Helper()
	rs := redistest.Start(t)
	var ps []*process
	for range n {
		ps = append(ps, start(t, append([]string{"REDIS_URL=" + rs.URL(), "LEASE_TTL=1s"}, env...)...))
	}
	return rs, ps
}

func (p *process) url() string { return "http://127.0.0.1:" + p.port }

func (p *process) client(t *testing.T) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(h2cClient(t), p.url())
}

// socket is a WebSocket client of the bridge that collects pushed events.
type socket struct {
	t    *testing.T
	conn *websocket.Conn
	// backlog holds events read while waiting for a call's answer, for
	// anyEvent to return first.
	backlog []*agentv1.AgentEvent
}

func dialSocket(t *testing.T, p *process, agentID, query string) *socket {
	t.Helper()
	url := "ws://127.0.0.1:" + p.port + "/ws/agent/" + agentID
	if query != "" {
		url += "?" + query
	}
	conn, res, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, res)
	}
	t.Cleanup(func() { conn.Close() })
	return &socket{t: t, conn: conn}
}

// next returns the next pushed persisted event, skipping ephemeral ones and
// responses, or fails the test after a timeout.
func (s *socket) next() *agentv1.AgentEvent {
	s.t.Helper()
	for {
		ev, err := s.read(10 * time.Second)
		if err != nil {
			s.t.Fatalf("socket: %v", err)
		}
		if ev != nil && ev.GetSeq() != 0 {
			return ev
		}
	}
}

func (s *socket) read(d time.Duration) (*agentv1.AgentEvent, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	_, data, err := s.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	var frame struct {
		Event json.RawMessage `json:"event"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &frame); err != nil {
		return nil, err
	}
	if frame.Error != nil {
		return nil, fmt.Errorf("error frame %s", frame.Error)
	}
	if frame.Event == nil {
		return nil, nil
	}
	ev := new(agentv1.AgentEvent)
	return ev, protojson.Unmarshal(frame.Event, ev)
}

func (s *socket) send(id, text string) {
	s.t.Helper()
	frame := fmt.Sprintf(`{"id":%q,"method":"SendMessage","request":{"text":%q}}`, id, text)
	if err := s.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		s.t.Fatal(err)
	}
}

func sendTo(ctx context.Context, t *testing.T, c agentv1connect.AgentServiceClient, agentID, text, key string) *agentv1.SendMessageResponse {
	t.Helper()
	res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: text, ClientMessageId: key}))
	if err != nil {
		t.Fatalf("SendMessage %q: %v", text, err)
	}
	return res.Msg
}

func TestReplicasShareOneAgent(t *testing.T) {
	t.Parallel()
	_, ps := replicas(t, 3)
	a, b, c := ps[0], ps[1], ps[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const agentID = "shared"

	wsA := dialSocket(t, a, agentID, "after_seq=0")
	wsB := dialSocket(t, b, agentID, "after_seq=0")
	zero := uint64(0)
	sub, err := c.client(t).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: agentID, AfterSeq: &zero}))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	// Concurrent sends spread over the three replicas.
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := sendTo(ctx, t, ps[i%3].client(t), agentID, fmt.Sprint("m", i), "")
			if res.GetReply().GetMessage().GetText() != fmt.Sprint("echo: m", i) || res.GetReply().GetSeq() <= res.GetMessage().GetSeq() {
				t.Errorf("send %d: %v", i, res)
			}
		}()
	}
	wg.Wait()

	hist, err := b.client(t).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: agentID, Limit: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	evs := hist.Msg.GetEvents()
	if len(evs) != 2*n {
		t.Fatalf("history has %d events, want %d", len(evs), 2*n)
	}
	// Messages to one agent are answered one at a time in seq order: in the
	// log, each reply answers the oldest message not yet answered.
	var asked []uint64 // the user messages' seqs, oldest first
	replies := 0
	for i, ev := range evs {
		if ev.GetSeq() != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.GetSeq())
		}
		m := ev.GetMessage()
		if m.GetRole() == agentv1.Role_ROLE_USER {
			asked = append(asked, ev.GetSeq())
			continue
		}
		if replies == len(asked) {
			t.Fatalf("reply at %d answers no waiting message: %v", ev.GetSeq(), m)
		}
		to, want := m.GetReplyToSeq(), asked[replies]
		if to != want {
			t.Fatalf("reply at %d answers seq %d, want %d: the oldest message not yet answered (replies answer in seq order)", ev.GetSeq(), to, want)
		}
		if m.GetText() != "echo: "+evs[to-1].GetMessage().GetText() {
			t.Fatalf("reply at %d to %d is wrong: %v", ev.GetSeq(), to, m)
		}
		replies++
	}
	if replies != n {
		t.Fatalf("%d replies in the log, want %d", replies, n)
	}
	for name, next := range map[string]func() *agentv1.AgentEvent{
		"socket on A": wsA.next,
		"socket on B": wsB.next,
		"Subscribe on C": func() *agentv1.AgentEvent {
			for sub.Receive() {
				if ev := sub.Msg().GetEvent(); ev.GetSeq() != 0 {
					return ev
				}
			}
			t.Fatalf("subscription ended: %v", sub.Err())
			return nil
		},
	} {
		for i := range evs {
			if got := next(); !proto.Equal(got, evs[i]) {
				t.Fatalf("%s saw %v at %d, history has %v", name, got, i, evs[i])
			}
		}
	}

	// A retry with the same client_message_id on another replica appends
	// nothing and returns the original.
	first := sendTo(ctx, t, a.client(t), agentID, "once", "key-1")
	again := sendTo(ctx, t, c.client(t), agentID, "once", "key-1")
	if !again.GetDuplicate() || !proto.Equal(first.GetReply(), again.GetReply()) {
		t.Fatalf("retry on another replica: %v, want the original %v", again, first)
	}

	// Resume across replicas: what was missed, exactly once.
	last := first.GetReply().GetSeq()
	sendTo(ctx, t, a.client(t), agentID, "while away", "")
	ws := dialSocket(t, c, agentID, fmt.Sprint("after_seq=", last))
	for i := range 2 {
		if ev := ws.next(); ev.GetSeq() != last+uint64(i)+1 {
			t.Fatalf("resumed socket got seq %d, want %d", ev.GetSeq(), last+uint64(i)+1)
		}
	}
}

func TestReplicaKilledMidReply(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	// A writes slowly, so that it dies with the reply half written.
	a := start(t, "REDIS_URL="+rs.URL(), "LEASE_TTL=1s", "ECHO_DELAY=1s")
	b := start(t, "REDIS_URL="+rs.URL(), "LEASE_TTL=1s")
	const agentID = "crash"

	ws := dialSocket(t, a, agentID, "after_seq=0")
	ws.send("c1", "are you there")
	msg := ws.next() // acknowledged: persisted with a seq
	if msg.GetMessage().GetText() != "are you there" {
		t.Fatalf("first event %v, want the user message", msg)
	}
	// Wait until A has started the reply, then kill it.
	for {
		ev, err := ws.read(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetRunStarted() != nil {
			break
		}
	}
	killed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)

	// The client reconnects to B and resumes: the message is there, and B
	// answers it once A's lease has expired.
	wsB := dialSocket(t, b, agentID, "after_seq=0")
	if ev := wsB.next(); !proto.Equal(ev, msg) {
		t.Fatalf("after the crash, B has %v, want the acknowledged %v", ev, msg)
	}
	reply := wsB.next()
	if reply.GetMessage().GetReplyToSeq() != msg.GetSeq() || reply.GetMessage().GetText() != "echo: are you there" {
		t.Fatalf("B's answer %v, want the echo of seq %d", reply, msg.GetSeq())
	}
	if d := time.Since(killed); d > 8*time.Second {
		t.Fatalf("answered %s after the crash, want within the lease time plus a reply", d)
	}
	// And the agent answers new messages.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res := sendTo(ctx, t, b.client(t), agentID, "again", ""); res.GetReply().GetMessage().GetText() != "echo: again" {
		t.Fatalf("after the crash: %v", res)
	}
}

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	rs := redistest.StartPersistent(t)
	ps := []*process{start(t, "REDIS_URL="+rs.URL()), start(t, "REDIS_URL="+rs.URL())}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sendTo(ctx, t, ps[0].client(t), "outage", "before", "")
	ws := dialSocket(t, ps[1], "outage", "after_seq=0")
	ws.next()
	ws.next()

	rs.Stop()
	stopped := time.Now()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	health := func(p *process) int {
		<-poll.C
		res, err := http.Get(p.url() + "/health")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, p := range ps {
		for health(p) != http.StatusServiceUnavailable {
			if time.Since(stopped) > 5*time.Second {
				t.Fatal("/health still 200 five seconds after Redis stopped")
			}
		}
	}
	callStart := time.Now()
	_, err := ps[0].client(t).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "outage", Text: "during"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("SendMessage while Redis is down: %v, want unavailable", err)
	}
	if d := time.Since(callStart); d > 5*time.Second {
		t.Fatalf("failing took %s; calls must fail fast", d)
	}

	rs.Restart()
	restarted := time.Now()
	for _, p := range ps {
		for health(p) != http.StatusOK {
			if time.Since(restarted) > 20*time.Second {
				t.Fatal("/health not 200 twenty seconds after Redis returned")
			}
		}
	}
	// The socket stayed open through the outage and sees new traffic.
	res := sendTo(ctx, t, ps[0].client(t), "outage", "after", "")
	for {
		ev := ws.next()
		if ev.GetMessage().GetText() == "after" && ev.GetSeq() == res.GetMessage().GetSeq() {
			break
		}
	}
}
