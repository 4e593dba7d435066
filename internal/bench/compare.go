package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The servers a run can target.
const (
	Gateway      = "agentgate"
	GatewayRedis = "agentgate+redis"
	Bare         = "bare"
	// Centrifugo is the peer baseline: another real-time server, at
	// CentrifugoVersion with CentrifugoConfig.
	Centrifugo = "centrifugo"
	// CentrifugoRedis is the peer on its Redis engine, on the gateway's
	// redis-server (Setup.RedisURL).
	CentrifugoRedis = "centrifugo+redis"
)

// Setup says how to start each server.
type Setup struct {
	// Gateway is the server binary with its environment.
	Gateway Command
	// Baseline is this tool in baseline-server mode.
	Baseline Command
	// Centrifugo starts the Centrifugo peer (CentrifugoCommand); without a
	// Path the centrifugo target is not available.
	Centrifugo Command
	// CentrifugoRedis starts it on its Redis engine, on RedisURL; without a
	// Path the centrifugo+redis target is not available.
	CentrifugoRedis Command
	// RedisURL, when set, is given to the gateway as REDIS_URL for the
	// agentgate+redis target.
	RedisURL string
	// Dir receives the servers' logs.
	Dir string
	// Token, when set, is the bearer token the gateway's sockets send (for
	// a gateway run with AUTH_TOKENS or users' JWTs, through -env).
	Token string
}

// Runner measures one mode against a running server.
type Runner func(ctx context.Context, t Target) (*Result, error)

// command is the start command of a target.
func (s *Setup) command(which string) (Command, error) {
	switch which {
	case Gateway:
		return s.Gateway, nil
	case GatewayRedis:
		if s.RedisURL == "" {
			return Command{}, fmt.Errorf("%s needs a Redis URL (-redis-url)", which)
		}
		c := s.Gateway
		c.Env = append(append([]string(nil), c.Env...), "REDIS_URL="+s.RedisURL)
		return c, nil
	case Bare:
		return s.Baseline, nil
	case Centrifugo:
		if s.Centrifugo.Path == "" {
			return Command{}, fmt.Errorf("%s needs the Centrifugo binary (-centrifugo or CENTRIFUGO_BIN; scripts/bench.sh installs it)", which)
		}
		return s.Centrifugo, nil
	case CentrifugoRedis:
		if s.CentrifugoRedis.Path == "" {
			return Command{}, fmt.Errorf("%s needs the Centrifugo binary and a Redis URL (-centrifugo, -redis-url)", which)
		}
		return s.CentrifugoRedis, nil
	}
	return Command{}, fmt.Errorf("unknown target %q", which)
}

// Run starts the target's server, runs fn against it, and stops it.
func (s *Setup) Run(ctx context.Context, which string, fn Runner) (*Result, error) {
	return s.RunEnv(ctx, which, nil, fn)
}

// RunEnv is Run with env added to the server's environment.
func (s *Setup) RunEnv(ctx context.Context, which string, env []string, fn Runner) (*Result, error) {
	c, err := s.command(which)
	if err != nil {
		return nil, err
	}
	c.Env = append(slices.Clone(c.Env), env...)
	p, err := Start(ctx, c, s.Dir, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	t := Target{Name: which, Addr: p.Addr, Project: which == Gateway || which == GatewayRedis, Centrifugo: which == Centrifugo || which == CentrifugoRedis, PID: p.PID()}
	if t.Project {
		t.Token = s.Token
	}
	r, err := fn(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\nserver log tail:\n%s", which, err, p.Tail())
	}
	if _, err := p.Stop(15 * time.Second); err != nil {
		r.Note("server stop: " + err.Error())
	}
	r.Set("errors", float64(r.Errors))
	return r, nil
}

// Startup runs the startup mode against the target's binary.
func (s *Setup) Startup(ctx context.Context, which string, runs int) (*Result, error) {
	c, err := s.command(which)
	if err != nil {
		return nil, err
	}
	r, err := Startup(ctx, which, c, StartupConfig{Runs: runs, Dir: s.Dir})
	if err != nil {
		return nil, err
	}
	r.Set("errors", 0)
	return r, nil
}

// Check is a target of the issue on one figure: a bound on A's figure
// divided by B's (Ratio) or on A's figure itself.
type Check struct {
	Metric string
	Ratio  bool
	// AtMost means the figure must be ≤ Limit; otherwise ≥ Limit.
	AtMost bool
	Limit  float64
}

func (c Check) String() string {
	op := "≥"
	if c.AtMost {
		op = "≤"
	}
	if c.Ratio {
		return fmt.Sprintf("%s %g×", op, c.Limit)
	}
	return fmt.Sprintf("%s %g", op, c.Limit)
}

func (c Check) holds(a, ratio float64) bool {
	v := a
	if c.Ratio {
		v = ratio
	}
	if math.IsNaN(v) {
		return false
	}
	if c.AtMost {
		return v <= c.Limit
	}
	return v >= c.Limit
}

// Mode is one comparison: A and B run alternately, Rounds times each.
type Mode struct {
	Name string
	A, B string
	// Run measures one target; it starts it itself (Setup.Run or
	// Setup.Startup).
	Run func(ctx context.Context, which string) (*Result, error)
	// Show lists the figures printed, in order.
	Show   []string
	Checks []Check
}

// Row is one line of the comparison table.
type Row struct {
	Mode   string  `json:"mode"`
	Metric string  `json:"metric"`
	A      string  `json:"a"`
	B      string  `json:"b"`
	MedA   float64 `json:"median_a"`
	MedB   float64 `json:"median_b"`
	Ratio  float64 `json:"ratio"`
	Target string  `json:"target,omitempty"`
	// OK is "yes", "NO" or "" when the figure has no target.
	OK string `json:"ok,omitempty"`
}

// Report is the outcome of a comparison.
type Report struct {
	Rows    []Row     `json:"rows"`
	Results []*Result `json:"results"`
}

// Compare runs each mode A B A B … (rounds each) and computes the medians,
// the ratios A/B and the checks. A mode that fails is reported in its rows
// as NaN and the error is returned with the rest of the report.
func Compare(ctx context.Context, modes []Mode, rounds int, progress io.Writer) (*Report, error) {
	if progress == nil {
		progress = io.Discard
	}
	rep := &Report{}
	var errs []string
	for _, m := range modes {
		var as, bs []*Result
		var failed error
		for round := 1; round <= rounds && failed == nil; round++ {
			for _, which := range []string{m.A, m.B} {
				start := time.Now()
				r, err := m.Run(ctx, which)
				if err != nil {
					failed = fmt.Errorf("%s against %s: %w", m.Name, which, err)
					break
				}
				r.Mode = m.Name
				fmt.Fprintf(progress, "%-12s %-16s round %d  %s  (%.1fs)\n", m.Name, which, round, summary(r, m.Show), time.Since(start).Seconds())
				rep.Results = append(rep.Results, r)
				if which == m.A {
					as = append(as, r)
				} else {
					bs = append(bs, r)
				}
			}
		}
		if failed != nil {
			errs = append(errs, failed.Error())
			fmt.Fprintln(progress, "FAILED:", failed)
		}
		rep.Rows = append(rep.Rows, rows(m, as, bs)...)
	}
	if len(errs) > 0 {
		return rep, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return rep, nil
}

func summary(r *Result, show []string) string {
	var b strings.Builder
	for _, k := range show {
		if v, ok := r.Metrics[k]; ok {
			fmt.Fprintf(&b, "%s=%.4g ", k, v)
		}
	}
	if r.Errors > 0 {
		fmt.Fprintf(&b, "errors=%d %v", r.Errors, r.Notes)
	}
	return strings.TrimSpace(b.String())
}

func medianOf(rs []*Result, metric string) float64 {
	vs := make([]float64, 0, len(rs))
	for _, r := range rs {
		if v, ok := r.Metrics[metric]; ok {
			vs = append(vs, v)
		}
	}
	return median(vs)
}

func rows(m Mode, as, bs []*Result) []Row {
	checks := map[string][]Check{}
	for _, c := range m.Checks {
		checks[c.Metric] = append(checks[c.Metric], c)
	}
	var out []Row
	for _, metric := range m.Show {
		a, b := medianOf(as, metric), medianOf(bs, metric)
		row := Row{Mode: m.Name, Metric: metric, A: m.A, B: m.B, MedA: a, MedB: b, Ratio: a / b}
		if b == 0 && a == 0 {
			row.Ratio = math.NaN()
		}
		var targets []string
		ok := true
		for _, c := range checks[metric] {
			targets = append(targets, c.String())
			ok = ok && c.holds(a, row.Ratio)
		}
		if len(targets) > 0 {
			row.Target = strings.Join(targets, ", ")
			row.OK = "NO"
			if ok {
				row.OK = "yes"
			}
		}
		out = append(out, row)
	}
	return out
}

// WriteTable prints the rows as a Markdown table.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "| mode\t| metric\t| A\t| median A\t| B\t| median B\t| A/B\t| target\t| ok\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---:\t|---\t|---:\t|---:\t|---\t|---\t|")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t| %s\t|\n",
			r.Mode, r.Metric, r.A, num(r.MedA), r.B, num(r.MedB), num(r.Ratio), r.Target, r.OK)
	}
	return tw.Flush()
}

// WriteJSON writes the report as indented JSON; a figure that could not be
// computed (NaN) is written as -1.
func (rep *Report) WriteJSON(w io.Writer) error {
	clean := func(v float64) float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return -1
		}
		return v
	}
	out := *rep
	out.Rows = append([]Row(nil), rep.Rows...)
	for i := range out.Rows {
		out.Rows[i].MedA, out.Rows[i].MedB, out.Rows[i].Ratio = clean(out.Rows[i].MedA), clean(out.Rows[i].MedB), clean(out.Rows[i].Ratio)
	}
	for _, r := range out.Results {
		for k, v := range r.Metrics {
			r.Metrics[k] = clean(v)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func num(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
