package app_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/app"
	"github.com/agentgate/agentgate/internal/apptest"
	"github.com/agentgate/agentgate/responder"
)

// TestCustomResponderErrorsAreRedacted runs the gateway with a responder
// of its own, as a Go user would, that fails with the gateway's secrets in
// its code, message and cause: the run error a client gets, the history
// and the log carry none of them.
func TestCustomResponderErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	const token = "svc-token-5ecret-0123456789"
	leaky := responder.Func(func(ctx context.Context, req responder.Request, out responder.Stream) (responder.Result, error) {
		return responder.Result{}, &responder.Error{
			Code:    "code_" + token,
			Message: "I was told " + token + ", twice: " + token,
			Err:     errors.New("cause " + token),
		}
	})
	logs := &apptest.LogBuffer{}
	srv := apptest.Start(t, map[string]string{"AUTH_TOKENS": token, "LOG_LEVEL": "debug"}, func(o *app.Options) {
		o.Responder = leaky
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	c := agentv1connect.NewAgentServiceClient(httpClient(t, false), srv.URL,
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, r connect.AnyRequest) (connect.AnyResponse, error) {
				r.Header().Set("Authorization", "Bearer "+token)
				return next(ctx, r)
			}
		})))
	ctx := testCtx(t)
	re := send(ctx, t, c, "leaky", "hi").GetReply().GetRunError()
	if re == nil || re.GetCode() != "code_[redacted]" || re.GetMessage() != "I was told [redacted], twice: [redacted]" {
		t.Errorf("run error %v: want the token redacted from code and message", re)
	}
	h, err := c.GetHistory(ctx, connect.NewRequest(&agentv1.GetHistoryRequest{AgentId: "leaky"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range h.Msg.GetEvents() {
		if e := ev.GetRunError(); e != nil && strings.Contains(e.GetCode()+e.GetMessage(), token) {
			t.Errorf("history keeps the token: %v", e)
		}
	}
	if !strings.Contains(logs.String(), "responder failed") || strings.Contains(logs.String(), token) {
		t.Errorf("log: want the failure logged without the token:\n%s", logs.String())
	}
}
