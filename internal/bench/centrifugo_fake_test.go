package bench

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
)

// fakeCentrifugo is a tiny in-process stand-in for Centrifugo's JSON
// protocol at /connection/websocket: connect, subscribe and publish, with a
// publication pushed to every subscriber of its channel. It batches the way
// Centrifugo may: a publisher that is subscribed gets its push and its
// publish reply in one frame, one per line, and every reply frame to a
// publish starts with a ping ({}) when pingPublish is set, so that a client
// that fails to split lines or to answer pings fails the test. It is no
// model of Centrifugo beyond that.
type fakeCentrifugo struct {
	t           testing.TB
	srv         *httptest.Server
	pingPublish bool
	up          websocket.Upgrader
	mu          sync.Mutex // guards subs and conns
	subs        map[string]map[*fakeConn]struct{}
	conns       map[*fakeConn]struct{}
	// pings counts the pings sent, pongs the answers: Centrifugo drops a
	// socket that answers a ping it did not get, so the fake fails the test.
	pings, pongs atomic.Int64
	handlers     sync.WaitGroup
}

// fakeConn is one socket of the fake, written under its own lock by its
// reader and by publishers on other sockets.
type fakeConn struct {
	c  *websocket.Conn
	mu sync.Mutex
}

func (fc *fakeConn) write(data []byte) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.c.WriteMessage(websocket.TextMessage, data)
}

// startFakeCentrifugo serves the fake on loopback until the test ends; the
// cleanup closes every socket and waits for the handlers.
func startFakeCentrifugo(t testing.TB, pingPublish bool) *fakeCentrifugo {
	f := &fakeCentrifugo{t: t, pingPublish: pingPublish, subs: map[string]map[*fakeConn]struct{}{}, conns: map[*fakeConn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+centrifugoPath, f.serve)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		for fc := range f.conns {
			_ = fc.c.Close()
		}
		f.mu.Unlock()
		f.handlers.Wait()
	})
	return f
}

// target is the fake as the modes see a Centrifugo server.
func (f *fakeCentrifugo) target() Target {
	return Target{Name: Centrifugo, Addr: f.srv.Listener.Addr().(*net.TCPAddr).String(), Centrifugo: true}
}

// fakeCommand is a client command of the JSON protocol; an empty one ({}) is
// a pong.
type fakeCommand struct {
	ID        uint32 `json:"id"`
	Connect   *struct{}
	Subscribe *struct {
		Channel string `json:"channel"`
	} `json:"subscribe"`
	Publish *struct {
		Channel string          `json:"channel"`
		Data    json.RawMessage `json:"data"`
	} `json:"publish"`
}

func (f *fakeCentrifugo) serve(w http.ResponseWriter, r *http.Request) {
	c, err := f.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	fc := &fakeConn{c: c}
	f.mu.Lock()
	f.conns[fc] = struct{}{}
	f.handlers.Add(1)
	f.mu.Unlock()
	defer f.handlers.Done()
	defer f.drop(fc)
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			if err := f.handle(fc, line); err != nil {
				return
			}
		}
	}
}

func (f *fakeCentrifugo) handle(fc *fakeConn, line []byte) error {
	var cmd fakeCommand
	if err := json.Unmarshal(line, &cmd); err != nil {
		f.t.Errorf("fake centrifugo: bad command %q: %v", line, err)
		return err
	}
	id := strconv.FormatUint(uint64(cmd.ID), 10)
	switch {
	case cmd.ID == 0:
		if f.pongs.Add(1) > f.pings.Load() {
			f.t.Errorf("fake centrifugo: a pong without a ping: %q", line)
		}
		return nil
	case cmd.Subscribe != nil:
		f.mu.Lock()
		if f.subs[cmd.Subscribe.Channel] == nil {
			f.subs[cmd.Subscribe.Channel] = map[*fakeConn]struct{}{}
		}
		f.subs[cmd.Subscribe.Channel][fc] = struct{}{}
		f.mu.Unlock()
		return fc.write([]byte(`{"id":` + id + `,"subscribe":{"recoverable":true,"epoch":"e","positioned":true}}`))
	case cmd.Publish != nil:
		return f.publish(fc, id, cmd.Publish.Channel, cmd.Publish.Data)
	default:
		return fc.write([]byte(`{"id":` + id + `,"connect":{"client":"c","version":"fake","ping":25,"pong":true}}`))
	}
}

// publish pushes data to the channel's subscribers and replies; the
// publisher's own push and its reply leave in one frame.
// A channel named "denied" refuses publications, as Centrifugo answers
// a client without the permission.
func (f *fakeCentrifugo) publish(from *fakeConn, id, channel string, data []byte) error {
	if channel == centrifugoChannel("denied") {
		return from.write([]byte(`{"id":` + id + `,"error":{"code":103,"message":"permission denied"}}`))
	}
	push := []byte(`{"push":{"channel":` + strconv.Quote(channel) + `,"pub":{"data":` + string(data) + `,"offset":1}}}`)
	f.mu.Lock()
	var others []*fakeConn
	self := false
	for fc := range f.subs[channel] {
		if fc == from {
			self = true
		} else {
			others = append(others, fc)
		}
	}
	f.mu.Unlock()
	for _, fc := range others {
		_ = fc.write(push)
	}
	var reply []byte
	if f.pingPublish {
		f.pings.Add(1)
		reply = append(reply, "{}\n"...)
	}
	if self {
		reply = append(append(reply, push...), '\n')
	}
	reply = append(reply, `{"id":`+id+`,"publish":{}}`...)
	return from.write(reply)
}

func (f *fakeCentrifugo) drop(fc *fakeConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, fc)
	for _, members := range f.subs {
		delete(members, fc)
	}
	_ = fc.c.Close()
}
