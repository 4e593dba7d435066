package agent

import (
	"context"
	"iter"

	"github.com/agentgate/agentgate/internal/engine"
)

// pages is the one paged scan of an agent's log: it reads the events after
// seq after, size at a time, and yields each page in seq order until a page
// reaches the log's end (it is empty, or its last event is the newest), the
// caller stops, or a read fails (the error is yielded, last). The
// follower's catch-up, the replier's search for waiting messages and the
// conversation all read the log through it.
func pages(ctx context.Context, log engine.Log, agentID string, after uint64, size int) iter.Seq2[engine.Page, error] {
	return func(yield func(engine.Page, error) bool) {
		for {
			p, err := log.Read(ctx, agentID, after, size)
			if err != nil {
				yield(engine.Page{}, err)
				return
			}
			if !yield(p, nil) {
				return
			}
			n := len(p.Events)
			if n == 0 || p.Events[n-1].GetSeq() >= p.LastSeq {
				return
			}
			after = p.Events[n-1].GetSeq()
		}
	}
}

// scanPage is the size of the pages the scans read: large enough that a
// catch-up after a short absence is one read, small enough that one read
// of a log of large replies stays a few MB.
const scanPage = 256
