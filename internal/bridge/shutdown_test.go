package bridge_test

import (
	"testing"

	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/gorilla/websocket"
)

// TestShutdownClosesSockets1001 stops the server as SIGTERM does while
// sockets are open and one of them waits for a reply: that reply still
// arrives, every socket then gets close 1001, and the server stops cleanly.
func TestShutdownClosesSockets1001(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"ECHO_DELAY": "20ms"})
	var sockets []*client
	for range 5 {
		sockets = append(sockets, dial(t, srv, "/ws/agent/deploy"))
	}
	busy := sockets[0]
	busy.call("inflight", "SendMessage", `{"text":"answer me before you go"}`)
	// Once the run started, the reply is being written.
	for {
		f := busy.read()
		if f.Event != nil && decodeEvent(t, f.Event).GetRunStarted() != nil {
			break
		}
	}

	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop() }()

	answered := false
	for {
		f, err := busy.tryRead()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("busy socket: %v, want close 1001", err)
			}
			break
		}
		if f.ID == "inflight" {
			if f.Response == nil {
				t.Fatalf("in-flight call: %s, want its response", f.raw)
			}
			answered = true
		}
	}
	if !answered {
		t.Fatal("the socket was closed before the call in flight was answered")
	}
	for i, c := range sockets[1:] {
		if code := c.closeCode(); code != websocket.CloseGoingAway {
			t.Fatalf("socket %d closed with %d, want 1001", i+1, code)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatalf("server stopped with %v, want a clean drain", err)
	}
}
