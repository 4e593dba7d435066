package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
)

// call sends a unary call frame and returns its response or error frame,
// skipping pushed events.
func (s *socket) call(id, method, request string) (response, errCode string) {
	s.t.Helper()
	frame := fmt.Sprintf(`{"id":%q,"method":%q,"request":%s}`, id, method, request)
	if err := s.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		s.t.Fatal(err)
	}
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			s.t.Fatalf("waiting for %s: %v", id, err)
		}
		var f struct {
			ID       string          `json:"id"`
			Response json.RawMessage `json:"response"`
			Event    json.RawMessage `json:"event"`
			Error    struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		if f.ID == id {
			return string(f.Response), f.Error.Code
		}
		if f.Event != nil {
			ev := new(agentv1.AgentEvent)
			if err := protojson.Unmarshal(f.Event, ev); err != nil {
				s.t.Fatal(err)
			}
			s.backlog = append(s.backlog, ev)
		}
	}
}

// TestCancelRunAcrossReplicas cancels, from a socket on one replica, the
// reply the other replica writes: the reply is kept with the text written
// so far and finish reason cancelled, and SendMessage returns it.
func TestCancelRunAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, ps := replicas(t, 2, "ECHO_DELAY=400ms")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws := dialSocket(t, ps[1], "cancel", "")
	if _, code := ws.call("idle", "CancelRun", `{}`); code != "failed_precondition" {
		t.Fatalf("CancelRun with no reply being written: %q, want failed_precondition", code)
	}

	done := make(chan *agentv1.SendMessageResponse, 1)
	go func() {
		res, err := ps[0].client(t).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{
			AgentId: "cancel", Text: "a long answer that will not be finished",
		}))
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		done <- res.Msg
	}()
	var runID, text string
	for {
		ev := ws.anyEvent()
		if rs := ev.GetRunStarted(); rs != nil {
			runID = rs.GetRunId()
		}
		if d := ev.GetTextDelta(); d != nil {
			text += d.GetDelta()
			break
		}
	}
	if _, code := ws.call("wrong", "CancelRun", `{"runId":"not-this-one"}`); code != "failed_precondition" {
		t.Fatalf("CancelRun of another run: %q, want failed_precondition", code)
	}
	res, code := ws.call("stop", "CancelRun", fmt.Sprintf(`{"runId":%q}`, runID))
	if code != "" || !strings.Contains(res, runID) {
		t.Fatalf("CancelRun: response %s, error %q; want the run id %s", res, code, runID)
	}
	reply := (<-done).GetReply().GetMessage()
	if reply.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_CANCELLED || reply.GetRunId() != runID {
		t.Fatalf("reply %v; want run %s with finish reason cancelled", reply, runID)
	}
	if !strings.HasPrefix(reply.GetText(), text) || reply.GetText() == "echo: a long answer that will not be finished" {
		t.Fatalf("cancelled reply %q; want the text so far, which began %q, not all of it", reply.GetText(), text)
	}
	// The socket sees the same reply, and the agent answers the next
	// message in full.
	for {
		ev := ws.anyEvent()
		if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			if m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_CANCELLED {
				t.Fatalf("pushed reply %v, want cancelled", m)
			}
			break
		}
	}
	next := sendTo(ctx, t, ps[1].client(t), "cancel", "next", "")
	if m := next.GetReply().GetMessage(); m.GetText() != "echo: next" || m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
		t.Fatalf("after a cancel: %v, want echo: next, finish stop", m)
	}
}

// TestDisconnectCancelsNothing: a socket that sends a message and goes
// away leaves a reply written in full.
func TestDisconnectCancelsNothing(t *testing.T) {
	t.Parallel()
	p := start(t, "ECHO_DELAY=100ms")
	ws := dialSocket(t, p, "gone", "")
	ws.send("s1", "written anyway")
	for ws.anyEvent().GetRunStarted() == nil {
	}
	ws.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := p.client(t).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "gone", AfterSeq: proto64(0)}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	for stream.Receive() {
		if m := stream.Msg().GetEvent().GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			if m.GetText() != "echo: written anyway" || m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_STOP {
				t.Fatalf("reply %v, want it whole", m)
			}
			return
		}
	}
	t.Fatalf("stream ended: %v", stream.Err())
}
