// The AG-UI door's tool loop with the real client, @ag-ui/client 1.0.0's
// HttpAgent: a frontend tool the test runs (the run pauses, the next run
// carries the tool message and goes on in the same response), approvals
// through RUN_FINISHED's interrupt outcome and the next run's resume, and
// a server tool's run of several steps in one AG-UI run. runAgent resolves
// even on RUN_ERROR, so the assertions are on the events the client
// verified and applied, and on its message list.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HttpAgent, type BaseEvent, type Message, type Tool } from "@ag-ui/client";
import { history, startGateway, type Gateway } from "./gateway.js";

const token = "door-test-token-0123456789";
const auth = { Authorization: `Bearer ${token}` };
let gw: Gateway;

before(async () => {
  // transfer, a server tool of the test gateway, needs a person's yes.
  gw = await startGateway({ AUTH_TOKENS: token, TOOL_APPROVAL: "transfer" });
});

after(async () => {
  assert.equal(await gw.stop(), 0, "the gateway drained cleanly");
});

/** getLocation is the frontend's tool, lent with every run. */
const getLocation: Tool = {
  name: "get_location",
  description: "Where the user is.",
  parameters: { type: "object", properties: {} },
};

function newAgent(agentId: string, text: string) {
  return new HttpAgent({
    url: `${gw.url}/agui/${agentId}`,
    headers: auth,
    threadId: agentId,
    initialMessages: [{ id: `${agentId}-u1`, role: "user", content: text }],
  });
}

type Finished = { outcome?: { type: string; pendingToolCallIds?: string[]; interrupts?: { id: string; reason: string; toolCallId?: string }[] } };

/** run runs the agent once and collects what the client verified. */
async function run(agent: HttpAgent, params: Parameters<HttpAgent["runAgent"]>[0] = {}) {
  const events: BaseEvent[] = [];
  const errors: unknown[] = [];
  await agent.runAgent(params, {
    onEvent: ({ event }) => void events.push(event),
    onRunErrorEvent: ({ event }) => void errors.push(event),
  });
  assert.deepEqual(errors, [], "no RUN_ERROR");
  assert.equal(events[0]?.type, "RUN_STARTED");
  assert.equal(events.at(-1)?.type, "RUN_FINISHED");
  return { events, finished: events.at(-1) as unknown as Finished };
}

const types = (events: BaseEvent[]) => events.map((e) => e.type as string);
const squeeze = (t: string[]) => t.filter((x, i) => !(x === t[i - 1] && (x === "TEXT_MESSAGE_CONTENT" || x === "TOOL_CALL_ARGS")));
const deltas = (events: BaseEvent[]) =>
  events
    .filter((e) => e.type === "TEXT_MESSAGE_CONTENT")
    .map((e) => (e as unknown as { delta: string }).delta)
    .join("");
type Assistant = Extract<Message, { role: "assistant" }>;
type ToolMessage = Extract<Message, { role: "tool" }>;

test("a frontend tool: the run pauses, the next run carries its result and goes on", { timeout: 30_000 }, async () => {
  const agent = newAgent("agui-node-frontend-tool", 'get_location {"step":0}');
  const first = await run(agent, { tools: [getLocation] });
  assert.equal(first.finished.outcome?.type, "success");
  const pending = first.finished.outcome?.pendingToolCallIds ?? [];
  assert.equal(pending.length, 1, "the run waits for the frontend's call");
  const call = (agent.messages.find((m) => m.role === "assistant") as Assistant).toolCalls?.[0];
  assert.equal(call?.id, pending[0]);
  assert.equal(call?.function.name, "get_location");
  assert.deepEqual(JSON.parse(call!.function.arguments), { step: 0 });
  assert.ok(!first.events.some((e) => e.type === "TOOL_CALL_RESULT"), "no placeholder result for the frontend's call");

  // The frontend runs its tool and sends the result with the next run.
  agent.addMessage({ id: "tool-1", role: "tool", toolCallId: call!.id, content: JSON.stringify({ city: "Paris" }) });
  const second = await run(agent, { tools: [getLocation] });
  assert.deepEqual(squeeze(types(second.events)), ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"]);
  assert.equal(deltas(second.events), 'Done: get_location → {"city":"Paris"}.');
  assert.equal(second.finished.outcome, undefined, "the run ended");
  const tools = agent.messages.filter((m) => m.role === "tool") as ToolMessage[];
  assert.deepEqual(
    tools.map((m) => [m.id, m.toolCallId]),
    [["tool-1", call!.id]],
    "the frontend's own tool message, once: no result echoed",
  );
  assert.deepEqual(
    agent.messages.map((m) => m.role),
    ["user", "assistant", "tool", "assistant"],
  );
  const log = await history(gw, "agui-node-frontend-tool", auth);
  assert.deepEqual(
    log.map((e) => Object.keys(e).find((k) => ["message", "toolCallResult"].includes(k))),
    ["message", "message", "toolCallResult", "message"],
  );
  assert.equal(log[2].toolCallResult.content, '{"city":"Paris"}');
  assert.equal(log[3].message.messageId, agent.messages.at(-1)?.id, "the step's text message is the persisted step");
});

for (const approved of [true, false]) {
  test(`an approval through the interrupt outcome and resume: ${approved ? "approved" : "denied"}`, { timeout: 30_000 }, async () => {
    const agentId = `agui-node-approval-${approved}`;
    const agent = newAgent(agentId, 'transfer {"amount":100}');
    const first = await run(agent);
    const interrupts = first.finished.outcome?.interrupts ?? [];
    assert.equal(first.finished.outcome?.type, "interrupt");
    assert.equal(interrupts.length, 1);
    const call = (agent.messages.find((m) => m.role === "assistant") as Assistant).toolCalls?.[0];
    assert.equal(interrupts[0].reason, "tool_call");
    assert.equal(interrupts[0].toolCallId, call?.id);
    assert.deepEqual(agent.pendingInterrupts.map((i) => i.id), [interrupts[0].id], "the client holds the interrupt");

    const second = await run(agent, {
      resume: [{ interruptId: interrupts[0].id, status: "resolved", payload: approved ? { approved } : { approved, reason: "not today" } }],
    });
    assert.deepEqual(squeeze(types(second.events)), [
      "RUN_STARTED",
      "TOOL_CALL_RESULT",
      "TEXT_MESSAGE_START",
      "TEXT_MESSAGE_CONTENT",
      "TEXT_MESSAGE_END",
      "RUN_FINISHED",
    ]);
    const result = second.events.find((e) => e.type === "TOOL_CALL_RESULT") as unknown as { toolCallId: string; content: string };
    assert.equal(result.toolCallId, call?.id, "the result of the original call, its start not sent again");
    const want = approved ? "transferred 100 to the landlord" : "denied: the user did not approve this call: not today";
    assert.equal(result.content, want);
    assert.equal(deltas(second.events), `Done: transfer ${approved ? "→" : "failed:"} ${want}.`);
    assert.deepEqual(agent.pendingInterrupts, [], "nothing is pending");
    assert.deepEqual(
      agent.messages.map((m) => m.role),
      ["user", "assistant", "tool", "assistant"],
      "the result sits after the call's message",
    );
    const log = await history(gw, agentId, auth);
    const decision = log.find((e) => e.toolCallDecision)?.toolCallDecision;
    assert.equal(decision.approved ?? false, approved);
    assert.equal(decision.decidedBy, "service");
  });
}

test("a server tool's run of several steps streams in one run, each step its own message", { timeout: 30_000 }, async () => {
  const agent = newAgent("agui-node-steps", 'lookup {"step":0} then lookup {"step":1} lookup {"step":1}');
  const { events, finished } = await run(agent);
  assert.equal(finished.outcome, undefined);
  const starts = events.filter((e) => e.type === "TEXT_MESSAGE_START").map((e) => (e as unknown as { messageId: string }).messageId);
  const results = events.filter((e) => e.type === "TOOL_CALL_RESULT");
  assert.equal(starts.length, 3, "three steps, three text messages");
  assert.equal(new Set(starts).size, 3);
  assert.equal(results.length, 3);
  assert.deepEqual(
    agent.messages.map((m) => m.role),
    ["user", "assistant", "tool", "assistant", "tool", "tool", "assistant"],
  );
  const assistants = agent.messages.filter((m) => m.role === "assistant") as Assistant[];
  assert.deepEqual(
    assistants.map((m) => m.toolCalls?.length ?? 0),
    [1, 2, 0],
  );
  assert.match(assistants[2].content ?? "", /^Done: lookup → \{"found":\{"step":0\}\}; lookup → \{"found":\{"step":1\}\}; lookup → /);
  const log = await history(gw, "agui-node-steps", auth);
  assert.deepEqual(
    log.slice(1).map((e) => e.message.messageId),
    starts,
    "the text messages are the persisted steps",
  );
});

test("a new message instead of an answer: the pending call is closed, the message answered", { timeout: 30_000 }, async () => {
  const agent = newAgent("agui-node-moved-on", 'transfer {"amount":100}');
  const first = await run(agent);
  const interrupt = first.finished.outcome!.interrupts![0];
  // The client requires every open interrupt in resume; a frontend that
  // moves on cancels them, and the new message is answered as usual.
  agent.addMessage({ id: "u2", role: "user", content: "never mind" });
  const second = await run(agent, { resume: [{ interruptId: interrupt.id, status: "cancelled" }] });
  assert.equal(deltas(second.events), "echo: never mind");
  const log = await history(gw, "agui-node-moved-on", auth);
  const closed = log.find((e) => e.toolCallResult)?.toolCallResult;
  assert.equal(closed.toolCallId, interrupt.toolCallId);
  assert.equal(closed.state, "TOOL_CALL_STATE_CLOSED");
  assert.match(closed.content, /the user sent a new message/);
});
