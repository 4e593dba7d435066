package bridge_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/internal/redistest"
	"github.com/gorilla/websocket"
)

// waitHealth polls /health until it answers status.
func waitHealth(t *testing.T, srv *apptest.Server, status int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		res, err := http.Get(srv.URL + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == status {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/health never answered %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// While Redis is down the socket stays open and keeps serving: a call gets
// its error frame at once, not when Redis returns; once Redis is back, the
// push resumes by itself and the socket sees new traffic; and the client's
// close is answered.
func TestSocketServesThroughARedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	srv := apptest.Start(t, map[string]string{"REDIS_URL": rs.URL()})
	c := dial(t, srv, "/ws/agent/outage")
	whole := dial(t, srv, "/ws/agent/outage?deltas=false")
	c.call("before", "SendMessage", `{"text":"before"}`)
	if f, _, _ := c.awaitID("before"); f.Error != nil {
		t.Fatalf("before the outage: %s", f.raw)
	}

	rs.Stop()
	waitHealth(t, srv, http.StatusServiceUnavailable)
	start := time.Now()
	c.call("during", "GetAgent", "")
	f, _, _ := c.awaitID("during")
	if f.Error == nil || f.Error.Code != "unavailable" {
		t.Fatalf("a call during the outage: %s, want an unavailable error", f.raw)
	}
	// The engine gives up on Redis after its operation timeout (2 s); the
	// socket must not add the time it takes Redis to come back.
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the error frame took %v", took)
	}

	rs.Restart()
	waitHealth(t, srv, http.StatusOK)
	// The push resumed: the socket sees the events of a message sent now,
	// after the ones it missed, if any.
	c.call("after", "SendMessage", `{"text":"after the outage"}`)
	var replied bool
	for !replied {
		fr := c.read()
		if fr.Event != nil && strings.Contains(string(fr.Event), "echo: after the outage") {
			replied = true
		}
	}
	// The resumed subscription of a socket without deltas has none either.
	for replied = false; !replied; {
		fr := whole.read()
		if fr.Event == nil {
			t.Fatalf("deltas=false socket: unexpected frame %s", fr.raw)
		}
		if strings.Contains(string(fr.Event), `"textDelta"`) {
			t.Fatalf("deltas=false socket got a delta after the outage: %s", fr.raw)
		}
		replied = strings.Contains(string(fr.Event), "echo: after the outage")
	}

	if err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c.expires = time.Now().Add(5 * time.Second)
	if code := c.closeCode(); code != websocket.CloseNormalClosure {
		t.Fatalf("the client's close was answered with %d, want 1000", code)
	}
}
