package openai

import (
	"bytes"
	"fmt"
	"io"
)

// maxEventBytes is the largest Config.MaxEventBytes: the SDK's decoder
// gives up on a line of 32 MiB, and a limit below that keeps its error
// (bufio.Scanner: token too long) from ever being the one reported.
const maxEventBytes = 16 << 20

// eventTooLarge is the error of a stream whose event grew past the limit.
type eventTooLarge struct{ limit int }

func (e *eventTooLarge) Error() string {
	return fmt.Sprintf("a server-sent event of more than %d bytes", e.limit)
}

// eventLimiter bounds the bytes of the stream's current event: what it
// read since the last blank line, which ends an event. The SDK's decoder
// keeps an event's data lines until that blank line, and a line until its
// end, with no limit of its own below 32 MiB; past the limit the limiter
// fails the read, and the decoder stops with its error.
//
// A blank line is one the SDK's decoder (bufio.ScanLines) sees as empty:
// nothing, or a lone CR, before its LF. Counting anything else as the end
// of an event would let data pile up in the decoder behind the count.
type eventLimiter struct {
	r     io.ReadCloser
	limit int
	// event counts the bytes since the last blank line; line those since
	// the last LF, and cr says whether the last of them was a CR.
	event, line int
	cr          bool
	err         error
}

func newEventLimiter(r io.ReadCloser, limit int) *eventLimiter {
	return &eventLimiter{r: r, limit: limit}
}

func (l *eventLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if !l.count(p[:n]) {
		l.err = &eventTooLarge{limit: l.limit}
		return 0, l.err
	}
	return n, err
}

func (l *eventLimiter) Close() error { return l.r.Close() }

// count adds p to the current event, and reports whether the event is
// still within the limit.
func (l *eventLimiter) count(p []byte) bool {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.event += len(p)
			l.line += len(p)
			l.cr = p[len(p)-1] == '\r'
			break
		}
		if i > 0 {
			l.cr = p[i-1] == '\r'
		}
		l.line += i
		if l.line == 0 || (l.line == 1 && l.cr) {
			l.event = 0 // a blank line: the event ends
		} else if l.event += i + 1; l.event > l.limit {
			return false
		}
		l.line, l.cr = 0, false
		p = p[i+1:]
	}
	// A lone CR so far may be the start of a blank line.
	if l.line == 1 && l.cr {
		return l.event-1 <= l.limit
	}
	return l.event <= l.limit
}
