//go:build unix

package mcp

import (
	"os"
	"os/exec"
	"syscall"
)

// stopSignal is a signal the gateway sends a stdio server.
type stopSignal = syscall.Signal

const (
	sigterm = syscall.SIGTERM
	sigkill = syscall.SIGKILL
)

// ownGroup starts cmd in a process group of its own, whose id is its pid:
// signalGroup then reaches what it started too, and a terminal's Ctrl-C
// reaches the gateway only, which stops its servers itself.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the process group that p leads.
func signalGroup(p *os.Process, sig stopSignal) {
	if err := syscall.Kill(-p.Pid, sig); err != nil {
		_ = p.Signal(sig)
	}
}
