package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/redis/go-redis/v9"
)

// These tests hold the promise of resume: a client that comes back with
// after_seq and the epoch of its log misses nothing and is never fed a new
// log as if it were the old one; a client that joins while a reply is being
// written sees the whole reply.

// anyEvent returns the next pushed event, ephemeral or persisted.
func (s *socket) anyEvent() *agentv1.AgentEvent {
	s.t.Helper()
	if len(s.backlog) > 0 {
		ev := s.backlog[0]
		s.backlog = s.backlog[1:]
		return ev
	}
	for {
		ev, err := s.read(10 * time.Second)
		if err != nil {
			s.t.Fatalf("socket: %v", err)
		}
		if ev != nil && ev.GetHeartbeat() == nil {
			return ev
		}
	}
}

// fill sends n messages to the agent and returns the epoch of its log.
func fill(ctx context.Context, t *testing.T, c agentv1connect.AgentServiceClient, agentID string, n int) string {
	t.Helper()
	var epoch string
	for i := range n {
		res := sendTo(ctx, t, c, agentID, fmt.Sprint("m", i), "")
		epoch = res.GetReply().GetEpoch()
		if epoch == "" || res.GetMessage().GetEpoch() != epoch {
			t.Fatalf("message and reply epochs %q and %q; want one, not empty", res.GetMessage().GetEpoch(), epoch)
		}
	}
	return epoch
}

// expectReset reads a history_reset and then the whole new log, seq 1 to
// last, all in epoch.
func expectReset(t *testing.T, ws *socket, epoch string, after, last uint64) {
	t.Helper()
	ev := ws.anyEvent()
	r := ev.GetHistoryReset()
	if r == nil || r.GetEpoch() != epoch || r.GetFirstRetainedSeq() != 1 || r.GetAfterSeq() != after {
		t.Fatalf("first event %v; want history_reset to epoch %q, first 1, after %d", ev, epoch, after)
	}
	for want := uint64(1); want <= last; want++ {
		ev := ws.next()
		if ev.GetSeq() != want || ev.GetEpoch() != epoch {
			t.Fatalf("replay: seq %d epoch %q, want seq %d epoch %q", ev.GetSeq(), ev.GetEpoch(), want, epoch)
		}
	}
}

// recreate fills agent ep with 5 exchanges, deletes it and fills it with 6,
// and returns the old and the new epoch.
func recreate(ctx context.Context, t *testing.T, c agentv1connect.AgentServiceClient) (old, cur string) {
	t.Helper()
	old = fill(ctx, t, c, "ep", 5)
	if _, err := c.DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "ep"})); err != nil {
		t.Fatal(err)
	}
	cur = fill(ctx, t, c, "ep", 6)
	if cur == old {
		t.Fatalf("the log made anew kept epoch %q", old)
	}
	return old, cur
}

func TestResumeAcrossDeleteGetsHistoryReset(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"memory", "redis"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var ps []*process
			if engine == "redis" {
				_, ps = replicas(t, 2)
			} else {
				ps = []*process{start(t), nil}
				ps[1] = ps[0]
			}
			old, cur := recreate(ctx, t, ps[0].client(t))

			// A frontend that saw seq 10 of the old log: reset, then all 12.
			expectReset(t, dialSocket(t, ps[1], "ep", "after_seq=10&epoch="+old), cur, 10, 12)
			// The right epoch: no reset, just what follows.
			ws := dialSocket(t, ps[1], "ep", "after_seq=10&epoch="+cur)
			for _, want := range []uint64{11, 12} {
				if ev := ws.anyEvent(); ev.GetSeq() != want || ev.GetHistoryReset() != nil {
					t.Fatalf("resume with the current epoch: %v, want seq %d", ev, want)
				}
			}
			// Past the end, even without an epoch: reset.
			expectReset(t, dialSocket(t, ps[1], "ep", "after_seq=40"), cur, 40, 12)

			// Subscribe, over connect-go, says the same.
			stream, err := ps[1].client(t).Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{
				AgentId: "ep", AfterSeq: proto64(10), Epoch: old,
			}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			var got []string
			for len(got) < 13 && stream.Receive() {
				ev := stream.Msg().GetEvent()
				if ev.GetHistoryReset() != nil {
					got = append(got, "reset:"+ev.GetHistoryReset().GetEpoch())
				} else if ev.GetSeq() != 0 {
					got = append(got, fmt.Sprint(ev.GetSeq()))
				}
			}
			want := "reset:" + cur + " 1 2 3 4 5 6 7 8 9 10 11 12"
			if strings.Join(got, " ") != want {
				t.Fatalf("Subscribe: %v\nwant %s (err %v)", got, want, stream.Err())
			}
			if st, err := ps[0].client(t).GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "ep"})); err != nil || st.Msg.GetAgent().GetEpoch() != cur {
				t.Fatalf("GetAgent epoch %q (err %v), want %q", st.Msg.GetAgent().GetEpoch(), err, cur)
			}
		})
	}
}

func proto64(n uint64) *uint64 { return &n }

func TestRedisLostDataGetsHistoryReset(t *testing.T) {
	t.Parallel()
	rs, ps := replicas(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := fill(ctx, t, ps[0].client(t), "lost", 3)
	// The socket replays the last two events before the flush, so that its
	// replay is done before the log is lost.
	live := dialSocket(t, ps[1], "lost", "after_seq=4&epoch="+old)
	for _, want := range []uint64{5, 6} {
		if ev := live.next(); ev.GetSeq() != want {
			t.Fatalf("replay before the flush: seq %d, want %d", ev.GetSeq(), want)
		}
	}

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cur := fill(ctx, t, ps[0].client(t), "lost", 1)
	if cur == old {
		t.Fatalf("the log Redis lost came back with its epoch %q", old)
	}
	// The open socket is told at once, and sees the new log whole.
	expectReset(t, live, cur, 6, 2)
	// A frontend that resumes with the old epoch is told too.
	expectReset(t, dialSocket(t, ps[0], "lost", "after_seq=6&epoch="+old), cur, 6, 2)
	// With the new one, nothing is replayed and nothing reset.
	ws := dialSocket(t, ps[0], "lost", "after_seq=2&epoch="+cur)
	res := sendTo(ctx, t, ps[1].client(t), "lost", "after", "")
	if ev := ws.anyEvent(); ev.GetSeq() != res.GetMessage().GetSeq() {
		t.Fatalf("resume with the current epoch: %v, want seq %d", ev, res.GetMessage().GetSeq())
	}
}

// TestJoinMidReply opens a socket on one replica while the other writes a
// reply: the socket gets the run so far, then the rest, and its deltas
// make the reply exactly.
func TestJoinMidReply(t *testing.T) {
	t.Parallel()
	for _, query := range []string{"", "after_seq=0"} {
		t.Run("query="+query, func(t *testing.T) {
			t.Parallel()
			_, ps := replicas(t, 2, "ECHO_DELAY=300ms")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			text := "a reply long enough to arrive in three deltas"
			watcher := dialSocket(t, ps[0], "mid", "")
			done := make(chan *agentv1.SendMessageResponse, 1)
			go func() {
				res, err := ps[0].client(t).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "mid", Text: text}))
				if err != nil {
					t.Error(err)
					done <- nil
					return
				}
				done <- res.Msg
			}()
			// Join once the first delta is out.
			for watcher.anyEvent().GetTextDelta() == nil {
			}
			ws := dialSocket(t, ps[1], "mid", query)
			var deltas []string
			var started int
			for {
				ev := ws.anyEvent()
				switch {
				case ev.GetRunStarted() != nil:
					started++
				case ev.GetTextDelta() != nil:
					if started != 1 {
						t.Fatalf("delta before run_started: %v", ev)
					}
					deltas = append(deltas, ev.GetTextDelta().GetDelta())
				case ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT:
					res := <-done
					if res == nil {
						t.FailNow()
					}
					if got := strings.Join(deltas, ""); got != ev.GetMessage().GetText() || got != res.GetReply().GetMessage().GetText() {
						t.Fatalf("deltas %q join to %q; the reply is %q", deltas, got, ev.GetMessage().GetText())
					}
					if len(deltas) < 2 || started != 1 {
						t.Fatalf("deltas %q, %d run_started: want the text so far, then live ones, after one run_started", deltas, started)
					}
					return
				}
			}
		})
	}
}
