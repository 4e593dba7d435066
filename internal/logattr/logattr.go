// Package logattr holds the shapes of values that every log line of the
// gateway shares, so that a log dashboard reads one unit per kind of value
// whichever package wrote the line.
package logattr

import (
	"log/slog"
	"time"
)

// Millis is a duration as a number of milliseconds, to the microsecond
// (1.5 for 1500µs). Every duration in the gateway's logs has this shape,
// under a key ending in _ms ("duration_ms", "wait_ms"): slog's own
// time.Duration is integer nanoseconds in JSON and a string in text, and
// lines that mixed the two broke dashboards.
func Millis(key string, d time.Duration) slog.Attr {
	return slog.Float64(key, float64(d.Microseconds())/1000)
}
