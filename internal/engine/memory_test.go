package engine_test

import (
	"testing"

	"github.com/agentgate/agentgate/internal/engine"
	"github.com/agentgate/agentgate/internal/engine/enginetest"
)

func TestMemory(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cfg engine.Config) engine.Engine {
		e := engine.NewMemory(cfg)
		t.Cleanup(func() { _ = e.Close() })
		return e
	})
}
