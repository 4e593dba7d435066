package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/gorilla/websocket"
)

func wsURL(srv *apptest.Server, agentID, query string) string {
	u := "ws://" + srv.Addr + "/ws/agent/" + agentID
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial opens a socket or returns the HTTP status of the refusal.
func dial(t *testing.T, url string, h http.Header, protocols ...string) (*websocket.Conn, *http.Response) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 10 * time.Second}
	c, res, err := d.Dial(url, h)
	if err != nil {
		if res == nil {
			t.Fatalf("dial %s: %v", url, err)
		}
		return nil, res
	}
	t.Cleanup(func() { c.Close() })
	return c, res
}

// roundTrip sends a SendMessage frame and returns the response frame,
// skipping pushed events.
func roundTrip(t *testing.T, c *websocket.Conn, id, text string) map[string]json.RawMessage {
	t.Helper()
	msg := fmt.Sprintf(`{"id":%q,"method":"SendMessage","request":{"text":%q}}`, id, text)
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(readAnswer(t, c, id), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// readAnswer reads frames until one carries id, and returns it: the
// pushed events and the answers to other calls are skipped.
func readAnswer(t *testing.T, c *websocket.Conn, id string) []byte {
	t.Helper()
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", id, err)
		}
		var f struct {
			ID *string `json:"id"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		if f.ID != nil && *f.ID == id {
			return data
		}
	}
}

func TestWebSocketAuth(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": token}, capture(logs))
	url := wsURL(srv, "ws-auth", "subscribe=false")

	for name, tc := range map[string]struct {
		url       string
		protocols []string
	}{
		"no token":             {url: url},
		"wrong query token":    {url: url + "&access_token=wrong-token-0123456789"},
		"wrong subprotocol":    {url: url, protocols: []string{"agent.v1", "bearer.wrong-token-0123456789"}},
		"subprotocol, no auth": {url: url, protocols: []string{"agent.v1"}},
	} {
		if c, res := dial(t, tc.url, nil, tc.protocols...); c != nil || res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: connected or status %v, want 401 before the upgrade", name, res.StatusCode)
		}
	}

	c, _ := dial(t, url+"&access_token="+token, nil)
	if c == nil {
		t.Fatal("valid query token refused")
	}
	if f := roundTrip(t, c, "q1", "by query"); !strings.Contains(string(f["response"]), "echo: by query") {
		t.Fatalf("response %s", f["response"])
	}
	c2, res := dial(t, url, nil, "agent.v1", "bearer."+token)
	if c2 == nil {
		t.Fatalf("valid subprotocol token refused: %v", res.Status)
	}
	if c2.Subprotocol() != "agent.v1" {
		t.Fatalf("server selected subprotocol %q, want agent.v1", c2.Subprotocol())
	}
	if f := roundTrip(t, c2, "s1", "by subprotocol"); !strings.Contains(string(f["response"]), "echo: by subprotocol") {
		t.Fatalf("response %s", f["response"])
	}
	if !strings.Contains(logs.String(), "reason=unauthenticated") || strings.Contains(logs.String(), token) {
		t.Errorf("refusals not logged with their reason, or a token logged:\n%s", logs.String())
	}
}

func TestWebSocketOrigins(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"ALLOWED_ORIGINS": "https://app.example.com,*.example.org"}, capture(logs))
	url := wsURL(srv, "ws-origin", "")
	for origin, ok := range map[string]bool{
		"https://app.example.com":  true,
		"https://chat.example.org": true,
		"https://evil.example.com": false,
		"http://app.example.com":   false,
	} {
		c, res := dial(t, url, http.Header{"Origin": {origin}})
		if got := c != nil; got != ok {
			t.Errorf("origin %s: connected %v (status %v), want %v", origin, got, res.StatusCode, ok)
		}
		if !ok && res.StatusCode != http.StatusForbidden {
			t.Errorf("origin %s: status %d, want 403", origin, res.StatusCode)
		}
	}
	if !strings.Contains(logs.String(), "reason=origin") || !strings.Contains(logs.String(), "evil.example.com") {
		t.Errorf("origin refusals are not logged:\n%s", logs.String())
	}
}

func TestWebSocketConnectionCap(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"MAX_CONNECTIONS": "2"}, capture(logs))
	url := wsURL(srv, "ws-cap", "")
	first, _ := dial(t, url, nil)
	if first == nil {
		t.Fatal("first socket refused")
	}
	if c, _ := dial(t, url, nil); c == nil {
		t.Fatal("second socket refused")
	}
	c, res := dial(t, url, nil)
	if c != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third socket: connected or %v, want 503", res.Status)
	}
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), "connection limit") || !strings.Contains(logs.String(), "reason=max_connections") {
		t.Fatalf("refusal body %q or log without the reason:\n%s", body, logs.String())
	}
	// A closed socket gives its place back.
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, _ := dial(t, url, nil); c != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed socket's place was not given back")
		}
		time.Sleep(20 * time.Millisecond) // polling the server's state, not synchronising goroutines
	}
}

func TestWebSocketFrameFlood(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"WS_FRAME_RATE": "5"}, capture(logs))
	flood, _ := dial(t, wsURL(srv, "ws-flood", "subscribe=false"), nil)
	calm, _ := dial(t, wsURL(srv, "ws-flood", "subscribe=false"), nil)

	// The flooder writes as fast as it can; a reader collects what it gets.
	type result struct {
		exhausted int
		code      int
	}
	done := make(chan result, 1)
	go func() {
		var r result
		for {
			_ = flood.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := flood.ReadMessage()
			if err != nil {
				if ce, ok := err.(*websocket.CloseError); ok {
					r.code = ce.Code
				}
				done <- r
				return
			}
			if strings.Contains(string(data), `"resource_exhausted"`) {
				r.exhausted++
			}
		}
	}()
	for i := 0; i < 200; i++ {
		if err := flood.WriteMessage(websocket.TextMessage, []byte(`{"id":"f","method":"GetAgent","request":{}}`)); err != nil {
			break // closed by the server
		}
	}
	r := <-done
	if r.exhausted == 0 || r.code != 1008 {
		t.Fatalf("flooder got %d resource_exhausted frames and close %d; want some, then 1008", r.exhausted, r.code)
	}
	if !strings.Contains(logs.String(), "reason=frame_flood") {
		t.Errorf("the flood is not logged with its reason:\n%s", logs.String())
	}
	// Another socket on the same agent is unaffected.
	if f := roundTrip(t, calm, "c1", "still here"); !strings.Contains(string(f["response"]), "echo: still here") {
		t.Fatalf("calm socket: %s", f)
	}
	// The close is counted once the socket's goroutines are done, which may
	// be just after the client saw it.
	metricsContain(t, srv, `agentgate_websockets_closed_total{code="1008"} 1`, `agentgate_refusals_total{door="websocket",reason="frame_rate"}`,
		`agentgate_refusals_total{door="websocket",reason="frame_flood"} 1`,
		`agentgate_websockets_opened_total 2`, `agentgate_websocket_frames_total{direction="in"}`)
}

// metricsContain polls /metrics until it has every line of want: a socket's
// close is counted once its goroutines are done, just after the client saw
// the close frame.
func metricsContain(t *testing.T, srv *apptest.Server, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(res.Body)
		res.Body.Close()
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(m), w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q", missing)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A client that breaks the WebSocket framing while replies stream to it gets
// the 1002 that gorilla/websocket writes from the reader, racing the
// bridge's writer, and the socket is counted as closed with 1002.
func TestProtocolErrorClosesWith1002(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c, _ := dial(t, wsURL(srv, "proto", ""), nil)
	for i := range 5 {
		msg := fmt.Sprintf(`{"id":"m%d","method":"SendMessage","request":{"text":"a few words to stream back"}}`, i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// FIN, reserved opcode 3, masked, empty payload.
	if _, err := c.NetConn().Write([]byte{0x83, 0x80, 1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.CloseProtocolError) {
			t.Fatalf("socket ended with %v, want close 1002", err)
		}
		break
	}
	metricsContain(t, srv, `agentgate_websockets_closed_total{code="1002"} 1`)
}

// A socket is one connection however many streams it runs: Subscribe calls
// bridged from an admitted socket neither take MAX_CONNECTIONS places nor
// spend CONNECTION_RATE, so they cannot lock other clients out.
func TestBridgedStreamsAreNotNewConnections(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, map[string]string{"MAX_CONNECTIONS": "2", "CONNECTION_RATE": "2"})
	a, _ := dial(t, wsURL(srv, "streams", "subscribe=false"), nil)
	const streams = 4
	for i := range streams {
		msg := fmt.Sprintf(`{"id":"s%d","method":"Subscribe","request":{"afterSeq":"0"}}`, i)
		if err := a.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// Every stream is live: each gets the events of one message.
	if err := a.WriteMessage(websocket.TextMessage, []byte(`{"id":"m","method":"SendMessage","request":{"text":"to every stream"}}`)); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for len(got) < streams+1 {
		_ = a.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := a.ReadMessage()
		if err != nil {
			t.Fatalf("reading the streams: %v (live so far: %v)", err, got)
		}
		var f map[string]json.RawMessage
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		if f["error"] != nil {
			t.Fatalf("a stream was refused: %s", data)
		}
		got[strings.Trim(string(f["id"]), `"`)]++
	}
	// The second place and the rest of the rate are still there.
	b, res := dial(t, wsURL(srv, "streams", ""), nil)
	if b == nil {
		t.Fatalf("a second socket was refused with HTTP %d", res.StatusCode)
	}
}

// Upgrades refused before the socket opens are logged with their reason,
// and a page from a refused origin costs no place and no rate token.
func TestRefusedUpgradesAreLoggedAndCostNothing(t *testing.T) {
	t.Parallel()
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{
		"ALLOWED_ORIGINS": "https://app.example.com", "MAX_CONNECTIONS": "1", "CONNECTION_RATE": "1",
	}, capture(logs))
	if c, res := dial(t, wsURL(srv, "bad%20id", ""), nil); c != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad agent id: want 400, got %v", res.Status)
	}
	evil := http.Header{"Origin": {"https://evil.example.net"}}
	for range 5 {
		if c, res := dial(t, wsURL(srv, "o", ""), evil); c != nil || res.StatusCode != http.StatusForbidden {
			t.Fatalf("disallowed origin: want 403, got %v", res.Status)
		}
	}
	good := http.Header{"Origin": {"https://app.example.com"}}
	if c, res := dial(t, wsURL(srv, "o", ""), good); c == nil {
		t.Fatalf("the allowed page after the refused ones: HTTP %d, want a socket", res.StatusCode)
	}
	for _, want := range []string{"reason=bad_agent_id", "reason=origin"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the logs lack %s:\n%s", want, logs.String())
		}
	}
}
