package app_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/mcptest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	mcptest.ServeStdioIfAsked() // the test binary run as an MCP server
	goleak.VerifyTestMain(m)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func send(ctx context.Context, t *testing.T, c agentv1connect.AgentServiceClient, agentID, text string) *agentv1.SendMessageResponse {
	t.Helper()
	res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: text}))
	if err != nil {
		t.Fatalf("SendMessage(%q): %v", text, err)
	}
	return res.Msg
}

func TestSendMessageEveryProtocol(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	for _, p := range allProtocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newClient(t, srv.URL, p)
			agentID := "proto-" + strings.ReplaceAll(p.name, "/", "-")
			res := send(ctx, t, c, agentID, "hello "+p.name)
			if got, want := res.GetReply().GetMessage().GetText(), "echo: hello "+p.name; got != want {
				t.Fatalf("reply text %q, want %q", got, want)
			}
			if res.GetMessage().GetSeq() != 1 || res.GetReply().GetSeq() != 2 {
				t.Fatalf("seqs %d, %d; want 1, 2", res.GetMessage().GetSeq(), res.GetReply().GetSeq())
			}
			if res.GetReply().GetMessage().GetReplyToSeq() != 1 {
				t.Fatalf("reply_to_seq %d, want 1", res.GetReply().GetMessage().GetReplyToSeq())
			}

			hist, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: agentID}))
			if err != nil {
				t.Fatal(err)
			}
			evs := hist.Msg.GetEvents()
			if len(evs) != 2 || evs[0].GetSeq() != 1 || evs[1].GetSeq() != 2 {
				t.Fatalf("history %v, want seq 1 and 2", evs)
			}
			if evs[0].GetMessage().GetRole() != agentv1.Role_ROLE_USER || evs[1].GetMessage().GetRole() != agentv1.Role_ROLE_ASSISTANT {
				t.Fatalf("history roles %v, %v", evs[0].GetMessage().GetRole(), evs[1].GetMessage().GetRole())
			}
			if !proto.Equal(evs[1], res.GetReply()) {
				t.Fatalf("history reply %v differs from SendMessage reply %v", evs[1], res.GetReply())
			}
		})
	}
}

func TestGetHistoryOverHTTPGet(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	c := agentv1connect.NewAgentServiceClient(httpClient(t, false), srv.URL, connect.WithHTTPGet())
	send(ctx, t, c, "get", "one")
	hist, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "get", AfterSeq: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(hist.Msg.GetEvents()); n != 1 || hist.Msg.GetEvents()[0].GetSeq() != 2 {
		t.Fatalf("after_seq=1 gave %d events %v, want only seq 2", n, hist.Msg.GetEvents())
	}
}

func TestPlainGRPCClient(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out := new(agentv1.SendMessageResponse)
	err = conn.Invoke(ctx, "/agent.v1.AgentService/SendMessage", &agentv1.SendMessageRequest{AgentId: "grpc-go", Text: "hi"}, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.GetReply().GetMessage().GetText(); got != "echo: hi" {
		t.Fatalf("reply %q, want %q", got, "echo: hi")
	}
}

// collect reads n events from a Subscribe stream, skipping heartbeats.
func collect(t *testing.T, stream *connect.ServerStreamForClient[agentv1.SubscribeResponse], n int) []*agentv1.AgentEvent {
	t.Helper()
	var out []*agentv1.AgentEvent
	for len(out) < n {
		if !stream.Receive() {
			t.Fatalf("stream ended after %d of %d events: %v", len(out), n, stream.Err())
		}
		ev := stream.Msg().GetEvent()
		if ev.GetHeartbeat() != nil {
			continue
		}
		out = append(out, ev)
	}
	return out
}

func TestSubscribeReplaysThenStreamsLive(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	for _, p := range allProtocols {
		t.Run(p.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := newClient(t, srv.URL, p)
			agentID := "sub-" + strings.ReplaceAll(p.name, "/", "-")
			send(ctx, t, c, agentID, "first")  // seq 1, 2
			send(ctx, t, c, agentID, "second") // seq 3, 4

			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			after := uint64(2)
			stream, err := c.Subscribe(sctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: agentID, AfterSeq: &after}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			replay := collect(t, stream, 2)
			if replay[0].GetSeq() != 3 || replay[1].GetSeq() != 4 {
				t.Fatalf("replay seqs %d, %d; want 3, 4", replay[0].GetSeq(), replay[1].GetSeq())
			}

			sent := send(ctx, t, c, agentID, "third one here")
			// Live: user message, run started, deltas, reply.
			var live []*agentv1.AgentEvent
			for {
				ev := collect(t, stream, 1)[0]
				live = append(live, ev)
				if ev.GetSeq() == sent.GetReply().GetSeq() {
					break
				}
			}
			if live[0].GetSeq() != 5 || live[0].GetMessage().GetText() != "third one here" {
				t.Fatalf("first live event %v, want the user message at seq 5", live[0])
			}
			if live[1].GetRunStarted().GetReplyToSeq() != 5 {
				t.Fatalf("second live event %v, want run_started for seq 5", live[1])
			}
			var text strings.Builder
			deltas := 0
			for _, ev := range live[2 : len(live)-1] {
				d := ev.GetTextDelta()
				if d == nil || ev.GetSeq() != 0 {
					t.Fatalf("event %v between run_started and reply, want only ephemeral deltas", ev)
				}
				if d.GetMessageId() != sent.GetReply().GetMessage().GetMessageId() {
					t.Fatalf("delta message id %q, want the reply's %q", d.GetMessageId(), sent.GetReply().GetMessage().GetMessageId())
				}
				deltas++
				text.WriteString(d.GetDelta())
			}
			if deltas < 2 || text.String() != "echo: third one here" {
				t.Fatalf("%d deltas spelling %q; want several spelling the reply", deltas, text.String())
			}
		})
	}
}

func TestSubscribeGapMarker(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"HISTORY_LIMIT": "4"})
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	for i := range 4 {
		send(ctx, t, c, "trimmed", fmt.Sprint("m", i)) // seq 1..8; 5..8 kept
	}
	after := uint64(1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Subscribe(sctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "trimmed", AfterSeq: &after}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	evs := collect(t, stream, 5)
	gap := evs[0].GetHistoryGap()
	if gap == nil || gap.GetAfterSeq() != 1 || gap.GetFirstRetainedSeq() != 5 {
		t.Fatalf("first event %v, want history_gap after 1 with first retained 5", evs[0])
	}
	for i, ev := range evs[1:] {
		if ev.GetSeq() != uint64(5+i) {
			t.Fatalf("event %d has seq %d, want %d", i, ev.GetSeq(), 5+i)
		}
	}
}

func TestIdempotentSend(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	req := &agentv1.SendMessageRequest{AgentId: "idem", Text: "once", ClientMessageId: "c-1"}
	first, err := c.SendMessage(ctx, connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.SendMessage(ctx, connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Msg.GetDuplicate() || first.Msg.GetDuplicate() {
		t.Fatalf("duplicate flags %v then %v; want false then true", first.Msg.GetDuplicate(), again.Msg.GetDuplicate())
	}
	if !proto.Equal(first.Msg.GetMessage(), again.Msg.GetMessage()) || !proto.Equal(first.Msg.GetReply(), again.Msg.GetReply()) {
		t.Fatalf("retry returned %v, want the original %v", again.Msg, first.Msg)
	}
	hist, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "idem"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(hist.Msg.GetEvents()); n != 2 {
		t.Fatalf("history has %d events after a retried send, want 2", n)
	}
}

// TestConcurrentSendsOneAgent sends 100 messages to one agent from 10
// clients at once while two Subscribe streams watch.
func TestConcurrentSendsOneAgent(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	const clients, perClient = 10, 10
	const agentID = "busy"

	// Two subscribers read concurrently with the sends, as real ones do.
	zero := uint64(0)
	seen := make([][]*agentv1.AgentEvent, 2)
	var readers sync.WaitGroup
	for i := range seen {
		c := newClient(t, srv.URL, h2cConnect)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.Subscribe(sctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: agentID, AfterSeq: &zero}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		readers.Add(1)
		go func() {
			defer readers.Done()
			for len(seen[i]) < 2*clients*perClient && s.Receive() {
				if ev := s.Msg().GetEvent(); ev.GetSeq() != 0 {
					seen[i] = append(seen[i], ev)
				}
			}
		}()
	}

	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for i := range clients {
		c := newClient(t, srv.URL, allProtocols[i%len(allProtocols)])
		for j := range perClient {
			wg.Add(1)
			go func() {
				defer wg.Done()
				text := fmt.Sprintf("c%d-m%d", i, j)
				res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: text}))
				switch {
				case err != nil:
					errs <- err
				case res.Msg.GetReply().GetMessage().GetText() != "echo: "+text:
					errs <- fmt.Errorf("reply to %q is %q", text, res.Msg.GetReply().GetMessage().GetText())
				case res.Msg.GetReply().GetSeq() <= res.Msg.GetMessage().GetSeq():
					errs <- fmt.Errorf("reply seq %d not after message seq %d", res.Msg.GetReply().GetSeq(), res.Msg.GetMessage().GetSeq())
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	c := newClient(t, srv.URL, h2cConnect)
	hist, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: agentID, Limit: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	evs := hist.Msg.GetEvents()
	if len(evs) != 2*clients*perClient {
		t.Fatalf("history has %d events, want %d", len(evs), 2*clients*perClient)
	}
	answered := map[uint64]bool{}
	for i, ev := range evs {
		if ev.GetSeq() != uint64(i+1) {
			t.Fatalf("event %d has seq %d: gap or duplicate", i, ev.GetSeq())
		}
		if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			to := m.GetReplyToSeq()
			if to >= ev.GetSeq() || answered[to] || evs[to-1].GetMessage().GetRole() != agentv1.Role_ROLE_USER {
				t.Fatalf("reply at seq %d answers seq %d: not an earlier, unanswered user message", ev.GetSeq(), to)
			}
			if m.GetText() != "echo: "+evs[to-1].GetMessage().GetText() {
				t.Fatalf("reply at seq %d is %q for message %q", ev.GetSeq(), m.GetText(), evs[to-1].GetMessage().GetText())
			}
			answered[to] = true
		}
	}
	readers.Wait()
	for i, persisted := range seen {
		if len(persisted) != len(evs) {
			t.Fatalf("subscriber %d saw %d persisted events, want %d", i, len(persisted), len(evs))
		}
		for j := range evs {
			if !proto.Equal(persisted[j], evs[j]) {
				t.Fatalf("subscriber %d saw %v at position %d, history has %v", i, persisted[j], j, evs[j])
			}
		}
	}
}

func TestConverse(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)

	t.Run("h2c", func(t *testing.T) {
		ctx := testCtx(t)
		c := newClient(t, srv.URL, h2cConnect)
		stream := c.Converse(ctx)
		if err := stream.Send(&agentv1.ConverseRequest{AgentId: "conv", Text: "hi there"}); err != nil {
			t.Fatal(err)
		}
		var reply *agentv1.AgentEvent
		var seen []uint64
		for reply == nil {
			res, err := stream.Receive()
			if err != nil {
				t.Fatal(err)
			}
			ev := res.GetEvent()
			if ev.GetSeq() != 0 {
				seen = append(seen, ev.GetSeq())
			}
			if ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT {
				reply = ev
			}
		}
		if reply.GetMessage().GetText() != "echo: hi there" || len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
			t.Fatalf("reply %v after persisted seqs %v; want echo at seq 2 after seq 1", reply, seen)
		}
		if err := stream.Send(&agentv1.ConverseRequest{AgentId: "other", Text: "x"}); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := stream.Receive()
			if err == nil {
				continue
			}
			if connect.CodeOf(err) != connect.CodePermissionDenied {
				t.Fatalf("naming another agent gave %v, want permission_denied", err)
			}
			break
		}
		_ = stream.CloseRequest()
		_ = stream.CloseResponse()
	})

	t.Run("h2c skipping deltas", func(t *testing.T) {
		ctx := testCtx(t)
		c := newClient(t, srv.URL, h2cConnect)
		stream := c.Converse(ctx)
		defer func() {
			_ = stream.CloseRequest()
			_ = stream.CloseResponse()
		}()
		// The stream follows the agent before the first text is sent, so
		// every event of the exchange comes live.
		if err := stream.Send(&agentv1.ConverseRequest{AgentId: "conv-whole", Text: "a few words", SkipDeltas: true}); err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for len(kinds) == 0 || kinds[len(kinds)-1] != "reply" {
			res, err := stream.Receive()
			if err != nil {
				t.Fatal(err)
			}
			switch ev := res.GetEvent(); {
			case ev.GetTextDelta() != nil:
				kinds = append(kinds, "delta")
			case ev.GetRunStarted() != nil:
				kinds = append(kinds, "run started")
			case ev.GetMessage().GetRole() == agentv1.Role_ROLE_USER:
				kinds = append(kinds, "message")
			case ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT:
				kinds = append(kinds, "reply")
			}
		}
		if got := strings.Join(kinds, ", "); got != "message, run started, reply" {
			t.Fatalf("Converse with skip_deltas got %s; want message, run started, reply", got)
		}
		// It is a choice for the whole stream, made in the first request.
		if err := stream.Send(&agentv1.ConverseRequest{Text: "again", SkipDeltas: true}); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := stream.Receive()
			if err == nil {
				continue
			}
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "skip_deltas") {
				t.Fatalf("skip_deltas in a later request gave %v, want invalid_argument naming it", err)
			}
			break
		}
	})

	t.Run("http1", func(t *testing.T) {
		ctx := testCtx(t)
		c := newClient(t, srv.URL, protocol{name: "connect/http1"})
		stream := c.Converse(ctx)
		err := stream.Send(&agentv1.ConverseRequest{AgentId: "conv1", Text: "hi"})
		if err == nil || errors.Is(err, io.EOF) {
			// Send reports a refused stream as io.EOF; Receive has why.
			_, err = stream.Receive()
		}
		if err == nil {
			t.Fatal("Converse over HTTP/1.1 succeeded; want an error")
		}
		// A bidi stream needs HTTP/2: connect-go's handler answers HTTP 505,
		// which its client reports as unknown, naming the status.
		if connect.CodeOf(err) != connect.CodeUnknown || !strings.Contains(err.Error(), "505 HTTP Version Not Supported") {
			t.Fatalf("Converse over HTTP/1.1 gave %v (code %v); want unknown naming HTTP 505", err, connect.CodeOf(err))
		}
		_ = stream.CloseRequest()
		_ = stream.CloseResponse()
	})
}

func TestAgentLifecycleAndErrors(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)

	for _, id := range []string{"", "has space", "slash/no", strings.Repeat("a", 129), "ünicode"} {
		_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: id, Text: "x"}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "agent_id") {
			t.Errorf("agent_id %q gave %v, want invalid_argument naming agent_id", id, err)
		}
	}
	if _, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "ok", Text: ""})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("empty text gave %v, want invalid_argument", err)
	}
	if _, err := c.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "nobody"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("GetAgent of an unknown agent gave %v, want not_found", err)
	}

	send(ctx, t, c, "life", "hello")
	got, err := c.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "life"}))
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Msg.GetAgent(); a.GetLastSeq() != 2 || a.GetFirstSeq() != 1 || a.GetCreateTime() == nil || a.GetLastActivityTime() == nil {
		t.Fatalf("GetAgent %v, want last_seq 2, first_seq 1 and times", a)
	}
	list, err := c.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.GetAgents()) != 1 || list.Msg.GetAgents()[0].GetAgentId() != "life" {
		t.Fatalf("ListAgents %v, want only life", list.Msg.GetAgents())
	}
	if _, err := c.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "life"})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "life"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("GetAgent after delete gave %v, want not_found", err)
	}
	hist, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "life"}))
	if err != nil || len(hist.Msg.GetEvents()) != 0 {
		t.Fatalf("history after delete: %v, %v; want empty", hist, err)
	}
	if _, err := c.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "life"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("deleting twice gave %v, want not_found", err)
	}
}

func TestListAgentsPaging(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	for _, id := range []string{"c", "a", "e", "b", "d"} {
		send(ctx, t, c, id, "x")
	}
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		res, err := c.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{PageSize: 2, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range res.Msg.GetAgents() {
			ids = append(ids, a.GetAgentId())
		}
		token = res.Msg.GetNextPageToken()
		if token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if strings.Join(ids, ",") != "a,b,c,d,e" {
		t.Fatalf("paged ids %v, want a..e in order", ids)
	}
	if _, err := c.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{PageSize: -1})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("page_size -1 gave %v, want invalid_argument", err)
	}
}

func TestSubscribeHeartbeat(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"HEARTBEAT_INTERVAL": "20ms"})
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	stream, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "quiet"}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for range 2 {
		if !stream.Receive() {
			t.Fatal(stream.Err())
		}
		if stream.Msg().GetEvent().GetHeartbeat() == nil {
			t.Fatalf("idle stream sent %v, want a heartbeat", stream.Msg().GetEvent())
		}
	}
}

// TestConverseHalfClose sends, half-closes, and still gets the reply, as
// grpcurl and buf curl do with a request body.
func TestConverseHalfClose(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	for _, p := range []protocol{h2cConnect, allProtocols[1]} {
		c := newClient(t, srv.URL, p)
		stream := c.Converse(ctx)
		agentID := "half-" + strings.ReplaceAll(p.name, "/", "-")
		if err := stream.Send(&agentv1.ConverseRequest{AgentId: agentID, Text: "one"}); err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&agentv1.ConverseRequest{Text: "two"}); err != nil {
			t.Fatal(err)
		}
		if err := stream.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		var replies []string
		for {
			res, err := stream.Receive()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: stream ended with %v after replies %v", p.name, err, replies)
			}
			if m := res.GetEvent().GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
				replies = append(replies, m.GetText())
			}
		}
		if strings.Join(replies, "|") != "echo: one|echo: two" {
			t.Fatalf("%s: replies %v, want both, in order", p.name, replies)
		}
		_ = stream.CloseResponse()
	}
}
