package bridge_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentgate/agentgate/internal/apptest"
)

// TestThousandSocketsOnOneAgent opens 1,000 sockets on one agent, has ten
// of them send a message each at once, and checks that every socket gets
// the same persisted events in seq order, and its own response.
func TestThousandSocketsOnOneAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sockets")
	}
	// Not in parallel: it takes both cores under -race.
	srv := apptest.Start(t, nil, apptest.Quiet())
	const n, senders, agentID = 1000, 10, "crowd"
	const total = senders * 2

	sockets := make([]*client, n)
	var dials sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range sockets {
		dials.Add(1)
		sem <- struct{}{}
		go func() {
			defer dials.Done()
			defer func() { <-sem }()
			sockets[i] = dial(t, srv, "/ws/agent/"+agentID)
		}()
	}
	dials.Wait()
	if t.Failed() {
		return
	}
	// The bridge subscribes a socket before it completes the upgrade: every
	// socket dialed is live.

	// Each socket keeps its persisted event frames as raw JSON: every
	// socket must get the same bytes.
	seen := make([][]string, n)
	var readers sync.WaitGroup
	for i, c := range sockets {
		readers.Add(1)
		go func() {
			defer readers.Done()
			responded := i >= senders // only the first ten send
			for len(seen[i]) < total || !responded {
				_ = c.ws.SetReadDeadline(time.Now().Add(waitFor))
				_, data, err := c.ws.ReadMessage()
				if err != nil {
					t.Errorf("socket %d: %v", i, err)
					return
				}
				var f struct {
					ID    string `json:"id"`
					Event *struct {
						Seq uint64 `json:"seq,string"`
					} `json:"event"`
					Response json.RawMessage `json:"response"`
				}
				if err := json.Unmarshal(data, &f); err != nil {
					t.Errorf("socket %d: %s: %v", i, data, err)
					return
				}
				switch {
				case f.Event != nil:
					if f.Event.Seq > 0 {
						seen[i] = append(seen[i], string(data))
					}
				case f.ID == fmt.Sprint("m", i) && f.Response != nil:
					responded = true
				default:
					t.Errorf("socket %d: unexpected frame %s", i, data)
					return
				}
			}
		}()
	}
	for i := range senders {
		sockets[i].call(fmt.Sprint("m", i), "SendMessage", fmt.Sprintf(`{"text":"from socket %d"}`, i))
	}
	readers.Wait()
	if t.Failed() {
		return
	}
	for i, evs := range seen {
		if len(evs) != total {
			t.Fatalf("socket %d saw %d persisted events, want %d", i, len(evs), total)
		}
		for j, ev := range evs {
			if ev != seen[0][j] {
				t.Fatalf("socket %d saw %s at position %d; socket 0 saw %s", i, ev, j, seen[0][j])
			}
		}
	}
	for j, raw := range seen[0] {
		if ev := decodeEvent(t, json.RawMessage(raw)[len(`{"event":`):len(raw)-1]); ev.GetSeq() != uint64(j+1) {
			t.Fatalf("event %d has seq %d: %s", j, ev.GetSeq(), raw)
		}
	}
}
