// Package freeport finds a loopback TCP port that is free now, for a child
// process that cannot be told to listen on port 0 and report the port it got
// (redis-server refuses --port 0; the gateway binary a benchmark starts reads
// PORT). The port is probed and released, so another process may take it
// before the child listens; a caller that must not fail then starts the
// child again on another port, as the Redis test server does.
package freeport

import "net"

// Loopback returns a TCP port of 127.0.0.1 that was free when it was asked.
func Loopback() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
