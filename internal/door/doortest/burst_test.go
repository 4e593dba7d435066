package doortest_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/tooltest"
	"github.com/agentgate/agentgate/tool"
)

// burstUpstream is an OpenAI-compatible model server that answers with n
// deltas (a word and pad), perWrite of them in each TCP write, as fast as
// it can. Each answer, once written, sends on done.
func burstUpstream(t *testing.T, n, perWrite int, pad string, done chan<- struct{}) *httptest.Server {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		w.Header().Set("Content-Type", "text/event-stream")
		var buf bytes.Buffer
		for i := range n {
			fmt.Fprintf(&buf, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"w%d%s "},"finish_reason":null}]}`+"\n\n", i, pad)
			if (i+1)%perWrite == 0 || i == n-1 {
				if _, err := w.Write(buf.Bytes()); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				buf.Reset()
			}
		}
		fmt.Fprint(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(u.Close)
	return u
}

// A burst far larger than a subscriber's buffer reaches a door's client
// whole: the door coalesces what waits and, when its subscription
// overflows anyway (here: its client stops reading until the upstream is
// done, so that the door's writes wait), picks the reply up again where it
// was. The client never sees the WebSocket's "resume with after_seq"
// advice.
func TestDoorStreamsSurviveABurst(t *testing.T) {
	t.Parallel()
	newUp := func(t *testing.T, pad string, written chan<- struct{}) *httptest.Server {
		return burstUpstream(t, 20000, 50, pad, written)
	}
	burstThroughDoors(t, "burst-", newUp, nil, func(t *testing.T, door, pad string, evs []event, log []*agentv1.AgentEvent) {
		reply := log[len(log)-1].GetMessage()
		if reply.GetRole() != agentv1.Role_ROLE_ASSISTANT || !strings.HasPrefix(reply.GetText(), "w0"+pad+" w1") {
			t.Fatalf("%s: the reply in the history: %d bytes, %v", door, len(reply.GetText()), reply.GetFinishReason())
		}
		if got := text(evs, map[string]string{"agui": "TEXT_MESSAGE_CONTENT", "aisdk": "text-delta"}[door], "delta"); got != reply.GetText() {
			t.Fatalf("%s: the stream's text is %d bytes, the reply %d; they differ", door, len(got), len(reply.GetText()))
		}
	})
}

// burstThroughDoors sends a message through each door, AG-UI then the AI
// SDK, to agents named prefix and the door, answered by an OpenAI-compatible
// upstream that newUp makes (it sends on written once it wrote its burst),
// once read by a fast reader and once by one that waits until the burst
// was written before it reads; each stream must finish, and check gets
// its events and the agent's log.
func burstThroughDoors(t *testing.T, prefix string, newUp func(t *testing.T, pad string, written chan<- struct{}) *httptest.Server,
	opts func(*app.Options), check func(t *testing.T, door, pad string, evs []event, log []*agentv1.AgentEvent)) {
	for _, reader := range []struct {
		name string
		pad  string
		wait bool
	}{{"fast reader", "", false}, {"stalled reader", strings.Repeat("x", 200), true}} {
		t.Run(reader.name, func(t *testing.T) {
			t.Parallel()
			written := make(chan struct{}, 2)
			up := newUp(t, reader.pad, written)
			var fns []func(*app.Options)
			if opts != nil {
				fns = append(fns, opts)
			}
			srv := apptest.Start(t, map[string]string{
				"RESPONDER": "openai", "OPENAI_BASE_URL": up.URL + "/v1", "OPENAI_MODEL": "m",
			}, fns...)
			for _, tc := range []struct{ name, path, body string }{
				{"agui", "/agui/" + prefix + "agui", aguiBody("t", "r", "u1", "go")},
				{"aisdk", "/ai/chat", chatBody(prefix+"aisdk", "u1", "go")},
			} {
				ctx := testCtx(t)
				res := post(t, ctx, client(t), srv.URL+tc.path, tc.body)
				if reader.wait {
					awaitWritten(t, written)
				}
				evs := newEvents(t, res).all()
				if !reader.wait {
					awaitWritten(t, written)
				}
				if tc.name == "agui" {
					verifyAGUI(t, evs)
				}
				if n := len(evs); n < 2 || (evs[n-1].str("type") != "RUN_FINISHED" && evs[n-2].str("type") != "finish") {
					t.Fatalf("%s: the stream did not finish: it ended with %v", tc.name, evs[max(0, n-2):])
				}
				hist, err := connectClient(t, srv).GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: prefix + tc.name}))
				if err != nil {
					t.Fatal(err)
				}
				check(t, tc.name, reader.pad, evs, hist.Msg.GetEvents())
			}
		})
	}
}

func awaitWritten(t *testing.T, written <-chan struct{}) {
	t.Helper()
	select {
	case <-written:
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream did not write its answer within 20 s")
	}
}

// A door stream whose agent is deleted mid-reply ends at once with the
// code agent_deleted, for both doors.
func TestDoorStreamsEndWhenTheAgentIsDeleted(t *testing.T) {
	t.Parallel()
	srv := start(t, nil)
	long := "slow " + strings.Repeat("word ", 500)
	for _, tc := range []struct{ name, path, body, delta string }{
		{"agui", "/agui/deleted-agui", aguiBody("t", "r", "u1", long), "TEXT_MESSAGE_CONTENT"},
		{"aisdk", "/ai/chat", chatBody("deleted-aisdk", "u1", long), "text-delta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			stream := newEvents(t, post(t, ctx, client(t), srv.URL+tc.path, tc.body))
			seen := stream.until(tc.delta)
			if _, err := connectClient(t, srv).DeleteAgent(ctx, connect.NewRequest(&agentv1.DeleteAgentRequest{AgentId: "deleted-" + tc.name})); err != nil {
				t.Fatal(err)
			}
			rest := stream.all()
			n := len(rest)
			switch tc.name {
			case "agui":
				verifyAGUI(t, append(seen, rest...))
				if end := rest[n-1]; end.str("type") != "RUN_ERROR" || end.str("code") != "agent_deleted" {
					t.Fatalf("AG-UI stream ended with %v, want RUN_ERROR agent_deleted", end)
				}
			case "aisdk":
				if n < 2 || rest[n-1].str("type") != "[DONE]" || rest[n-2].str("type") != "error" ||
					!strings.HasPrefix(rest[n-2].str("errorText"), "agent_deleted: ") {
					t.Fatalf("AI SDK stream ended with %v, want an agent_deleted error chunk, then [DONE]", rest[max(0, n-2):])
				}
			}
		})
	}
}

// toolThenBurstUpstream is an OpenAI-compatible model server that calls
// the server tool lookup first, its arguments in two pieces, and once the
// tool's result is in the conversation answers with a burst as
// burstUpstream does.
func toolThenBurstUpstream(t *testing.T, n, perWrite int, pad string, done chan<- struct{}) *httptest.Server {
	burst := burstUpstream(t, n, perWrite, pad, done)
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"role":"tool"`)) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			burst.Config.Handler.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, chunk := range []string{
			`{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":""}}`,
			`{"index":0,"function":{"arguments":"{\"q\":"}}`,
			`{"index":0,"function":{"arguments":"\"x\"}"}}`,
		} {
			fmt.Fprintf(w, `data: {"id":"c0","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[%s]},"finish_reason":null}]}`+"\n\n", chunk)
		}
		fmt.Fprint(w, `data: {"id":"c0","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(u.Close)
	return u
}

// The same burst as the second step of a run, after a server tool's step:
// the door streams both steps in one response, the burst whole, when its
// subscription overflows mid-step too.
func TestDoorStreamsSurviveABurstAfterAToolStep(t *testing.T) {
	t.Parallel()
	newUp := func(t *testing.T, pad string, written chan<- struct{}) *httptest.Server {
		return toolThenBurstUpstream(t, 20000, 50, pad, written)
	}
	tools := func(o *app.Options) { o.Tools = []tool.Source{tooltest.ServerTools()} }
	burstThroughDoors(t, "steps-", newUp, tools, func(t *testing.T, door, pad string, evs []event, log []*agentv1.AgentEvent) {
		if len(log) != 3 || log[1].GetMessage().GetToolCalls()[0].GetResult() != `{"found":{"q":"x"}}` {
			t.Fatalf("%s: the log %v", door, log[:min(len(log), 2)])
		}
		reply := log[2].GetMessage()
		delta := map[string]string{"agui": "TEXT_MESSAGE_CONTENT", "aisdk": "text-delta"}[door]
		if got := text(evs, delta, "delta"); got != reply.GetText() || !strings.HasPrefix(got, "w0"+pad+" w1") {
			t.Fatalf("%s: the stream's text is %d bytes, the last step's %d; they differ", door, len(got), len(reply.GetText()))
		}
		for _, typ := range []string{"TOOL_CALL_RESULT", "tool-output-available"} {
			if r := find(evs, typ); r != nil && !strings.Contains(fmt.Sprint(r), "found") {
				t.Fatalf("%s: the tool's result %v", door, r)
			}
		}
	})
}
