// Package bench is the measuring side of cmd/agentbench: it starts servers
// as child processes on loopback, drives them with real clients and reports
// what it measured, so that every figure in docs/benchmarks.md can be
// reproduced with one command.
//
// A measurement is a mode run against a Target, a server that is already
// listening. The modes are the kinds of work the gateway does: round trips
// of SendMessage frames on WebSockets (WSRTT), idle subscribed sockets and
// what each costs in memory (WSIdle), one agent's events fanned out to many
// sockets (WSFanout), unary Connect calls (RPC), a streamed model reply
// relayed to a client (RelayGateway, against RelayDirect without the
// gateway), the frontend doors (Doors) and the time to start and stop
// (Startup). Each returns a Result of named figures: latency percentiles
// (from Samples), rates, and the server's CPU time and memory, read from
// /proc.
//
// Every mode is also run against a peer doing the same work, so that a
// figure is a ratio rather than a number of this machine: the bare servers
// (Baseline, ServeBaseline), what a user of gorilla/websocket and
// connect-go would write with no agent logic, and Centrifugo
// (CentrifugoCommand, CentrifugoConfig), another real-time server. Compare
// runs a Plan's modes on the gateway and its peer alternately, A B A B, so
// that the machine's drift falls on both, and gives the medians and ratios
// as a Report.
//
// Start launches a server's Command on a free port and waits for its
// /health; the tool stops it with SIGTERM after each run. Every run is
// bounded in time and count.
package bench
