// Package agentgate runs the agent gateway inside your Go program, with
// your own agent logic: the typed agent API (Connect, gRPC, gRPC-Web), the
// WebSocket bridge, the AG-UI and AI SDK doors, the health probes and
// metrics, with the durable ordered log, resume, fan-out and, with Redis,
// any number of replicas.
//
// # Your agent
//
// The agent's logic is a [responder.Responder]: it answers one user
// message, given the conversation before it, by writing text and tool
// calls to a [responder.Stream]. It keeps no state of its own: it gets the
// conversation from the log on every reply, so any replica can answer, and
// a replica taking over after a crash answers with the same context.
// Package responder holds that vocabulary, so that a responder depends on
// it alone and not on the gateway; the built-in ones are responder.Echo and
// the packages responder/openai and responder/agui.
//
// # The gateway in your server
//
// [New] builds a [Gateway] from a [Config], whose zero value is the server
// binary's defaults (the echo responder, the in-memory engine). Its
// [Gateway.Handler] mounts in your own mux, at the root or under a prefix,
// beside your own routes:
//
//	gw, err := agentgate.New(agentgate.Config{Responder: responder.Func(answer)})
//	if err != nil {
//		return err
//	}
//	defer gw.Close()
//	mux.Handle("/", gw.Handler())
//
// Config.Redis takes your own go-redis client; Config.RedisURL has the
// gateway open one. On your own http.Server, enable h2c for gRPC clients,
// and drain the gateway before your server: [Gateway.Shutdown] turns
// readiness to 503, ends streams with unavailable and closes WebSockets
// with 1001 (going away), which http.Server.Shutdown cannot do, since
// WebSockets are hijacked connections; then your server's Shutdown lets
// in-flight calls finish, with the same deadline. [Gateway.Serve] serves
// the gateway alone on a listener and drains it itself.
//
// # The gateway as your process
//
// [Run] serves the gateway configured by the same environment variables as
// the agentgate server binary (PORT, REDIS_URL, AUTH_TOKENS, …; see the
// README), and [Main] does the same as the process's main function: it
// drains on SIGTERM and exits 0, or 2 on bad configuration. Both build the
// same Gateway as New.
package agentgate
