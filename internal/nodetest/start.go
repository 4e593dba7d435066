package nodetest

import (
	"bufio"
	"bytes"
	"os/exec"
	"testing"
	"time"
)

// startTimeout bounds how long a program may take to print its first line.
const startTimeout = 30 * time.Second

// Start runs "node script" in dir, once Require(t, dir, pkg) found node and
// the packages, and returns the first line the program prints on stdout:
// the test programs print where they listen once they accept connections.
// The program is killed, by its PID, when the test ends, and what it wrote
// on stderr is logged if the test failed. A program that does not print
// within 30 seconds fails the test.
func Start(t testing.TB, dir, pkg, script string) string {
	t.Helper()
	node := Require(t, dir, pkg)
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	first := make(chan string, 1)
	go func() {
		defer close(first)
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			first <- s.Text()
		}
		for s.Scan() { // the rest, so that the program never blocks on a full pipe
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range first {
		}
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("node %s, stderr:\n%s", script, stderr.String())
		}
	})
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-first:
		if !ok {
			t.Fatalf("node %s ended before it printed a line", script)
		}
		return line
	case <-timer.C:
		t.Fatalf("node %s printed nothing within %s", script, startTimeout)
	}
	return ""
}
