// The tool loop's helpers against the real gateway with a scripted model
// (internal/tooltest/gateway): a client tool's round trip on the socket
// and over Connect and gRPC, run by its execute once per call; approvals
// approved and denied; a reload that shows the pending call and the
// approval request, and answers; a call delivered twice, or replayed with
// its answer after it, or whose answer was lost with its socket, is run
// once.
import assert from "node:assert/strict";
import { after, before, describe as suite, test } from "node:test";
import {
  AgentSocket,
  connectSocket,
  createNodeClient,
  defineTool,
  openSession,
  toolDefs,
  ToolCallKind,
  ToolCallState,
  type Run,
  type RunToolCall,
} from "../src/index.js";
import { startToolGateway, type Server } from "./server.js";
import { jwtEnv, mint } from "./tokens.js";

let server: Server;

before(async () => {
  assert.ok(globalThis.WebSocket, "the global WebSocket (Node ≥ 22, or Node 20 with --experimental-websocket)");
  server = await startToolGateway();
});

after(async () => {
  assert.equal(await server.stop(), 0, "the server drains and exits 0");
});

/** weatherTool is get_weather, counting its runs by call id. */
function weatherTool(runs: string[], fail = false) {
  return defineTool<{ city: string }>({
    name: "get_weather",
    description: "The weather in a city.",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    execute: ({ city }, call) => {
      runs.push(call.id);
      if (fail) throw new Error(`no weather station in ${city}`);
      return { city, sky: "sunny", celsius: 21 };
    },
  });
}

const paris = 'get_weather {"city":"Paris"}';
const sunny = '{"city":"Paris","sky":"sunny","celsius":21}';

/**
 * watch collects the runs onRun reports, and until resolves with the
 * first that passes pred, now or later (20 s at most).
 */
function watch() {
  const latest = new Map<string, Run>();
  const waiters = new Set<{ pred: (r: Run) => boolean; resolve: (r: Run) => void }>();
  return {
    onRun(run: Run) {
      latest.set(run.runId, run);
      for (const w of waiters) {
        if (!w.pred(run)) continue;
        waiters.delete(w);
        w.resolve(run);
      }
    },
    until(pred: (r: Run) => boolean, what: string): Promise<Run> {
      for (const r of latest.values()) if (pred(r)) return Promise.resolve(r);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve: (r: Run) => (clearTimeout(timer), resolve(r)) };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`no run became ${what} in 20s; runs: ${JSON.stringify([...latest.values()].map(describeRun))}`));
        }, 20_000);
        waiters.add(w);
      });
    },
  };
}

/** describeRun is a run in short: its status and each step's text and calls. */
function describeRun(run: Run) {
  return {
    status: run.status,
    steps: run.steps.map((s) => ({ text: s.text, calls: s.toolCalls.map((c) => `${c.name} ${ToolCallState[c.state]} ${c.result ?? ""}`) })),
  };
}

/** submitted waits for the access log's line of a SubmitToolResult on agentId that was answered ok. */
function submitted(agentId: string) {
  return server.waitForLog((r) => r.procedure === "/agent.v1.AgentService/SubmitToolResult" && r.agent === agentId && r.code === "ok");
}

/** closed is a socket that was closed, for the finally blocks. */
function closing(...sockets: AgentSocket[]) {
  for (const s of sockets) s.close();
}

suite("a client tool's round trip", () => {
  test("on the socket: the tool runs once and the run goes on to its end", { timeout: 60_000 }, async () => {
    const ran: string[] = [];
    const w = watch();
    const socket = connectSocket({ baseUrl: server.url, agentId: "ts-tools-socket", tools: [weatherTool(ran)], onRun: w.onRun });
    try {
      await socket.opened();
      const res = await socket.sendMessage(paris);
      assert.equal(res.reply?.kind.case, "message");
      const runId = res.reply.kind.case === "message" ? res.reply.kind.value.runId : "";
      const run = await w.until((r) => r.runId === runId && r.status === "ended", "ended");
      assert.deepEqual(describeRun(run), {
        status: "ended",
        steps: [
          { text: "Calling get_weather. ", calls: [`get_weather DONE ${sunny}`] },
          { text: `Done: get_weather → ${sunny}.`, calls: [] },
        ],
      });
      const call = run.toolCalls()[0];
      assert.equal(call.kind, ToolCallKind.CLIENT);
      assert.equal(call.arguments, '{"city":"Paris"}');
      assert.deepEqual(ran, [call.id], "the tool ran once");
      await submitted("ts-tools-socket");
      assert.equal(socket.runs.runs.length, 1);
    } finally {
      closing(socket);
    }
  });

  for (const protocol of ["connect", "grpc"] as const) {
    test(`over ${protocol}: send resolves with the ended run; a tool that throws is an error the model reads`, { timeout: 60_000 }, async () => {
      const client = createNodeClient({ baseUrl: server.url, protocol });
      const ran: string[] = [];
      const session = openSession(client, `ts-tools-${protocol}`, { tools: [weatherTool(ran)] });
      const run = await session.send(paris);
      assert.deepEqual(describeRun(run), {
        status: "ended",
        steps: [
          { text: "Calling get_weather. ", calls: [`get_weather DONE ${sunny}`] },
          { text: `Done: get_weather → ${sunny}.`, calls: [] },
        ],
      });
      assert.equal(ran.length, 1);

      const failing: string[] = [];
      const broken = openSession(client, `ts-tools-${protocol}`, { tools: [weatherTool(failing, true)] });
      const failed = await broken.send('get_weather {"city":"Atlantis"}');
      const call = failed.toolCalls()[0];
      assert.equal(call.state, ToolCallState.ERROR);
      assert.equal(call.isError, true);
      assert.equal(call.result, "no weather station in Atlantis");
      assert.equal(failed.text, "Calling get_weather. Done: get_weather failed: no weather station in Atlantis.");
      assert.equal(failing.length, 1);
    });
  }

  test("a run of several steps: client and server tools, then an approval, over Connect", { timeout: 60_000 }, async () => {
    const ran: string[] = [];
    const session = openSession(createNodeClient({ baseUrl: server.url }), "ts-tools-steps", { tools: [weatherTool(ran)] });
    const paused = await session.send(`${paris} get_time then transfer {"amount":100,"to":"bob"}`);
    assert.equal(paused.status, "paused");
    const [ask] = paused.approvalRequests();
    assert.equal(ask?.name, "transfer");
    assert.ok(ask.approvalId, "the server issued an approval request");
    assert.deepEqual(describeRun(paused).steps, [
      { text: "Calling get_weather, get_time. ", calls: [`get_weather DONE ${sunny}`, "get_time DONE 2030-01-01T12:00:00Z"] },
      { text: "Calling transfer. ", calls: ["transfer AWAITING_APPROVAL "] },
    ]);
    const done = await session.approve(ask.id, { reason: "bob is owed it", approvalId: ask.approvalId });
    assert.equal(done, paused, "the same run, gone on");
    assert.equal(done.status, "ended");
    assert.deepEqual(ask.decision, { approved: true, reason: "bob is owed it", decidedBy: "anonymous", approvalId: ask.approvalId });
    assert.equal(ask.state, ToolCallState.DONE);
    assert.equal(done.steps[2].text, `Done: get_weather → ${sunny}; get_time → 2030-01-01T12:00:00Z; transfer → transferred 100 to bob.`);
    assert.equal(ran.length, 1);
  });
});

suite("approvals", () => {
  test("approved on the socket: the server tool runs and the reply follows", { timeout: 60_000 }, async () => {
    const w = watch();
    const socket = connectSocket({ baseUrl: server.url, agentId: "ts-approve", onRun: w.onRun });
    try {
      await socket.opened();
      await socket.sendMessage('transfer {"amount":100}');
      const paused = await w.until((r) => r.status === "paused", "paused");
      const [ask] = paused.approvalRequests();
      assert.equal(ask.state, ToolCallState.AWAITING_APPROVAL);
      assert.equal(ask.kind, ToolCallKind.SERVER);
      const res = await socket.approve(ask.id, { reason: "rent is due" });
      assert.equal(res.runResumed, true);
      const run = await w.until((r) => r === paused && r.status === "ended", "ended");
      assert.equal(ask.decision?.approved, true);
      assert.equal(ask.result, "transferred 100 to the landlord");
      assert.equal(run.steps[1].text, "Done: transfer → transferred 100 to the landlord.");
      // A decision is final: another is refused, and changes nothing.
      await assert.rejects(socket.deny(ask.id), (err: { code?: string }) => err.code === "already_exists");
    } finally {
      closing(socket);
    }
  });

  test("denied over Connect: the model is told, with the reason", { timeout: 60_000 }, async () => {
    const session = openSession(createNodeClient({ baseUrl: server.url, protocol: "grpc" }), "ts-deny");
    const paused = await session.send('transfer {"amount":5000}');
    const [ask] = paused.approvalRequests();
    const run = await session.deny(ask.id, { reason: "too much" });
    assert.equal(run.status, "ended");
    assert.equal(ask.state, ToolCallState.DENIED);
    assert.equal(ask.isError, true);
    assert.deepEqual(ask.decision, { approved: false, reason: "too much", decidedBy: "anonymous", approvalId: ask.approvalId });
    assert.match(ask.result ?? "", /denied.*too much/);
    assert.equal(run.steps[1].text, `Done: transfer failed: ${ask.result}.`);
  });
});

suite("a reload", () => {
  test("on the socket, shows the pending call and the approval request, and answers", { timeout: 60_000 }, async () => {
    // The first page lends get_weather without running it: it is told of
    // the call, and goes away without answering.
    const told: RunToolCall[] = [];
    const w1 = watch();
    const before = connectSocket({
      baseUrl: server.url,
      agentId: "ts-reload",
      tools: [defineTool({ name: "get_weather", parameters: { type: "object" } })],
      onToolCall: (c) => told.push(c),
      onRun: w1.onRun,
    });
    await before.opened();
    await before.sendMessage(`${paris} then transfer {"amount":1}`);
    await w1.until((r) => r.status === "paused", "paused");
    assert.deepEqual(told.map((c) => c.name), ["get_weather"]);
    before.close();

    // The reloaded page replays the log: the call is pending, and its tool
    // runs once the replay is complete; the run then pauses for approval.
    const ran: string[] = [];
    const w2 = watch();
    const seen: string[] = [];
    const after = connectSocket({
      baseUrl: server.url,
      agentId: "ts-reload",
      afterSeq: 0n,
      tools: [weatherTool(ran)],
      onRun: (r) => {
        seen.push(r.status);
        w2.onRun(r);
      },
    });
    try {
      const asks = await w2.until((r) => r.approvalRequests().length === 1, "waiting for approval");
      assert.equal(seen[0], "paused", "the replay showed the paused run first");
      assert.equal(ran.length, 1);
      assert.equal(asks.toolCalls()[0].result, sunny);

      // Reloaded once more, while it waits for the decision: the request
      // is there, with its approval id, and can be decided.
      const w3 = watch();
      const third = connectSocket({ baseUrl: server.url, agentId: "ts-reload", afterSeq: 0n, onRun: w3.onRun });
      try {
        const run = await w3.until((r) => r.approvalRequests().length === 1, "waiting for approval");
        const [ask] = run.approvalRequests();
        assert.equal(ask.approvalId, asks.approvalRequests()[0].approvalId);
        await third.approve(ask.id, { approvalId: ask.approvalId });
        await w3.until((r) => r.status === "ended", "ended");
        await w2.until((r) => r.status === "ended", "ended on the other page");
      } finally {
        closing(third);
      }
      assert.equal(ran.length, 1, "the tool ran once");
    } finally {
      closing(after);
    }
  });

  test("over Connect, load shows the pending call, and an answer typed by a person goes on with the run", { timeout: 60_000 }, async () => {
    const client = createNodeClient({ baseUrl: server.url });
    const agentId = "ts-reload-connect";
    // Another client lends the tool and leaves the call unanswered.
    await client.sendMessage({ agentId, text: paris, tools: toolDefs([weatherTool([])]) });

    const told: RunToolCall[] = [];
    const session = openSession(client, agentId, { onToolCall: (c) => told.push(c) });
    await session.load();
    const run = session.runs.latest!;
    assert.equal(run.status, "paused");
    const [call] = session.runs.pendingCalls();
    assert.equal(call.name, "get_weather");
    assert.deepEqual(told, [call], "told of the call once");
    assert.equal(session.lastSeq, 2n);

    const done = await session.submitToolResult(call.id, { output: "cloudy" });
    assert.equal(done, run);
    assert.equal(done.status, "ended");
    assert.equal(done.steps[1].text, "Done: get_weather → cloudy.");
  });
});

suite("exactly once", () => {
  test("a call delivered twice (history and replay) runs once; one replayed with its answer never runs", { timeout: 60_000 }, async () => {
    const client = createNodeClient({ baseUrl: server.url });
    const agentId = "ts-twice";
    await client.sendMessage({ agentId, text: paris, tools: toolDefs([weatherTool([])]) });

    const ran: string[] = [];
    const w = watch();
    const socket = connectSocket({ baseUrl: server.url, agentId, afterSeq: 0n, tools: [weatherTool(ran)], onRun: w.onRun });
    try {
      await socket.opened();
      await socket.loadHistory(); // the same events again, in a response
      await w.until((r) => r.status === "ended", "ended");
      assert.equal(ran.length, 1);
      await submitted(agentId);
    } finally {
      closing(socket);
    }

    // A page that replays the log meets the call pending, then its answer:
    // it runs nothing.
    const again: string[] = [];
    const w2 = watch();
    const later = connectSocket({ baseUrl: server.url, agentId, afterSeq: 0n, tools: [weatherTool(again)], onRun: w2.onRun });
    try {
      await w2.until((r) => r.status === "ended", "ended");
      await later.loadHistory();
      const fresh = openSession(client, agentId, { tools: [weatherTool(again)] });
      await fresh.load();
      assert.deepEqual(again, [], "no tool ran again");
    } finally {
      closing(later);
    }
  });
});

suite("with users' tokens", () => {
  let jwtServer: Server;
  before(async () => {
    jwtServer = await startToolGateway(jwtEnv);
  });
  after(async () => {
    assert.equal(await jwtServer.stop(), 0);
  });

  test("a result lost with its socket (4001) is sent again after the reconnect, and the tool ran once", { timeout: 60_000 }, async () => {
    // getToken cannot refresh in time, so the socket is closed with 4001
    // while the tool runs; the tool returns only then.
    const short = mint(2);
    let expired = false;
    let closedNow: () => void = () => {};
    const closed = new Promise<void>((resolve) => (closedNow = resolve));
    const ran: string[] = [];
    const closes: number[] = [];
    const w = watch();
    const slow = defineTool<{ city: string }>({
      name: "get_weather",
      parameters: { type: "object" },
      execute: async ({ city }, call) => {
        ran.push(call.id);
        await closed;
        return `rainy in ${city}`;
      },
    });
    const socket = connectSocket({
      baseUrl: jwtServer.url,
      agentId: "alice:ts-lost",
      getToken: () => (expired ? mint(3600) : short),
      tools: [slow],
      onRun: w.onRun,
      onState: (state, code) => {
        if (state !== "closed") return;
        closes.push(code!);
        expired = true;
        closedNow();
      },
      baseDelayMs: 50,
    });
    try {
      await socket.opened();
      await socket.sendMessage(paris);
      const run = await w.until((r) => r.status === "ended", "ended");
      assert.deepEqual(closes, [4001]);
      assert.equal(socket.connections, 2);
      assert.equal(ran.length, 1, "the tool ran once");
      assert.equal(run.steps[1].text, "Done: get_weather → rainy in Paris.");
    } finally {
      closing(socket);
    }
  });
});
