package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/bench"
	"github.com/agentgate/agentgate/internal/redistest"
	"go.uber.org/goleak"
)

// server is the gateway binary, built once for the smoke test.
var server string

func TestMain(m *testing.M) {
	// The tool starts its baselines as "<itself> baseline-server"; in a test
	// that is this test binary, which must then serve instead of testing.
	if len(os.Args) > 1 && os.Args[1] == "baseline-server" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "agentbench-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", server, "../server")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the server:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// compare runs agentbench compare with args, whose -json it reads back; its
// table goes to stdout.
func compare(t *testing.T, stdout *bytes.Buffer, args []string) *bench.Report {
	t.Helper()
	var stderr bytes.Buffer
	if code := run(append([]string{"compare"}, args...), stdout, &stderr); code != 0 {
		t.Fatalf("compare %v exited %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout.String(), stderr.String())
	}
	return readReport(t, args[slices.Index(args, "-json")+1])
}

// smallRun are the flags of a compare that runs every mode once per server,
// briefly and with few sockets: it proves the tool works, not the figures.
// A second of traffic leaves room for a first gRPC call under -race on a
// busy machine, where 300 ms once completed none.
func smallRun(jsonPath string) []string {
	return []string{
		"-server", server, "-json", jsonPath, "-rounds", "1",
		"-duration", "1s", "-warmup", "300ms", "-settle", "300ms",
		"-rtt-conns", "4", "-idle-conns", "200", "-fanout-conns", "20",
		"-callers", "4", "-startup-runs", "1",
	}
}

// TestCompareSmoke runs compare over every mode against the real server and
// the bare baselines, and checks that each figure is there and sane.
//
// relay-1000 runs on its own, for longer: a thousand replies at once, each
// a request to the upstream, under -race on a busy machine may not deliver
// one delta within the others' second.
func TestCompareSmoke(t *testing.T) {
	var stdout bytes.Buffer
	var modes []string
	for _, m := range bench.ModeNames {
		if m != "relay-1000" && m != "ws-rtt-redis" {
			modes = append(modes, m)
		}
	}
	rep := compare(t, &stdout, append([]string{"-modes", strings.Join(modes, ",")}, smallRun(filepath.Join(t.TempDir(), "report.json"))...))
	relay := compare(t, &stdout, append(smallRun(filepath.Join(t.TempDir(), "relay.json")), "-modes", "relay-1000", "-warmup", "2s", "-duration", "3s"))
	rep.Results = append(rep.Results, relay.Results...)
	positive := map[string][]string{
		"ws-rtt":          {"rtt_per_s", "p50_ms", "p99_ms"},
		"ws-idle":         {"rss_after_mb", "open"},
		"ws-fanout":       {"deliveries_per_s", "frames_per_s", "p99_ms"},
		"ws-fanout-whole": {"deliveries_per_s", "frames_per_s", "p99_ms"},
		"rpc-connect":     {"req_per_s", "p99_ms"},
		"rpc-grpc":        {"req_per_s", "p99_ms"},
		"rpc-grpcweb":     {"req_per_s", "p99_ms"},
		"startup":         {"health_ms", "stop_ms"},
		"door-agui":       {"replies_per_s", "first_delta_p50_ms", "p99_ms"},
		"door-aisdk":      {"replies_per_s", "first_delta_p50_ms", "p99_ms"},
		"relay-1":         {"deltas_per_s", "replies_per_s", "first_p50_ms"},
		"relay-100":       {"deltas_per_s", "replies_per_s", "first_p50_ms"},
		// A thousand replies at once may not finish one in the smoke's
		// second; their deltas arrive in it.
		"relay-1000": {"deltas_per_s"},
	}
	seen := map[string]int{}
	for _, r := range rep.Results {
		seen[r.Mode]++
		if r.Errors != 0 {
			t.Errorf("%s against %s: %d errors: %v", r.Mode, r.Target, r.Errors, r.Notes)
		}
		for _, k := range positive[r.Mode] {
			if v := r.Metrics[k]; !(v > 0) {
				t.Errorf("%s against %s: %s = %v, want > 0", r.Mode, r.Target, k, v)
			}
		}
	}
	for mode := range positive {
		if seen[mode] != 2 {
			t.Errorf("%s ran %d times, want once against each server", mode, seen[mode])
		}
	}
	for _, r := range rep.Results {
		switch {
		case r.Mode == "ws-idle" && r.Metrics["open"] != 200:
			t.Errorf("ws-idle against %s: %v sockets open, want 200", r.Target, r.Metrics["open"])
		// Not required to be positive: 200 sockets are little enough for a
		// collection in the server to hide them.
		case r.Mode == "ws-idle" && !(math.Abs(r.Metrics["kb_per_conn"]) < 1000):
			t.Errorf("ws-idle against %s: %v KB per socket is not sane", r.Target, r.Metrics["kb_per_conn"])
		case r.Mode == "startup" && r.Metrics["stop_ms"] > 5000:
			t.Errorf("startup against %s: %v ms from SIGTERM to exit", r.Target, r.Metrics["stop_ms"])
		}
	}
	table := stdout.String()
	for _, want := range []string{"| ws-rtt", "| ws-idle", "| ws-fanout", "| rpc-grpcweb", "| startup", "rtt_per_s"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
}

// TestRedisSmoke runs ws-rtt-redis: the gateway on Redis against the gateway
// on memory.
func TestRedisSmoke(t *testing.T) {
	rs := redistest.Start(t)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	args := append([]string{"compare", "-modes", "ws-rtt-redis", "-redis-url", rs.URL()}, smallRun(jsonPath)...)
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("compare exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	rep := readReport(t, jsonPath)
	targets := map[string]bool{}
	for _, r := range rep.Results {
		targets[r.Target] = true
		if r.Errors != 0 || !(r.Metrics["rtt_per_s"] > 0) {
			t.Errorf("%s against %s: errors %d, rtt_per_s %v", r.Mode, r.Target, r.Errors, r.Metrics["rtt_per_s"])
		}
	}
	if !targets[bench.GatewayRedis] || !targets[bench.Gateway] {
		t.Errorf("ran against %v, want %s and %s", targets, bench.GatewayRedis, bench.Gateway)
	}
}

// TestCentrifugoSmoke runs every Centrifugo peer mode once against the
// gateway and Centrifugo, briefly and with few sockets, both on memory and
// both on a throwaway redis-server. It needs the Centrifugo binary
// (CENTRIFUGO_BIN, as scripts/bench.sh installs it) and skips without it,
// also in CI: Centrifugo is a benchmark peer, not a dependency of the
// gateway, and compiling it would cost CI minutes of its 90. Its protocol
// client is tested without it, against a fake, in internal/bench.
func TestCentrifugoSmoke(t *testing.T) {
	bin := os.Getenv("CENTRIFUGO_BIN")
	if bin == "" {
		t.Skip("CENTRIFUGO_BIN is not set; scripts/bench.sh -install-only installs Centrifugo and prints its path")
	}
	rs := redistest.Start(t)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr bytes.Buffer
	positive := map[string]string{
		"ws-rtt/centrifugo":                "server_cpu_us_per_op",
		"ws-rtt-sub/centrifugo":            "server_cpu_us_per_op",
		"ws-idle/centrifugo":               "rss_after_mb",
		"ws-fanout/centrifugo":             "deliveries_per_s",
		"ws-fanout-whole/centrifugo":       "deliveries_per_s",
		"ws-rtt/centrifugo+redis":          "server_cpu_us_per_op",
		"ws-rtt-sub/centrifugo+redis":      "server_cpu_us_per_op",
		"ws-fanout/centrifugo+redis":       "deliveries_per_s",
		"ws-fanout-whole/centrifugo+redis": "deliveries_per_s",
	}
	modes := slices.Sorted(maps.Keys(positive))
	args := append([]string{"compare", "-modes", strings.Join(modes, ","), "-centrifugo", bin, "-redis-url", rs.URL(), "-peer-messages", "10"}, smallRun(jsonPath)...)
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("compare exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	rep := readReport(t, jsonPath)
	seen := map[string]int{}
	for _, r := range rep.Results {
		seen[r.Mode+" "+r.Target]++
		if r.Errors != 0 {
			t.Errorf("%s against %s: %d errors: %v", r.Mode, r.Target, r.Errors, r.Notes)
		}
		if k := positive[r.Mode]; !(r.Metrics[k] > 0) {
			t.Errorf("%s against %s: %s = %v, want > 0", r.Mode, r.Target, k, r.Metrics[k])
		}
	}
	for mode := range positive {
		targets := []string{bench.Gateway, bench.Centrifugo}
		if strings.HasSuffix(mode, "+redis") {
			targets = []string{bench.GatewayRedis, bench.CentrifugoRedis}
		}
		for _, target := range targets {
			if seen[mode+" "+target] != 1 {
				t.Errorf("%s ran %d times against %s, want once", mode, seen[mode+" "+target], target)
			}
		}
	}
}

// TestBenchScriptPinsCentrifugo keeps the version scripts/bench.sh installs
// equal to the one the tool checks in the binary.
func TestBenchScriptPinsCentrifugo(t *testing.T) {
	data, err := os.ReadFile("../../scripts/bench.sh")
	if err != nil {
		t.Fatal(err)
	}
	if want := "\nCENTRIFUGO_VERSION=" + bench.CentrifugoVersion + "\n"; !strings.Contains(string(data), want) {
		t.Errorf("scripts/bench.sh does not pin %s (want a line %q)", bench.CentrifugoVersion, strings.TrimSpace(want))
	}
}

// TestSingleMode runs one mode on its own, as a user trying one figure
// would.
func TestSingleMode(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"ws-rtt", "-target", "bare", "-server", server, "-conns", "2", "-duration", "200ms", "-warmup", "50ms"}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("ws-rtt exited %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "rtt_per_s") {
		t.Errorf("no rtt_per_s in:\n%s", stdout.String())
	}
}

func TestUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(nil, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "compare") {
		t.Errorf("no arguments: exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"compare", "-modes", "nope", "-server", server}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), `unknown mode "nope"`) {
		t.Errorf("unknown mode: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"compare", "-peers", "centrifugo", "-centrifugo", "", "-server", server}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "needs the Centrifugo binary") {
		t.Errorf("-peers centrifugo without the binary: exit %d, stderr %q", code, stderr.String())
	}
}

func readReport(t *testing.T, path string) *bench.Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep
}
