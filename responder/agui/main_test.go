package agui

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any leaves a goroutine behind: a
// stream read that outlives its reply would hold a connection to the agent.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
