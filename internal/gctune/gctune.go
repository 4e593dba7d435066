// Package gctune sets the garbage collector's defaults for a gateway.
//
// Go's default, GOGC=100, collects whenever the heap doubles. A gateway's
// live heap is small (a few KB per socket) and its garbage is frames and
// requests, so it collects very often: at 64 busy sockets the collector and
// its assists took about a sixth of the CPU, and the pauses of the
// goroutines it drafted into marking set the tail latency. GOGC=400
// collects a quarter as often. Measured with `agentbench ws-rtt` and
// `ws-idle` (2 rounds each, after issue 18's rework), server CPU per
// round trip at GOGC=100, 200, 400 and 800: 45–49, 38–47, 36.5–36.8 and
// 34.6–35.4 µs; RSS per idle socket at 10,000, with Burst: 8.1–8.3, 8.4,
// 8.6–8.7 and 8.8–8.9 KB. 400 is where a higher setting stops paying:
// a fifth less CPU per round trip than 100, for a tenth more memory per
// idle socket. A larger heap needs a ceiling, so when the process runs in a
// container with a memory limit (cgroup v2 memory.max), GOMEMLIMIT is set to
// 90 % of it: near the limit the collector runs as often as it must.
//
// Both are defaults only: GOGC and GOMEMLIMIT set in the environment win, as
// Go reads them itself.
//
// What a large heap costs after a burst (a reply streamed in a million
// deltas, thousands of sockets opened at once) is not left to these
// settings: a Releaser returns it once the burst is over (see Releaser for
// why neither a lower GOGC nor a default GOMEMLIMIT was the answer, and
// Burst for the sockets).
package gctune

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the GOGC the server uses when the environment sets
// none.
const DefaultGCPercent = 400

// Settings is what Apply set; zero fields were left as they were.
type Settings struct {
	GCPercent   int
	MemoryLimit int64
}

// Apply sets the defaults that lookup (os.LookupEnv) does not override.
// cgroupDir is where the process's cgroup v2 files are ("/sys/fs/cgroup").
func Apply(lookup func(string) (string, bool), cgroupDir string) Settings {
	var s Settings
	if _, ok := lookup("GOGC"); !ok {
		debug.SetGCPercent(DefaultGCPercent)
		s.GCPercent = DefaultGCPercent
	}
	if _, ok := lookup("GOMEMLIMIT"); !ok {
		if limit, err := ContainerMemoryLimit(cgroupDir); err == nil && limit > 0 {
			s.MemoryLimit = limit / 10 * 9
			debug.SetMemoryLimit(s.MemoryLimit)
		}
	}
	return s
}

// errNoLimit means the cgroup sets no memory limit.
var errNoLimit = errors.New("gctune: no memory limit")

// ContainerMemoryLimit reads the memory limit of the process's cgroup (v2)
// from dir/memory.max, in bytes.
func ContainerMemoryLimit(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "memory.max"))
	if err != nil {
		return 0, err
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return 0, errNoLimit
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n == math.MaxInt64 {
		return 0, errNoLimit
	}
	return n, nil
}
