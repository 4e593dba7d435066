package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait of a test: a failure shows as a timeout, never a
// hang.
const waitFor = 30 * time.Second

// frame is a server → client frame as a browser would parse it.
type frame struct {
	ID       string          `json:"id"`
	Response json.RawMessage `json:"response"`
	End      bool            `json:"end"`
	Error    *frameErr       `json:"error"`
	Event    json.RawMessage `json:"event"`
	raw      string
}

type frameErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// client is the browser's stand-in: a gorilla/websocket client.
type client struct {
	t  testing.TB
	ws *websocket.Conn
	// expires bounds all its reads, so that a test reading in a loop fails
	// instead of hanging.
	expires time.Time
}

func wsURL(srv *apptest.Server, path string) string {
	return "ws://" + srv.Addr + path
}

// dial opens a socket at path (such as /ws/agent/a1?after_seq=2).
func dial(t testing.TB, srv *apptest.Server, path string) *client {
	t.Helper()
	return dialWith(t, websocket.DefaultDialer, wsURL(srv, path), nil)
}

func dialWith(t testing.TB, d *websocket.Dialer, url string, h http.Header) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ws, res, err := d.DialContext(ctx, url, h)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	c := &client{t: t, ws: ws, expires: time.Now().Add(2 * waitFor)}
	t.Cleanup(func() { ws.Close() })
	return c
}

func (c *client) sendText(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// call sends a call frame.
func (c *client) call(id, method, request string) {
	c.t.Helper()
	if request == "" {
		request = "{}"
	}
	c.sendText(fmt.Sprintf(`{"id":%q,"method":%q,"request":%s}`, id, method, request))
}

// read returns the next frame.
func (c *client) read() frame {
	c.t.Helper()
	f, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

func (c *client) tryRead() (frame, error) {
	_ = c.ws.SetReadDeadline(c.expires)
	kind, data, err := c.ws.ReadMessage()
	if err != nil {
		return frame{}, err
	}
	if kind != websocket.TextMessage {
		return frame{}, &badFrame{fmt.Sprintf("frame of type %d, want text", kind)}
	}
	f := frame{raw: string(data)}
	if err := json.Unmarshal(data, &f); err != nil {
		return frame{}, &badFrame{fmt.Sprintf("frame %s is not JSON: %v", data, err)}
	}
	return f, nil
}

// badFrame is a frame a browser could not use.
type badFrame struct{ msg string }

func (e *badFrame) Error() string { return e.msg }

// awaitID reads until the final frame (response, end or error) of request
// id, returning it and the event frames read meanwhile. Stream responses
// are returned in streamed.
func (c *client) awaitID(id string) (final frame, streamed []frame, events []*agentv1.AgentEvent) {
	c.t.Helper()
	for {
		f := c.read()
		switch {
		case f.Event != nil:
			events = append(events, decodeEvent(c.t, f.Event))
		case f.ID != id:
			c.t.Fatalf("unexpected frame %s while waiting for %q", f.raw, id)
		case f.Response != nil && isStreamResponse(f.Response):
			streamed = append(streamed, f)
		default:
			return f, streamed, events
		}
	}
}

// isStreamResponse tells a Subscribe response ({"event":…}) from a unary one.
func isStreamResponse(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	_, ok := m["event"]
	return ok && len(m) == 1
}

// closeCode reads until the socket closes and returns the close code.
func (c *client) closeCode() int {
	c.t.Helper()
	err := c.closed()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		c.t.Fatalf("socket ended without a close frame: %v", err)
	}
	return ce.Code
}

// closed reads until the socket fails and returns the error, a
// *websocket.CloseError when it was closed. It may run on any goroutine.
func (c *client) closed() error {
	for {
		if _, err := c.tryRead(); err != nil {
			if _, bad := err.(*badFrame); !bad {
				return err
			}
		}
	}
}

func decodeEvent(t testing.TB, raw json.RawMessage) *agentv1.AgentEvent {
	t.Helper()
	ev := new(agentv1.AgentEvent)
	if err := protojson.Unmarshal(raw, ev); err != nil {
		t.Fatalf("event %s: %v", raw, err)
	}
	return ev
}

func decodeInto(t testing.TB, raw json.RawMessage, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(raw, m); err != nil {
		t.Fatalf("response %s: %v", raw, err)
	}
}

// persisted keeps the persisted events (seq > 0).
func persisted(evs []*agentv1.AgentEvent) []*agentv1.AgentEvent {
	var out []*agentv1.AgentEvent
	for _, ev := range evs {
		if ev.GetSeq() > 0 {
			out = append(out, ev)
		}
	}
	return out
}

// readEventsUntil reads event frames until one with seq >= seq arrived; other
// frames fail the test.
func (c *client) readEventsUntil(seq uint64) []*agentv1.AgentEvent {
	c.t.Helper()
	var evs []*agentv1.AgentEvent
	for {
		f := c.read()
		if f.Event == nil {
			c.t.Fatalf("unexpected frame %s while reading events", f.raw)
		}
		ev := decodeEvent(c.t, f.Event)
		evs = append(evs, ev)
		if ev.GetSeq() >= seq {
			return evs
		}
	}
}

func seqs(evs []*agentv1.AgentEvent) string {
	var b strings.Builder
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, ev.GetSeq())
	}
	return b.String()
}

// connectClient is a typed client of the same server, over HTTP/1.1.
func connectClient(t testing.TB, srv *apptest.Server) agentv1connect.AgentServiceClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return agentv1connect.NewAgentServiceClient(&http.Client{Transport: tr}, srv.URL)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// connections returns the agent's live subscriptions, as GetAgent reports
// them.
func connections(ctx context.Context, t testing.TB, c agentv1connect.AgentServiceClient, agentID string) int64 {
	t.Helper()
	res, err := c.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: agentID}))
	if err != nil {
		t.Fatalf("GetAgent: %v", err)
	}
	return res.Msg.GetAgent().GetConnections()
}
