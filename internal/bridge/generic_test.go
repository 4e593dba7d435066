package bridge_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/accesslog"
	"github.com/agentgate/agentgate/internal/bridge"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// probeService is a test-only service, known to the bridge by its
// descriptor alone, as a method added to AgentService later would be.
func probeService(t testing.TB) protoreflect.ServiceDescriptor {
	t.Helper()
	str, i32 := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(), descriptorpb.FieldDescriptorProto_TYPE_INT32.Enum()
	field := func(name string, n int32, typ *descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), Number: proto.Int32(n), Type: typ,
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}
	}
	method := func(name, in, out string, client, server bool) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{
			Name: proto.String(name), InputType: proto.String(".probe.v1." + in), OutputType: proto.String(".probe.v1." + out),
			ClientStreaming: proto.Bool(client), ServerStreaming: proto.Bool(server),
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("probe/v1/probe.proto"),
		Package: proto.String("probe.v1"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("EchoRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("agent_id", 1, str), field("text", 2, str),
			}},
			{Name: proto.String("EchoResponse"), Field: []*descriptorpb.FieldDescriptorProto{
				field("agent_id", 1, str), field("text", 2, str), field("subject", 3, str),
				field("request_id", 5, str),
			}},
			{Name: proto.String("TickRequest"), Field: []*descriptorpb.FieldDescriptorProto{field("count", 1, i32)}},
			{Name: proto.String("TickResponse"), Field: []*descriptorpb.FieldDescriptorProto{field("n", 1, i32)}},
		},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("ProbeService"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Echo", "EchoRequest", "EchoResponse", false, false),
				method("Tick", "TickRequest", "TickResponse", false, true),
				method("Chat", "EchoRequest", "EchoResponse", true, true),
				method("Upload", "EchoRequest", "EchoResponse", true, false),
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, new(protoregistry.Files))
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}

// probeMethods implement ProbeService over dynamic messages, counting the
// calls that reach them. Echo answers with who called (the identity the
// edge put in the context) and the request id of the socket's upgrade.
func probeMethods(sd protoreflect.ServiceDescriptor, calls *atomic.Int32) map[string]edge.Method {
	echo, tick := sd.Methods().ByName("Echo"), sd.Methods().ByName("Tick")
	return map[string]edge.Method{
		"Echo": {Unary: func(ctx context.Context, req proto.Message) (proto.Message, error) {
			calls.Add(1)
			in := req.ProtoReflect()
			get := func(name string) string {
				return in.Get(in.Descriptor().Fields().ByName(protoreflect.Name(name))).String()
			}
			if get("text") == "fail" {
				return nil, connect.NewError(connect.CodeNotFound, errors.New("nothing to echo"))
			}
			out := dynamicpb.NewMessage(echo.Output())
			set := func(name, v string) {
				out.Set(out.Descriptor().Fields().ByName(protoreflect.Name(name)), protoreflect.ValueOfString(v))
			}
			set("agent_id", get("agent_id"))
			set("text", get("text"))
			set("subject", edge.IdentityFrom(ctx).Name())
			set("request_id", accesslog.RequestID(ctx))
			return out, nil
		}},
		"Tick": {Stream: func(ctx context.Context, req proto.Message, send func(proto.Message) error) error {
			calls.Add(1)
			in := req.ProtoReflect()
			count := in.Get(in.Descriptor().Fields().ByName("count")).Int()
			n := tick.Output().Fields().ByName("n")
			if err := send(nil); err != nil { // live: nothing for the socket
				return err
			}
			for i := int64(1); count < 0 || i <= count; i++ {
				out := dynamicpb.NewMessage(tick.Output())
				out.Set(n, protoreflect.ValueOfInt32(int32(i)))
				if err := send(out); err != nil {
					return err
				}
				if count < 0 && i == 1 {
					<-ctx.Done() // run until canceled
					return connect.NewError(connect.CodeCanceled, ctx.Err())
				}
			}
			return nil
		}},
	}
}

// Tokens of the probe server's edge: a service, and a user who may read
// and write probe-agent but holds no admin scope.
const (
	probeServiceToken = "probe-service-token-0123"
	probeUserToken    = "probe-user-token-0123456"
)

// probeVerifier knows the probe server's two tokens.
type probeVerifier struct{}

func (probeVerifier) Verify(_ context.Context, token string) (identity.Identity, error) {
	switch token {
	case probeServiceToken:
		return identity.Service(), nil
	case probeUserToken:
		return identity.Identity{Kind: identity.KindUser, Subject: "ada", Agents: []string{"probe-*"}, Perms: identity.Read | identity.Write}, nil
	}
	return identity.Identity{}, identity.ErrInvalid
}

// TestAnyServiceIsBridged bridges the test-only service: every unary and
// server-streaming method is reachable, with agent_id filled in from the
// URL, the caller's identity and request id in the context, and the edge's
// permissions applied, and no code for it in the bridge.
func TestAnyServiceIsBridged(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := probeServer(t, &calls, bridge.Config{TextMethod: "Echo", TextField: "text"})
	h := http.Header{"Authorization": {"Bearer " + probeServiceToken}, "X-Request-Id": {"req-42"}}
	c := dialWith(t, websocket.DefaultDialer, "ws://"+srv.Listener.Addr().String()+"/ws/agent/probe-agent", h)

	echo := func(final frame) map[string]string {
		t.Helper()
		if final.Response == nil {
			t.Fatalf("frame %s, want a response", final.raw)
		}
		out := dynamicpb.NewMessage(probeService(t).Methods().ByName("Echo").Output())
		if err := protojson.Unmarshal(final.Response, out); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		out.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			m[string(f.Name())] = v.String()
			return true
		})
		return m
	}
	c.call("e1", "Echo", `{"text":"hi"}`)
	final, _, _ := c.awaitID("e1")
	got := echo(final)
	if got["agent_id"] != "probe-agent" || got["text"] != "hi" || got["subject"] != "service" || got["request_id"] != "req-42" {
		t.Fatalf("Echo saw %v; want the URL's agent, the socket's identity and request id", got)
	}
	c.sendText("plain words")
	final, _, _ = c.awaitID("")
	if got := echo(final); got["text"] != "plain words" {
		t.Fatalf("shorthand echoed %v", got)
	}

	for _, tc := range []struct{ frame, code, says string }{
		{`{"id":"x","method":"Echo","request":{"text":"fail"}}`, "not_found", "nothing to echo"},
		{`{"id":"x","method":"Echo","request":{"agentId":"other"}}`, "permission_denied", "other"},
		{`{"id":"x","method":"Echo","request":{"nope":1}}`, "invalid_argument", "nope"},
		{`{"id":"x","method":"Chat"}`, "unimplemented", "bidirectional"},
		{`{"id":"x","method":"Upload"}`, "unimplemented", "client stream"},
	} {
		c.sendText(tc.frame)
		final, _, _ := c.awaitID("x")
		if final.Error == nil || final.Error.Code != tc.code || !strings.Contains(final.Error.Message, tc.says) {
			t.Errorf("%s: %s, want %s saying %q", tc.frame, final.raw, tc.code, tc.says)
		}
	}

	// A user reaches probe-agent, but a method without a row in the edge's
	// table needs agents:admin: the edge refuses it, and it never runs.
	user := dialWith(t, websocket.DefaultDialer, "ws://"+srv.Listener.Addr().String()+"/ws/agent/probe-agent?subscribe=false",
		http.Header{"Authorization": {"Bearer " + probeUserToken}})
	for _, method := range []string{"Echo", "Tick"} {
		user.call("u", method, "")
		final, _, _ := user.awaitID("u")
		if final.Error == nil || final.Error.Code != "permission_denied" || !strings.Contains(final.Error.Message, "agents:admin") {
			t.Errorf("%s by a user without agents:admin: %s, want permission_denied naming the scope", method, final.raw)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the methods ran %d times, want 3 (e1, the shorthand, fail)", n)
	}

	c.call("t1", "Tick", `{"count":3}`)
	final, streamed := c.awaitTick(t, "t1")
	if !final.End || len(streamed) != 3 || streamed[0] != `{"n":1}` || streamed[2] != `{"n":3}` {
		t.Fatalf("Tick 3: %v then %s", streamed, final.raw)
	}
	c.call("t2", "Tick", `{"count":-1}`)
	if f := c.read(); f.ID != "t2" || string(f.Response) != `{"n":1}` {
		t.Fatalf("endless Tick: %s", f.raw)
	}
	c.sendText(`{"id":"t2","cancel":true}`)
	if final, _ := c.awaitTick(t, "t2"); !final.End {
		t.Fatalf("canceled Tick: %s, want end", final.raw)
	}
}

// TestNewWantsAFunctionPerMethod: a bridge whose Methods lack a unary or
// server-streaming method of its service, or hold one the service does not
// have, or the wrong kind, does not start.
func TestNewWantsAFunctionPerMethod(t *testing.T) {
	t.Parallel()
	sd := probeService(t)
	var calls atomic.Int32
	pe := edge.New(edge.Config{})
	for name, change := range map[string]func(map[string]edge.Method){
		"missing": func(m map[string]edge.Method) { delete(m, "Tick") },
		"extra":   func(m map[string]edge.Method) { m["Chat"] = m["Echo"] },
		"unknown": func(m map[string]edge.Method) { m["Nope"] = m["Echo"] },
		"kind":    func(m map[string]edge.Method) { m["Tick"] = m["Echo"] },
	} {
		ms := probeMethods(sd, &calls)
		change(ms)
		if _, err := bridge.New(bridge.Config{Service: sd, Methods: ms, Edge: pe, TextMethod: "-"}); err == nil {
			t.Errorf("%s: the bridge started", name)
		}
	}
	if _, err := bridge.New(bridge.Config{Service: sd, Methods: probeMethods(sd, &calls), Edge: pe, TextMethod: "-"}); err != nil {
		t.Fatalf("the whole table: %v", err)
	}
}

// awaitTick reads the frames of a Tick stream up to its last frame.
func (c *client) awaitTick(t *testing.T, id string) (final frame, streamed []string) {
	t.Helper()
	for {
		f := c.read()
		if f.ID != id {
			t.Fatalf("frame %s while waiting for %s", f.raw, id)
		}
		if f.Response == nil {
			return f, streamed
		}
		streamed = append(streamed, strings.ReplaceAll(string(f.Response), " ", ""))
	}
}

// A ping timer that fires at once, before the socket is even set up, starts
// a writer that must find everything in place: every socket gets its pings,
// and nothing races (run with -race).
func TestPingTimerFiringDuringSetup(t *testing.T) {
	var calls atomic.Int32
	srv := probeServer(t, &calls, bridge.Config{TextMethod: "-", PingInterval: time.Nanosecond, PongTimeout: time.Hour})
	h := http.Header{"Authorization": {"Bearer " + probeServiceToken}}
	for range 20 {
		c := dialWith(t, websocket.DefaultDialer, "ws://"+srv.Listener.Addr().String()+"/ws/agent/probe", h)
		pinged := make(chan struct{}, 1)
		c.ws.SetPingHandler(func(string) error {
			select {
			case pinged <- struct{}{}:
			default:
			}
			return nil
		})
		go func() { _, _, _ = c.ws.ReadMessage() }()
		select {
		case <-pinged:
		case <-time.After(waitFor):
			t.Fatal("no ping came")
		}
		c.ws.Close()
	}
}

// probeServer serves a bridge of the probe service on a loopback port, with
// request ids as the gateway gives them, behind an edge that knows the
// probe's tokens; cfg gives the rest of the bridge's configuration.
func probeServer(t *testing.T, calls *atomic.Int32, cfg bridge.Config) *httptest.Server {
	t.Helper()
	sd := probeService(t)
	cfg.Service, cfg.Methods = sd, probeMethods(sd, calls)
	cfg.Edge = edge.New(edge.Config{Verifiers: []edge.Verifier{probeVerifier{}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/agent/{agent_id}", b)
	srv := httptest.NewServer(accesslog.Middleware(mux))
	t.Cleanup(func() {
		b.Drain(testCtx(t))
		srv.Close()
	})
	return srv
}

// TestOpenedCountsSockets: Config.Opened hears of every socket that
// opened, and of no request refused before its upgrade.
func TestOpenedCountsSockets(t *testing.T) {
	t.Parallel()
	var calls, opened atomic.Int32
	srv := probeServer(t, &calls, bridge.Config{TextMethod: "-", Opened: func() { opened.Add(1) }})
	url := "ws://" + srv.Listener.Addr().String() + "/ws/agent/probe"
	for range 3 {
		c := dialWith(t, websocket.DefaultDialer, url, http.Header{"Authorization": {"Bearer " + probeServiceToken}})
		c.call("1", "Echo", `{"text":"hi"}`) // answered: the socket has opened
		c.read()
		c.ws.Close()
	}
	if _, resp, err := websocket.DefaultDialer.Dial(url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a socket without a token: %v, %v", resp, err)
	}
	if n := opened.Load(); n != 3 {
		t.Errorf("Opened was called %d times for 3 sockets and a refusal, want 3", n)
	}
}
