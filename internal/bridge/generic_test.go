package bridge_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/bridge"
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
				field("agent_id", 1, str), field("text", 2, str), field("authorization", 3, str),
				field("peer", 4, str), field("request_id", 5, str),
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

// probeHandler serves ProbeService with dynamic messages, behind an
// interceptor that counts calls and refuses the text "blocked".
func probeHandler(sd protoreflect.ServiceDescriptor, calls *atomic.Int32) http.Handler {
	initMsg := func(spec connect.Spec, msg any) error {
		md := spec.Schema.(protoreflect.MethodDescriptor)
		*msg.(*dynamicpb.Message) = *dynamicpb.NewMessage(md.Input())
		return nil
	}
	guard := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			calls.Add(1)
			msg := req.Any().(*dynamicpb.Message)
			if msg.Get(msg.Descriptor().Fields().ByName("text")).String() == "blocked" {
				return nil, connect.NewError(connect.CodePermissionDenied, errors.New("blocked by the interceptor"))
			}
			return next(ctx, req)
		}
	})
	mux := http.NewServeMux()
	echo := sd.Methods().ByName("Echo")
	path := "/probe.v1.ProbeService/Echo"
	mux.Handle(path, connect.NewUnaryHandler(path,
		func(_ context.Context, req *connect.Request[dynamicpb.Message]) (*connect.Response[dynamicpb.Message], error) {
			in := req.Msg
			get := func(name string) protoreflect.Value {
				return in.Get(in.Descriptor().Fields().ByName(protoreflect.Name(name)))
			}
			if get("text").String() == "fail" {
				return nil, connect.NewError(connect.CodeNotFound, errors.New("nothing to echo"))
			}
			out := dynamicpb.NewMessage(echo.Output())
			set := func(name, v string) {
				out.Set(out.Descriptor().Fields().ByName(protoreflect.Name(name)), protoreflect.ValueOfString(v))
			}
			set("agent_id", get("agent_id").String())
			set("text", get("text").String())
			set("authorization", req.Header().Get("Authorization"))
			set("peer", req.Peer().Addr)
			set("request_id", req.Header().Get("X-Request-Id"))
			return connect.NewResponse(out), nil
		},
		connect.WithSchema(echo), connect.WithRequestInitializer(initMsg), connect.WithInterceptors(guard)))
	tick := sd.Methods().ByName("Tick")
	path = "/probe.v1.ProbeService/Tick"
	mux.Handle(path, connect.NewServerStreamHandler(path,
		func(ctx context.Context, req *connect.Request[dynamicpb.Message], stream *connect.ServerStream[dynamicpb.Message]) error {
			count := req.Msg.Get(req.Msg.Descriptor().Fields().ByName("count")).Int()
			n := tick.Output().Fields().ByName("n")
			for i := int64(1); count < 0 || i <= count; i++ {
				out := dynamicpb.NewMessage(tick.Output())
				out.Set(n, protoreflect.ValueOfInt32(int32(i)))
				if err := stream.Send(out); err != nil {
					return err
				}
				if count < 0 && i == 1 {
					<-ctx.Done() // run until canceled
					return ctx.Err()
				}
			}
			return nil
		},
		connect.WithSchema(tick), connect.WithRequestInitializer(initMsg)))
	return mux
}

// TestAnyServiceIsBridged bridges the test-only service: every unary and
// server-streaming method is reachable, with agent_id, credentials and
// request id filled in and interceptors applied, and no code for it in the
// bridge.
func TestAnyServiceIsBridged(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := probeServer(t, &calls, bridge.Config{TextMethod: "Echo", TextField: "text"})
	h := http.Header{"Authorization": {"Bearer secret-token"}, "X-Request-Id": {"req-42"}}
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
	if got["agent_id"] != "probe-agent" || got["text"] != "hi" || got["authorization"] != "Bearer secret-token" ||
		got["request_id"] != "req-42" || !strings.HasPrefix(got["peer"], "127.0.0.1:") {
		t.Fatalf("Echo saw %v; want the URL's agent, the socket's credentials, request id and address", got)
	}
	c.sendText("plain words")
	final, _, _ = c.awaitID("")
	if got := echo(final); got["text"] != "plain words" {
		t.Fatalf("shorthand echoed %v", got)
	}

	for _, tc := range []struct{ frame, code, says string }{
		{`{"id":"x","method":"Echo","request":{"text":"blocked"}}`, "permission_denied", "interceptor"},
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
	if n := calls.Load(); n != 4 {
		t.Errorf("the interceptor saw %d calls, want 4 (e1, the shorthand, blocked, fail)", n)
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
	for range 20 {
		c := dialWith(t, websocket.DefaultDialer, "ws://"+srv.Listener.Addr().String()+"/ws/agent/probe", nil)
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

// probeServer serves a bridge of the probe service on a loopback port; cfg
// gives the rest of the bridge's configuration.
func probeServer(t *testing.T, calls *atomic.Int32, cfg bridge.Config) *httptest.Server {
	t.Helper()
	sd := probeService(t)
	cfg.Service, cfg.Handler = sd, probeHandler(sd, calls)
	b, err := bridge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws/agent/{agent_id}", b)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		b.Drain(testCtx(t))
		srv.Close()
	})
	return srv
}
