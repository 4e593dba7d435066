// Package upstreamhttp is the HTTP client the built-in responders use when
// they are given none: the standard one, but keeping enough idle
// connections to one upstream for a gateway that streams many replies from
// it at once.
package upstreamhttp

import (
	"net/http"
)

// MaxIdlePerHost is how many idle connections to one upstream are kept.
// net/http keeps 2, so that a gateway streaming a hundred replies from one
// model server would open and close a connection for most of them.
const MaxIdlePerHost = 256

// NewClient returns a client over a clone of http.DefaultTransport (its
// proxy settings, dial and TLS timeouts) that keeps MaxIdlePerHost idle
// connections per host. It sets no overall timeout: that would cut long
// streams; the responders bound silence and the reply instead.
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4 * MaxIdlePerHost
	t.MaxIdleConnsPerHost = MaxIdlePerHost
	return &http.Client{Transport: t}
}
