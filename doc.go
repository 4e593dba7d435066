// Package agentgate runs the agent gateway with your own agent logic: the
// typed agent API (Connect, gRPC, gRPC-Web), the WebSocket bridge, the
// health probes and metrics on one port, with the durable ordered log,
// resume, fan-out and, with REDIS_URL, any number of replicas.
//
// The agent's logic is a [responder.Responder]: it answers one user
// message, given the conversation before it, by writing text and tool calls
// to a [responder.Stream]. Package responder holds that vocabulary, so that
// a responder (the built-in ones in responder/openai and responder/agui,
// or yours) depends on it alone and not on the whole gateway.
//
// Run serves the gateway with it, configured by the same environment
// variables as the agentgate server binary (PORT, REDIS_URL, AUTH_TOKENS, …;
// see the README). Main does the same as a process: it drains on SIGTERM
// and exits 0, or 2 on bad configuration.
//
// A Responder keeps no state of its own: it gets the conversation from the
// log on every reply, so any replica can answer, and a replica taking over
// after a crash answers with the same context.
package agentgate
