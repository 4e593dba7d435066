package openai

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// stream, a timer or a connection that a reply left behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
