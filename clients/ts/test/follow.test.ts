// followAgent against the real server binary: it resumes after the server
// goes away, and a log made anew reaches it as a historyReset followed by
// the new log, never as a silent skip.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createNodeClient, followAgent, type AgentEvent } from "../src/index.js";
import { startServer } from "./server.js";

/** label names an event for comparisons: "reset", "3:user", "4:assistant". */
function label(ev: AgentEvent): string {
  if (ev.kind.case === "historyReset") return "reset";
  if (ev.kind.case === "message") return `${ev.seq}:${ev.kind.value.role === 1 ? "user" : "assistant"}`;
  return "";
}

test("followAgent resumes across a restart and reports the new log with a historyReset", { timeout: 60_000 }, async () => {
  let server = await startServer();
  const port = String(server.port);
  const abort = new AbortController();
  try {
    let client = createNodeClient({ baseUrl: server.url });
    const agentId = "ts-follow";
    for (const text of ["one", "two"]) await client.sendMessage({ agentId, text });
    const follower = followAgent(createNodeClient({ baseUrl: `http://127.0.0.1:${port}` }), agentId, {
      afterSeq: 0n,
      signal: abort.signal,
      baseDelayMs: 50,
      maxDelayMs: 200,
    });
    const seen: string[] = [];
    const it = follower[Symbol.asyncIterator]();
    const take = async (n: number) => {
      while (seen.length < n) {
        const { value, done } = await it.next();
        assert.ok(!done, "the follower ended");
        if (label(value)) seen.push(label(value));
      }
    };
    await take(4);
    assert.deepEqual(seen, ["1:user", "2:assistant", "3:user", "4:assistant"]);
    const oldEpoch = follower.epoch;
    assert.ok(oldEpoch, "the follower learned the epoch");

    // Without Redis, a restart loses the log: the new one starts at seq 1.
    assert.equal(await server.stop(), 0);
    server = await startServer({ PORT: port });
    client = createNodeClient({ baseUrl: server.url });
    await client.sendMessage({ agentId, text: "after" });
    await take(7);
    assert.deepEqual(seen.slice(4), ["reset", "1:user", "2:assistant"]);
    assert.notEqual(follower.epoch, oldEpoch);
    assert.equal(follower.lastSeq, 2n);
  } finally {
    abort.abort();
    await server.stop();
  }
});
