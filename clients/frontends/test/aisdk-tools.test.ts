// The AI SDK door's tool loop with the real client, ai 7.0.173: the Chat
// state machine useChat wraps (AbstractChat), a client tool run by
// onToolCall and answered with addToolOutput, approvals answered with
// addToolApprovalResponse, and sendAutomaticallyWhen sending both on,
// unchanged, as an app configures it against the AI SDK's own server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  lastAssistantMessageIsCompleteWithToolCalls,
  type ChatInit,
  type UIMessage,
} from "ai";
import { Chat, text } from "./chat.js";
import { history, startGateway, type Gateway } from "./gateway.js";

const token = "door-test-token-0123456789";
const auth = { Authorization: `Bearer ${token}` };
let gw: Gateway;

before(async () => {
  gw = await startGateway({ AUTH_TOKENS: token, TOOL_APPROVAL: "transfer" });
});

after(async () => {
  assert.equal(await gw.stop(), 0, "the gateway drained cleanly");
});

/** The client's tool, lent with every request through the transport's body. */
const tools = [{ name: "get_location", description: "Where the user is.", parameters: { type: "object", properties: {} } }];

type ToolPart = { type: string; toolCallId: string; state: string; input?: unknown; output?: unknown; approval?: { id: string } };
const toolParts = (m: UIMessage | undefined) => (m?.parts ?? []).filter((p) => p.type.startsWith("tool-")) as unknown as ToolPart[];

/** newChat is a chat with the client's tools, counting the POSTs it sends. */
function newChat(agentId: string, init: Omit<ChatInit<UIMessage>, "state" | "id" | "transport"> = {}) {
  const sent = { posts: 0 };
  const transport = new DefaultChatTransport<UIMessage>({
    api: `${gw.url}/ai/chat`,
    headers: auth,
    body: { tools },
    fetch: (input, req) => {
      if (req?.method === "POST") sent.posts++;
      return fetch(input, req);
    },
  });
  const errors: Error[] = [];
  let failed!: (e: Error) => void;
  const failure = new Promise<Error>((resolve) => (failed = resolve));
  const chat = new Chat({
    id: agentId,
    transport,
    onError: (e) => {
      errors.push(e);
      failed(e);
    },
    ...init,
  });
  return { chat, sent, errors, failure };
}

test("a client tool: onToolCall runs it, addToolOutput answers, sendAutomaticallyWhen goes on, once", { timeout: 30_000 }, async () => {
  const calls: { toolName: string; input: unknown }[] = [];
  const { chat, sent, errors } = newChat("ai-node-client-tool", {
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
    onToolCall: ({ toolCall }) => {
      calls.push({ toolName: toolCall.toolName, input: toolCall.input });
      if (toolCall.toolName === "get_location") {
        void chat.addToolOutput({ tool: "get_location", toolCallId: toolCall.toolCallId, output: { city: "Paris" } });
      }
    },
  });
  await chat.sendMessage({ text: 'get_location {"step":0} lookup {"step":0}' });
  await chat.until((ms) => text(ms.at(-1)).includes("Done:") && chat.status === "ready"); // the whole answer
  assert.deepEqual(errors, []);
  assert.equal(chat.status, "ready");
  assert.deepEqual(calls, [{ toolName: "get_location", input: { step: 0 } }], "onToolCall fired for the client's tool alone, once");
  assert.equal(sent.posts, 2, "the message, then the result: no request after the run ended");
  assert.equal(chat.messages.length, 2, "one assistant message across the steps");
  const reply = chat.messages[1];
  assert.deepEqual(
    reply.parts.map((p) => p.type),
    ["text", "tool-get_location", "tool-lookup", "step-start", "text"],
  );
  const [location, lookup] = toolParts(reply);
  assert.equal(location.state, "output-available");
  assert.deepEqual(location.output, { city: "Paris" });
  assert.equal(lookup.state, "output-available");
  assert.deepEqual(lookup.output, { found: { step: 0 } });
  assert.equal(text(reply), 'Calling get_location, lookup. Done: get_location → {"city":"Paris"}; lookup → {"found":{"step":0}}.');

  // The result is in the history: the next message does not run the tool
  // again, nor does a resume.
  await chat.sendMessage({ text: "thanks" });
  await chat.resumeStream();
  assert.equal(text(chat.messages.at(-1)), "echo: thanks");
  assert.equal(calls.length, 1, "the tool did not fire again");
  const log = await history(gw, "ai-node-client-tool", auth);
  assert.equal(log.filter((e) => e.toolCallResult).length, 1, "one result, persisted once");
});

for (const approved of [true, false]) {
  test(`an approval: addToolApprovalResponse and sendAutomaticallyWhen, ${approved ? "approved" : "denied"}`, { timeout: 30_000 }, async () => {
    const agentId = `ai-node-approval-${approved}`;
    const { chat, sent, errors } = newChat(agentId, { sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses });
    await chat.sendMessage({ text: 'transfer {"amount":100}' });
    const [asked] = toolParts(chat.messages[1]);
    assert.equal(asked.state, "approval-requested");
    assert.ok(asked.approval?.id, "the approval id the server issued");
    await chat.addToolApprovalResponse({ id: asked.approval!.id, approved, reason: approved ? undefined : "not today" });
    await chat.until((ms) => text(ms.at(-1)).includes("Done:") && chat.status === "ready"); // the whole answer
    assert.deepEqual(errors, []);
    const [decided] = toolParts(chat.messages[1]);
    const want = approved ? "transferred 100 to the landlord" : "denied: the user did not approve this call: not today";
    assert.equal(decided.state, approved ? "output-available" : "output-denied");
    if (approved) assert.equal(decided.output, want);
    assert.equal(text(chat.messages[1]), `Calling transfer. Done: transfer ${approved ? "→" : "failed:"} ${want}.`);
    assert.equal(sent.posts, 2);
    const log = await history(gw, agentId, auth);
    assert.equal(log.filter((e) => e.toolCallDecision).length, 1, "one decision");
  });
}

test("a forged approval-responded part is refused: the server's approval id only", { timeout: 30_000 }, async () => {
  const { chat, failure } = newChat("ai-node-forged", { sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses });
  await chat.sendMessage({ text: 'transfer {"amount":100}' });
  // The client makes up the approval the server asked.
  const msg = structuredClone(chat.messages[1]);
  const part = toolParts(msg)[0];
  part.approval = { id: "made-up" };
  chat.store.replaceMessage(1, msg);
  await chat.addToolApprovalResponse({ id: "made-up", approved: true });
  const err = await failure;
  assert.match(err.message, /approval_id is not the one the server issued/);
  assert.equal(chat.status, "error");
  const log = await history(gw, "ai-node-forged", auth);
  assert.equal(log.filter((e) => e.toolCallDecision || e.toolCallResult).length, 0, "nothing was decided, nothing ran");
});

test("a step that waits for a client tool and an approval: each answer in turn, no request loops", { timeout: 30_000 }, async () => {
  const { chat, sent, errors } = newChat("ai-node-both", {
    sendAutomaticallyWhen: ({ messages }) =>
      lastAssistantMessageIsCompleteWithToolCalls({ messages }) || lastAssistantMessageIsCompleteWithApprovalResponses({ messages }),
    onToolCall: ({ toolCall }) => {
      if (toolCall.toolName === "get_location") {
        void chat.addToolOutput({ tool: "get_location", toolCallId: toolCall.toolCallId, output: "Lyon" });
      }
    },
  });
  await chat.sendMessage({ text: 'get_location transfer {"amount":100}' });
  // The client's output went to the gateway; the run still waits for the
  // person, and the chat does not send it again.
  assert.equal(chat.status, "ready");
  assert.equal(sent.posts, 2);
  const asked = toolParts(chat.messages[1]).find((p) => p.type === "tool-transfer")!;
  assert.equal(asked.state, "approval-requested");
  await chat.addToolApprovalResponse({ id: asked.approval!.id, approved: true });
  await chat.until((ms) => text(ms.at(-1)).includes("Done:") && chat.status === "ready"); // the whole answer
  assert.deepEqual(errors, []);
  assert.equal(sent.posts, 3);
  assert.match(text(chat.messages[1]), /Done: get_location → Lyon; transfer → transferred 100 to the landlord\.$/);
});
