package bridge

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/api"
	"github.com/agentgate/agentgate/internal/pbjson"
	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/types/dynamicpb"
)

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", `"quoted" \ back`, "tab\tnew\nline\r", "\x00\x1f", "é ☃ 🙂", "\u2028\u2029", "bad \xff utf-8", "<&>"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encodes to %s, not JSON: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Fatalf("%q round-trips to %q, want %q", s, got, wantS)
		}
	}
}

// TestParseFrame covers what the fuzz target cannot check by itself: the
// fields each kind of frame yields.
func TestParseFrame(t *testing.T) {
	t.Parallel()
	f, err := parseFrame([]byte(` {"id":"c1","method":"GetHistory","request":{"limit":5}} `))
	if err != nil || f.id != "c1" || !f.hasID || f.method != "GetHistory" || string(f.request) != `{"limit":5}` {
		t.Fatalf("call frame: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"id":"c1","cancel":true}`))
	if err != nil || !f.cancel || f.id != "c1" {
		t.Fatalf("cancel frame: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"method":"GetAgent","request":null}`))
	if err != nil || f.hasID || f.request != nil {
		t.Fatalf("frame without id and with a null request: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte("hi {there}"))
	if err != nil || !f.shorthand || f.text != "hi {there}" {
		t.Fatalf("shorthand: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"id":"c9","method":5}`))
	if err == nil || f.id != "c9" {
		t.Fatalf("a bad method must still report the id: %+v, %v", f, err)
	}
	f, err = parseFrame([]byte(`{"id":"r1","refresh":{"token":"ey.J\u0041.x"}}`))
	if err != nil || !f.refresh || f.id != "r1" || f.token != "ey.JA.x" {
		t.Fatalf("refresh frame: %+v, %v", f, err)
	}
	for _, frame := range []string{`{"id":"r2","refresh":{}}`, `{"id":"r2","refresh":{"token":""}}`, `{"id":"r2","refresh":{"token":5}}`,
		`{"id":"r2","refresh":{"token":"a","scope":"b"}}`, `{"id":"r2","refresh":"a"}`, `{"id":"r2","cancel":true,"refresh":{"token":"a"}}`,
		`{"id":"r2","method":"GetAgent","refresh":{"token":"a"}}`} {
		if f, err := parseFrame([]byte(frame)); err == nil || f.id != "r2" {
			t.Errorf("%s: %+v, %v; want an error naming the id", frame, f, err)
		}
	}
}

// TestGeneratedTypesAreUsed checks that AgentService's messages decode into
// their generated Go types, not dynamic ones, which are slower.
func TestGeneratedTypesAreUsed(t *testing.T) {
	t.Parallel()
	ms, err := newMethods(agentService(), api.New(api.Config{}).Methods(), "SendMessage", "text")
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range ms.byName {
		if _, dynamic := m.in.New().Interface().(*dynamicpb.Message); dynamic {
			t.Errorf("%s decodes into a dynamic message", name)
		}
	}
	if ms.text == nil || ms.byName["Converse"].refused == "" || ms.byName["Subscribe"].agentID == nil || ms.byName["ListAgents"].agentID != nil {
		t.Fatalf("method table: %+v", ms.byName)
	}
}

func testEvent() *agentv1.AgentEvent {
	return &agentv1.AgentEvent{Seq: 7, AgentId: "a1", Kind: &agentv1.AgentEvent_Message{Message: &agentv1.Message{
		MessageId: "m1", Role: agentv1.Role_ROLE_USER, Text: "hello",
	}}}
}

// TestEventFramesAreShared checks that an event is encoded once for every
// socket, and that evicted events are encoded again.
func TestEventFramesAreShared(t *testing.T) {
	t.Parallel()
	c := newEventFrames(&pbjson.Encoder{})
	ev := testEvent()
	a, err := c.frame(ev)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.frame(ev)
	if &a[0] != &b[0] {
		t.Fatal("the same event was encoded twice")
	}
	var got struct {
		Event struct {
			Seq     string `json:"seq"`
			Message struct{ Text string }
		}
	}
	// A WebSocket header (final text frame, unmasked, 7-bit length), then
	// the JSON.
	if len(a) < 2 || a[0] != 0x81 || int(a[1]) != len(a)-2 {
		t.Fatalf("frame header % x for %d bytes", a[:min(len(a), 2)], len(a))
	}
	if err := json.Unmarshal(a[2:], &got); err != nil || got.Event.Seq != "7" || got.Event.Message.Text != "hello" {
		t.Fatalf("frame %s: %v", a, err)
	}
	for range eventCacheSize {
		if _, err := c.frame(testEvent()); err != nil {
			t.Fatal(err)
		}
	}
	cached := 0
	c.m.Range(func(any, any) bool { cached++; return true })
	if cached != eventCacheSize {
		t.Fatalf("cache holds %d events, want %d", cached, eventCacheSize)
	}
	if again, _ := c.frame(ev); &again[0] == &a[0] {
		t.Fatal("an evicted event's frame was still cached")
	}
}

// Frames built with appendTextHeader, for each length encoding, are read by
// gorilla/websocket's client as the text messages they carry.
func TestAppendTextHeader(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 200000}
	server, client := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		// The server's half of the handshake, then the frames.
		req, err := http.ReadRequest(bufio.NewReader(server))
		if err != nil {
			return
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(server, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(h[:]))
		for _, n := range sizes {
			frame := append(appendTextHeader(nil, n), bytes.Repeat([]byte("a"), n)...)
			if _, err := server.Write(frame); err != nil {
				return
			}
		}
	}()
	ws, _, err := websocket.NewClient(client, &url.URL{Scheme: "ws", Host: "x", Path: "/"}, nil, 1024, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range sizes {
		kind, data, err := ws.ReadMessage()
		if err != nil || kind != websocket.TextMessage || len(data) != n {
			t.Fatalf("frame of %d bytes read as type %d, %d bytes, %v", n, kind, len(data), err)
		}
	}
}
