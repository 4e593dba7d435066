package app_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/agentgate/agentgate/gen/agent/v1/agentv1connect"
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

// httpClient returns a client that speaks HTTP/1.1 only, or HTTP/2 with
// prior knowledge over cleartext (h2c), and closes its connections when the
// test ends.
func httpClient(t testing.TB, h2c bool) *http.Client {
	var p http.Protocols
	if h2c {
		p.SetUnencryptedHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{
		Protocols:       &p,
		TLSClientConfig: &tls.Config{},
		DialContext:     (&net.Dialer{}).DialContext,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func newClient(t testing.TB, baseURL string, p protocol) agentv1connect.AgentServiceClient {
	return agentv1connect.NewAgentServiceClient(httpClient(t, p.h2c), baseURL, p.opts...)
}
