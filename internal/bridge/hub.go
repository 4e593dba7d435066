package bridge

import "sync"

// hub holds a bridge's open sockets, for the drain. A socket enters before
// it is upgraded (so that a drain that begins meanwhile waits for it too),
// is tracked once it serves, and leaves when its goroutines are done.
// mu is a leaf lock: the hub never calls a socket while it holds it.
type hub struct {
	mu       sync.Mutex
	sockets  map[*socket]struct{} // the tracked ones; guarded by mu
	draining bool                 // no socket enters any more; guarded by mu
	// wg counts the sockets that entered and have not left.
	wg sync.WaitGroup
}

// enter counts a socket about to open, unless the bridge drains.
func (h *hub) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.draining {
		return false
	}
	h.wg.Add(1)
	return true
}

// track registers a socket that serves. It reports false if the drain began
// since the socket entered: the caller then drains the socket itself, like
// the others.
func (h *hub) track(s *socket) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sockets[s] = struct{}{}
	return !h.draining
}

// leave forgets a socket that entered, whether it was tracked or not.
func (h *hub) leave(s *socket) {
	h.mu.Lock()
	delete(h.sockets, s)
	h.mu.Unlock()
	h.wg.Done()
}

// drain refuses new sockets and returns the open ones.
func (h *hub) drain() []*socket {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = true
	return h.snapshotLocked()
}

// snapshot returns the open sockets.
func (h *hub) snapshot() []*socket {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

func (h *hub) snapshotLocked() []*socket {
	out := make([]*socket, 0, len(h.sockets))
	for s := range h.sockets {
		out = append(out, s)
	}
	return out
}

// done is closed once every socket that entered has left.
func (h *hub) done() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	return done
}
