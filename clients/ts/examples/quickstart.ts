import { createNodeClient, Role } from "../src/index.js";

const baseUrl = process.env.AGENTGATE_URL ?? "http://localhost:8080";

// "connect": the Connect protocol over HTTP/1.1 (the default).
// "grpc": gRPC over HTTP/2, cleartext (h2c) for http:// URLs.
const client = createNodeClient({ baseUrl, protocol: "grpc" });

const res = await client.sendMessage({ agentId: "demo", text: "hello" });
console.log(res.reply?.kind.case === "message" && res.reply.kind.value.text); // "echo: hello"

// Replay the log after seq 0, then follow live events, deltas included,
// until the signal aborts: here, once the agent's reply to our message is in.
const abort = new AbortController();
try {
  for await (const { event } of client.subscribe({ agentId: "demo", afterSeq: 0n }, { signal: abort.signal })) {
    switch (event?.kind.case) {
      case "message":
        console.log(event.seq, event.kind.value.role === Role.USER ? "user" : "agent", event.kind.value.text);
        if (event.seq === res.reply?.seq) abort.abort();
        break;
      case "textDelta":
        process.stdout.write(event.kind.value.delta);
        break;
    }
  }
} catch (err) {
  if (!abort.signal.aborted) throw err;
}
