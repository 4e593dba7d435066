package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/gorilla/websocket"
)

// TestSlowReaderIsClosed1013 has one socket that never reads while clients
// send to its agent. Its queue overflows and it is dropped, while another
// socket on the same agent receives every event and the agent keeps
// answering; when the slow client reads at last, it finds close 1013 after
// the frames that were already on their way.
//
// It does not run in parallel with other tests: the server cuts a client
// whose write blocks for 10s, and the test must read before that.
func TestSlowReaderIsClosed1013(t *testing.T) {
	srv := apptest.Start(t, nil)
	ctx := testCtx(t)
	const agentID = "slow"
	cc := connectClient(t, srv)

	// A fixed receive buffer on the slow client, so that the server's
	// writes to it block soon.
	small := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			err = conn.(*net.TCPConn).SetReadBuffer(256 << 10)
		}
		return conn, err
	}}
	slow := dialWith(t, small, wsURL(srv, "/ws/agent/"+agentID), nil)
	fast := dial(t, srv, "/ws/agent/"+agentID)

	// The fast socket reads everything, up to the reply to the last send.
	const lastText = "still answering"
	fastDone := make(chan []uint64, 1)
	go func() {
		var got []uint64
		for {
			_ = fast.ws.SetReadDeadline(time.Now().Add(waitFor))
			_, data, err := fast.ws.ReadMessage()
			if err != nil {
				t.Errorf("fast socket: %v", err)
				fastDone <- nil
				return
			}
			var f struct {
				Event struct {
					Seq     uint64 `json:"seq,string"`
					Message struct {
						Text string `json:"text"`
					} `json:"message"`
				} `json:"event"`
			}
			if err := json.Unmarshal(data, &f); err != nil {
				t.Errorf("fast socket: %s: %v", data, err)
			}
			if f.Event.Seq == 0 {
				continue
			}
			got = append(got, f.Event.Seq)
			if f.Event.Message.Text == "echo: "+lastText {
				fastDone <- got
				return
			}
		}
	}()

	// Large messages fill the kernel's buffers towards the slow client,
	// then small ones (several senders at once) fill its queue of events
	// until the server drops it.
	big := strings.Repeat("x", 16000)
	for range 120 {
		if _, err := cc.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: big})); err != nil {
			t.Fatal(err)
		}
	}
	var dropped atomic.Bool
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for i := 0; !dropped.Load(); i++ {
				if i == 1000 {
					t.Error("the slow socket was not dropped after 4000 more messages")
					return
				}
				if _, err := cc.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: "small"})); err != nil {
					t.Error(err)
					return
				}
				if connections(ctx, t, cc, agentID) == 1 {
					dropped.Store(true) // only the fast socket is left
				}
			}
		}()
	}
	senders.Wait()
	if t.Failed() {
		return
	}
	slowCode := make(chan error, 1)
	go func() { slowCode <- slow.closed() }()

	// The agent still answers, and the fast socket got everything, in order.
	res, err := cc.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: agentID, Text: lastText}))
	if err != nil {
		t.Fatal(err)
	}
	got := <-fastDone
	if want := res.Msg.GetReply().GetSeq(); uint64(len(got)) != want {
		t.Fatalf("fast socket got %d persisted events, want %d", len(got), want)
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("fast socket: event %d has seq %d", i, seq)
		}
	}
	if err := <-slowCode; !websocket.IsCloseError(err, 1013) {
		t.Fatalf("slow socket: %v, want close 1013", err)
	}
}

// TestSilentClientIsClosed sets a short pong timeout: a client that answers
// no ping is closed with 1001, one that does stays open.
func TestSilentClientIsClosed(t *testing.T) {
	t.Parallel()
	// The pong timeout is long enough that a live client starved of CPU
	// for a while (the race detector on a loaded machine) still answers in
	// time: what is tested is that silence closes and answers keep open.
	srv := apptest.Start(t, map[string]string{"WS_PING_INTERVAL": "25ms", "WS_PONG_TIMEOUT": "1500ms"})

	silent := dial(t, srv, "/ws/agent/keepalive")
	silent.ws.SetPingHandler(func(string) error { return nil }) // no pong
	if code := silent.closeCode(); code != websocket.CloseGoingAway {
		t.Fatalf("silent client closed with %d, want 1001", code)
	}

	// A live client answers pings (gorilla does while reading); after 120
	// of them, twice the pong timeout, it sends a request.
	live := dial(t, srv, "/ws/agent/keepalive")
	var pings atomic.Int32
	live.ws.SetPingHandler(func(data string) error {
		if err := live.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second)); err != nil {
			return err
		}
		if pings.Add(1) == 120 {
			return live.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":"alive","method":"GetAgent"}`))
		}
		return nil
	})
	if final, _, _ := live.awaitID("alive"); final.Error != nil && final.Error.Code != "not_found" {
		t.Fatalf("request after 120 pings: %s", final.raw)
	}
}

func TestFrameLimits(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)

	big := dial(t, srv, "/ws/agent/limits")
	big.sendText(`{"id":"big","method":"SendMessage","request":{"text":"` + strings.Repeat("a", 64<<10) + `"}}`)
	if code := big.closeCode(); code != websocket.CloseMessageTooBig {
		t.Fatalf("oversized frame: closed with %d, want 1009", code)
	}

	// A frame just under the limit is read (and refused by the service,
	// whose text limit is smaller).
	under := dial(t, srv, "/ws/agent/limits")
	under.sendText(`{"id":"under","method":"SendMessage","request":{"text":"` + strings.Repeat("a", 60<<10) + `"}}`)
	if final, _, _ := under.awaitID("under"); final.Error == nil || final.Error.Code != "invalid_argument" {
		t.Fatalf("frame under the limit: %s, want invalid_argument from the service", final.raw)
	}

	bin := dial(t, srv, "/ws/agent/limits")
	if err := bin.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if code := bin.closeCode(); code != websocket.CloseUnsupportedData {
		t.Fatalf("binary frame: closed with %d, want 1003", code)
	}
}

func TestRefusedBeforeUpgrade(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/ws/agent/bad!id", http.StatusBadRequest},
		{"/ws/agent/" + strings.Repeat("a", 129), http.StatusBadRequest},
		{"/ws/agent/ok?after_seq=-1", http.StatusBadRequest},
		{"/ws/agent/ok?subscribe=maybe", http.StatusBadRequest},
		{"/ws/agent/ok?subscribe=false&after_seq=3", http.StatusBadRequest},
		{"/ws/agent/ok?deltas=some", http.StatusBadRequest},
		{"/ws/agent/ok?subscribe=false&deltas=false", http.StatusBadRequest},
		{"/ws/agent/ok?batch=often", http.StatusBadRequest},
		{"/ws/agent/ok?console=perhaps", http.StatusBadRequest},
	} {
		ctx := testCtx(t)
		_, res, err := websocket.DefaultDialer.DialContext(ctx, wsURL(srv, tc.path), nil)
		if err == nil {
			t.Errorf("%s: connected, want HTTP %d", tc.path, tc.status)
			continue
		}
		if res == nil || res.StatusCode != tc.status {
			t.Errorf("%s: %v, want HTTP %d", tc.path, err, tc.status)
		}
	}

	// A plain GET is told to upgrade.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get(srv.URL + "/ws/agent/ok")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: HTTP %d, want 426", res.StatusCode)
	}
}

// TestTooManyCallsInFlight fills a socket's call slots with streams: the
// next request is refused, the socket keeps working.
func TestTooManyCallsInFlight(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	c := dial(t, srv, "/ws/agent/busy?subscribe=false")
	for i := range 64 {
		c.call(fmt.Sprint("s", i), "Subscribe", "")
	}
	c.call("one-too-many", "GetAgent", "")
	if final, _, _ := c.awaitID("one-too-many"); final.Error == nil || final.Error.Code != "resource_exhausted" {
		t.Fatalf("65th request: %s, want resource_exhausted", final.raw)
	}
	c.sendText(`{"id":"s0","cancel":true}`)
	if final, _, _ := c.awaitID("s0"); !final.End {
		t.Fatalf("cancel: %s", final.raw)
	}
	c.call("fits", "ListAgents", "")
	if final, _, _ := c.awaitID("fits"); final.Response == nil {
		t.Fatalf("request after a slot freed: %s", final.raw)
	}
}

// TestIdleSocketsParkOneGoroutine opens idle sockets (subscribed to their
// agents, the default) and checks that each costs one parked goroutine, its
// reader: the writer runs only while there is something to write. It does
// not run in parallel, since it counts the process's goroutines.
func TestIdleSocketsParkOneGoroutine(t *testing.T) {
	srv := apptest.Start(t, nil)
	warm := dial(t, srv, "/ws/agent/idle-warm")
	warm.call("w", "GetAgent", "")
	warm.awaitID("w")
	base := runtime.NumGoroutine()

	const n = 100
	for i := range n {
		c := dial(t, srv, fmt.Sprintf("/ws/agent/idle-%d", i))
		c.call("g", "GetAgent", "") // the socket is up, and its writer has run
		c.awaitID("g")
		// A second call wakes the lingering writer: its next wait runs on
		// the linger timer it left running, and must end it all the same.
		c.call("h", "GetAgent", "")
		c.awaitID("h")
	}
	// Writers end once they have had nothing to do for a moment.
	deadline := time.Now().Add(waitFor)
	for {
		extra := runtime.NumGoroutine() - base
		if extra <= n+n/10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle sockets hold %d goroutines, want about one each", n, extra)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And an idle socket still gets what is pushed to it, and its pings.
	c := dial(t, srv, "/ws/agent/idle-7")
	c.call("m", "SendMessage", `{"text":"wake up"}`)
	if f, _, _ := c.awaitID("m"); f.Error != nil {
		t.Fatalf("SendMessage: %s", f.raw)
	}
}
