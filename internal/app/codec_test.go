package app_test

import (
	"encoding/binary"
	"net/http"
	"strings"
	"testing"

	"github.com/agentgate/agentgate/internal/apptest"
)

// TestBridgeCodecIsTheBridgesOnly checks that the content type of the
// bridge's former codec, which handed the Connect handler a message the
// bridge had decoded, reaches nothing from outside in any protocol the
// handler speaks: such requests get 415 and never reach the service. The
// socket now calls the service's functions without any HTTP in between,
// so no content type of its own exists to be reached.
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
