package responder

import (
	"context"
	"strings"
	"time"
)

// Echo is the built-in responder: it replies "echo: <text>", streamed in a few
// deltas. It needs nothing outside the process, which makes it the default
// for trying the gateway out and for tests.
type Echo struct {
	// Chunks is how many deltas the reply is split into, at most. Default 3.
	Chunks int
	// Delay is a pause before each delta, to make streaming visible. Default 0.
	Delay time.Duration
}

// Respond implements Responder.
func (e Echo) Respond(ctx context.Context, req Request, out Stream) (Result, error) {
	for _, part := range splitChunks("echo: "+req.Message.Text, max(e.Chunks, 0)) {
		if e.Delay > 0 {
			t := time.NewTimer(e.Delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return Result{}, ctx.Err()
			case <-t.C:
			}
		}
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if err := out.Text(part); err != nil {
			return Result{}, err
		}
	}
	return Result{FinishReason: FinishStop}, nil
}

// HistoryLimit implements HistoryLimiter: an echo needs no conversation.
func (Echo) HistoryLimit() int { return 0 }

// splitChunks cuts s into at most n pieces (default 3) at word boundaries
// where it can, so that every piece is valid UTF-8.
func splitChunks(s string, n int) []string {
	if n <= 0 {
		n = 3
	}
	words := strings.SplitAfter(s, " ")
	if len(words) <= n {
		return words
	}
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, strings.Join(words[i*len(words)/n:(i+1)*len(words)/n], ""))
	}
	return out
}
