package bench

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BaselineConfig sets up the bare servers, what a user of gorilla/websocket
// and connect-go would write with no agent logic.
type BaselineConfig struct {
	// SmallBuffers gives the WebSocket upgrader 1 KiB read and write buffers
	// and a shared write buffer pool, as the gateway's bridge does. By
	// default the upgrader is gorilla's zero value: it reuses net/http's
	// 4 KiB bufio reader and writer of the hijacked connection, no pool.
	SmallBuffers bool
	// SendQueue is the per-socket queue of the room broadcast, as in
	// gorilla's chat example. Default 256.
	SendQueue int
}

// Baseline serves, on one mux:
//
//   - /echo: a gorilla/websocket echo, one goroutine per socket reading a
//     frame and writing it back (gorilla's echo example);
//   - /room/{name}: a room broadcast, each frame a member sends is written to
//     every member, through a bounded per-socket queue and one writer
//     goroutine per socket (gorilla's chat example); ?subscribe=false joins
//     as a sender only;
//   - agent.v1.AgentService/SendMessage: a connect-go unary handler that
//     answers with a user message and an "echo: " reply, built in place
//     with no engine, over HTTP/1.1 and h2c;
//   - /health: 200.
type Baseline struct {
	cfg   BaselineConfig
	up    websocket.Upgrader
	mu    sync.Mutex // guards rooms and every member's closed
	rooms map[string]map[*member]struct{}
	seq   atomic.Uint64
}

// NewBaseline returns the bare servers' handler set.
func NewBaseline(cfg BaselineConfig) *Baseline {
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 256
	}
	b := &Baseline{cfg: cfg, rooms: map[string]map[*member]struct{}{}}
	b.up.CheckOrigin = func(*http.Request) bool { return true }
	if cfg.SmallBuffers {
		b.up.ReadBufferSize, b.up.WriteBufferSize = 1<<10, 1<<10
		b.up.WriteBufferPool = &sync.Pool{}
	}
	return b
}

// Handler is the mux of all bare servers.
func (b *Baseline) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /echo", b.echo)
	mux.HandleFunc("GET /room/{name}", b.room)
	mux.Handle(agentv1connect.NewAgentServiceHandler(echoService{seq: &b.seq}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"SERVING"}`))
	})
	return mux
}

func (b *Baseline) echo(w http.ResponseWriter, r *http.Request) {
	c, err := b.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, msg); err != nil {
			return
		}
	}
}

// member is one socket of a room.
type member struct {
	c      *websocket.Conn
	send   chan []byte
	closed bool // send is closed; guarded by Baseline.mu
}

func (b *Baseline) room(w http.ResponseWriter, r *http.Request) {
	c, err := b.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	name := r.PathValue("name")
	m := &member{c: c, send: make(chan []byte, b.cfg.SendQueue)}
	sub := r.URL.Query().Get("subscribe") != "false"
	if sub {
		b.mu.Lock()
		if b.rooms[name] == nil {
			b.rooms[name] = map[*member]struct{}{}
		}
		b.rooms[name][m] = struct{}{}
		b.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range m.send {
			if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
				_ = c.Close()
				for range m.send {
				}
				return
			}
		}
	}()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			break
		}
		b.broadcast(name, msg)
	}
	b.mu.Lock()
	b.drop(name, m)
	b.mu.Unlock()
	<-done
	_ = c.Close()
}

// broadcast queues msg to every member of the room; a member whose queue is
// full is dropped, as in gorilla's chat example.
func (b *Baseline) broadcast(name string, msg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for m := range b.rooms[name] {
		select {
		case m.send <- msg:
		default:
			b.drop(name, m)
		}
	}
}

// drop removes m from its room and ends its writer. b.mu must be held.
func (b *Baseline) drop(name string, m *member) {
	delete(b.rooms[name], m)
	if !m.closed {
		m.closed = true
		close(m.send)
	}
}

// echoService answers SendMessage with the shape the gateway answers with.
type echoService struct {
	agentv1connect.UnimplementedAgentServiceHandler
	seq *atomic.Uint64
}

func (s echoService) SendMessage(_ context.Context, req *connect.Request[agentv1.SendMessageRequest]) (*connect.Response[agentv1.SendMessageResponse], error) {
	if req.Msg.GetAgentId() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("agent_id is required"))
	}
	now := timestamppb.Now()
	seq := s.seq.Add(2)
	id := strconv.FormatUint(seq, 10)
	msg := &agentv1.AgentEvent{Seq: seq - 1, AgentId: req.Msg.GetAgentId(), CreateTime: now,
		Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{MessageId: "u" + id, Role: agentv1.Role_ROLE_USER, Text: req.Msg.GetText()}}}
	reply := &agentv1.AgentEvent{Seq: seq, AgentId: req.Msg.GetAgentId(), CreateTime: now,
		Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{MessageId: "a" + id, Role: agentv1.Role_ROLE_ASSISTANT, Text: "echo: " + req.Msg.GetText(), RunId: "r" + id, ReplyToSeq: seq - 1}}}
	return connect.NewResponse(&agentv1.SendMessageResponse{Message: msg, Reply: reply}), nil
}

// ServeBaseline serves the bare servers on ln until ctx is done, over
// HTTP/1.1 and h2c like the gateway, logging the same serving line.
// Hijacked sockets are left to the process's exit.
func ServeBaseline(ctx context.Context, ln net.Listener, cfg BaselineConfig, log *slog.Logger) error {
	b := NewBaseline(cfg)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           b.Handler(),
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	log.Info("serving", "addr", ln.Addr().String(), "small_buffers", cfg.SmallBuffers)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(<-errc, http.ErrServerClosed) && err == nil {
		return nil
	}
	return err
}
