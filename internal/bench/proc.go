package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/freeport"
)

// Proc is a server process started by the tool: the gateway binary or the
// tool itself in baseline-server mode.
type Proc struct {
	// Addr is the loopback host:port to dial.
	Addr string
	cmd  *exec.Cmd
	log  string // the file that receives its stderr
	done chan struct{}
	err  error // Wait's error, once done is closed
}

// Command says how to start a server: the binary, its arguments and its
// environment besides PATH and the port's variable.
type Command struct {
	Path string
	Args []string
	Env  []string
	// PortEnv names the environment variable that carries the loopback port
	// to listen on. Default PORT, which the gateway and the bare servers
	// read; Centrifugo reads its own.
	PortEnv string
}

// Start runs c on a free loopback port (c.PortEnv) and waits, up to timeout,
// until GET /health answers 200, which the gateway, the bare servers and
// Centrifugo serve: that works whatever log level the server is given. Stderr
// goes to a file in dir, not through a pipe, so that a chatty server spends
// none of the tool's CPU.
func Start(ctx context.Context, c Command, dir string, timeout time.Duration) (*Proc, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return nil, err
	}
	logf, err := os.CreateTemp(dir, "server-*.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.Env...)
	portEnv := c.PortEnv
	if portEnv == "" {
		portEnv = "PORT"
	}
	cmd.Env = append(cmd.Env, portEnv+"="+strconv.Itoa(port))
	cmd.Stderr = logf
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if healthy(hc, "http://"+p.Addr+"/health") {
			return p, nil
		}
		select {
		case <-tick.C:
		case <-p.done:
			return nil, fmt.Errorf("%s exited before it was healthy: %v\n%s", filepath.Base(c.Path), p.err, p.Tail())
		case <-deadline.C:
			p.Kill()
			return nil, fmt.Errorf("%s was not healthy within %s\n%s", filepath.Base(c.Path), timeout, p.Tail())
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		}
	}
}

// healthy reports whether GET url answers 200.
func healthy(hc *http.Client, url string) bool {
	resp, err := hc.Get(url)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to timeout for the exit, then kills. It
// returns how long the exit took after the signal.
func (p *Proc) Stop(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		took := time.Since(start)
		if p.err != nil {
			return took, fmt.Errorf("exit after SIGTERM: %v\n%s", p.err, p.Tail())
		}
		return took, nil
	case <-t.C:
		p.Kill()
		return time.Since(start), fmt.Errorf("no exit within %s of SIGTERM; killed", timeout)
	}
}

// Kill ends the process at once and waits for it. It is safe after Stop.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Tail is the end of the process's log, for error messages.
func (p *Proc) Tail() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

// RSS reads VmRSS of pid from /proc in bytes.
func RSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/PID/status")
}

// RaiseFileLimit sets the soft RLIMIT_NOFILE to the hard limit and returns
// it. Setting it explicitly (rather than relying on the runtime's own raise)
// makes child processes inherit the raised limit too.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// BuildServer compiles the gateway (the cmd/server package of the module
// in moduleDir) into dir and returns the binary's path.
func BuildServer(ctx context.Context, moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "agentgate-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/server")
	cmd.Dir = moduleDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/server: %v\n%s", err, stderr.String())
	}
	return out, nil
}

// FindModuleRoot walks up from dir to the directory holding go.mod.
func FindModuleRoot(dir string) (string, error) {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -server")
		}
		dir = parent
	}
}

// clockTicks is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// CPUTime is the user plus system CPU time pid has used, from
// /proc/PID/stat, with 10 ms resolution.
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields after its closing one.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(string(data[i+1:]))
	// Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected utime or stime in /proc/PID/stat")
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// cpuMeter measures a server's CPU use over a window.
type cpuMeter struct {
	pid   int
	start time.Duration
	ok    bool
}

// startCPU begins a window; with no PID it measures nothing.
func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	if pid != 0 {
		var err error
		m.start, err = CPUTime(pid)
		m.ok = err == nil
	}
	return m
}

// measuredTimes applies the defaults of a mode's Warmup and Duration: one
// second of warmup, none if it is negative, and five measured seconds.
func measuredTimes(warmup, d time.Duration) (time.Duration, time.Duration) {
	switch {
	case warmup < 0:
		warmup = 0
	case warmup == 0:
		warmup = time.Second
	}
	if d <= 0 {
		d = 5 * time.Second
	}
	return warmup, d
}

// measureWindow waits for the measured window, from until until, and for
// the workers (wg), and records the server's CPU time over the window (see
// cpuMeter.stop), per operation of all.
func measureWindow(ctx context.Context, pid int, r *Result, from, until time.Time, wg *sync.WaitGroup, all *Samples) {
	sleepUntil(ctx, from)
	cpu := startCPU(pid)
	sleepUntil(ctx, until)
	wg.Wait()
	cpu.stop(r, until.Sub(from), float64(all.Count()))
}

// stop ends the window and records server_cpu_pct (percent of one core)
// and, for ops > 0, server_cpu_us_per_op: the server's cost per operation,
// which a noisy neighbour changes far less than it changes a rate.
func (m *cpuMeter) stop(r *Result, window time.Duration, ops float64) {
	if !m.ok {
		return
	}
	end, err := CPUTime(m.pid)
	if err != nil {
		return
	}
	used := end - m.start
	r.Set("server_cpu_pct", 100*used.Seconds()/window.Seconds())
	if ops > 0 {
		r.Set("server_cpu_us_per_op", float64(used.Microseconds())/ops)
	}
}

// sleepUntil waits until t or ctx is done.
func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}
