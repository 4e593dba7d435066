package bridge

import (
	"sync"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/pbjson"
)

// eventCacheSize is how many recent events keep their encoded frame.
const eventCacheSize = 256

// eventFrames encodes each pushed event once for all the sockets that
// receive it. The engine hands every subscriber of an agent the same
// *AgentEvent, read-only, so the pointer identifies the event: the first
// writer to push it encodes its {"event":…} frame, WebSocket header
// included (a server's frames are not masked, so the bytes are the same on
// every socket), and the others reuse the bytes. A fan-out to a thousand
// sockets thus costs one JSON encoding and a thousand copies.
//
// It holds the last eventCacheSize events; an entry keeps its event alive,
// so a pointer cannot be reused for another event while it is cached.
// Lookups, nearly all hits during a fan-out, take no lock.
type eventFrames struct {
	json *pbjson.Encoder
	m    sync.Map // *agentv1.AgentEvent → *eventFrame

	mu   sync.Mutex // guards ring and next, and orders eviction
	ring [eventCacheSize]*agentv1.AgentEvent
	next int
}

type eventFrame struct {
	once sync.Once
	b    []byte // the whole WebSocket frame
	err  error
}

func newEventFrames(json *pbjson.Encoder) *eventFrames {
	return &eventFrames{json: json}
}

// frame returns ev's frame, header and payload. The bytes are shared: read
// only.
func (c *eventFrames) frame(ev *agentv1.AgentEvent) ([]byte, error) {
	v, ok := c.m.Load(ev)
	if !ok {
		c.mu.Lock()
		if v, ok = c.m.Load(ev); !ok {
			v = &eventFrame{}
			if old := c.ring[c.next]; old != nil {
				c.m.Delete(old)
			}
			c.ring[c.next] = ev
			c.next = (c.next + 1) % eventCacheSize
			c.m.Store(ev, v)
		}
		c.mu.Unlock()
	}
	e := v.(*eventFrame)
	e.once.Do(func() {
		payload, err := appendEvent(make([]byte, 0, 256), c.json, ev)
		if err != nil {
			e.err = err
			return
		}
		e.b = append(appendTextHeader(make([]byte, 0, len(payload)+maxTextHeader), len(payload)), payload...)
	})
	return e.b, e.err
}
