package agentgate_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protojson"
)

// protocol is one way a typed client reaches a server: a wire protocol
// over HTTP/1.1 or h2c.
type protocol struct {
	name string
	h2c  bool
	opts []connect.ClientOption
}

// protocols are the combinations a Connect client can use.
var protocols = []protocol{
	{name: "connect/h2c", h2c: true},
	{name: "grpc/h2c", h2c: true, opts: []connect.ClientOption{connect.WithGRPC()}},
	{name: "grpcweb/h2c", h2c: true, opts: []connect.ClientOption{connect.WithGRPCWeb()}},
	{name: "connect/http1"},
	{name: "grpcweb/http1", opts: []connect.ClientOption{connect.WithGRPCWeb()}},
}

// httpClient speaks HTTP/1.1 only, or h2c with prior knowledge.
func httpClient(t testing.TB, h2c bool) *http.Client { return apptest.HTTPClient(t, h2c) }

func newClient(t testing.TB, baseURL string, p protocol) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), baseURL, p.opts...)
}

// newGateway builds a gateway with cfg, its logs in the test log, and
// closes it when the test ends.
func newGateway(t *testing.T, cfg agentgate.Config) *agentgate.Gateway {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	gw, err := agentgate.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := gw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return gw
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// yourServer is a program's own http.Server, HTTP/1.1 and h2c, on a
// loopback port: it returns the server and http://host:port. The server is
// shut down when the test ends, if the test did not.
func yourServer(t *testing.T, h http.Handler) (*http.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("your server's Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("your server's Serve: %v", err)
		}
	})
	return srv, "http://" + ln.Addr().String()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// get returns the status and body of GET url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := httpClient(t, false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

// dialSocket opens the WebSocket of the gateway at base for agentID, which
// may carry the socket's query (?after_seq=0).
func dialSocket(t *testing.T, ctx context.Context, base, agentID string) *websocket.Conn {
	t.Helper()
	ws, res, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/agent/"+agentID, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("websocket: %v (HTTP %d)", err, status)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// awaitReply reads the socket's pushed events until the agent's reply,
// and returns its text.
func awaitReply(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
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
			t.Fatalf("event %s: %v", frame.Event, err)
		}
		if m := ev.GetMessage(); m.GetRole() == agentv1.Role_ROLE_ASSISTANT {
			return m.GetText()
		}
	}
}

// checkGateway proves every way in through base, where a gateway with the
// echo responder is mounted: Connect in every protocol, the WebSocket and
// the health probes.
func checkGateway(t *testing.T, base string) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			res, err := newClient(t, base, p).SendMessage(testCtx(t), connect.NewRequest(&agentv1.SendMessageRequest{
				AgentId: "mounted-" + strings.ReplaceAll(p.name, "/", "-"), Text: "hello " + p.name,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := res.Msg.GetReply().GetMessage().GetText(), "echo: hello "+p.name; got != want {
				t.Fatalf("reply %q, want %q", got, want)
			}
		})
	}
	t.Run("websocket", func(t *testing.T) {
		ws := dialSocket(t, testCtx(t), base, "mounted-ws")
		if err := ws.WriteMessage(websocket.TextMessage, []byte("over the socket")); err != nil {
			t.Fatal(err)
		}
		if got := awaitReply(t, ws); got != "echo: over the socket" {
			t.Fatalf("reply %q", got)
		}
	})
	t.Run("health", func(t *testing.T) {
		if status, body := get(t, base+"/health"); status != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Fatalf("/health: %d %s", status, body)
		}
		if status, _ := get(t, base+"/health/live"); status != http.StatusOK {
			t.Fatalf("/health/live: %d", status)
		}
	})
}

// yourMux is a program's own mux, with its own route GET /hello and the
// gateway mounted at its root.
func yourMux(gw *agentgate.Gateway) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "your own route") })
	mux.Handle("/", gw.Handler())
	return mux
}

// TestGatewayInYourMux mounts the gateway at the root of a program's own
// mux, beside the program's own route, on the program's own server.
func TestGatewayInYourMux(t *testing.T) {
	_, base := yourServer(t, yourMux(newGateway(t, agentgate.Config{})))

	if status, body := get(t, base+"/hello"); status != http.StatusOK || body != "your own route" {
		t.Fatalf("your route: %d %q", status, body)
	}
	if status, body := get(t, base+"/"); status != http.StatusOK || body != "OK" {
		t.Fatalf("the gateway's root probe: %d %q", status, body)
	}
	checkGateway(t, base)
}

// TestGatewayUnderAPrefix mounts the gateway under /agents/ of a program's
// mux, whose root stays the program's.
func TestGatewayUnderAPrefix(t *testing.T) {
	gw := newGateway(t, agentgate.Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "your home page") })
	mux.Handle("/agents/", http.StripPrefix("/agents", gw.Handler()))
	_, base := yourServer(t, mux)

	if status, body := get(t, base+"/"); status != http.StatusOK || body != "your home page" {
		t.Fatalf("your root: %d %q", status, body)
	}
	checkGateway(t, base+"/agents")
}

// TestGatewayWithYourRedisClient runs two gateways, two replicas, over the
// program's own go-redis client and a real redis-server: a socket on one
// sees the reply to a Connect call on the other, and the client is still
// the program's, open, after both gateways closed.
func TestGatewayWithYourRedisClient(t *testing.T) {
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	defer rdb.Close()
	var bases []string
	var gws []*agentgate.Gateway
	for range 2 {
		gw := newGateway(t, agentgate.Config{Redis: rdb})
		_, base := yourServer(t, gw.Handler())
		apptest.AwaitReady(t, base) // with Redis, New returns before it has connected
		bases, gws = append(bases, base), append(gws, gw)
	}
	ctx := testCtx(t)
	// From seq 0: what the socket's subscription on one replica did not
	// yet see live, it replays.
	ws := dialSocket(t, ctx, bases[0], "shared?after_seq=0")
	res, err := newClient(t, bases[1], protocols[0]).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "shared", Text: "across replicas"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.GetReply().GetMessage().GetText(); got != "echo: across replicas" {
		t.Fatalf("reply %q", got)
	}
	if got := awaitReply(t, ws); got != "echo: across replicas" {
		t.Fatalf("the other replica's socket saw the reply %q", got)
	}
	_ = ws.Close()
	for _, gw := range gws {
		if err := gw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("your client after the gateways closed: %v; want it open", err)
	}
	keys, err := rdb.Keys(ctx, "agentgate:*shared*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("the agent's keys in your Redis: %v, %v; want the agent's log there", keys, err)
	}
}

// TestRedisClientRefused refuses a client that retries commands, and a
// client beside a URL, naming the field, before anything runs.
func TestRedisClientRefused(t *testing.T) {
	retrying := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer retrying.Close()
	noRetries := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer noRetries.Close()
	for _, c := range []struct {
		name string
		cfg  agentgate.Config
		want string
	}{
		{"retries", agentgate.Config{Redis: retrying}, "MaxRetries: -1"},
		{"client and URL", agentgate.Config{Redis: noRetries, RedisURL: "redis://127.0.0.1:1"}, "not both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			gw, err := agentgate.New(c.cfg)
			if err == nil {
				_ = gw.Close()
				t.Fatal("New accepted it")
			}
			var cerr *agentgate.ConfigError
			if !errors.As(err, &cerr) || cerr.Var != "Config.Redis" || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v; want a *ConfigError naming Config.Redis and saying %q", err, c.want)
			}
		})
	}
}

// TestShutdownDrainsOnYourServer drains a gateway that a program's own
// server serves: readiness turns 503 while the server still serves, the
// open stream ends with unavailable, the socket is closed with 1001, a new
// socket is refused; then the program's Shutdown and Close end cleanly.
func TestShutdownDrainsOnYourServer(t *testing.T) {
	gw := newGateway(t, agentgate.Config{})
	srv, base := yourServer(t, yourMux(gw))
	ctx := testCtx(t)

	ws := dialSocket(t, ctx, base, "drained")
	client := newClient(t, base, protocols[0])
	if _, err := client.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "drained", Text: "before"})); err != nil {
		t.Fatal(err)
	}
	if got := awaitReply(t, ws); got != "echo: before" {
		t.Fatalf("reply %q", got)
	}
	fromStart := uint64(0)
	stream, err := client.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "drained", AfterSeq: &fromStart}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() { // the replay's first event: the stream is open
		t.Fatalf("Subscribe: %v", stream.Err())
	}

	// The client reads as a browser does, so that it answers the close.
	closed := readClose(ws)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if status, body := get(t, base+"/health"); status != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Fatalf("/health after Shutdown: %d %s; want 503 draining", status, body)
	}
	if status, body := get(t, base+"/hello"); status != http.StatusOK || body != "your own route" {
		t.Fatalf("your route after Shutdown: %d %q; want it served until your server stops", status, body)
	}
	if err := <-closed; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("socket ended with %v, want close 1001", err)
	}
	for stream.Receive() {
	}
	if connect.CodeOf(stream.Err()) != connect.CodeUnavailable {
		t.Fatalf("Subscribe ended with %v, want unavailable", stream.Err())
	}
	_, res, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws/agent/late", nil)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a socket after Shutdown: %v, %v; want HTTP 503", err, res)
	}
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("your server's Shutdown: %v", err)
	}
	if err := gw.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestCloseDrains closes a gateway that was never shut down: its socket
// is closed with 1001 all the same, and calls after it fail with
// unavailable.
func TestCloseDrains(t *testing.T) {
	gw := newGateway(t, agentgate.Config{})
	_, base := yourServer(t, gw.Handler())
	ctx := testCtx(t)
	ws := dialSocket(t, ctx, base, "closed")
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := awaitReply(t, ws); got != "echo: hi" {
		t.Fatalf("reply %q", got)
	}
	closed := readClose(ws)
	if err := gw.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-closed; !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("socket ended with %v, want close 1001", err)
	}
	_, err := newClient(t, base, protocols[0]).SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "closed", Text: "after"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Fatalf("SendMessage after Close: %v, want unavailable", err)
	}
	if err := gw.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
}

// readClose reads the socket until it ends, in a goroutine, and sends the
// error it ended with: a *websocket.CloseError for a close frame.
func readClose(ws *websocket.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}
