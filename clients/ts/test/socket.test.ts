// AgentSocket and followAgent with tokens that expire, against the real
// server binary: a socket hands a fresh token from getToken before its
// token expires and keeps going; one that is closed all the same (4001)
// reconnects with a fresh token and resumes; a Subscribe stream that
// outlived its token is resumed with a fresh one. Nothing is missed or
// shown twice.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { connectSocket, createNodeClient, followAgent, type AgentEvent } from "../src/index.js";
import { startServer, type Server } from "./server.js";
import { jwtEnv, mint } from "./tokens.js";

let server: Server;

before(async () => {
  assert.ok(globalThis.WebSocket, "the global WebSocket (Node ≥ 22, or Node 20 with --experimental-websocket)");
  server = await startServer(jwtEnv);
});

after(async () => {
  assert.equal(await server.stop(), 0, "the server drains and exits 0");
});

/** seqsOf collects the seqs of persisted events, and resolves when there are n. */
function seqsOf() {
  const seqs: bigint[] = [];
  let want = 0;
  let done: (() => void) | undefined;
  return {
    seqs,
    onEvent(ev: AgentEvent) {
      if (ev.seq > 0n) seqs.push(ev.seq);
      if (done && seqs.length >= want) done();
    },
    until(n: number): Promise<void> {
      want = n;
      if (seqs.length >= n) return Promise.resolve();
      return new Promise((resolve) => (done = resolve));
    },
  };
}

/** assertContiguous checks that seqs are 1, 2, … n. */
function assertContiguous(seqs: bigint[], n: number) {
  assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => BigInt(i + 1)));
}

test("the socket hands a fresh token before its token expires, and keeps going", { timeout: 60_000 }, async () => {
  let tokens = 0;
  const events = seqsOf();
  const closes: number[] = [];
  const socket = connectSocket({
    baseUrl: server.url,
    agentId: "alice:ts-refresh",
    getToken: () => {
      tokens++;
      return mint(2);
    },
    onEvent: events.onEvent,
    onState: (state, code) => state === "closed" && closes.push(code!),
  });
  try {
    await socket.opened();
    // Messages one after another across a few of the tokens' lifetimes.
    const until = Date.now() + 4500;
    let sent = 0;
    while (Date.now() < until) {
      const res = await socket.sendMessage(`m${sent}`, `cm-${sent}`);
      assert.equal(res.reply?.kind.case, "message");
      sent++;
    }
    await events.until(2 * sent);
    assertContiguous(events.seqs, 2 * sent);
    assert.deepEqual(closes, [], "the socket never closed");
    assert.equal(socket.connections, 1);
    assert.ok(tokens >= 3, `getToken was called ${tokens} times: at the open and for each refresh`);
  } finally {
    socket.close();
  }
});

test("a socket closed for its expired token reconnects with a fresh one and resumes", { timeout: 60_000 }, async () => {
  // getToken cannot refresh in time (it gives the same token again, as a
  // cache that has not noticed would), until the socket is closed.
  const short = mint(2);
  let expired = false;
  const events = seqsOf();
  const closes: number[] = [];
  let closed: () => void = () => {};
  const closedOnce = new Promise<void>((resolve) => (closed = resolve));
  const socket = connectSocket({
    baseUrl: server.url,
    agentId: "alice:ts-expired",
    afterSeq: 0n,
    getToken: () => (expired ? mint(3600) : short),
    onEvent: events.onEvent,
    onState: (state, code) => {
      if (state !== "closed") return;
      closes.push(code!);
      expired = true;
      closed();
    },
  });
  try {
    await socket.opened();
    await socket.sendMessage("before", "cm-before");
    await closedOnce;
    await socket.opened();
    await socket.sendMessage("after", "cm-after");
    await events.until(4);
    assertContiguous(events.seqs, 4);
    assert.deepEqual(closes, [4001]);
    assert.equal(socket.connections, 2);
  } finally {
    socket.close();
  }
});

test("followAgent resumes a Subscribe stream that outlived its token", { timeout: 60_000 }, async () => {
  const client = createNodeClient({ baseUrl: server.url, protocol: "grpc", getToken: () => mint(2) });
  const agentId = "alice:ts-follow";
  const abort = new AbortController();
  const follower = followAgent(client, agentId, { afterSeq: 0n, signal: abort.signal, baseDelayMs: 50 });
  const it = follower[Symbol.asyncIterator]();
  const seen: bigint[] = [];
  const take = async (n: number) => {
    while (seen.length < n) {
      const { value, done } = await it.next();
      assert.ok(!done, "the follower ended");
      if (value.seq > 0n) seen.push(value.seq);
    }
  };
  try {
    await client.sendMessage({ agentId, text: "one" });
    await take(2);
    await server.waitForLog(
      (r) => r.procedure === "/agent.v1.AgentService/Subscribe" && r.code === "unauthenticated" && r.reason === "expired_token",
      15_000,
    );
    await client.sendMessage({ agentId, text: "two" });
    await take(4);
    assertContiguous(seen, 4);
  } finally {
    abort.abort();
  }
});
