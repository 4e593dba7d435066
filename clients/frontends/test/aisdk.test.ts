// The AI SDK door with the real client, ai 7.0.173: DefaultChatTransport
// and AbstractChat, the state machine useChat wraps, driven from Node.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { UIMessage } from "ai";
import { newChat, text } from "./chat.js";
import { deleteAgent, history, startGateway, startRedis, type Gateway, type Redis } from "./gateway.js";

const token = "door-test-token-0123456789";
const auth = { Authorization: `Bearer ${token}` };
let gw: Gateway;

before(async () => {
  gw = await startGateway({ AUTH_TOKENS: token });
});

after(async () => {
  assert.equal(await gw.stop(), 0, "the gateway drained cleanly");
});

test("the assistant message holds the streamed text", async () => {
  const chat = newChat(gw.url, "ai-node-text", auth);
  await chat.sendMessage({ text: "hello useChat" });
  assert.equal(chat.status, "ready");
  assert.equal(chat.messages.length, 2);
  const [user, reply] = chat.messages;
  assert.equal(reply.role, "assistant");
  assert.equal(text(reply), "echo: hello useChat");
  const log = await history(gw, "ai-node-text", auth);
  assert.equal(log[0].message.clientMessageId, user.id, "the user message's id is its client_message_id");
  assert.equal(reply.id, log[1].message.messageId, "the assistant message is the persisted reply");
});

test("tool calls become tool parts, with input and output", async () => {
  const chat = newChat(gw.url, "ai-node-tools", auth);
  await chat.sendMessage({ text: "weather Oslo" });
  assert.equal(chat.status, "ready");
  const reply = chat.messages[1];
  assert.deepEqual(
    reply.parts.map((p) => p.type),
    ["text", "tool-weather", "text"],
  );
  const tool = reply.parts[1] as Extract<UIMessage["parts"][number], { type: `tool-${string}` }> & {
    state: string;
    input: unknown;
    output: unknown;
    providerExecuted?: boolean;
  };
  assert.equal(tool.state, "output-available");
  assert.deepEqual(tool.input, { city: "Oslo" });
  assert.deepEqual(tool.output, { city: "Oslo", temperature: 21, unit: "celsius" });
  assert.equal(tool.providerExecuted, true, "the tool ran behind the gateway, not in the client");
  assert.equal(text(reply), "Let me check the weather. It is 21 degrees in Oslo.");
});

test("a run error is an error chunk: the chat ends in error", async () => {
  const errors: Error[] = [];
  const chat = newChat(gw.url, "ai-node-fail", auth, (e) => errors.push(e));
  await chat.sendMessage({ text: "fail" });
  assert.equal(chat.status, "error");
  assert.match(chat.error?.message ?? "", /^scripted_failure: /);
  assert.equal(errors.length, 1);
});

test("without the bearer token the request fails with 401", async () => {
  const chat = newChat(gw.url, "ai-node-auth");
  await chat.sendMessage({ text: "hi" });
  assert.equal(chat.status, "error");
  assert.match(chat.error?.message ?? "", /bearer token/);
  assert.equal((await history(gw, "ai-node-auth", auth)).length, 0);
});

test("resumeStream on an idle agent (204) leaves the chat as it was", async () => {
  const chat = newChat(gw.url, "ai-node-idle", auth);
  await chat.sendMessage({ text: "hi" });
  const before = structuredClone(chat.messages);
  await chat.resumeStream();
  assert.equal(chat.status, "ready");
  assert.deepEqual(chat.messages, before);
});

test("resumeStream mid-reply, on another replica, gets the whole reply", { timeout: 120_000 }, async () => {
  let redis: Redis | undefined;
  const replicas: Gateway[] = [];
  try {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      replicas.push(await startGateway({ AUTH_TOKENS: token, REDIS_URL: redis.url, ECHO_DELAY: "100ms" }));
    }
    const [writer, other] = replicas;
    const words = "one two three four five six seven eight nine ten eleven twelve";
    const a = newChat(writer.url, "ai-node-resume", auth);
    const sent = a.sendMessage({ text: `slow ${words}` });
    // Wait until replica A has streamed part of the reply.
    await a.until((ms) => ms.length === 2 && text(ms[1]).length > 0);
    const soFar = text(a.messages[1]);
    assert.ok(soFar.length < words.length, "the reply is still being written");

    // A fresh page on replica B: useChat({resume: true}) calls resumeStream on mount.
    const b = newChat(other.url, "ai-node-resume", auth);
    const firstSeen: string[] = [];
    const unsubscribe = () => b.store.listeners.clear();
    b.store.listeners.add(() => {
      const t = text(b.store.messages.at(-1));
      if (firstSeen.length === 0 && t) firstSeen.push(t);
    });
    await b.resumeStream();
    unsubscribe();
    await sent;
    assert.equal(b.status, "ready");
    assert.equal(b.messages.length, 1);
    assert.equal(b.messages[0].role, "assistant");
    assert.equal(b.messages[0].id, a.messages[1].id, "the same reply");
    assert.equal(text(b.messages[0]), words, "the whole reply: the text so far, then live");
    assert.ok(firstSeen[0].startsWith(soFar), `replica B started with the text so far (${firstSeen[0]} vs ${soFar})`);
    assert.equal(text(a.messages[1]), words);
    // Nothing is being written any more: a resume now is a 204.
    const c = newChat(other.url, "ai-node-resume", auth);
    await c.resumeStream();
    assert.deepEqual(c.messages, []);
  } finally {
    for (const r of replicas) assert.equal(await r.stop(), 0);
    await redis?.stop();
  }
});

test("a burst of 20,000 deltas reaches the client whole", async () => {
  const chat = newChat(gw.url, "ai-node-burst", auth);
  await chat.sendMessage({ text: "burst 20000" });
  assert.equal(chat.status, "ready");
  const log = await history(gw, "ai-node-burst", auth);
  assert.ok(log[1].message.text.startsWith("w0 w1 "));
  assert.equal(text(chat.messages[1]), log[1].message.text, "the deltas make the reply");
});

test("an agent deleted mid-reply ends the chat in error: agent_deleted", async () => {
  const errors: Error[] = [];
  const chat = newChat(gw.url, "ai-node-deleted", auth, (e) => errors.push(e));
  const sent = chat.sendMessage({ text: "slow " + "word ".repeat(200) });
  await chat.until((ms) => ms.length === 2 && text(ms[1]).length > 0);
  await deleteAgent(gw, "ai-node-deleted", auth);
  await sent;
  assert.equal(chat.status, "error");
  assert.match(chat.error?.message ?? "", /^agent_deleted: /);
  assert.equal(errors.length, 1);
});
