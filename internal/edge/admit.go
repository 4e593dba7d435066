package edge

import (
	"context"
	"net/http"
	"time"

	"github.com/agentgate/agentgate/internal/limit"
)

// Admit takes a place for a long-lived connection at door d, a socket or a
// door's stream: the caller's token must not have expired (with the
// grace, see Deadline: 401 expired_token), and the connection must fit
// under MAX_CONNECTIONS and CONNECTION_RATE (503 resource_exhausted) and
// the user's USER_MAX_CONNECTIONS (429 resource_exhausted). The caller
// calls release once the connection ends. A refusal is observed; the
// caller answers it.
func (p *Policy) Admit(r *http.Request, d Door) (release func(), ref *Refusal) {
	leave, ref := p.admitStep(r.Context(), false)
	if ref != nil {
		p.refused(r, d, ref)
		return nil, ref
	}
	if p.m == nil || (d != AGUI && d != AISDK) {
		return leave, nil
	}
	streams := p.m.DoorStreams.WithLabelValues(string(d))
	streams.Inc()
	return func() {
		streams.Dec()
		leave()
	}, nil
}

// admitStep is Admit without observing: the caller in ctx takes a place,
// or is refused. A dry run (CheckUpgrade) asks the same questions and
// keeps nothing: it checks MAX_CONNECTIONS without entering, so that it
// spends no CONNECTION_RATE token (the rate is the upgrade's alone), and
// the user's USER_MAX_CONNECTIONS by taking a place and giving it back at
// once, the one way the limits have to ask.
func (p *Policy) admitStep(ctx context.Context, dry bool) (release func(), ref *Refusal) {
	id := IdentityFrom(ctx)
	if ref := p.expiredRefusal(id); ref != nil {
		return nil, ref
	}
	leave := func() {}
	switch {
	case dry && p.gate.Full():
		return nil, gateRefusal("max_connections")
	case !dry:
		var reason string
		var ok bool
		if leave, reason, ok = p.gate.Enter(); !ok {
			return nil, gateRefusal(reason)
		}
	}
	out, err := p.limits.Enter(ctx, id)
	if err != nil {
		leave()
		return nil, limitRefusalOf(err)
	}
	both := func() {
		out()
		leave()
	}
	if dry {
		both()
		return func() {}, nil
	}
	return both, nil
}

// Frames is one socket's share of WS_FRAME_RATE: a token bucket of its
// frames, and one of the frames it sent over the rate, so that only a
// sustained flood closes the socket. It belongs to the socket's reader,
// which alone calls Allow.
type Frames struct {
	p               *Policy
	frames, strikes limit.Bucket
}

// Frames returns a new socket's Frames.
func (p *Policy) Frames() Frames {
	b := limit.NewBucket(p.frameRate)
	return Frames{p: p, frames: b, strikes: b}
}

// FrameVerdict is what Frames.Allow says of a frame.
type FrameVerdict uint8

// The verdicts.
const (
	// FrameServed: the frame is within the rate.
	FrameServed FrameVerdict = iota
	// FrameRefused: over the rate; the socket answers it with a
	// resource_exhausted error frame instead of serving it.
	FrameRefused
	// FrameFlood: over the rate for too long; the socket closes with 1008.
	FrameFlood
)

// Allow judges a frame read at now, and counts it when it is refused.
func (f *Frames) Allow(now time.Time) FrameVerdict {
	if f.frames.Allow(now) {
		return FrameServed
	}
	f.p.m.Refused("frame_rate", string(WebSocket))
	if !f.strikes.Allow(now) {
		return FrameFlood
	}
	return FrameRefused
}

// Rate is WS_FRAME_RATE, for the messages that name it.
func (f *Frames) Rate() float64 { return f.p.frameRate }

// SocketOpened counts a socket upgraded.
func (p *Policy) SocketOpened() {
	if p.m != nil {
		p.m.WSOpen.Inc()
		p.m.WSOpened.Inc()
	}
}

// SocketClosed counts a socket closed with code (1006 when the connection
// was cut), and an overflow of its send queue when the code is 1013.
func (p *Policy) SocketClosed(code int, overflow bool) {
	if p.m != nil {
		p.m.WSClose(code)
		if overflow {
			p.m.WSOverflows.Inc()
		}
	}
}

// FrameIn counts a data frame read from a socket.
func (p *Policy) FrameIn() {
	if p.framesIn != nil {
		p.framesIn.Inc()
	}
}

// FrameOut counts a data frame written to a socket.
func (p *Policy) FrameOut() {
	if p.framesOut != nil {
		p.framesOut.Inc()
	}
}
