package bench

import (
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Samples collects latencies. It is safe for concurrent use; each worker
// should record into its own Samples, or share one and pay for the lock.
type Samples struct {
	mu  sync.Mutex
	max int
	ns  []int64
	n   int64 // all recorded, including those beyond max
}

// maxSamples bounds the memory of one Samples: beyond it, every sample is
// still counted but only the first maxSamples keep their value. At the
// rates a 2-core machine reaches in a bounded run that is never hit; it is
// a guard, not a sampling scheme.
const maxSamples = 4 << 20

// Add records one latency.
func (s *Samples) Add(d time.Duration) {
	s.mu.Lock()
	s.n++
	if len(s.ns) < maxSamples {
		s.ns = append(s.ns, int64(d))
	}
	s.mu.Unlock()
}

// Merge adds all of o's samples to s.
func (s *Samples) Merge(o *Samples) {
	o.mu.Lock()
	ns, n := o.ns, o.n
	o.mu.Unlock()
	s.mu.Lock()
	s.n += n
	room := max(maxSamples-len(s.ns), 0)
	s.ns = append(s.ns, ns[:min(room, len(ns))]...)
	s.mu.Unlock()
}

// Count is how many latencies were recorded.
func (s *Samples) Count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Percentiles returns the given quantiles (0 to 1) in milliseconds, or NaN
// when there are no samples.
func (s *Samples) Percentiles(qs ...float64) []float64 {
	s.mu.Lock()
	ns := slices.Clone(s.ns)
	s.mu.Unlock()
	out := make([]float64, len(qs))
	if len(ns) == 0 {
		for i := range out {
			out[i] = math.NaN()
		}
		return out
	}
	slices.Sort(ns)
	for i, q := range qs {
		idx := int(math.Ceil(q*float64(len(ns)))) - 1
		idx = min(max(idx, 0), len(ns)-1)
		out[i] = float64(ns[idx]) / 1e6
	}
	return out
}

// latencyMetrics adds p50, p90, p99 and max of s to r, in milliseconds.
func latencyMetrics(r *Result, prefix string, s *Samples) {
	p := s.Percentiles(0.5, 0.9, 0.99, 1)
	r.Set(prefix+"p50_ms", p[0])
	r.Set(prefix+"p90_ms", p[1])
	r.Set(prefix+"p99_ms", p[2])
	r.Set(prefix+"max_ms", p[3])
}

// Result is the outcome of one run of one mode against one server: named
// figures, plus the errors seen.
type Result struct {
	Mode    string             `json:"mode"`
	Target  string             `json:"target"`
	Metrics map[string]float64 `json:"metrics"`
	Errors  int64              `json:"errors"`
	// Notes explain a figure, such as the first error seen.
	Notes []string `json:"notes,omitempty"`
}

func newResult(mode, target string) *Result {
	return &Result{Mode: mode, Target: target, Metrics: map[string]float64{}}
}

// Set records a figure.
func (r *Result) Set(name string, v float64) { r.Metrics[name] = v }

// Note records an explanation, at most a few of them.
func (r *Result) Note(s string) {
	if len(r.Notes) < 5 {
		r.Notes = append(r.Notes, s)
	}
}

// Names returns the figure names in order.
func (r *Result) Names() []string {
	names := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// median of vs, ignoring NaNs; NaN when none is left.
func median(vs []float64) float64 {
	var ok []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return math.NaN()
	}
	slices.Sort(ok)
	n := len(ok)
	if n%2 == 1 {
		return ok[n/2]
	}
	return (ok[n/2-1] + ok[n/2]) / 2
}

// errorTally counts the errors of a run's workers and keeps the first
// one's text for the report. It is safe for concurrent use.
type errorTally struct {
	n     atomic.Int64
	first atomic.Value // string
}

func (e *errorTally) add(err error) {
	e.n.Add(1)
	e.first.CompareAndSwap(nil, err.Error())
}

// report sets r's error count and notes the first error.
func (e *errorTally) report(r *Result) {
	r.Errors = e.n.Load()
	if s, ok := e.first.Load().(string); ok {
		r.Note(s)
	}
}
