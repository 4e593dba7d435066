package mcp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
)

// httpTransport carries a Streamable HTTP server's requests: it adds the
// configured headers to requests to the server's own host only (a redirect
// elsewhere does not get them), notes the last HTTP error status of a
// message it sent (the SDK keeps it in its error's text only), and ends every request when kill is
// done, so that Close keeps its deadline even with a request in flight.
type httpTransport struct {
	base    *http.Transport
	scheme  string
	host    string
	headers http.Header
	kill    context.Context
	status  atomic.Int32
}

func newHTTPTransport(s Server, kill context.Context) *httpTransport {
	u, _ := url.Parse(s.URL) // checked by ParseServers and New
	h := http.Header{}
	for k, v := range s.Headers {
		h.Set(k, v)
	}
	return &httpTransport{
		base:    http.DefaultTransport.(*http.Transport).Clone(),
		scheme:  u.Scheme,
		host:    u.Host,
		headers: h,
		kill:    kill,
	}
}

// RoundTrip implements http.RoundTripper.
func (t *httpTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.kill, cancel)
	release := func() {
		stop()
		cancel()
	}
	r := req.Clone(ctx)
	if r.URL.Scheme == t.scheme && r.URL.Host == t.host {
		for k, v := range t.headers {
			r.Header[k] = v
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		release()
		return nil, err
	}
	// A GET may be refused (405) by a server without a stream of its own:
	// only a refused message tells why a connection failed.
	if resp.StatusCode >= 400 && req.Method == http.MethodPost {
		t.status.Store(int32(resp.StatusCode))
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// lastStatus returns the last HTTP error status since the last call, and
// forgets it.
func (t *httpTransport) lastStatus() int { return int(t.status.Swap(0)) }

// releasingBody releases its request's context when it is closed.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
