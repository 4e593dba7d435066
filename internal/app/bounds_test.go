package app_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
)

// fakeOpenAI is an OpenAI-compatible Chat Completions server of our own:
// every request gets the content deltas stream returns, then a finish
// chunk and [DONE]. It records the requests' messages.
type fakeOpenAI struct {
	url      string
	requests atomic.Int64
	stream   func(w *sseWriter, r *http.Request)

	mu       sync.Mutex
	messages [][]chatMessage // per request
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func startFakeOpenAI(t *testing.T, stream func(w *sseWriter, r *http.Request)) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{stream: stream}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.url = "http://" + ln.Addr().String() + "/v1"
	return f
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	var body struct{ Messages []chatMessage }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.messages = append(f.messages, body.Messages)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	sw := &sseWriter{w: bufio.NewWriterSize(w, 64<<10), f: w.(http.Flusher)}
	f.stream(sw, r)
	sw.raw(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`)
	_, _ = sw.w.WriteString("data: [DONE]\n\n")
	sw.flush()
}

func (f *fakeOpenAI) request(i int) []chatMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.messages[i]
}

func (f *fakeOpenAI) env() map[string]string {
	return map[string]string{"RESPONDER": "openai", "OPENAI_BASE_URL": f.url, "OPENAI_MODEL": "fake"}
}

// sseWriter writes chunks of a Chat Completions stream.
type sseWriter struct {
	w   *bufio.Writer
	f   http.Flusher
	err error
}

func (s *sseWriter) raw(chunk string) {
	if s.err == nil {
		_, s.err = s.w.WriteString("data: " + chunk + "\n\n")
	}
}

// content writes one content delta; false once the client went away.
func (s *sseWriter) content(delta string) bool {
	b, _ := json.Marshal(delta)
	s.raw(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":{"content":` + string(b) + `},"finish_reason":null}]}`)
	return s.err == nil
}

func (s *sseWriter) flush() {
	if s.err == nil {
		s.err = s.w.Flush()
		s.f.Flush()
	}
}

// TestReplyCapOneHugeDelta: an upstream that sends one delta of 10 MB
// gets a reply of MAX_REPLY_BYTES (default 1 MiB), cut on a UTF-8
// boundary, with finish reason length: a reply, not a run error, asked of
// the upstream once, and what GetHistory returns is the capped reply.
func TestReplyCapOneHugeDelta(t *testing.T) {
	t.Parallel()
	// "a" then two-byte runes: the cap falls inside one.
	huge := "a" + strings.Repeat("é", 5<<20)
	up := startFakeOpenAI(t, func(w *sseWriter, _ *http.Request) { w.content(huge) })
	env := up.env()
	// The responder's own cap on one upstream event (1 MiB by default)
	// would refuse this event as upstream_event_too_large before the
	// reply's cap is reached; raised to its largest, the event passes and
	// the reply's cap is what ends the run.
	env["UPSTREAM_MAX_EVENT_BYTES"] = fmt.Sprint(16 << 20)
	srv := apptest.Start(t, env)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	res := send(ctx, t, c, "huge", "say a lot")
	m := res.GetReply().GetMessage()
	if m == nil {
		t.Fatalf("reply %v, want a message", res.GetReply())
	}
	if m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_LENGTH || len(m.GetText()) != agent.DefaultMaxReplyBytes-1 ||
		!utf8.ValidString(m.GetText()) || !strings.HasPrefix(huge, m.GetText()) {
		t.Fatalf("reply of %d bytes (valid UTF-8 %v), finish %v; want the first %d bytes of the delta, finish length",
			len(m.GetText()), utf8.ValidString(m.GetText()), m.GetFinishReason(), agent.DefaultMaxReplyBytes-1)
	}
	if n := up.requests.Load(); n != 1 {
		t.Fatalf("the upstream was asked %d times, want once", n)
	}
	hist, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "huge"}))
	if err != nil {
		t.Fatal(err)
	}
	if evs := hist.Msg.GetEvents(); len(evs) != 2 || evs[1].GetMessage().GetText() != m.GetText() {
		t.Fatalf("history: %d events, reply of %d bytes; want 2 and the capped reply", len(evs), len(evs[len(evs)-1].GetMessage().GetText()))
	}
}

// TestReplyCapAGUIUpstream: an AG-UI upstream streaming 40 deltas of
// 900 KB (each under the responder's event cap) gets a reply capped at
// MAX_REPLY_BYTES with finish reason length.
func TestReplyCapAGUIUpstream(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	piece, _ := json.Marshal(strings.Repeat("z", 900_000))
	upstream := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"type\":\"RUN_STARTED\",\"threadId\":\"t\",\"runId\":\"r\"}\n\ndata: {\"type\":\"TEXT_MESSAGE_START\",\"messageId\":\"m1\",\"role\":\"assistant\"}\n\n")
		for range 40 {
			if _, err := fmt.Fprintf(w, "data: {\"type\":\"TEXT_MESSAGE_CONTENT\",\"messageId\":\"m1\",\"delta\":%s}\n\n", piece); err != nil {
				return
			}
		}
		_, _ = io.WriteString(w, "data: {\"type\":\"TEXT_MESSAGE_END\",\"messageId\":\"m1\"}\n\ndata: {\"type\":\"RUN_FINISHED\",\"threadId\":\"t\",\"runId\":\"r\"}\n\n")
	})}
	go func() { _ = upstream.Serve(ln) }()
	t.Cleanup(func() { _ = upstream.Close() })
	srv := apptest.Start(t, map[string]string{"RESPONDER": "agui", "AGUI_URL": "http://" + ln.Addr().String() + "/"})
	ctx := testCtx(t)
	res := send(ctx, t, newClient(t, srv.URL, h2cConnect), "agui-huge", "go")
	m := res.GetReply().GetMessage()
	if m.GetFinishReason() != agentv1.FinishReason_FINISH_REASON_LENGTH || len(m.GetText()) != agent.DefaultMaxReplyBytes {
		t.Fatalf("reply %d bytes, finish %v (run error %v); want %d bytes, finish length",
			len(m.GetText()), m.GetFinishReason(), res.GetReply().GetRunError(), agent.DefaultMaxReplyBytes)
	}
}

// TestContextWithinBudget: what the upstream receives as the conversation
// stays within MAX_CONTEXT_BYTES however long the conversation grows: the
// oldest messages are left out, and a reply larger than the whole budget
// is cut, with a marker, rather than sent whole.
func TestContextWithinBudget(t *testing.T) {
	t.Parallel()
	const budget = 64 << 10
	var up *fakeOpenAI
	up = startFakeOpenAI(t, func(w *sseWriter, _ *http.Request) {
		// Replies of 20 KB, and one of 100 KB when asked for a big one.
		msgs := up.request(int(up.requests.Load()) - 1)
		pieces := 10
		if strings.Contains(msgs[len(msgs)-1].Content, "big") {
			pieces = 50
		}
		for range pieces {
			if !w.content(strings.Repeat("r", 2_000)) {
				return
			}
		}
	})
	env := up.env()
	env["MAX_CONTEXT_BYTES"] = fmt.Sprint(budget)
	srv := apptest.Start(t, env)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	texts := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "big one", "m8"}
	for _, text := range texts {
		send(ctx, t, c, "long", text)
	}
	size := func(msgs []chatMessage) int {
		n := 0
		for _, m := range msgs {
			n += len(m.Content)
		}
		return n
	}
	for i := range texts {
		if n := size(up.request(i)); n > budget {
			t.Fatalf("request %d carried %d bytes of conversation; the budget is %d", i, n, budget)
		}
	}
	// Before the big reply: the newest three 20 KB exchanges fit, the
	// oldest are left out.
	if msgs := up.request(6); len(msgs) != 7 || msgs[0].Content != "m3" || msgs[6].Content != "m6" {
		t.Fatalf("request 6 has %d messages, from %q; want 7, from m3 to m6", len(msgs), msgs[0].Content)
	}
	// After it: only the big reply, cut to fit with a marker, and the new
	// message.
	msgs := up.request(8)
	if len(msgs) != 2 || msgs[0].Role != "assistant" || !strings.HasSuffix(msgs[0].Content, "[cut to fit the context budget]") ||
		msgs[1].Content != "m8" || size(msgs) < budget-100 {
		t.Fatalf("request 8: %d messages of %d bytes, the first ending %q; want the big reply cut to the budget, then m8",
			len(msgs), size(msgs), msgs[0].Content[max(len(msgs[0].Content)-40, 0):])
	}
}

// TestJoinMidRunFastUpstream: a socket opened while a fast upstream streams
// (the run's progress folded in the engine meanwhile) sees text deltas
// whose concatenation is the final reply, on memory and on Redis: the
// folded text it joins with, then the live deltas after it, none twice.
func TestJoinMidRunFastUpstream(t *testing.T) {
	t.Parallel()
	for _, engineName := range []string{"memory", "redis"} {
		t.Run(engineName, func(t *testing.T) {
			t.Parallel()
			// The first 1000 deltas stream as fast as the gateway takes them,
			// and the socket joins meanwhile; the rest go in chunks of 100,
			// each once the socket has the one before, so that the test is
			// about the join and not about a reader that falls behind.
			var sent atomic.Int64
			release, ack := make(chan struct{}), make(chan struct{}, 1)
			up := startFakeOpenAI(t, func(w *sseWriter, r *http.Request) {
				for i := range 3000 {
					wait := release
					if i > 1000 && i%100 == 0 {
						wait = ack
					}
					if i >= 1000 && (i == 1000 || i%100 == 0) {
						w.flush()
						select {
						case <-wait:
						case <-r.Context().Done():
							return
						}
					}
					if !w.content(fmt.Sprintf("d%d ", i)) {
						return
					}
					sent.Add(1)
					if i%4 == 0 {
						w.flush()
					}
				}
			})
			env := up.env()
			// Up to 800 deltas may reach the socket before the test reads
			// its first: a queue that holds them all keeps a loaded machine
			// from closing it with 1013, which is not what this tests.
			env["WS_SEND_QUEUE"] = "4096"
			if engineName == "redis" {
				env["REDIS_URL"] = redistest.Start(t).URL()
			}
			srv := apptest.Start(t, env)
			ctx := testCtx(t)
			c := newClient(t, srv.URL, h2cConnect)
			done := make(chan *agentv1.SendMessageResponse, 1)
			go func() {
				res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "join-fast", Text: "stream"}))
				if err != nil {
					t.Errorf("SendMessage: %v", err)
					done <- nil
					return
				}
				done <- res.Msg
			}()
			// Join while the first half streams.
			for deadline := time.Now().Add(10 * time.Second); sent.Load() < 200; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the upstream did not start streaming")
				}
			}
			ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/agent/join-fast", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			var (
				deltas   strings.Builder
				runID    string
				released bool
			)
			for {
				ev := wsEvent(t, ws)
				if d := ev.GetTextDelta(); d != nil {
					if runID != "" && d.GetRunId() != runID {
						t.Fatalf("delta of run %q, joined %q", d.GetRunId(), runID)
					}
					deltas.WriteString(d.GetDelta())
					if !released {
						released = true
						close(release)
					}
					if text := deltas.String(); strings.HasSuffix(text, "99 ") {
						select {
						case ack <- struct{}{}:
						default:
						}
					}
				}
				if rs := ev.GetRunStarted(); rs != nil {
					runID = rs.GetRunId()
				}
				if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
					if runID == "" || m.GetRunId() != runID {
						t.Fatalf("reply of run %q; the socket joined run %q", m.GetRunId(), runID)
					}
					if m.GetText() != deltas.String() {
						t.Fatalf("the deltas seen (%d bytes) are not the reply (%d bytes)", deltas.Len(), len(m.GetText()))
					}
					if !strings.HasSuffix(m.GetText(), "d2999 ") {
						t.Fatalf("reply ends %q, want all 3000 deltas", m.GetText()[max(len(m.GetText())-20, 0):])
					}
					break
				}
			}
			if res := <-done; res.GetReply().GetMessage().GetText() != deltas.String() {
				t.Fatalf("SendMessage's reply differs from what the socket saw")
			}
		})
	}
}

// wsEvent returns the next event pushed on the socket.
func wsEvent(t *testing.T, ws *websocket.Conn) *agentv1.AgentEvent {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
		var frame struct{ Event json.RawMessage }
		if json.Unmarshal(data, &frame) != nil || frame.Event == nil {
			continue
		}
		ev := &agentv1.AgentEvent{}
		if err := protojson.Unmarshal(frame.Event, ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
}
