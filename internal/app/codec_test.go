package app_test

import (
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/apptest"
)

// TestBridgeCodecIsTheBridgesOnly checks that the bridge's own codec, which
// hands the handler a message the bridge decoded, cannot be reached from
// outside in any protocol the handler speaks: such requests get 415, as
// from a handler without the codec, and never reach the service. The
// socket itself uses it on every call (TestWebSocket* and the bridge's
// tests cover its answers).
func TestBridgeCodecIsTheBridgesOnly(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, nil)
	path := srv.URL + "/agent.v1.AgentService/SendMessage"
	// A guessed handle: number 1, and a secret of zeros.
	handle := binary.BigEndian.AppendUint64(nil, 1)
	handle = append(handle, make([]byte, 8)...)
	for _, ct := range []string{
		"application/agentgate-bridge",
		"application/connect+agentgate-bridge",
		"application/grpc+agentgate-bridge",
		"application/grpc-web+agentgate-bridge",
		"Application/AgentGate-Bridge; charset=utf-8",
	} {
		req, err := http.NewRequest(http.MethodPost, path, strings.NewReader(string(handle)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Connect-Protocol-Version", "1")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("POST as %s: HTTP %d, want 415", ct, res.StatusCode)
		}
	}
	res, err := http.Get(srv.URL + "/agent.v1.AgentService/GetAgent?connect=v1&encoding=agentgate-bridge&message=x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("GET with encoding=agentgate-bridge: HTTP %d, want 415", res.StatusCode)
	}
}
