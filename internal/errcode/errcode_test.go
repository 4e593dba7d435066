package errcode

import (
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/internal/agent"
	"go.uber.org/goleak"
)

// TestEveryKindHasItsCodes checks that each kind of package agent has its
// row: a missing one would answer with an unset code and status 0.
func TestEveryKindHasItsCodes(t *testing.T) {
	t.Parallel()
	for k := agent.KindInternal; k <= agent.KindAlreadyExists; k++ {
		code, status := Of(k)
		if code == 0 || status < 400 {
			t.Errorf("kind %d: code %v, status %d; want a code and an error status", k, code, status)
		}
		if k != agent.KindInternal && code == connect.CodeInternal {
			t.Errorf("kind %d answers as internal", k)
		}
	}
}

// TestUnknownKindIsInternal: a kind outside the table reveals nothing.
func TestUnknownKindIsInternal(t *testing.T) {
	t.Parallel()
	for _, k := range []agent.Kind{-1, agent.KindAlreadyExists + 1} {
		if code, status := Of(k); code != connect.CodeInternal || status != http.StatusInternalServerError {
			t.Errorf("kind %d: %v %d, want internal 500", k, code, status)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
