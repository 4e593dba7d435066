// The AG-UI door with the real client, @ag-ui/client 1.0.0's HttpAgent, as
// CopilotKit uses it. Assertions are on the events the client verified and
// passed to its subscriber: runAgent resolves on RUN_ERROR too, and on a
// stream that never ends its run.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HttpAgent, type BaseEvent, type Message } from "@ag-ui/client";
import { deleteAgent, history, startGateway, type Gateway } from "./gateway.js";

const token = "door-test-token-0123456789";
let gw: Gateway;

before(async () => {
  gw = await startGateway({ AUTH_TOKENS: token });
});

after(async () => {
  assert.equal(await gw.stop(), 0, "the gateway drained cleanly");
});

const auth = { Authorization: `Bearer ${token}` };

/** run sends text as a user message with id to the agent and collects the events. */
async function run(agentId: string, messageId: string, text: string, runId = `run-${messageId}`) {
  const agent = new HttpAgent({
    url: `${gw.url}/agui/${agentId}`,
    headers: auth,
    threadId: agentId,
    initialMessages: [{ id: messageId, role: "user", content: text }],
  });
  const events: BaseEvent[] = [];
  const errors: unknown[] = [];
  const { newMessages } = await agent.runAgent(
    { runId },
    {
      onEvent: ({ event }) => {
        events.push(event);
      },
      onRunErrorEvent: ({ event }) => {
        errors.push(event);
      },
    },
  );
  return { agent, events, errors, newMessages };
}

const types = (events: BaseEvent[]) => events.map((e) => e.type);
const deltas = (events: BaseEvent[], type: string) =>
  events
    .filter((e) => e.type === type)
    .map((e) => (e as unknown as { delta: string }).delta)
    .join("");

test("a text reply streams as one text message, in a run with the input's ids", async () => {
  const { events, newMessages } = await run("agui-node-text", "m1", "hello agui", "run-text");
  const t = types(events);
  assert.equal(t[0], "RUN_STARTED");
  assert.equal(t.at(-1), "RUN_FINISHED");
  assert.deepEqual([...new Set(t)], ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"]);
  const started = events[0] as unknown as { threadId: string; runId: string };
  assert.equal(started.threadId, "agui-node-text");
  assert.equal(started.runId, "run-text");
  assert.equal(deltas(events, "TEXT_MESSAGE_CONTENT"), "echo: hello agui");
  const reply = newMessages.find((m: Message) => m.role === "assistant");
  assert.equal(reply?.content, "echo: hello agui");
  const log = await history(gw, "agui-node-text", auth);
  assert.equal(log.length, 2);
  assert.equal(log[0].message.clientMessageId, "m1");
  assert.equal(reply?.id, log[1].message.messageId, "the text message is the persisted reply");
});

test("tool calls arrive as TOOL_CALL_* events and become the reply's tool calls", async () => {
  const { events, agent } = await run("agui-node-tools", "m1", "weather Oslo");
  assert.deepEqual(types(events), [
    "RUN_STARTED",
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_CONTENT",
    "TOOL_CALL_START",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_END",
    "TOOL_CALL_RESULT",
    "TEXT_MESSAGE_CONTENT",
    "TEXT_MESSAGE_END",
    "RUN_FINISHED",
  ]);
  assert.equal(deltas(events, "TOOL_CALL_ARGS"), '{"city":"Oslo"}');
  const assistant = agent.messages.find((m) => m.role === "assistant") as Extract<Message, { role: "assistant" }>;
  assert.equal(assistant.content, "Let me check the weather. It is 21 degrees in Oslo.");
  assert.equal(assistant.toolCalls?.length, 1);
  assert.equal(assistant.toolCalls![0].function.name, "weather");
  assert.deepEqual(JSON.parse(assistant.toolCalls![0].function.arguments), { city: "Oslo" });
  const tool = agent.messages.find((m) => m.role === "tool") as Extract<Message, { role: "tool" }>;
  assert.equal(tool.toolCallId, assistant.toolCalls![0].id);
  assert.equal(JSON.parse(tool.content as string).temperature, 21);
});

test("a run error is a RUN_ERROR with the run error's code", async () => {
  const { events, errors } = await run("agui-node-fail", "m1", "fail");
  assert.deepEqual(types(events), ["RUN_STARTED", "RUN_ERROR"]);
  const err = events[1] as unknown as { code: string; message: string };
  assert.equal(err.code, "scripted_failure");
  assert.match(err.message, /failed/);
  assert.equal(errors.length, 1, "onRunErrorEvent fired");
});

test("a retried run appends nothing and streams the same reply", async () => {
  const first = await run("agui-node-retry", "m-retry", "weather Bergen", "run-1");
  const again = await run("agui-node-retry", "m-retry", "weather Bergen", "run-2");
  assert.equal(again.events[0].type, "RUN_STARTED");
  assert.equal((again.events[0] as unknown as { runId: string }).runId, "run-2");
  assert.equal(again.events.at(-1)?.type, "RUN_FINISHED");
  const reply = (r: typeof first) => r.agent.messages.filter((m) => m.role !== "user");
  assert.deepEqual(reply(again), reply(first), "the same assistant and tool messages, ids included");
  assert.equal((await history(gw, "agui-node-retry", auth)).length, 2, "nothing was appended");
});

test("without the bearer token the run fails with 401 before any event", async () => {
  const agent = new HttpAgent({
    url: `${gw.url}/agui/agui-node-auth`,
    initialMessages: [{ id: "m1", role: "user", content: "hi" }],
  });
  const events: BaseEvent[] = [];
  await assert.rejects(
    agent.runAgent({}, { onEvent: ({ event }) => void events.push(event) }),
    (err: Error & { status?: number }) => err.status === 401 || /401/.test(err.message),
  );
  assert.deepEqual(events, []);
  assert.equal((await history(gw, "agui-node-auth", auth)).length, 0);
});

test("a burst of 20,000 deltas reaches the client whole", async () => {
  const { events } = await run("agui-node-burst", "m1", "burst 20000");
  assert.equal(events.at(-1)?.type, "RUN_FINISHED");
  const log = await history(gw, "agui-node-burst", auth);
  assert.ok(log[1].message.text.startsWith("w0 w1 "));
  assert.equal(deltas(events, "TEXT_MESSAGE_CONTENT"), log[1].message.text, "the deltas make the reply");
});

test("an agent deleted mid-reply ends the run with RUN_ERROR agent_deleted", async () => {
  const agent = new HttpAgent({
    url: `${gw.url}/agui/agui-node-deleted`,
    headers: auth,
    initialMessages: [{ id: "m1", role: "user", content: "slow " + "word ".repeat(200) }],
  });
  const events: BaseEvent[] = [];
  let deleted: Promise<void> | undefined;
  await agent.runAgent(
    {},
    {
      onEvent: ({ event }) => {
        events.push(event);
        if (event.type === "TEXT_MESSAGE_CONTENT") deleted ??= deleteAgent(gw, "agui-node-deleted", auth);
      },
    },
  );
  await deleted;
  const end = events.at(-1) as unknown as { type: string; code: string };
  assert.equal(end.type, "RUN_ERROR");
  assert.equal(end.code, "agent_deleted");
  assert.ok(types(events).some((t) => t === "TEXT_MESSAGE_END"), "the text so far was closed as a message");
});
