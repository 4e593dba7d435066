package engine_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if an engine leaves goroutines behind
// after Close: the pub/sub reader, the janitor and the heartbeat of the
// Redis engine must all stop with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
