package agui

import (
	"io"
	"time"
)

// idleReader restarts the idle timer whenever the upstream sends bytes, so
// that IdleTimeout bounds silence, not the length of a reply.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.d)
	}
	return n, err
}
