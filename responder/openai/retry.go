package openai

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retryWait says whether the failed attempt n may be retried, and after how
// long: the server's Retry-After if it sent one, else a jittered exponential
// backoff. It gives up when the wait would outlast ctx's deadline (the
// reply timeout), so that the reply fails with the upstream's reason rather
// than with a timeout.
func (r *Responder) retryWait(ctx context.Context, f *failure, n int) (time.Duration, bool) {
	if !f.retry || n >= r.cfg.MaxAttempts {
		return 0, false
	}
	wait := f.after
	if wait <= 0 {
		wait = r.backoff(n)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
		return 0, false
	}
	return wait, true
}

// backoff is the wait after the failed attempt n (from 1): MinBackoff
// doubled n-1 times, at most MaxBackoff, of which a random half is taken
// off so that replies failing together do not retry together.
func (r *Responder) backoff(n int) time.Duration {
	d := r.cfg.MinBackoff
	for i := 1; i < n && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// maxRetryAfter bounds a Retry-After that is taken as given; a longer one
// is ignored, and the backoff applies.
const maxRetryAfter = 24 * time.Hour

// retryAfter reads how long the server asks to wait: Retry-After-Ms (sent
// by OpenAI), or Retry-After in seconds or as an HTTP date. It returns 0
// when the server asks nothing usable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if ms, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After-Ms")), 64); err == nil {
		return scaled(ms, time.Millisecond)
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return scaled(s, time.Second)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) && t.Sub(now) <= maxRetryAfter {
		return t.Sub(now)
	}
	return 0
}

// scaled converts v units to a duration, or 0 when v is not in (0,
// maxRetryAfter]; NaN and infinities are not.
func scaled(v float64, unit time.Duration) time.Duration {
	if !(v > 0 && v <= float64(maxRetryAfter/unit)) {
		return 0
	}
	return time.Duration(v * float64(unit))
}

// sleep waits for d or until ctx is done, and then returns ctx's error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
