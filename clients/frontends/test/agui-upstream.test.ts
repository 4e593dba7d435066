// The AG-UI door in front of the agui responder: a CopilotKit-style client
// (@ag-ui/client's HttpAgent) talks to the gateway, whose RESPONDER=agui
// calls an agent written with the official @ag-ui/encoder (the agui
// responder's test agent). Tool calls travel from that agent through the
// gateway's log and fan-out to the client, as AG-UI events both ways.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { HttpAgent, type BaseEvent, type Message } from "@ag-ui/client";
import { startServer, type Server } from "../../ts/test/server.js";
import { repoRoot } from "./gateway.js";

let server: Server;
let stopAgent: () => void;

/** startAgent runs the test agent and resolves with its base URL. */
async function startAgent(): Promise<string> {
  const proc = spawn(process.execPath, ["server.mjs"], {
    cwd: path.join(repoRoot, "responder", "agui", "testdata", "upstream"),
    stdio: ["ignore", "pipe", "inherit"],
  });
  stopAgent = () => proc.kill("SIGKILL");
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the test agent did not start in 30s")), 30_000);
    createInterface({ input: proc.stdout! }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
  });
  const port = line.replace(/^listening /, "");
  assert.match(port, /^\d+$/, `the test agent said ${line}`);
  return `http://127.0.0.1:${port}`;
}

before(async () => {
  const agent = await startAgent();
  server = await startServer({ RESPONDER: "agui", AGUI_URL: `${agent}/tools` });
});

after(async () => {
  assert.equal(await server.stop(), 0, "the gateway drained cleanly");
  stopAgent();
});

test("an upstream agent's tool calls reach an AG-UI client through the gateway", { timeout: 30_000 }, async () => {
  const agent = new HttpAgent({
    url: `${server.url}/agui/agui-upstream-tools`,
    threadId: "agui-upstream-tools",
    initialMessages: [{ id: "u1", role: "user", content: "What is the weather in Paris?" }],
  });
  const events: BaseEvent[] = [];
  await agent.runAgent({ runId: "run-tools" }, { onEvent: ({ event }) => void events.push(event) });
  const types: string[] = events.map((e) => e.type);
  assert.equal(types[0], "RUN_STARTED");
  assert.equal(types.at(-1), "RUN_FINISHED");
  for (const t of ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"]) {
    assert.ok(types.includes(t), `${t} in ${types.join(" ")}`);
  }
  const start = events.find((e) => e.type === "TOOL_CALL_START") as unknown as { toolCallName: string; toolCallId: string };
  assert.equal(start.toolCallName, "get_weather");
  const args = events
    .filter((e) => e.type === "TOOL_CALL_ARGS" && (e as unknown as { toolCallId: string }).toolCallId === start.toolCallId)
    .map((e) => (e as unknown as { delta: string }).delta)
    .join("");
  assert.deepEqual(JSON.parse(args), { city: "Paris" });

  const assistant = agent.messages.find((m) => m.role === "assistant") as Extract<Message, { role: "assistant" }>;
  assert.equal(assistant.toolCalls?.[0]?.function.name, "get_weather");
  const tool = agent.messages.find((m) => m.role === "tool") as Extract<Message, { role: "tool" }>;
  assert.equal(tool.toolCallId, start.toolCallId);
});
