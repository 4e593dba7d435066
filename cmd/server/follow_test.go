package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/redis/go-redis/v9"
)

// These tests hold what a follower of an agent is promised when the log
// under it goes away mid-reply: a DeleteAgent stops the run at once, and
// nothing of the old log follows the history_reset; a door stream whose
// log was lost ends with a code that says so instead of hanging.

// slowUpstream is an OpenAI-compatible model server: a message that starts
// with "long" is answered with "tick " every 20 ms until the request is
// cancelled (or a minute has passed), anything else with "ok" at once.
type slowUpstream struct {
	*httptest.Server
	// started gets a value when a long answer wrote its first delta; ended
	// when its request is over, with the time it ended.
	started chan struct{}
	ended   chan time.Time
}

func newSlowUpstream(t *testing.T) *slowUpstream {
	u := &slowUpstream{started: make(chan struct{}, 8), ended: make(chan time.Time, 8)}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *slowUpstream) serve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	last := ""
	if n := len(body.Messages); n > 0 {
		last = body.Messages[n-1].Content
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta, finish string) {
		fr := "null"
		if finish != "" {
			fr = fmt.Sprintf("%q", finish)
		}
		fmt.Fprintf(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":%s}]}`+"\n\n", delta, fr)
		w.(http.Flusher).Flush()
	}
	if !strings.HasPrefix(last, "long") {
		chunk("ok", "")
		chunk("", "stop")
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		return
	}
	defer func() { u.ended <- time.Now() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for i := 0; ; i++ {
		chunk("tick ", "")
		if i == 0 {
			u.started <- struct{}{}
		}
		select {
		case <-r.Context().Done():
			return
		case <-deadline:
			chunk("", "stop")
			return
		case <-tick.C:
		}
	}
}

// awaitStart waits for a long answer to write its first delta.
func (u *slowUpstream) awaitStart(t *testing.T) {
	t.Helper()
	select {
	case <-u.started:
	case <-time.After(20 * time.Second):
		t.Fatal("the model was not called within 20 s")
	}
}

// slowEnv runs the openai responder against u; the lease is renewed only
// every 10 s, so that what stops a run sooner is not the renewal.
func slowEnv(u *slowUpstream) []string {
	return []string{"RESPONDER=openai", "OPENAI_BASE_URL=" + u.URL + "/v1", "OPENAI_MODEL=m", "LEASE_TTL=30s"}
}

// frames reads every pushed event of a socket until stop returns true for
// one, and returns them in order.
func (s *socket) frames(stop func(*agentv1.AgentEvent) bool) []*agentv1.AgentEvent {
	s.t.Helper()
	var out []*agentv1.AgentEvent
	for {
		ev := s.anyEvent()
		out = append(out, ev)
		if stop(ev) {
			return out
		}
	}
}

func TestDeleteMidReplyStopsTheRun(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"memory", "redis"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			up := newSlowUpstream(t)
			var writer, other *process
			if engine == "redis" {
				_, ps := replicas(t, 2, slowEnv(up)...)
				writer, other = ps[0], ps[1]
			} else {
				writer = start(t, slowEnv(up)...)
				other = writer
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const agentID = "doomed"
			ws := dialSocket(t, other, agentID, "")

			sent := make(chan error, 1)
			go func() {
				_, err := writer.client(t).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: "long story"}))
				sent <- err
			}()
			up.awaitStart(t)
			var oldRun, oldEpoch string
			for _, ev := range ws.frames(func(ev *agentv1.AgentEvent) bool { return ev.GetTextDelta() != nil }) {
				if rs := ev.GetRunStarted(); rs != nil {
					oldRun = rs.GetRunId()
				}
				if ev.GetSeq() != 0 {
					oldEpoch = ev.GetEpoch()
				}
			}
			if oldRun == "" || oldEpoch == "" {
				t.Fatalf("no run_started (%q) or user message (epoch %q) before the first delta", oldRun, oldEpoch)
			}

			deleted := time.Now()
			if _, err := other.client(t).DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: agentID})); err != nil {
				t.Fatal(err)
			}
			// The writer stops calling the model at once, not when its
			// lease renewal (every 10 s) would have noticed.
			select {
			case end := <-up.ended:
				d := end.Sub(deleted)
				if d > 2*time.Second {
					t.Fatalf("the run went on for %s after DeleteAgent", d)
				}
				t.Logf("the model call ended %s after DeleteAgent", d)
			case <-time.After(5 * time.Second):
				t.Fatal("the run still calls the model 5 s after DeleteAgent")
			}
			select {
			case err := <-sent:
				if connect.CodeOf(err) != connect.CodeAborted {
					t.Fatalf("the SendMessage whose agent was deleted: %v, want aborted", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the SendMessage whose agent was deleted is still waiting 10 s later")
			}

			// The next message is answered promptly, on either replica.
			begun := time.Now()
			next := sendTo(ctx, t, other.client(t), agentID, "next", "")
			took := time.Since(begun)
			if took > 3*time.Second {
				t.Fatalf("SendMessage after the delete took %s", took)
			}
			t.Logf("SendMessage after the delete took %s", took)
			if m := next.GetReply().GetMessage(); m.GetText() != "ok" {
				t.Fatalf("reply after the delete: %v", next.GetReply())
			}

			// The socket sees the reset, then the new log only: nothing
			// of the old run, nothing of the old epoch.
			evs := ws.frames(func(ev *agentv1.AgentEvent) bool {
				return ev.GetMessage().GetRole() == agentv1.Role_ROLE_ASSISTANT && ev.GetSeq() == next.GetReply().GetSeq()
			})
			reset := -1
			for i, ev := range evs {
				if ev.GetHistoryReset() != nil && reset < 0 {
					reset = i
				}
			}
			if reset < 0 {
				t.Fatalf("no history_reset among %d events after the delete", len(evs))
			}
			for _, ev := range evs[reset+1:] {
				if runOf(ev) == oldRun || (ev.GetEpoch() != "" && ev.GetEpoch() == oldEpoch) {
					t.Fatalf("after the history_reset, an event of the old log: %v", ev)
				}
				if ev.GetSeq() == 0 && ev.GetRunStarted() == nil && ev.GetTextDelta() == nil && ev.GetHistoryReset() == nil {
					continue
				}
				if ev.GetEpoch() != next.GetReply().GetEpoch() && ev.GetHistoryReset() == nil {
					t.Fatalf("after the history_reset, an event of epoch %q, want the new log's %q: %v", ev.GetEpoch(), next.GetReply().GetEpoch(), ev)
				}
			}
		})
	}
}

// runOf is the run an event belongs to.
func runOf(ev *agentv1.AgentEvent) string {
	switch {
	case ev.GetRunStarted() != nil:
		return ev.GetRunStarted().GetRunId()
	case ev.GetTextDelta() != nil:
		return ev.GetTextDelta().GetRunId()
	case ev.GetMessage() != nil:
		return ev.GetMessage().GetRunId()
	case ev.GetRunError() != nil:
		return ev.GetRunError().GetRunId()
	}
	return ""
}

// doorStream is an SSE response of a door, read frame by frame.
type doorStream struct {
	res *http.Response
	r   *bufio.Reader
}

func openDoor(t *testing.T, ctx context.Context, method, url, body string) *doorStream {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := h1Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("%s %s: status %d: %s", method, url, res.StatusCode, b)
	}
	return &doorStream{res: res, r: bufio.NewReader(res.Body)}
}

// next returns the data of the next frame, skipping comments; io.EOF at
// the end of the stream.
func (d *doorStream) next() (string, error) {
	for {
		line, err := d.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			if _, err := d.r.ReadString('\n'); err != nil {
				return "", err
			}
			return strings.TrimSuffix(data, "\n"), nil
		}
	}
}

// rest reads the stream to its end, within d, and returns its frames.
func (d *doorStream) rest(t *testing.T, within time.Duration) []string {
	t.Helper()
	timer := time.AfterFunc(within, func() { d.res.Body.Close() })
	defer timer.Stop()
	var out []string
	for {
		data, err := d.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("the stream did not end within %s (%v); it sent %d frames, the last %q", within, err, len(out), last(out))
		}
		out = append(out, data)
	}
}

func last(frames []string) string {
	if len(frames) == 0 {
		return ""
	}
	return frames[len(frames)-1]
}

// TestDoorsEndWhenRedisLosesTheLog flushes Redis while an AG-UI stream on
// one replica and an AI SDK stream on the other follow a reply: each ends
// with the code history_reset within a bounded time, never hangs.
func TestDoorsEndWhenRedisLosesTheLog(t *testing.T) {
	t.Parallel()
	up := newSlowUpstream(t)
	rs, ps := replicas(t, 2, slowEnv(up)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const agentID = "flushed"
	agui := openDoor(t, ctx, http.MethodPost, ps[0].url()+"/agui/"+agentID, fmt.Sprintf(`{"threadId":%q,"runId":"r1","state":{},"tools":[],"context":[],"forwardedProps":{},"messages":[{"id":"u1","role":"user","content":"long story"}]}`, agentID))
	up.awaitStart(t)
	// The AI SDK's resume stream joins the same reply on the other replica.
	aisdk := openDoor(t, ctx, http.MethodGet, ps[1].url()+"/ai/chat/"+agentID+"/stream", "")
	for _, d := range []*doorStream{agui, aisdk} {
		for {
			data, err := d.next()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(data, "tick") {
				break
			}
		}
	}

	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const within = 10 * time.Second
	flushed := time.Now()
	frames := agui.rest(t, within)
	t.Logf("the AG-UI stream ended %s after FLUSHALL", time.Since(flushed))
	var end struct{ Type, Code, Message string }
	_ = json.Unmarshal([]byte(last(frames)), &end)
	if end.Type != "RUN_ERROR" || end.Code != "history_reset" {
		t.Fatalf("AG-UI stream ended with %q, want RUN_ERROR history_reset", last(frames))
	}
	frames = aisdk.rest(t, within)
	t.Logf("the AI SDK stream ended %s after FLUSHALL", time.Since(flushed))
	if len(frames) < 2 || frames[len(frames)-1] != "[DONE]" {
		t.Fatalf("AI SDK stream ended with %q, want an error chunk, then [DONE]", frames)
	}
	var chunk struct{ Type, ErrorText string }
	_ = json.Unmarshal([]byte(frames[len(frames)-2]), &chunk)
	if chunk.Type != "error" || !strings.HasPrefix(chunk.ErrorText, "history_reset: ") {
		t.Fatalf("AI SDK stream's last chunk %q, want an error chunk with history_reset", frames[len(frames)-2])
	}
}
