import { connectSocket, createNodeClient, defineTool, openSession, type Run } from "../src/index.js";

const baseUrl = process.env.AGENTGATE_URL ?? "http://localhost:8080";
// A model behind the gateway (RESPONDER=openai) decides which tools to call;
// the scripted model of the repository's tests is told: AGENTGATE_PROMPT.
const prompt = process.env.AGENTGATE_PROMPT ?? "What is the weather in Paris? Then pay the rent.";

// A client tool: the model is told its name, description and JSON Schema;
// this client runs it when the model calls it, and sends the result.
const getWeather = defineTool<{ city: string }>({
  name: "get_weather",
  description: "The weather in a city.",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  execute: async ({ city }) => ({ city, sky: "sunny", celsius: 21 }),
});

// Over Connect (or gRPC): send lends the tools, answers each call of one,
// and resolves with the run once it ended, or waits for a person's yes.
const session = openSession(createNodeClient({ baseUrl }), "tools-demo", { tools: [getWeather] });
let run = await session.send(prompt);
while (run.status === "paused" && run.approvalRequests().length > 0) {
  const ask = run.approvalRequests()[0]; // a server tool in TOOL_APPROVAL
  console.log(`approve ${ask.name} ${ask.arguments}? yes`); // ask a person here
  run = await session.approve(ask.id, { reason: "checked", approvalId: ask.approvalId });
}
for (const step of run.steps) {
  console.log(`step ${step.step}: ${step.text}`);
  for (const call of step.toolCalls) console.log(`  ${call.name} ${call.arguments} → ${call.result}`);
}

// On the WebSocket (Node 22, or Node 20 with --experimental-websocket): the
// socket keeps the agent's runs from every event it gets (socket.runs) and
// answers each call of its tools once, across reconnects too; onRun is
// told of every change. A person's decision is approve or deny.
const ended = new Promise<Run>((resolve, reject) => {
  const asked = new Set<string>();
  const socket = connectSocket({
    baseUrl,
    agentId: "tools-demo-ws",
    tools: [getWeather],
    onRun: (r) => {
      for (const ask of r.approvalRequests()) {
        if (asked.has(ask.id)) continue;
        asked.add(ask.id);
        socket.deny(ask.id, { reason: "not from the socket", approvalId: ask.approvalId }).catch(reject);
      }
      if (r.status === "ended" || r.status === "failed") {
        socket.close();
        resolve(r);
      }
    },
  });
  socket.opened().then(() => socket.sendMessage(prompt)).catch(reject);
});
console.log(`on the socket: ${(await ended).text}`);
