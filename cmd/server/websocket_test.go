package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestSIGTERMClosesWebSockets1001 is the deploy a frontend lives through:
// the process gets SIGTERM while sockets are open, every socket receives
// close 1001 (reconnect and resume), and the process exits 0.
func TestSIGTERMClosesWebSockets1001(t *testing.T) {
	t.Parallel()
	p := start(t, "SHUTDOWN_TIMEOUT=5s")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var sockets []*websocket.Conn
	for _, q := range []string{"", "?subscribe=false", "?after_seq=0", ""} {
		ws, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://127.0.0.1:"+p.port+"/ws/agent/sigterm"+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		sockets = append(sockets, ws)
	}
	// One round trip proves the sockets are served before the signal.
	if err := sockets[0].WriteMessage(websocket.TextMessage, []byte(`{"id":"1","method":"ListAgents"}`)); err != nil {
		t.Fatal(err)
	}
	_ = sockets[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := sockets[0].ReadMessage(); err != nil {
		t.Fatal(err)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, ws := range sockets {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("socket %d: %v, want close 1001", i, err)
			}
			break
		}
	}
	if code := p.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
}
