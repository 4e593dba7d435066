// Package nodetest finds what a Go test needs to run a Node program: node
// on PATH, and the npm packages that scripts/setup.sh installs next to the
// program. The wire tests use it to run the official AG-UI packages.
package nodetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the path of node, after checking that dir/node_modules
// holds pkg (such as "@ag-ui/encoder"). Without either the test is
// skipped, except in CI (CI=true), where it fails: there a skipped wire
// test would hide a broken setup.
func Require(t testing.TB, dir, pkg string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node is not on PATH: run scripts/setup.sh")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg))); err != nil {
		unavailable(t, pkg+" is missing: run scripts/setup.sh (npm ci in "+dir+")")
	}
	return node
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
