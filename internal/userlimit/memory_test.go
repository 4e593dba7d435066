package userlimit_test

import (
	"testing"

	"github.com/agentgate/agentgate/internal/userlimit"
	"github.com/agentgate/agentgate/internal/userlimit/userlimittest"
)

func TestMemory(t *testing.T) {
	userlimittest.Run(t, func(t *testing.T, opts userlimittest.Options) userlimit.Limiter {
		return userlimit.NewMemory(opts.Now)
	})
}
