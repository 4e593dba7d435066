package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/edge"
	"github.com/agentgate/agentgate/internal/identity"
	"github.com/agentgate/agentgate/internal/pbjson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// rpc is what the sessions of one bridge share: the method table, and the
// edge every call goes through.
type rpc struct {
	methods *methods
	edge    *edge.Policy
	log     *slog.Logger
	json    *pbjson.Encoder // writes the responses
}

// session is a socket's calls: it maps the frames the reader hands it to
// calls, and runs each in its own goroutine for as long as it lasts. It
// knows nothing of the socket but its sink (tests and the fuzz target
// drive it with a fake one).
//
// handle is called by one goroutine, the socket's reader; the rest is safe
// for concurrent use. mu is a leaf lock.
type session struct {
	// Set before the first frame; never changed.
	rpc     *rpc
	agentID string
	peer    string // the client's address, for the access log
	// ctx is the context of the calls: the socket's, which carries the
	// upgrade request's values (the caller's identity, the request id).
	ctx      context.Context
	maxCalls int
	sink     sink
	// perm is what the socket needs of its caller on the agent (Read for
	// its push, Admin for the console's): a refresh must still allow it.
	perm identity.Permission

	// caller, once the socket's token was refreshed, is ctx with the
	// identity of the newest token: the context of the calls that start
	// from then on. Nil before: ctx's own identity stands.
	caller atomic.Pointer[callerCtx]

	// next hands a call to a goroutine of the session that finished its
	// own and lingers (see callLinger); nil: every call starts a
	// goroutine. lingering counts the goroutines that linger and are not
	// yet promised a call: start takes one by counting it down, and then
	// sends it the call.
	next      chan started
	lingering atomic.Int32

	// outlive counts the goroutines of detached calls, which may outlive
	// the socket, for the bridge's shutdown to wait for: the roster's
	// count (see roster.wg), which counts the socket as long as it serves,
	// so that adding to it then is safe. Nil: they are not counted.
	outlive *sync.WaitGroup

	mu       sync.Mutex
	calls    []*call // in flight; guarded by mu
	draining bool    // no call starts any more; guarded by mu
	wg       sync.WaitGroup
}

// started is a call registered and ready to run, with its request.
type started struct {
	c   *call
	req proto.Message
}

// callLinger is how long a goroutine that ran a call waits for the next
// call of its socket before it ends. A call's goroutine grows its stack
// from the runtime's small start to what the service and the access log
// need, copying it at each step, which was 6 to 7 % of a SendMessage
// round trip: a socket that sends call after call (a conversation, a
// client replaying its queue) keeps one goroutine, grown once, while a
// socket that sends now and then costs nothing between its calls, as
// the writer does (writerLinger).
const callLinger = 100 * time.Millisecond

// sink is where a session's frames go: the socket.
type sink interface {
	// send hands a frame buffer (from getBuf) to the socket's writer,
	// which owns it from then on; it returns false when the socket takes
	// no more frames.
	send(b *[]byte) bool
	// sendStream is send for the frames of a stream, which can come faster
	// than any network (a Subscribe replaying a long history): it waits
	// while the writer is behind, until ctx is done.
	sendStream(ctx context.Context, b *[]byte) bool
	// closeDrained closes the socket: it is called once the last call in
	// flight has ended after drain.
	closeDrained()
	// renew makes id, of a fresh token the edge accepted, the socket's
	// caller (session.caller), and moves the socket's end to id's.
	renew(id identity.Identity)
}

// callerCtx holds a context, for an atomic.Pointer.
type callerCtx struct{ ctx context.Context }

// callCtx is the context a call starts in: the socket's, with the
// identity of its newest token.
func (s *session) callCtx() context.Context {
	if c := s.caller.Load(); c != nil {
		return c.ctx
	}
	return s.ctx
}

// callerOf is the context of the calls of id, for caller.
func (s *session) callerOf(id identity.Identity) *callerCtx {
	return &callerCtx{ctx: edge.WithIdentity(s.ctx, id)}
}

// call is one request in flight.
type call struct {
	m      *method
	id     string
	hasID  bool
	prefix string // start of its frames: {"id":"…",
	// token is the fresh token of a refresh (m is refreshMethod).
	token  string
	ctx    context.Context
	cancel context.CancelFunc
	// detachable: a unary call, but a refresh (see detachable).
	detachable bool
	// Guarded by session.mu.
	canceled bool // the client sent cancel
	drained  bool // the server is shutting down
	detached bool // answered and out of the session while it runs on (detach)
}

// A unary call that the client cancels, or whose socket ends, is
// detached: it leaves the session at once, answered canceled if the socket
// is still open, so that its id and its slot are free again and the
// socket's end does not wait for it to give its place back; its goroutine
// runs on until the service returns, writes nothing more to the socket,
// and is counted for the bridge's shutdown instead (session.outlive).
// The service may take long to return, and rightly: a SendMessage that
// writes its agent's reply writes it whole whoever waits for it. A stream
// cannot be detached: it sends until it returns, and ends as soon as it
// is canceled. Nor can a refresh, which renews the socket it was sent on.
func detachable(m *method) bool { return !m.stream && m != refreshMethod }

// errDetached is the answer of a unary call the client canceled, the one
// the service gives a call whose context ends.
var errDetached = &rpcError{Code: connect.CodeCanceled.String(), Message: "canceled"}

// handle serves one text frame.
func (s *session) handle(data []byte) {
	f, err := parseFrame(data)
	if err != nil {
		s.reject(f.id, f.hasID, err)
		return
	}
	if f.cancel {
		s.cancelCall(f.id)
		return
	}
	if f.refresh {
		s.start(f, refreshMethod, nil)
		return
	}
	m, msg, err := s.request(f)
	if err != nil {
		s.reject(f.id, f.hasID, err)
		return
	}
	s.start(f, m, msg)
}

// request resolves the method of a call frame and decodes its request.
func (s *session) request(f clientFrame) (*method, proto.Message, error) {
	ms := s.rpc.methods
	var m *method
	var msg proto.Message
	if f.shorthand {
		if ms.text == nil {
			return nil, nil, invalidFrame(`frames must be JSON objects, as in {"id":"1","method":"…","request":{}}`)
		}
		m = ms.text
		msg = m.in.New().Interface()
		msg.ProtoReflect().Set(ms.textField, protoreflect.ValueOfString(f.text))
	} else {
		var err error
		if m, err = ms.lookup(f.method); err != nil {
			return nil, nil, err
		}
		if m.stream && !f.hasID {
			return nil, nil, invalidFrame("%s is a stream: give the frame an id, to tell its responses apart and to cancel it", m.name)
		}
		if msg, err = m.decode(f.request); err != nil {
			return nil, nil, err
		}
	}
	if err := m.bindAgent(msg, s.agentID); err != nil {
		// A refusal of a permission, as the edge's are: counted and logged
		// by the edge, with who sent it.
		s.rpc.edge.SocketRefused(s.callCtx(), edge.WebSocket, s.agentID, "agent", err.msg)
		return nil, nil, err
	}
	return m, msg, nil
}

// start registers a call and runs it in its own goroutine.
func (s *session) start(f clientFrame, m *method, msg proto.Message) {
	c := &call{m: m, id: f.id, hasID: f.hasID, token: f.token, ctx: s.callCtx(), cancel: func() {},
		detachable: detachable(m)}
	if c.hasID {
		// Before the lock: a context derived from the socket's takes the
		// socket context's lock.
		c.ctx, c.cancel = context.WithCancel(c.ctx)
	}
	s.mu.Lock()
	if err := s.admitLocked(c); err != nil {
		s.mu.Unlock()
		c.cancel()
		s.reject(f.id, f.hasID, err)
		return
	}
	s.calls = append(s.calls, c)
	s.wg.Add(1)
	s.mu.Unlock()
	c.prefix = framePrefix(c.id, c.hasID)
	for {
		n := s.lingering.Load()
		if n <= 0 {
			go s.runAll(c, msg)
			return
		}
		if s.lingering.CompareAndSwap(n, n-1) {
			s.next <- started{c, msg} // promised: a lingering goroutine takes it
			return
		}
	}
}

// runAll runs c, then each call that it is handed while it lingers. The
// goroutine of a call that was detached does not linger: its socket may
// have ended, and nothing waits for it there.
func (s *session) runAll(c *call, req proto.Message) {
	var t *time.Timer
	for {
		if !s.run(c, req) || s.next == nil { // run counts this goroutine as lingering
			return
		}
		if t == nil {
			t = time.NewTimer(callLinger)
		} else {
			t.Reset(callLinger)
		}
		select {
		case n := <-s.next:
			c, req = n.c, n.req
			continue
		case <-t.C:
		case <-s.ctx.Done(): // the socket ended
			t.Stop()
		}
		if s.leave() {
			return
		}
		// A call was promised to a lingering goroutine: this one takes it.
		n := <-s.next
		c, req = n.c, n.req
	}
}

// leave counts a lingering goroutine out; it reports false when every
// lingering goroutine is promised a call already, one of which the caller
// must then take.
func (s *session) leave() bool {
	for {
		n := s.lingering.Load()
		if n <= 0 {
			return false
		}
		if s.lingering.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (s *session) admitLocked(c *call) error {
	switch {
	case s.draining:
		return &frameError{code: connect.CodeUnavailable, msg: "the server is shutting down; reconnect and retry"}
	case len(s.calls) >= s.maxCalls:
		return &frameError{code: connect.CodeResourceExhausted, msg: fmt.Sprintf("%d requests are in flight on this socket; wait for one to finish", len(s.calls))}
	}
	if c.hasID {
		for _, o := range s.calls {
			if o.hasID && o.id == c.id {
				return invalidFrame("id %q is in use by a request in flight; use a new id per request", clip.String(c.id, 64))
			}
		}
	}
	return nil
}

// run performs a call and sends its frames; its last frame is the response,
// end or error. The call leaves the session before that frame is sent, so
// that a client may reuse the id as soon as it has the answer. It reports
// false for a call that was detached meanwhile: its final frame is
// dropped, the client has its answer.
func (s *session) run(c *call, req proto.Message) (attached bool) {
	var final *[]byte
	defer func() {
		// The edge turns a panic of the service into an internal error; one
		// of the bridge's own must not take the process down either.
		if p := recover(); p != nil {
			s.rpc.log.Error("panic in a socket's call", "method", c.m.name, "panic", p)
			final = errorFrame(c, &rpcError{Code: connect.CodeInternal.String(), Message: "internal error"})
		}
		last, detached := s.finish(c)
		if detached {
			if final != nil {
				putBuf(final)
			}
			if s.outlive != nil {
				s.outlive.Done()
			}
			return
		}
		attached = true
		if s.next != nil {
			// Lingering from now on (runAll): a call that the client sends
			// once it has this answer finds this goroutine.
			s.lingering.Add(1)
		}
		s.sink.send(final)
		s.wg.Done()
		if last {
			s.sink.closeDrained()
		}
	}()
	switch {
	case c.m == refreshMethod:
		final = s.runRefresh(c)
	case c.m.stream:
		final = s.runStream(c, req)
	default:
		final = s.runUnary(c, req)
	}
	return // attached is set by the deferred function
}

// outcome adjusts the error a call ended with for the client: a stream the
// client canceled simply ends, and a call cut by the shutdown says so.
func (s *session) outcome(c *call, e *rpcError) *rpcError {
	s.mu.Lock()
	canceled, drained := c.canceled, c.drained
	s.mu.Unlock()
	switch {
	case e == nil:
		return nil
	case canceled && c.m.stream:
		return nil
	case drained && e.Code == connect.CodeCanceled.String():
		return &rpcError{Code: connect.CodeUnavailable.String(), Message: "the server is shutting down; reconnect and subscribe again"}
	}
	return e
}

func errorFrame(c *call, e *rpcError) *[]byte {
	b := getBuf()
	*b = appendError(*b, c.prefix, e.Code, e.Message, e.RetryAfter)
	return b
}

// reject answers a frame that did not become a call.
func (s *session) reject(id string, hasID bool, err error) {
	code, msg := connect.CodeInternal, err.Error()
	if fe, ok := err.(*frameError); ok {
		code = fe.code
	}
	b := getBuf()
	*b = appendError(*b, framePrefix(id, hasID), code.String(), msg, 0)
	s.sink.send(b)
}

// cancelCall cancels the call with the given id; a unary one is detached
// and answered canceled at once. Canceling a call that already finished
// does nothing: the two cross on the wire.
func (s *session) cancelCall(id string) {
	s.mu.Lock()
	var c *call
	for _, o := range s.calls {
		if o.hasID && o.id == id {
			c = o
			break
		}
	}
	if c == nil {
		s.mu.Unlock()
		return
	}
	c.canceled = true
	c.cancel()
	if !c.detachable {
		s.mu.Unlock()
		return
	}
	s.detachLocked(c)
	last := s.draining && len(s.calls) == 0
	s.mu.Unlock()
	s.sink.send(errorFrame(c, errDetached))
	s.wg.Done() // the call's, which its goroutine no longer gives
	if last {
		s.sink.closeDrained()
	}
}

// detach detaches the unary calls in flight of a socket that ended, whose
// calls' context is canceled: its close waits only for the streams.
func (s *session) detach() {
	s.mu.Lock()
	n := 0
	for i := len(s.calls) - 1; i >= 0; i-- {
		if c := s.calls[i]; c.detachable {
			s.detachLocked(c)
			n++
		}
	}
	s.mu.Unlock()
	s.wg.Add(-n)
}

// detachLocked takes c out of the session for good and counts its
// goroutine for the shutdown; s.mu is held. The caller gives the call's
// count of s.wg in its goroutine's stead.
func (s *session) detachLocked(c *call) {
	c.detached = true
	s.removeLocked(c)
	if s.outlive != nil {
		s.outlive.Add(1)
	}
}

// finish removes a call from the session. It reports whether it was the
// last one of a draining session, and whether the call was detached
// meanwhile, which removed it already.
func (s *session) finish(c *call) (last, detached bool) {
	c.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.detached {
		return false, true
	}
	s.removeLocked(c)
	return s.draining && len(s.calls) == 0, false
}

// removeLocked removes c from the calls in flight; s.mu is held.
func (s *session) removeLocked(c *call) {
	for i, o := range s.calls {
		if o == c {
			last := len(s.calls) - 1
			s.calls[i], s.calls[last] = s.calls[last], nil
			s.calls = s.calls[:last]
			break
		}
	}
	if len(s.calls) == 0 {
		s.calls = nil // an idle socket keeps no slice
	}
}

// drain refuses new calls and ends the streams in flight, which cannot
// finish by themselves; unary calls may finish. It reports whether no call
// is left, in which case closeDrained is not called.
func (s *session) drain() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for _, c := range s.calls {
		if c.m.stream {
			c.drained = true
			c.cancel()
		}
	}
	return len(s.calls) == 0
}

// wait waits for every call to return, but those detached.
func (s *session) wait() { s.wg.Wait() }
