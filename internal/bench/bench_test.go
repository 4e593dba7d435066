package bench

import (
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseMarker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		seq   int
		sent  int64
		ok    bool
	}{
		{"bare room frame", `{"id":"s7","method":"SendMessage","request":{"text":"m7t123"}}`, 7, 123, true},
		{"user message event", `{"event":{"seq":"3","message":{"role":"ROLE_USER","text":"m12t99"}}}`, 12, 99, true},
		{"reply", `{"event":{"message":{"role":"ROLE_ASSISTANT","text":"echo: m12t99"}}}`, 0, 0, false},
		{"delta", `{"event":{"textDelta":{"delta":"m12t99"}}}`, 0, 0, false},
		{"no time", `{"text":"m12"}`, 0, 0, false},
		{"seq out of range", `{"text":"m99999999t1"}`, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seq, sent, ok := parseMarker([]byte(tt.frame))
			if seq != tt.seq || sent != tt.sent || ok != tt.ok {
				t.Errorf("parseMarker(%s) = %d, %d, %v; want %d, %d, %v", tt.frame, seq, sent, ok, tt.seq, tt.sent, tt.ok)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	t.Parallel()
	s := &Samples{}
	for i := 1; i <= 100; i++ {
		s.Add(time.Duration(i) * time.Millisecond)
	}
	o := &Samples{}
	o.Merge(s)
	got := o.Percentiles(0.5, 0.99, 1)
	want := []float64{50, 99, 100}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("percentiles = %v, want %v", got, want)
		}
	}
	if o.Count() != 100 {
		t.Errorf("count = %d, want 100", o.Count())
	}
	if p := (&Samples{}).Percentiles(0.5); !math.IsNaN(p[0]) {
		t.Errorf("empty p50 = %v, want NaN", p[0])
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, math.NaN(), 2, 3}); m != 2.5 {
		t.Errorf("median even, NaN skipped = %v", m)
	}
	if m := median(nil); !math.IsNaN(m) {
		t.Errorf("median empty = %v", m)
	}
}

func TestRowsChecks(t *testing.T) {
	t.Parallel()
	res := func(v float64) *Result { return &Result{Metrics: map[string]float64{"x": v}} }
	m := Mode{Name: "m", A: "a", B: "b", Show: []string{"x"}, Checks: []Check{{Metric: "x", Ratio: true, Limit: 0.5}}}
	got := rows(m, []*Result{res(4), res(6)}, []*Result{res(10), res(10)})
	if len(got) != 1 || got[0].MedA != 5 || got[0].Ratio != 0.5 || got[0].OK != "yes" || got[0].Target != "≥ 0.5×" {
		t.Errorf("rows = %+v", got)
	}
	m.Checks = []Check{{Metric: "x", AtMost: true, Limit: 4}}
	if r := rows(m, []*Result{res(5)}, nil); r[0].OK != "NO" {
		t.Errorf("5 ≤ 4 held: %+v", r)
	}
}
