package bridge

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/agentgate/agentgate/internal/agent"
	"github.com/agentgate/agentgate/internal/clip"
	"github.com/agentgate/agentgate/internal/identity"
)

// pushOptions are the socket's query parameters: ?after_seq=N replays the
// events after N first (&epoch=E names the log N counts in, so that a log
// created anew is replayed whole after a history_reset), ?subscribe=false
// turns push off, ?deltas=false leaves the reply's text deltas out of the
// push, ?batch=true lets several frames share a WebSocket message, one a
// line, and ?console=true says the socket is the operator's console's.
type pushOptions struct {
	subscribe  bool
	after      *uint64
	epoch      string
	skipDeltas bool
	batch      bool
	// console: the console page's socket, which is an operator's: its
	// caller needs Admin on the agent, at the upgrade and at each refresh.
	// A socket that does not say so needs what its push needs.
	console bool
}

func parsePushOptions(r *http.Request) (pushOptions, error) {
	q := r.URL.Query()
	o := pushOptions{subscribe: true}
	if v := q.Get("subscribe"); v != "" {
		s, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("subscribe=%q: want true or false", clip.String(v, 32))
		}
		o.subscribe = s
	}
	if v := q.Get("after_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return o, fmt.Errorf("after_seq=%q: want the seq of the last event received, a whole number", clip.String(v, 32))
		}
		if !o.subscribe {
			return o, errors.New("after_seq replays pushed events: it cannot go with subscribe=false")
		}
		o.after = &n
	}
	if v := q.Get("epoch"); v != "" {
		if err := agent.ValidateEpoch(v); err != nil {
			return o, err
		}
		if o.after == nil {
			return o, errors.New("epoch names the log of after_seq: it needs after_seq")
		}
		o.epoch = v
	}
	if v := q.Get("deltas"); v != "" {
		d, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("deltas=%q: want true or false", clip.String(v, 32))
		}
		if !o.subscribe {
			return o, errors.New("deltas chooses the pushed events: it cannot go with subscribe=false")
		}
		o.skipDeltas = !d
	}
	if v := q.Get("batch"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("batch=%q: want true or false", clip.String(v, 32))
		}
		o.batch = b
	}
	if v := q.Get("console"); v != "" {
		c, err := strconv.ParseBool(v)
		if err != nil {
			return o, fmt.Errorf("console=%q: want true or false", clip.String(v, 32))
		}
		o.console = c
	}
	return o, nil
}

// ConsoleNeeds is what the console's socket (console=true) needs of its
// caller on the agent: the console's check of a refused socket asks it
// here, so that its answer is the upgrade's.
func ConsoleNeeds() identity.Permission { return pushOptions{subscribe: true, console: true}.perm() }

// perm is what the socket needs of its caller on the agent: Admin for the
// console, Read for the push, and otherwise only to reach the agent, since
// each call is authorized on its own.
func (o pushOptions) perm() identity.Permission {
	switch {
	case o.console:
		return identity.Admin
	case o.subscribe:
		return identity.Read
	}
	return 0
}
