package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestFrameReader reads messages of every size class, fragmented ones too,
// through one reused buffer, and then the server's close.
func TestFrameReader(t *testing.T) {
	t.Parallel()
	msgs := [][]byte{
		[]byte("hello"),
		{},
		bytes.Repeat([]byte("a"), 3000),
		bytes.Repeat([]byte("0123456789"), 7000), // more than a frame of the 1 KiB writer: fragmented
		[]byte("after the large one"),
	}
	up := websocket.Upgrader{WriteBufferSize: 1024}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for _, m := range msgs {
			if err := c.WriteMessage(websocket.TextMessage, m); err != nil {
				return
			}
		}
		_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"))
		_, _, _ = c.ReadMessage() // until the client's close answer
	}))
	defer srv.Close()

	c, err := dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fr frameReader
	for i, want := range msgs {
		got, err := fr.next(c)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes %.20q…, want %d bytes %.20q…", i, len(got), got, len(want), want)
		}
	}
	err = discardFrames(c)
	if ce := (*websocket.CloseError)(nil); !errors.As(err, &ce) || ce.Code != websocket.CloseNormalClosure {
		t.Fatalf("after the messages: %v, want the server's 1000 close", err)
	}
}

// The gateway's frames with ?batch=true are read as Centrifugo's are, one
// message a line, without Centrifugo's pings: an empty object is a
// message like any other.
func TestMsgReaderLines(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"event":{"message":{"text":"m7t9"}}}`+"\n"+`{}`+"\n"+`{"id":"s7","response":{}}`))
		_, _, _ = ws.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := msgReader{c: c, lines: true}
	var got []string
	for range 3 {
		msg, err := m.next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(msg))
	}
	want := []string{`{"event":{"message":{"text":"m7t9"}}}`, `{}`, `{"id":"s7","response":{}}`}
	if !slices.Equal(got, want) {
		t.Fatalf("messages %q, want %q", got, want)
	}
}

// discardFrames reads and drops a socket's messages until it fails, and
// returns that error.
func discardFrames(c *websocket.Conn) error {
	for {
		_, r, err := c.NextReader()
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}
