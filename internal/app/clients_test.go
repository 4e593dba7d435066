package app_test

import (
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
	"github.com/agentgate/agentgate/internal/apptest"
)

// protocol is one way a typed client reaches the server: a wire protocol
// over HTTP/1.1 or h2c.
type protocol struct {
	name string
	h2c  bool
	opts []connect.ClientOption
}

var (
	// allProtocols are the combinations a Connect client can use.
	allProtocols = []protocol{
		{name: "connect/h2c", h2c: true},
		{name: "grpc/h2c", h2c: true, opts: []connect.ClientOption{connect.WithGRPC()}},
		{name: "grpcweb/h2c", h2c: true, opts: []connect.ClientOption{connect.WithGRPCWeb()}},
		{name: "connect/http1"},
		{name: "grpcweb/http1", opts: []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	h2cConnect = allProtocols[0]
)

// httpClient returns a client that speaks HTTP/1.1 only, or h2c.
func httpClient(t testing.TB, h2c bool) *http.Client { return apptest.HTTPClient(t, h2c) }

func newClient(t testing.TB, baseURL string, p protocol) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), baseURL, p.opts...)
}
