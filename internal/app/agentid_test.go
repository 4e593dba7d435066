package app_test

import (
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	agentv1 "github.com/agentgate/agentgate/gen/agent/v1"
	"github.com/agentgate/agentgate/internal/apptest"
)

// TestDotAgentIDsAreRefused: "." and ".." are path segments that URLs drop,
// so no normalised URL reaches such an agent: every door, the socket and
// the API refuse them, and no agent is created.
func TestDotAgentIDsAreRefused(t *testing.T) {
	t.Parallel()
	srv, c := inputServer(t, &apptest.LogBuffer{})
	ctx := testCtx(t)
	run := `{"threadId":"t","runId":"r","messages":[{"id":"u1","role":"user","content":"hi"}]}`
	for _, id := range []string{".", ".."} {
		escaped := strings.Repeat("%2e", len(id))
		for _, tc := range []struct{ name, method, path, body string }{
			{"agui", http.MethodPost, "/agui/" + escaped, run},
			{"aisdk", http.MethodPost, "/ai/chat", `{"id":"` + id + `","messages":[{"id":"u1","role":"user","parts":[{"type":"text","text":"hi"}]}]}`},
			{"aisdk resume", http.MethodGet, "/ai/chat/" + escaped + "/stream", ""},
		} {
			res, b := do(t, ctx, tc.method, srv.URL+tc.path, "application/json", tc.body, false)
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(b, `"code":"invalid_argument"`) || !strings.Contains(b, "no URL would reach") {
				t.Errorf("%s with agent %q: status %d, %s", tc.name, id, res.StatusCode, b)
			}
		}
		if _, res := dial(t, wsURL(srv, escaped, "access_token="+inputToken), nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("socket of agent %q: status %d", id, res.StatusCode)
		}
		// Unescaped, the segment never reaches the socket: the mux sends
		// the client to the normalised URL.
		if c, res := dial(t, wsURL(srv, id, "access_token="+inputToken), nil); c != nil || res.StatusCode/100 != 3 {
			t.Errorf("socket at the unescaped /ws/agent/%s: status %d, want a redirect", id, res.StatusCode)
		}
		_, err := c.SendMessage(ctx, connect.NewRequest(&agentv1.SendMessageRequest{AgentId: id, Text: "hi"}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "no URL would reach") {
			t.Errorf("SendMessage to agent %q: %v", id, err)
		}
	}
	list, err := c.ListAgents(ctx, connect.NewRequest(&agentv1.ListAgentsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Msg.GetAgents()) != 0 {
		t.Fatalf("agents were created: %v", list.Msg.GetAgents())
	}
}
