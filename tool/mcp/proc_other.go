//go:build !unix

package mcp

import (
	"os"
	"os/exec"
)

// stopSignal is a signal the gateway sends a stdio server: only a kill, where
// process groups and SIGTERM do not exist.
type stopSignal = os.Signal

var (
	sigterm = os.Kill
	sigkill = os.Kill
)

func ownGroup(*exec.Cmd) {}

func signalGroup(p *os.Process, sig stopSignal) { _ = p.Signal(sig) }
