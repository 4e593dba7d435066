// Users' tokens through the doors with the real clients, as
// docs/frontends.md shows them: a getToken that the AI SDK's transport
// calls for every request (headers as an async function), and
// @ag-ui/client's HttpAgent with its headers set before each run. A token
// reaches its user's agents only.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HttpAgent, type BaseEvent } from "@ag-ui/client";
import { DefaultChatTransport, type UIMessage } from "ai";
import { jwtEnv, mint } from "../../ts/test/tokens.js";
import { Chat, text } from "./chat.js";
import { startGateway, type Gateway } from "./gateway.js";

let gw: Gateway;

before(async () => {
  gw = await startGateway(jwtEnv);
});

after(async () => {
  assert.equal(await gw.stop(), 0, "the gateway drained cleanly");
});

// getToken stands for the page's fetch of /api/agent-token: alice's
// tokens, of ten minutes.
let fetched = 0;
async function getToken(): Promise<string> {
  fetched++;
  return mint(600);
}

function chatWith(agentId: string, errors: Error[]) {
  const transport = new DefaultChatTransport<UIMessage>({
    api: `${gw.url}/ai/chat`,
    headers: async () => ({ Authorization: `Bearer ${await getToken()}` }),
  });
  return new Chat({ id: agentId, transport, onError: (e) => errors.push(e) });
}

test("useChat's transport asks getToken for every request, and reaches the user's agents only", async () => {
  const errors: Error[] = [];
  const before = fetched;
  const chat = chatWith("alice:chat", errors);
  await chat.sendMessage({ text: "hello with a user's token" });
  await chat.sendMessage({ text: "again" });
  assert.deepEqual(errors, []);
  assert.equal(text(chat.messages[3]), "echo: again");
  assert.equal(fetched - before, 2, "one token per request");

  const refused: Error[] = [];
  const other = chatWith("bob:chat", refused);
  await other.sendMessage({ text: "hi bob" });
  assert.equal(other.status, "error");
  assert.match(refused[0]?.message ?? "", /permission_denied/);
});

test("HttpAgent runs with the headers set before the run", async () => {
  const agent = new HttpAgent({
    url: `${gw.url}/agui/alice:run`,
    threadId: "alice:run",
    initialMessages: [{ id: "m1", role: "user", content: "hello agui" }],
  });
  agent.headers = { Authorization: `Bearer ${await getToken()}` };
  const events: BaseEvent[] = [];
  await agent.runAgent({ runId: "r1" }, { onEvent: ({ event }) => void events.push(event) });
  assert.equal(events.at(-1)?.type, "RUN_FINISHED");

  const bob = new HttpAgent({
    url: `${gw.url}/agui/bob:run`,
    initialMessages: [{ id: "m1", role: "user", content: "hi" }],
  });
  bob.headers = { Authorization: `Bearer ${await getToken()}` };
  await assert.rejects(bob.runAgent({}, {}), (err: Error & { status?: number }) => err.status === 403 || /403/.test(err.message));
});
