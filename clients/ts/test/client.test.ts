// The TypeScript client against the real server binary: SendMessage and
// Subscribe with the Connect protocol over HTTP/1.1 and gRPC over h2c.
import assert from "node:assert/strict";
import { after, before, describe as suite, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createNodeClient, Role } from "../src/index.js";
import { collapseDeltas, describe } from "./events.js";
import { startServer, type Server } from "./server.js";

const protocols = [
  { name: "connect over HTTP/1.1", protocol: "connect", logged: "connect" },
  { name: "gRPC over h2c", protocol: "grpc", logged: "grpc" },
] as const;

let server: Server;

before(async () => {
  server = await startServer();
});

after(async () => {
  assert.equal(await server.stop(), 0, "the server drains and exits 0");
});

for (const p of protocols) {
  suite(p.name, () => {
    test("SendMessage returns the message and the echo reply", { timeout: 20_000 }, async () => {
      const client = createNodeClient({ baseUrl: server.url, protocol: p.protocol });
      const agentId = `ts-send-${p.protocol}`;
      const res = await client.sendMessage({ agentId, text: "hello from TypeScript" });
      assert.equal(res.message?.seq, 1n);
      assert.equal(res.message?.agentId, agentId);
      assert.equal(res.message?.kind.case, "message");
      assert.equal(res.message?.kind.value?.role, Role.USER);
      assert.equal(describe(res.message!), "message 1 user: hello from TypeScript");
      assert.equal(describe(res.reply!), "message 2 assistant: echo: hello from TypeScript");
      assert.equal(res.reply?.kind.case === "message" && res.reply.kind.value.replyToSeq, 1n);
      assert.equal(res.duplicate, false);

      const again = await client.sendMessage({ agentId, text: "hello", clientMessageId: "once" });
      const retry = await client.sendMessage({ agentId, text: "hello", clientMessageId: "once" });
      assert.equal(retry.duplicate, true);
      assert.equal(retry.message?.seq, again.message?.seq);
      assert.equal(retry.reply?.seq, again.reply?.seq);

      // The access log names the wire protocol the server saw.
      await server.waitForLog(
        (r) => r.procedure === "/agent.v1.AgentService/SendMessage" && r.protocol === p.logged && r.agent === agentId,
      );
    });

    test("Subscribe replays, then streams deltas and the reply in order", { timeout: 20_000 }, async () => {
      const client = createNodeClient({ baseUrl: server.url, protocol: p.protocol });
      const agentId = `ts-subscribe-${p.protocol}`;
      await client.sendMessage({ agentId, text: "first" });

      const abort = new AbortController();
      const seen: string[] = [];
      let sent = false;
      let replyId = "";
      const deltaIds = new Set<string>();
      try {
        for await (const res of client.subscribe({ agentId, afterSeq: 0n }, { signal: abort.signal })) {
          const ev = res.event!;
          const line = describe(ev);
          if (line === undefined) continue;
          seen.push(line);
          if (ev.kind.case === "textDelta") deltaIds.add(ev.kind.value.messageId);
          if (ev.kind.case === "runStarted" && sent) replyId = ev.kind.value.messageId;
          // The replayed reply proves the stream is live: now send the second
          // message, whose deltas can only arrive live.
          if (ev.seq === 2n && !sent) {
            sent = true;
            const res2 = await client.sendMessage({ agentId, text: "second message" });
            assert.equal(res2.reply?.seq, 4n);
          }
          if (ev.seq === 4n) break;
        }
      } finally {
        abort.abort();
      }
      assert.deepEqual(collapseDeltas(seen), [
        "message 1 user: first",
        "message 2 assistant: echo: first",
        "message 3 user: second message",
        "run_started",
        "delta: echo: second message",
        "message 4 assistant: echo: second message",
      ]);
      assert.deepEqual([...deltaIds], [replyId], "every delta carries the reply's message id");
    });
  });
}

test("an invalid agent id is invalid_argument", { timeout: 10_000 }, async () => {
  const client = createNodeClient({ baseUrl: server.url });
  await assert.rejects(client.sendMessage({ agentId: "no spaces allowed", text: "x" }), (err) => {
    return err instanceof ConnectError && err.code === Code.InvalidArgument;
  });
});
