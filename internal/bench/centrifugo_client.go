package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// The client side of Centrifugo's JSON protocol (v2) over WebSocket, as
// much of it as the modes need: connect, subscribe and publish commands,
// their replies, publication pushes and the server's pings. A command is
// {"id":N,"connect":{…}}; its reply is {"id":N,"connect":{…}} or
// {"id":N,"error":{…}}; a push has no id: {"push":{"channel":…,"pub":{…}}};
// a ping is {}, answered with {}. The server may batch several of these in
// one frame, one per line.

// centrifugoPath is Centrifugo's bidirectional WebSocket endpoint.
const centrifugoPath = "/connection/websocket"

// The ids of the handshake's commands; later commands count from
// firstCommandID.
const (
	connectID      = 1
	subscribeID    = 2
	firstCommandID = 3
)

// centrifugoHandshakeTimeout bounds the wait for the connect and subscribe
// replies.
const centrifugoHandshakeTimeout = 10 * time.Second

// msgReader reads a socket's protocol messages through one reused buffer.
// For the gateway and the bare servers a message is a frame, unless lines
// is set (the gateway's ?batch=true): then, as for Centrifugo, a frame
// holds one message per line. For Centrifugo a ping is answered at once
// when pong is set: only the socket's one writer may set it, since gorilla
// allows one writer at a time. Centrifugo pings every 25 s and drops a
// socket that has not answered 8 s later, so a socket without pong lives
// at most that long; every such socket of the tool (the fan-out's sender)
// lives less.
type msgReader struct {
	c          *websocket.Conn
	centrifugo bool
	lines      bool
	pong       bool
	fr         frameReader
	rest       []byte // the frame's messages not yet returned
}

// next returns the next message other than a ping; it is valid until the
// following call.
func (m *msgReader) next() ([]byte, error) {
	for {
		if !m.centrifugo && !m.lines {
			return m.fr.next(m.c)
		}
		if len(m.rest) == 0 {
			data, err := m.fr.next(m.c)
			if err != nil {
				return nil, err
			}
			m.rest = data
		}
		var msg []byte
		msg, m.rest = splitLine(m.rest)
		if len(msg) == 0 {
			continue // a blank line, or the end of a frame
		}
		if !m.centrifugo || !isPing(msg) {
			return msg, nil
		}
		if m.pong {
			if err := m.c.WriteMessage(websocket.TextMessage, []byte("{}")); err != nil {
				return nil, err
			}
		}
	}
}

// splitLine cuts the first line off data.
func splitLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return bytes.TrimSpace(data[:i]), data[i+1:]
	}
	return bytes.TrimSpace(data), nil
}

// isPing reports whether msg is the server's ping, an empty reply.
func isPing(msg []byte) bool { return bytes.Equal(msg, []byte("{}")) }

// await reads messages until the reply to command id and fails if that
// reply is an error. Pushes and replies to other commands are skipped.
func (m *msgReader) await(id uint32) error {
	for {
		msg, err := m.next()
		if err != nil {
			return err
		}
		got, ok := replyID(msg)
		if !ok || got != id {
			continue
		}
		if bytes.Contains(msg, []byte(`"error":{`)) {
			return fmt.Errorf("centrifugo command %d failed: %.300s", id, msg)
		}
		return nil
	}
}

// replyID returns the id of a reply. Centrifugo writes the id first, so the
// fast path reads it from the message's start without decoding the rest,
// which keeps the tool's own CPU small; anything else is decoded in full.
// Pushes and pings have no id.
func replyID(msg []byte) (uint32, bool) {
	if rest, ok := bytes.CutPrefix(msg, []byte(`{"id":`)); ok {
		end := bytes.IndexAny(rest, ",}")
		if end > 0 {
			if id, err := strconv.ParseUint(string(rest[:end]), 10, 32); err == nil {
				return uint32(id), id > 0
			}
		}
	}
	var r struct {
		ID uint32 `json:"id"`
	}
	if err := json.Unmarshal(msg, &r); err != nil || r.ID == 0 {
		return 0, false
	}
	return r.ID, true
}

// centrifugoHandshake connects c and, unless channel is empty, subscribes it
// to channel, waiting for each reply.
func centrifugoHandshake(c *websocket.Conn, channel string) error {
	_ = c.SetReadDeadline(time.Now().Add(centrifugoHandshakeTimeout))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	m := msgReader{c: c, centrifugo: true, pong: true}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{}}`)); err != nil {
		return err
	}
	if err := m.await(connectID); err != nil {
		return err
	}
	if channel == "" {
		return nil
	}
	buf := append([]byte(`{"id":2,"subscribe":{"channel":`), strconv.Quote(channel)...)
	buf = append(buf, `}}`...)
	if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
		return err
	}
	return m.await(subscribeID)
}

// appendPublish appends a publish command of data (JSON) to channel.
func appendPublish(buf []byte, id uint32, channel string, data []byte) []byte {
	buf = append(buf, `{"id":`...)
	buf = strconv.AppendUint(buf, uint64(id), 10)
	buf = append(buf, `,"publish":{"channel":`...)
	buf = strconv.AppendQuote(buf, channel)
	buf = append(buf, `,"data":`...)
	buf = append(buf, data...)
	return append(buf, `}}`...)
}

// centrifugoRTTLoop is rttLoop for Centrifugo: each socket publishes
// {"text":"hello N"} to channel and waits for the publish reply, Centrifugo's
// acknowledgement, as the gateway's loop waits for the SendMessage response.
// On a subscribed socket the publication's push comes too and, like the
// gateway's pushed events, is read and skipped.
func centrifugoRTTLoop(c *websocket.Conn, channel string, from, until time.Time, s *Samples) error {
	m := msgReader{c: c, centrifugo: true, pong: true}
	buf := make([]byte, 0, 128)
	data := make([]byte, 0, 32)
	_ = c.SetReadDeadline(until.Add(10 * time.Second))
	for id := uint32(firstCommandID); ; id++ {
		sent := time.Now()
		if !sent.Before(until) {
			return nil
		}
		data = append(data[:0], `{"text":"hello `...)
		data = strconv.AppendUint(data, uint64(id), 10)
		data = append(data, `"}`...)
		buf = appendPublish(buf[:0], id, channel, data)
		if err := c.WriteMessage(websocket.TextMessage, buf); err != nil {
			return err
		}
		if err := m.await(id); err != nil {
			return err
		}
		if !sent.Before(from) {
			s.Add(time.Since(sent))
		}
	}
}
