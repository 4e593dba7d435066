package userlimit_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a limiter leaves goroutines
// behind after Close: the Redis limiter's heartbeat must stop with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
