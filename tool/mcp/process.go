package mcp

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentgate/agentgate/internal/clip"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// stopGrace is how long a stdio server is given to exit after its input
// closes, and again after SIGTERM, before it is killed.
const stopGrace = 2 * time.Second

// stderrWait bounds the wait, once a process exited, for the rest of what
// it wrote on its standard error, whose last line its exit reports.
const stderrWait = 200 * time.Millisecond

// process is a stdio server's running command. The gateway holds its own
// ends of three pipes: it writes the server's input (stdin), reads its
// output (stdout) through the SDK, and reads its standard error into the
// debug log. It starts the command in a process group of its own, so that
// stopping it stops what it started (npx starts node, a shell starts its
// program).
//
// process is safe for concurrent use; its goroutines are counted in the
// Source's WaitGroup.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	stderr *os.File
	log    *slog.Logger
	// exited is closed when the process has exited and exit is set.
	exited chan struct{}
	exit   *exitError
	// stderrDone is closed when the standard error has been read to its
	// end (or its pipe closed).
	stderrDone chan struct{}

	mu   sync.Mutex
	done bool   // Wait returned: the pid is no longer ours
	last string // the last line on its standard error
}

// startProcess starts s's command; its goroutines are added to wg.
func startProcess(s Server, log *slog.Logger, wg *sync.WaitGroup) (*process, error) {
	var files []*os.File // every pipe end, closed on failure
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	fail := func(err error) (*process, error) {
		for _, f := range files {
			_ = f.Close()
		}
		return nil, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return fail(err)
	}
	outR, outW, err := pipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := pipe()
	if err != nil {
		return fail(err)
	}
	cmd := exec.Command(s.Command[0], s.Command[1:]...)
	cmd.Env = processEnv(s.Env)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	// The child has its ends now; the gateway's copies would keep the
	// pipes open after the child exits.
	_, _, _ = inR.Close(), outW.Close(), errW.Close()
	p := &process{
		cmd: cmd, stdin: inW, stdout: outR, stderr: errR, log: log,
		exited: make(chan struct{}), stderrDone: make(chan struct{}),
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.readStderr()
	}()
	go func() {
		defer wg.Done()
		p.wait()
	}()
	return p, nil
}

// processEnv is the environment of a command: the few variables of the
// gateway's it inherits, then the server's own Env, which wins.
func processEnv(own map[string]string) []string {
	var env []string
	for _, k := range inheritedEnv() {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(own)) {
		env = append(env, k+"="+own[k])
	}
	return env
}

// readStderr logs each line the process writes on its standard error at
// debug level (a server may write what it was given) and keeps the last.
func (p *process) readStderr() {
	defer close(p.stderrDone)
	defer p.stderr.Close()
	r := bufio.NewReaderSize(p.stderr, 4096)
	for {
		line, err := r.ReadSlice('\n')
		if s := strings.TrimSpace(string(line)); s != "" {
			p.log.Debug("mcp server stderr", "line", clip.Message(s))
			p.mu.Lock()
			p.last = clip.Value(s)
			p.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// wait reaps the process and records how it ended.
func (p *process) wait() {
	_ = p.cmd.Wait()
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	t := time.NewTimer(stderrWait)
	select {
	case <-p.stderrDone:
	case <-t.C:
		// A process it started still holds the pipe: stop reading.
		_ = p.stderr.Close()
	}
	t.Stop()
	p.mu.Lock()
	p.exit = &exitError{code: p.cmd.ProcessState.ExitCode(), stderr: p.last}
	p.mu.Unlock()
	close(p.exited)
}

// exitErr is how the process ended, once it has; nil while it runs.
func (p *process) exitErr() *exitError {
	select {
	case <-p.exited:
		return p.exit
	default:
		return nil
	}
}

// stop ends the process: its input closes, as the MCP specification
// asks, then after stopGrace it gets SIGTERM, and after stopGrace more
// SIGKILL; when kill is done, SIGKILL at once. It returns once the process
// has exited, and closes the gateway's end of its output then, not before:
// a server that writes while it stops must not die of SIGPIPE. It may be
// called more than once.
func (p *process) stop(kill context.Context) {
	defer p.stdout.Close()
	_ = p.stdin.Close()
	if p.awaitExit(kill, stopGrace) {
		return
	}
	if kill.Err() == nil {
		p.signal(sigterm)
		if p.awaitExit(kill, stopGrace) {
			return
		}
	}
	p.signal(sigkill)
	<-p.exited
}

// transport is the MCP transport over the process's pipes. Closing it
// closes the process's input only; its output stays open until stop.
func (p *process) transport() sdk.Transport {
	return &sdk.IOTransport{Reader: io.NopCloser(p.stdout), Writer: p.stdin}
}

// awaitExit waits up to d for the process to exit, or for kill to be done;
// it reports whether the process exited.
func (p *process) awaitExit(kill context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-kill.Done():
	case <-t.C:
	}
	return p.exitErr() != nil
}

// signal sends sig to the process's group, while the process is ours.
func (p *process) signal(sig stopSignal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	signalGroup(p.cmd.Process, sig)
}
