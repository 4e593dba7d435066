package config

import "time"

// The defaults that packages below the wiring need too, stated here once:
// Load applies them to a variable left unset, and the api, bridge, door
// and server packages to a zero field of their own Config, so that a
// package built without the wiring (a test's, a Go program's) behaves as
// the server does.
const (
	// DefaultHeartbeat is HEARTBEAT_INTERVAL's: the longest silence on a
	// stream (Subscribe, Converse, a door's SSE) before a heartbeat.
	DefaultHeartbeat = 15 * time.Second
	// DefaultWSPingInterval is WS_PING_INTERVAL's.
	DefaultWSPingInterval = 25 * time.Second
	// DefaultWSPongTimeout is WS_PONG_TIMEOUT's.
	DefaultWSPongTimeout = 60 * time.Second
	// DefaultWSReadLimit is WS_READ_LIMIT's, in bytes.
	DefaultWSReadLimit = 64 << 10
	// DefaultWSSendQueue is WS_SEND_QUEUE's, in frames.
	DefaultWSSendQueue = 256
	// DefaultReadMaxBytes is READ_MAX_BYTES's: the largest request message
	// of the typed API, and the largest body of a door's request.
	DefaultReadMaxBytes = 1 << 20
	// DefaultShutdownTimeout is SHUTDOWN_TIMEOUT's.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultReadHeaderTimeout is READ_HEADER_TIMEOUT's.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultMaxHeaderBytes is MAX_HEADER_BYTES's.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxConcurrentStreams is MAX_CONCURRENT_STREAMS's.
	DefaultMaxConcurrentStreams = 500
	// WriteTimeout bounds one write to a client, a socket's frame or a
	// door's event: a client that reads nothing for this long is cut off.
	// No variable sets it.
	WriteTimeout = 10 * time.Second
)
