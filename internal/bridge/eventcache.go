package bridge

import (
	"sync"

	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
)

// eventCacheSize is how many recent events keep their encoded frame.
const eventCacheSize = 256

// eventFrames encodes each pushed event once for all the sockets that
// receive it. The engine hands every subscriber of an agent the same
// *AgentEvent, read-only, so the pointer identifies the event: the first
// writer to push it encodes its {"event":…} frame and the others reuse the
// bytes. A fan-out to a thousand sockets thus costs one protojson encoding,
// not a thousand.
//
// It holds the last eventCacheSize events; an entry keeps its event alive,
// so a pointer cannot be reused for another event while it is cached.
type eventFrames struct {
	mu   sync.Mutex
	m    map[*agentv1.AgentEvent]*eventFrame
	ring [eventCacheSize]*agentv1.AgentEvent
	next int
}

type eventFrame struct {
	once sync.Once
	b    []byte
	err  error
}

func newEventFrames() *eventFrames {
	return &eventFrames{m: make(map[*agentv1.AgentEvent]*eventFrame, eventCacheSize)}
}

// frame returns the encoded frame of ev. The bytes are shared: read only.
func (c *eventFrames) frame(ev *agentv1.AgentEvent) ([]byte, error) {
	c.mu.Lock()
	e := c.m[ev]
	if e == nil {
		e = &eventFrame{}
		if old := c.ring[c.next]; old != nil {
			delete(c.m, old)
		}
		c.ring[c.next] = ev
		c.next = (c.next + 1) % eventCacheSize
		c.m[ev] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.b, e.err = appendEvent(make([]byte, 0, 256), ev)
	})
	return e.b, e.err
}
