package agentgate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/responder"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// The gateway is an http.Handler: mount it in your own mux, beside your
// own routes, and serve it with your own server. A responder is a function
// of the user message and the conversation before it.
func Example() {
	gw, err := agentgate.New(agentgate.Config{
		Responder: responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
			err := out.Text(fmt.Sprintf("you said %q after %d messages", req.Message.Text, len(req.History)))
			return responder.Result{FinishReason: responder.FinishStop}, err
		}),
		Logger: slog.New(slog.DiscardHandler), // yours; the default is slog.Default()
	})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "your own route") })
	mux.Handle("/", gw.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client := agentv1connect.NewAgentServiceClient(srv.Client(), srv.URL)
	for _, text := range []string{"hello", "again"} {
		res, err := client.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "demo", Text: text}))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Msg.GetReply().GetMessage().GetText())
	}
	// Output:
	// you said "hello" after 0 messages
	// you said "again" after 2 messages
}

// Under a prefix of your own, every endpoint moves with it: the agent API,
// the WebSocket (/agents/ws/agent/{agent_id}) and the probes.
func ExampleGateway_Handler() {
	gw, err := agentgate.New(agentgate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	mux := http.NewServeMux()
	mux.Handle("/agents/", http.StripPrefix("/agents", gw.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := srv.Client().Get(srv.URL + "/agents/health")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, strings.TrimSpace(string(body)))

	client := agentv1connect.NewAgentServiceClient(srv.Client(), srv.URL+"/agents")
	reply, err := client.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "demo", Text: "hi"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Msg.GetReply().GetMessage().GetText())
	// Output:
	// 200 {"status":"ok"}
	// echo: hi
}

// On your own http.Server, Shutdown drains the gateway first: readiness
// turns 503 and WebSockets are closed with 1001 (going away), so that
// clients resume on another replica; then your server's Shutdown lets
// in-flight calls finish, with the same deadline.
func ExampleGateway_Shutdown() {
	gw, err := agentgate.New(agentgate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: gw.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/ws/agent/demo", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer ws.Close()
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	res, err := http.Get("http://" + ln.Addr().String() + "/health")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println("readiness:", res.StatusCode)
	var ce *websocket.CloseError
	if errors.As(<-closed, &ce) {
		fmt.Println("socket closed:", ce.Code)
	}
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// readiness: 503
	// socket closed: 1001
}

// With your own go-redis client, the agents' logs and fan-out live in your
// Redis, and every replica that uses it serves the same agents. The client
// must not retry commands. gRPC clients need HTTP/2, which a server
// without TLS speaks when told to (h2c).
func ExampleConfig_redis() {
	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", MaxRetries: -1})
	defer rdb.Close()
	gw, err := agentgate.New(agentgate.Config{Redis: rdb, AuthTokens: []string{os.Getenv("AGENT_TOKEN")}})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Addr: ":8080", Handler: gw.Handler(), Protocols: &protocols, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	<-ctx.Done()
	drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = gw.Shutdown(drain)  // readiness 503, streams end, sockets get 1001
	_ = srv.Shutdown(drain) // the listener closes, in-flight calls finish
}

// Run serves the whole gateway with your responder, configured by the
// environment as the agentgate server is; a process does the same with
// Main, which drains on SIGTERM and exits 0, or 2 on a bad variable:
//
//	os.Exit(agentgate.Main(agentgate.Options{Responder: echo}))
//
// Here Run serves it on a loopback listener, with no environment, and a
// Connect client talks to it.
func ExampleRun() {
	echo := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		err := out.Text(fmt.Sprintf("you said %q, after %d earlier messages", req.Message.Text, len(req.History)))
		return responder.Result{FinishReason: responder.FinishStop}, err
	})
	base, stop, err := serve(agentgate.Options{Responder: echo})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	client := agentv1connect.NewAgentServiceClient(http.DefaultClient, base)
	for _, text := range []string{"hello", "again"} {
		res, err := client.SendMessage(context.Background(), connect.NewRequest(&agentv1.SendMessageRequest{AgentId: "example", Text: text}))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(res.Msg.GetReply().GetMessage().GetText())
	}
	// Output:
	// you said "hello", after 0 earlier messages
	// you said "again", after 2 earlier messages
}

// serve runs the gateway with opts on a loopback port, without reading the
// environment or writing logs, and returns its base URL and a function that
// drains it.
func serve(opts agentgate.Options) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	opts.Listener = ln
	opts.Lookup = func(string) (string, bool) { return "", false }
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agentgate.Run(ctx, opts) }()
	return "http://" + ln.Addr().String(), func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			fmt.Println("run:", err)
		}
	}, nil
}
