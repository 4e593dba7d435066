package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/agentgate/agentgate/internal/freeport"
)

// StartupConfig configures startup.
type StartupConfig struct {
	// Runs is how many times the server is started and stopped. Default 5.
	Runs int
	// Dir receives the servers' logs.
	Dir string
}

// Startup runs startup: it starts the server Runs times on a free port,
// polls GET /health every millisecond from just before exec until the first
// 200, then sends SIGTERM with no connection open and waits for the exit.
// Figures: health_ms and stop_ms, the medians over the runs, and their
// maxima.
func Startup(ctx context.Context, name string, c Command, cfg StartupConfig) (*Result, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 5
	}
	r := newResult("startup", name)
	var health, stop []float64
	for range cfg.Runs {
		h, s, err := startOnce(ctx, c, cfg.Dir)
		if err != nil {
			return nil, err
		}
		health = append(health, ms(h))
		stop = append(stop, ms(s))
	}
	r.Set("health_ms", median(health))
	r.Set("stop_ms", median(stop))
	r.Set("health_max_ms", maxOf(health))
	r.Set("stop_max_ms", maxOf(stop))
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func maxOf(vs []float64) float64 {
	m := vs[0]
	for _, v := range vs[1:] {
		m = max(m, v)
	}
	return m
}

func startOnce(ctx context.Context, c Command, dir string) (ready, stopped time.Duration, err error) {
	port, err := freeport.Loopback()
	if err != nil {
		return 0, 0, err
	}
	logf, err := os.CreateTemp(dir, "startup-*.log")
	if err != nil {
		return 0, 0, err
	}
	defer logf.Close()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.Env...)
	cmd.Env = append(cmd.Env, "PORT="+strconv.Itoa(port))
	cmd.Stderr, cmd.Stdout = logf, logf
	var werr error
	exited := make(chan struct{})
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health"
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go func() {
		werr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		if err != nil {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	for {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		if time.Since(start) > 20*time.Second {
			return 0, 0, fmt.Errorf("%s: no healthy /health within 20s", c.Path)
		}
		if healthy(hc, url) {
			ready = time.Since(start)
			break
		}
		select {
		case <-exited:
			err = fmt.Errorf("%s exited before it was healthy: %v", c.Path, werr)
			return 0, 0, err
		case <-time.After(time.Millisecond):
		}
	}
	hc.CloseIdleConnections()
	sig := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, 0, err
	}
	select {
	case <-exited:
		stopped = time.Since(sig)
		if werr != nil {
			err = fmt.Errorf("%s: exit after SIGTERM: %v", c.Path, werr)
			return 0, 0, err
		}
		return ready, stopped, nil
	case <-time.After(15 * time.Second):
		err = fmt.Errorf("%s: no exit within 15s of SIGTERM", c.Path)
		return 0, 0, err
	}
}
