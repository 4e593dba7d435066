package bridge

import "sync"

// roster holds a bridge's open sockets, for the drain. A socket enters before
// it is upgraded (so that a drain that begins meanwhile waits for it too),
// is tracked once it serves, and leaves when its goroutines are done.
// mu is a leaf lock: the roster never calls a socket while it holds it.
type roster struct {
	mu       sync.Mutex
	sockets  map[*socket]struct{} // the tracked ones; guarded by mu
	draining bool                 // no socket enters any more; guarded by mu
	// wg counts the sockets that entered and have not left, and the
	// goroutines of their detached calls that have not ended (see
	// session.outlive).
	wg sync.WaitGroup
}

// enter counts a socket about to open, unless the bridge drains.
func (r *roster) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return false
	}
	r.wg.Add(1)
	return true
}

// track registers a socket that serves. It reports false if the drain began
// since the socket entered: the caller then drains the socket itself, like
// the others.
func (r *roster) track(s *socket) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sockets[s] = struct{}{}
	return !r.draining
}

// leave forgets a socket that entered, whether it was tracked or not.
func (r *roster) leave(s *socket) {
	r.mu.Lock()
	delete(r.sockets, s)
	r.mu.Unlock()
	r.wg.Done()
}

// drain refuses new sockets and returns the open ones.
func (r *roster) drain() []*socket {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.draining = true
	return r.snapshotLocked()
}

// snapshot returns the open sockets.
func (r *roster) snapshot() []*socket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshotLocked()
}

func (r *roster) snapshotLocked() []*socket {
	out := make([]*socket, 0, len(r.sockets))
	for s := range r.sockets {
		out = append(out, s)
	}
	return out
}

// done is closed once every socket that entered has left, and every
// detached call has ended.
func (r *roster) done() <-chan struct{} {
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	return done
}
