package app_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
)

const token = "test-token-0123456789"

func capture(b *apptest.LogBuffer) func(*app.Options) {
	return func(o *app.Options) {
		o.Logger = slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
}

// bearer adds an Authorization header to every call of a client.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func TestAuthTokens(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": "other-token-abcdefghijk, " + token}, capture(logs))
	ctx := testCtx(t)
	for _, p := range allProtocols {
		t.Run(p.name, func(t *testing.T) {
			for name, opts := range map[string][]connect.ClientOption{
				"none":  p.opts,
				"wrong": append([]connect.ClientOption{connect.WithInterceptors(bearer("wrong-token-0123456789"))}, p.opts...),
			} {
				c := agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), srv.URL, opts...)
				_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "a", Text: "x"}))
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("%s token: %v, want unauthenticated", name, err)
				}
			}
			c := agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), srv.URL,
				append([]connect.ClientOption{connect.WithInterceptors(bearer(token))}, p.opts...)...)
			res, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "a", Text: "x"}))
			if err != nil || res.Msg.GetReply().GetMessage().GetText() != "echo: x" {
				t.Fatalf("with a valid token: %v, %v", res, err)
			}
		})
	}

	// Probes need no token; reflection and metrics do.
	c := httpClient(t, false)
	for path, want := range map[string]int{"/": 200, "/health": 200, "/health/live": 200, "/metrics": 401} {
		res, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s without a token: %d, want %d", path, res.StatusCode, want)
		}
	}
	stream := grpcreflect.NewClient(httpClient(t, true), srv.URL).NewStream(ctx)
	if _, err := stream.ListServices(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("reflection without a token: %v, want unauthenticated", err)
	}
	_, _ = stream.Close()
	withToken := grpcreflect.NewClient(httpClient(t, true), srv.URL).NewStream(ctx,
		grpcreflect.WithRequestHeaders(http.Header{"Authorization": {"Bearer " + token}}))
	if _, err := withToken.ListServices(); err != nil {
		t.Errorf("reflection with a token: %v", err)
	}
	_, _ = withToken.Close()

	if got := logs.String(); !strings.Contains(got, "reason=unauthenticated") || !strings.Contains(got, "reason=invalid_token") {
		t.Errorf("refusals are not logged with their reason:\n%s", got)
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "wrong-token") {
		t.Error("a token appears in the logs")
	}
}

func TestCORSFollowsAllowedOrigins(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"ALLOWED_ORIGINS": "https://app.example.com, *.example.org"})
	c := httpClient(t, false)
	for origin, allowed := range map[string]bool{
		"https://app.example.com":  true,
		"https://chat.example.org": true,
		"https://evil.example.net": false,
		"https://example.org":      false,
	} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/agent.v1.AgentService/SendMessage", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,connect-protocol-version,content-type")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := res.Header.Get("Access-Control-Allow-Origin") == origin
		if got != allowed {
			t.Errorf("preflight from %s: allow-origin %q, want allowed=%v", origin, res.Header.Get("Access-Control-Allow-Origin"), allowed)
		}
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"READ_HEADER_TIMEOUT": "200ms"})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The server closes the connection (possibly after a 408 response).
	_, err = io.ReadAll(bufio.NewReader(conn))
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closed after %s, want about READ_HEADER_TIMEOUT", d)
	}
}

// A client that announces a body and trickles it is answered and cut off
// within about READ_HEADER_TIMEOUT: on the open health check, whose body
// has that long to arrive, and on the API without a token, whose refusal
// closes the connection instead of reading the rest of the body.
func TestSlowBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": "secret-token-0123456789", "READ_HEADER_TIMEOUT": "200ms"})
	for _, path := range []string{"/grpc.health.v1.Health/Check", "/agent.v1.AgentService/GetAgent"} {
		conn, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nContent-Length: 1000\r\n\r\nab"
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := io.ReadAll(bufio.NewReader(conn))
		if err != nil {
			t.Fatalf("%s: connection not closed by the server: %v", path, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s: closed after %s, want about READ_HEADER_TIMEOUT", path, d)
		}
		if !strings.HasPrefix(string(res), "HTTP/1.1 ") {
			t.Fatalf("%s: got %q, want an HTTP answer before the close", path, res)
		}
	}
	// A client that sends its body on time is served as before.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/grpc.health.v1.Health/Check", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Body = io.NopCloser(strings.NewReader("{}"))
	req.ContentLength = 2
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "SERVING") {
		t.Fatalf("health check: HTTP %d %s", res.StatusCode, body)
	}
}

func TestStreamConnectionCap(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"MAX_CONNECTIONS": "2"}, capture(logs))
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	for range 2 {
		s, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "cap"}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.ResponseHeader() // admitted and live
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Subscribe(ctx, connect.NewRequest(&agentv1.SubscribeRequest{AgentId: "cap"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Receive() || connect.CodeOf(s.Err()) != connect.CodeResourceExhausted {
		t.Fatalf("third stream: %v, want resource_exhausted", s.Err())
	}
	if !strings.Contains(logs.String(), "reason=max_connections") {
		t.Errorf("the refusal is not logged:\n%s", logs.String())
	}
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	scrape := func() string {
		res, err := httpClient(t, false).Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	before := scrape()
	for _, line := range []string{`agentgate_build_info{engine="memory"`, "go_goroutines"} {
		if !strings.Contains(before, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	send(ctx, t, c, "m", "one")
	send(ctx, t, c, "m", "two")
	_, _ = c.GetAgent(ctx, connect.NewRequest(&agentv1.GetAgentRequest{AgentId: "nobody"}))
	after := scrape()
	for _, want := range []string{
		`agentgate_rpcs_total{code="ok",door="connect",procedure="/agent.v1.AgentService/SendMessage"} 2`,
		`agentgate_rpcs_total{code="not_found",door="connect",procedure="/agent.v1.AgentService/GetAgent"} 1`,
		`agentgate_events_total{kind="user"} 2`,
		`agentgate_events_total{kind="reply"} 2`,
		`agentgate_rpc_duration_seconds_count{door="connect",procedure="/agent.v1.AgentService/SendMessage"} 2`,
	} {
		if !strings.Contains(after, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestLogsCarryNoMessageText(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, nil, capture(logs))
	ctx := testCtx(t)
	c := newClient(t, srv.URL, h2cConnect)
	const secret = "my-private-diary-entry-4711"
	send(ctx, t, c, "diary", secret)
	ws, _ := dial(t, wsURL(srv, "diary", ""), nil)
	roundTrip(t, ws, "w1", secret)
	ws.Close()
	_ = srv.Stop() // flush the socket's session line
	got := logs.String()
	if !strings.Contains(got, "procedure=/agent.v1.AgentService/SendMessage") || !strings.Contains(got, "msg=websocket") {
		t.Fatalf("the RPC and socket lines are missing:\n%s", got)
	}
	if strings.Contains(got, secret) {
		t.Fatalf("message text appears in the info logs:\n%s", got)
	}
}

// TestAccessLogNamesTheProtocol: a bridged call is logged as protocol
// websocket, and a header cannot make a Connect call pass for one.
func TestAccessLogNamesTheProtocol(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, nil, capture(logs))
	ctx := testCtx(t)
	forged := connect.WithInterceptors(forgeBridge{})
	c := agentv1connect.NewAgentServiceClient(httpClient(t, true), srv.URL, forged)
	if _, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "proto-connect", Text: "hi"})); err != nil {
		t.Fatal(err)
	}
	ws, _ := dial(t, wsURL(srv, "proto-ws", ""), nil)
	roundTrip(t, ws, "w1", "hi")
	_ = srv.Stop()
	lines := strings.Split(logs.String(), "\n")
	protocolOf := func(agentID string) string {
		for _, l := range lines {
			if strings.Contains(l, "msg=rpc") && strings.Contains(l, "agent="+agentID) {
				_, rest, _ := strings.Cut(l, "protocol=")
				p, _, _ := strings.Cut(rest, " ")
				return p
			}
		}
		return "(no rpc line)"
	}
	if p := protocolOf("proto-connect"); p != "connect" {
		t.Errorf("a Connect call with a forged bridge header is logged as %q, want connect", p)
	}
	if p := protocolOf("proto-ws"); p != "websocket" {
		t.Errorf("a bridged call is logged as %q, want websocket", p)
	}
}

// forgeBridge sets the header that once marked bridged calls.
type forgeBridge struct{}

func (forgeBridge) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("X-Agentgate-Bridge", "1")
		return next(ctx, req)
	}
}

func (forgeBridge) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (forgeBridge) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
