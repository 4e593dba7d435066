// The console page in a real browser (Debian's chromium, driven by
// playwright-core) against the real server binary: it sends and streams, two
// pages share an agent, a restart is survived with resume, a disallowed
// origin cannot open the socket, and a refused page says why, a user's token
// that may not administer the agent among the refused. Against the gateway
// with a scripted model that calls tools: an approval asked and given from
// the page, a client tool's call answered from it, both again after reloads.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, afterEach, before, test } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createNodeClient } from "../src/index.js";
import { freePort, startRedis } from "./ports.js";
import { startServer, startToolGateway } from "./server.js";
import { jwtEnv, mint, operatorScope } from "./tokens.js";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// A name for an allowed origin that resolves to loopback inside the browser.
const allowedHost = "console.allowed.test";

let browser: Browser;

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 60_000,
    // No sandbox (tests may run as root), no reliance on a large /dev/shm
    // (containers have 64 MiB), and none of chromium's own network traffic:
    // the machine is offline apart from loopback.
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--host-resolver-rules=MAP ${allowedHost} 127.0.0.1`,
    ],
  });
});

after(async () => {
  await browser?.close();
});

// The browser contexts of the running test, closed when it ends.
const contexts: BrowserContext[] = [];

async function closePages() {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
}

afterEach(closePages);

/** A console page and the script errors it raised. */
interface ConsolePage {
  page: Page;
  errors: Error[];
}

/**
 * openConsole opens base/console for agent and waits until the socket is
 * open. setup prepares the browser context first.
 */
async function openConsole(base: string, agent: string, waitOpen = true, setup?: (ctx: BrowserContext) => Promise<unknown>): Promise<ConsolePage> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(ctx);
  await setup?.(ctx);
  const page = await ctx.newPage();
  const errors: Error[] = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${base}/console?agent=${encodeURIComponent(agent)}`);
  if (waitOpen) await page.locator('#status[data-state="open"]').waitFor();
  return { page, errors };
}

async function send(page: Page, text: string) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/**
 * conversation describes the messages pane: "user #1: hi",
 * "assistant #2: echo: hi", "--- <divider text>".
 */
function conversation(page: Page): Promise<string[]> {
  return page.evaluate(readConversation);
}

function readConversation(): string[] {
  return Array.from(document.querySelectorAll<HTMLElement>("#messages > li:not(.empty)"), (li) =>
    li.classList.contains("divider")
      ? `--- ${li.textContent}`
      : `${li.dataset.role} #${li.dataset.seq ?? "?"}: ${li.querySelector(".text")?.textContent}`,
  );
}

/** waitForConversation waits until the messages pane shows exactly want. */
async function waitForConversation(page: Page, want: string[], timeout = 30_000) {
  try {
    await page.waitForFunction(conversationIs, want, { timeout });
  } catch (err) {
    assert.deepEqual(await conversation(page), want, `the conversation did not become as expected: ${err}`);
  }
}

// conversationIs runs in the page: it repeats readConversation, since a
// function passed to the page cannot call another.
function conversationIs(want: string[]): boolean {
  const got = Array.from(document.querySelectorAll<HTMLElement>("#messages > li:not(.empty)"), (li) =>
    li.classList.contains("divider")
      ? `--- ${li.textContent}`
      : `${li.dataset.role} #${li.dataset.seq ?? "?"}: ${li.querySelector(".text")?.textContent}`,
  );
  return JSON.stringify(got) === JSON.stringify(want);
}

/** eventKinds lists the kinds of the events pane, connection lines included. */
function eventKinds(page: Page): Promise<string[]> {
  return page.$$eval("#events li", (lis) => lis.map((li) => li.className.replace(/^k-/, "")));
}

/** waitForLogLine waits for an events-pane line of kind whose text contains text. */
async function waitForLogLine(page: Page, kind: string, text: string) {
  await page.locator(`#events li.k-${kind}`, { hasText: text }).first().waitFor({ timeout: 20_000 });
}

function noErrors(...pages: ConsolePage[]) {
  for (const p of pages) assert.deepEqual(p.errors.map(String), [], "the page raised no script errors");
}

test("the console sends a message and shows the reply streaming in", { timeout: 120_000 }, async () => {
  // A pause before each delta makes the streaming visible to the page.
  const server = await startServer({ ECHO_DELAY: "100ms" });
  try {
    const cp = await openConsole(server.url, "browser-send");
    const { page } = cp;
    // Record every text the reply bubble shows while it streams.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { streamed: string[] }).streamed = seen;
      new MutationObserver(() => {
        const text = document.querySelector(".msg.streaming .text")?.textContent;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
      }).observe(document.getElementById("messages")!, { subtree: true, childList: true, characterData: true });
    });
    await send(page, "hello browser");
    await waitForConversation(page, ["user #1: hello browser", "assistant #2: echo: hello browser"]);

    const streamed = await page.evaluate(() => (window as unknown as { streamed: string[] }).streamed);
    assert.deepEqual(streamed, ["echo: ", "echo: hello ", "echo: hello browser"], "the deltas arrived one by one");
    assert.deepEqual(await eventKinds(page), [
      "conn", // open
      "message",
      "runStarted",
      "textDelta",
      "textDelta",
      "textDelta",
      "message",
    ]);
    assert.equal(await page.locator(".msg.streaming").count(), 0, "the reply is final");
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("two pages on one agent see each other's messages", { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    const a = await openConsole(server.url, "browser-shared");
    const b = await openConsole(server.url, "browser-shared");
    await send(a.page, "from page A");
    const afterA = ["user #1: from page A", "assistant #2: echo: from page A"];
    await waitForConversation(a.page, afterA);
    await waitForConversation(b.page, afterA);
    await send(b.page, "from page B");
    const both = [...afterA, "user #3: from page B", "assistant #4: echo: from page B"];
    await waitForConversation(b.page, both);
    await waitForConversation(a.page, both);
    // A third page opened later replays the whole conversation.
    const c = await openConsole(server.url, "browser-shared");
    await waitForConversation(c.page, both);
    noErrors(a, b, c);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("after a restart without Redis, the page reconnects and reloads the new history", { timeout: 120_000 }, async () => {
  let server = await startServer();
  const port = String(server.port);
  try {
    const cp = await openConsole(server.url, "browser-restart");
    const { page } = cp;
    await send(page, "before the restart");
    const before = ["user #1: before the restart", "assistant #2: echo: before the restart"];
    await waitForConversation(page, before);

    assert.equal(await server.stop(), 0);
    await waitForLogLine(page, "conn", "closed 1001");
    await page.locator('#status[data-state="reconnecting"]').waitFor();

    // The new process starts with empty logs: the agent's seq begins again
    // at 1. Whether the page reconnects before or after this message, it
    // must notice and show the new history from its start.
    server = await startServer({ PORT: port });
    const client = createNodeClient({ baseUrl: server.url });
    const res = await client.sendMessage({ agentId: "browser-restart", text: "while the page was away" });
    assert.equal(res.reply?.seq, 2n);

    await waitForConversation(page, [
      ...before,
      "--- The server's history started over (a restart without Redis?) — showing it from the beginning",
      "user #1: while the page was away",
      "assistant #2: echo: while the page was away",
    ]);
    await page.locator('#status[data-state="open"]').waitFor();
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("after a restart with Redis, the page resumes with after_seq and shows what it missed", { timeout: 120_000 }, async () => {
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url };
  let first = await startServer(env);
  const port = String(first.port);
  const replica = await startServer(env);
  try {
    const cp = await openConsole(first.url, "browser-resume");
    const { page } = cp;
    await send(page, "before the restart");
    const before = ["user #1: before the restart", "assistant #2: echo: before the restart"];
    await waitForConversation(page, before);

    assert.equal(await first.stop(), 0);
    await waitForLogLine(page, "conn", "closed 1001");

    // While the page's server is down, another replica takes a message.
    const client = createNodeClient({ baseUrl: replica.url });
    const res = await client.sendMessage({ agentId: "browser-resume", text: "while the page was away" });
    assert.equal(res.reply?.seq, 4n);

    first = await startServer({ ...env, PORT: port });
    await waitForLogLine(page, "conn", "open, after_seq=2");
    await waitForConversation(page, [...before, "user #3: while the page was away", "assistant #4: echo: while the page was away"]);
    noErrors(cp);
  } finally {
    await closePages();
    await first.stop();
    await replica.stop();
    await redis.stop();
  }
});

/** upgradeStatus tries a WebSocket upgrade from Node with an Origin header. */
function upgradeStatus(url: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        Origin: origin,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode!);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on("error", reject);
    req.end();
  });
}

test("with ALLOWED_ORIGINS, a page from another origin cannot open the socket", { timeout: 120_000 }, async () => {
  const port = await freePort();
  const allowed = `http://${allowedHost}:${port}`;
  const server = await startServer({ PORT: String(port), ALLOWED_ORIGINS: allowed });
  try {
    // The same console, loaded from an allowed origin, works.
    const good = await openConsole(allowed, "browser-origin");
    await send(good.page, "from an allowed origin");
    await waitForConversation(good.page, ["user #1: from an allowed origin", "assistant #2: echo: from an allowed origin"]);

    // Loaded from http://127.0.0.1:PORT, an origin not in the list, it is
    // refused before the upgrade: the browser sees the socket close (1006)
    // without ever opening (the page then says why: see the test below).
    const bad = await openConsole(server.url, "browser-origin", false);
    await waitForLogLine(bad.page, "conn", "closed 1006");
    assert.ok(!(await eventKinds(bad.page)).includes("message"), "no event reached the refused page");
    assert.equal(await bad.page.locator("#events li.k-conn", { hasText: "open" }).count(), 0, "the socket never opened");
    const probe = await bad.page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/ws/agent/browser-origin`);
          ws.onopen = () => resolve("open");
          ws.onclose = (e) => resolve(`closed ${e.code}`);
        }),
    );
    assert.equal(probe, "closed 1006");

    // On the wire, the refusal is 403 before the upgrade.
    const ws = `${server.url}/ws/agent/browser-origin`;
    assert.equal(await upgradeStatus(ws, server.url), 403);
    assert.equal(await upgradeStatus(ws, allowed), 101);
    noErrors(good, bad);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("with AUTH_TOKENS, the console sends its token as a subprotocol", { timeout: 120_000 }, async () => {
  const server = await startServer({ AUTH_TOKENS: "s3cret-console-token-0123" });
  try {
    // Without a token the upgrade is refused (401): the socket never opens.
    const anon = await openConsole(server.url, "browser-auth", false);
    await waitForLogLine(anon.page, "conn", "closed 1006");

    // With the token typed into the field, it opens and talks.
    const cp = await openConsole(server.url, "browser-auth", false);
    const { page } = cp;
    const socketURLs: string[] = [];
    page.on("websocket", (ws) => socketURLs.push(ws.url()));
    await page.fill("#token", "s3cret-console-token-0123");
    await page.click("#open");
    await page.locator('#status[data-state="open"]').waitFor();
    await send(page, "with a token");
    const want = ["user #1: with a token", "assistant #2: echo: with a token"];
    await waitForConversation(page, want);
    // The tab keeps the token across a reload.
    await page.reload();
    await page.locator('#status[data-state="open"]').waitFor();
    await waitForConversation(page, want);
    assert.ok(socketURLs.length >= 2, `sockets opened: ${socketURLs}`);
    assert.ok(!socketURLs.some((u) => u.includes("s3cret")), `the token stays out of the URL: ${socketURLs}`);
    noErrors(anon, cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("screenshot of a conversation with a tool call answered and an approval asked", { timeout: 120_000 }, async () => {
  const server = await startToolGateway({ CLIENT_TOOLS: weatherTools });
  const out = process.env.CONSOLE_SCREENSHOT ?? path.join(os.tmpdir(), "agentgate-console.png");
  try {
    const cp = await openConsole(server.url, "demo");
    const { page } = cp;
    await send(page, "Hello! Is the gateway up?");
    await page.locator('.msg[data-role="assistant"][data-seq="2"]').waitFor({ timeout: 20_000 });
    await send(page, 'get_weather {"city":"Paris"} get_time then transfer {"amount":1200,"to":"the landlord"}');
    await answerCall(page, '{"sky":"sunny","celsius":21}');
    const ask = toolCall(page, "TOOL_CALL_STATE_AWAITING_APPROVAL");
    await ask.locator(".reason").fill("rent for June");
    mkdirSync(path.dirname(out), { recursive: true });
    await page.screenshot({ path: out });
    await waitForConversation(page, [
      "user #1: Hello! Is the gateway up?",
      "assistant #2: echo: Hello! Is the gateway up?",
      'user #3: get_weather {"city":"Paris"} get_time then transfer {"amount":1200,"to":"the landlord"}',
      "assistant #4: Calling get_weather, get_time. ",
      "assistant #6: Calling transfer. ",
    ]);
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("refused, the console says why in words and stops retrying where retrying cannot help", { timeout: 120_000 }, async () => {
  const port = await freePort();
  const allowed = `http://${allowedHost}:${port}`;
  const token = "s3cret-console-token-4567";
  const server = await startServer({ PORT: String(port), AUTH_TOKENS: token, ALLOWED_ORIGINS: allowed });
  try {
    const cases: { name: string; base: string; token: string; says: string }[] = [
      { name: "no token", base: allowed, token: "", says: "needs a token" },
      { name: "a wrong token", base: allowed, token: "wrong-console-token-0000", says: "not one of this gateway's AUTH_TOKENS" },
      { name: "a foreign origin", base: server.url, token, says: "is not in the gateway's ALLOWED_ORIGINS" },
    ];
    for (const c of cases) {
      const cp = await openConsole(c.base, "browser-refused", false);
      const sockets: string[] = [];
      cp.page.on("websocket", (ws) => sockets.push(ws.url()));
      if (c.token) {
        await cp.page.fill("#token", c.token);
        await cp.page.click("#open");
      }
      const status = cp.page.locator('#status[data-state="refused"]');
      await status.waitFor({ timeout: 20_000 });
      const text = (await cp.page.locator("#status-text").textContent()) ?? "";
      assert.ok(text.includes(c.says), `${c.name}: the page says ${JSON.stringify(text)}`);
      assert.ok(!text.includes(token), `${c.name}: the page shows no token`);
      // No retry: the first backoff would have reconnected within 500 ms.
      const seen = sockets.length;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(sockets.length, seen, `${c.name}: the page kept retrying: ${sockets}`);
      assert.equal(await cp.page.locator('#status[data-state="refused"]').count(), 1, `${c.name}: the reason stays on the page`);
      noErrors(cp);
    }
    // From the allowed origin with the token, the same page connects.
    const ok = await openConsole(allowed, "browser-refused", false);
    await ok.page.fill("#token", token);
    await ok.page.click("#open");
    await ok.page.locator('#status[data-state="open"]').waitFor();
    noErrors(ok);
  } finally {
    await closePages();
    await server.stop();
  }
});

/** connLines lists the events pane's connection lines. */
function connLines(page: Page): Promise<string[]> {
  return page.$$eval("#events li.k-conn", (lis) => lis.map((li) => li.lastElementChild?.textContent ?? ""));
}

test("with users' tokens, the console refreshes its token on the open socket and keeps it", { timeout: 120_000 }, async () => {
  const server = await startServer(jwtEnv);
  try {
    let tokens = 0;
    // The page that embeds the console gives it its tokens, of two seconds.
    const cp = await openConsole(server.url, "alice:console", true, (ctx) =>
      ctx.exposeFunction("agentgateGetToken", () => {
        tokens++;
        return mint(2, operatorScope);
      }),
    );
    const { page } = cp;
    const want: string[] = [];
    const until = Date.now() + 4500;
    for (let i = 1; Date.now() < until; i++) {
      await send(page, `m${i}`);
      want.push(`user #${2 * i - 1}: m${i}`, `assistant #${2 * i}: echo: m${i}`);
      await waitForConversation(page, want);
    }
    const conns = await connLines(page);
    assert.equal(conns.filter((l) => l.startsWith("open")).length, 1, `one socket: ${conns}`);
    assert.ok(conns.filter((l) => l.startsWith("token refreshed")).length >= 2, `refreshed: ${conns}`);
    assert.ok(!conns.some((l) => l.startsWith("closed")), `never closed: ${conns}`);
    assert.ok(tokens >= 3, `getToken was called ${tokens} times`);
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("a console whose token expired reconnects with a fresh one and resumes, or says so", { timeout: 120_000 }, async () => {
  const server = await startServer(jwtEnv);
  try {
    // The embedding page cannot refresh in time: it gives the same token
    // again until the socket is closed, then a fresh one.
    const short = mint(2, operatorScope);
    let calls = 0;
    const cp = await openConsole(server.url, "alice:console-expired", true, (ctx) =>
      ctx.exposeFunction("agentgateGetToken", () => (++calls <= 2 ? short : mint(3600, operatorScope))),
    );
    const { page } = cp;
    await send(page, "before");
    await waitForConversation(page, ["user #1: before", "assistant #2: echo: before"]);
    await waitForLogLine(page, "conn", "closed 4001");
    await page.locator('#status[data-state="open"]').waitFor();
    await send(page, "after");
    await waitForConversation(page, ["user #1: before", "assistant #2: echo: before", "user #3: after", "assistant #4: echo: after"]);
    const conns = await connLines(page);
    assert.deepEqual(conns.filter((l) => l.startsWith("open")), ["open, after_seq=0", "open, after_seq=2"], `${conns}`);
    noErrors(cp);

    // A token typed into the field, with nothing fresher at hand: the page
    // says the token expired, and waits for a new one.
    const typed = await openConsole(server.url, "alice:console-typed", false);
    await typed.page.fill("#token", mint(2, operatorScope));
    await typed.page.click("#open");
    await typed.page.locator('#status[data-state="open"]').waitFor();
    await typed.page.locator('#status[data-state="refused"]').waitFor({ timeout: 20_000 });
    assert.match((await typed.page.locator("#status-text").textContent()) ?? "", /token expired/);
    await typed.page.fill("#token", mint(3600, operatorScope));
    await typed.page.click("#open");
    await typed.page.locator('#status[data-state="open"]').waitFor();
    noErrors(typed);
  } finally {
    await closePages();
    await server.stop();
  }
});

// The tool loop in the console, against the gateway with a scripted model
// that calls the tools a message names (internal/tooltest): transfer, a
// server tool, waits for approval; get_weather is a client tool of
// CLIENT_TOOLS, which the operator answers.

const weatherTools = JSON.stringify([
  { name: "get_weather", description: "The weather in a city.", parameters: { type: "object", properties: { city: { type: "string" } } } },
]);

/** toolCall is the page's line of the (one) tool call in state. */
function toolCall(page: Page, state: string) {
  return page.locator(`.tool[data-state="${state}"]`);
}

/** answerCall types output as the result of the pending client call and sends it. */
async function answerCall(page: Page, output: string) {
  const call = toolCall(page, "TOOL_CALL_STATE_PENDING");
  await call.locator(".answer-text").fill(output);
  await call.getByRole("button", { name: "Send result" }).click();
}

/** toolLines describes the tool calls on the page: "name kind: state → result decision". */
function toolLines(page: Page): Promise<string[]> {
  return page.$$eval(".tool", (ts) =>
    ts.map((t) =>
      [t.querySelector(".name")?.textContent, t.querySelector(".kind")?.textContent + ":", t.querySelector(".state")?.textContent, t.querySelector(".result")?.textContent, t.querySelector(".decision")?.textContent]
        .filter((x) => x)
        .join(" ")
        .replace(/ · (<1|\d+) ms| · \d+\.\d s/, ""), // how long a server tool took varies
    ),
  );
}

test("an approval request has Approve and Deny; approving goes on with the run and the reply appears", { timeout: 120_000 }, async () => {
  const server = await startToolGateway();
  try {
    const cp = await openConsole(server.url, "browser-approve");
    const { page } = cp;
    await send(page, 'transfer {"amount":100}');
    const ask = toolCall(page, "TOOL_CALL_STATE_AWAITING_APPROVAL");
    await ask.getByRole("button", { name: "Approve" }).waitFor();
    assert.equal(await ask.getByRole("button", { name: "Deny" }).isVisible(), true);
    assert.equal(await ask.locator(".state").textContent(), "waiting for approval");
    assert.equal(await ask.locator(".args").textContent(), '{"amount":100}');
    await ask.locator(".reason").fill("rent is due");
    await ask.getByRole("button", { name: "Approve" }).click();
    await waitForConversation(page, [
      'user #1: transfer {"amount":100}',
      "assistant #2: Calling transfer. ",
      "assistant #5: Done: transfer → transferred 100 to the landlord.",
    ]);
    assert.deepEqual(await toolLines(page), ["transfer server: done → transferred 100 to the landlord approved by anonymous: rent is due"]);
    assert.equal(await page.locator(".tool .decide:visible").count(), 0, "no buttons once decided");
    await waitForLogLine(page, "toolCallDecision", "approved");
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("a pending client call is answered from the console", { timeout: 120_000 }, async () => {
  const server = await startToolGateway({ CLIENT_TOOLS: weatherTools });
  try {
    const cp = await openConsole(server.url, "browser-answer");
    const { page } = cp;
    await send(page, 'get_weather {"city":"Oslo"}');
    const call = toolCall(page, "TOOL_CALL_STATE_PENDING");
    await call.locator(".answer-text").waitFor();
    assert.deepEqual(await toolLines(page), ["get_weather client: waiting for a client's result"]);
    await answerCall(page, "snow, -3 °C");
    await waitForConversation(page, [
      'user #1: get_weather {"city":"Oslo"}',
      "assistant #2: Calling get_weather. ",
      "assistant #4: Done: get_weather → snow, -3 °C.",
    ]);
    assert.deepEqual(await toolLines(page), ["get_weather client: done → snow, -3 °C"]);
    assert.equal(await page.locator(".tool .answer:visible").count(), 0, "no field once answered");
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("a reloaded page shows the pending call and the approval request, and answers them", { timeout: 120_000 }, async () => {
  const server = await startToolGateway({ CLIENT_TOOLS: weatherTools });
  try {
    const cp = await openConsole(server.url, "browser-reload-tools");
    const { page } = cp;
    await send(page, 'get_weather {"city":"Rome"} then transfer {"amount":50}');
    await toolCall(page, "TOOL_CALL_STATE_PENDING").locator(".answer-text").waitFor();

    await page.reload();
    await page.locator('#status[data-state="open"]').waitFor();
    await answerCall(page, "hot");
    const ask = toolCall(page, "TOOL_CALL_STATE_AWAITING_APPROVAL");
    await ask.getByRole("button", { name: "Deny" }).waitFor();

    await page.reload();
    await page.locator('#status[data-state="open"]').waitFor();
    await ask.locator(".reason").fill("not this month");
    await ask.getByRole("button", { name: "Deny" }).click();
    await waitForConversation(page, [
      'user #1: get_weather {"city":"Rome"} then transfer {"amount":50}',
      "assistant #2: Calling get_weather. ",
      "assistant #4: Calling transfer. ",
      "assistant #7: Done: get_weather → hot; transfer failed: denied: the user did not approve this call: not this month.",
    ]);
    assert.deepEqual(await toolLines(page), [
      "get_weather client: done → hot",
      "transfer server: denied → denied: the user did not approve this call: not this month denied by anonymous: not this month",
    ]);
    noErrors(cp);
  } finally {
    await closePages();
    await server.stop();
  }
});

test("the console is refused, in words, to a user's token that may not administer the agent", { timeout: 120_000 }, async () => {
  const server = await startServer(jwtEnv);
  try {
    for (const [name, scope] of [["no scope claim (read and write)", undefined], ["read only", "agents:read"]] as const) {
      const cp = await openConsole(server.url, "alice:console-user", false, (ctx) => ctx.exposeFunction("agentgateGetToken", () => mint(3600, scope)));
      const sockets: string[] = [];
      cp.page.on("websocket", (ws) => sockets.push(ws.url()));
      await cp.page.locator('#status[data-state="refused"]').waitFor({ timeout: 20_000 });
      const text = (await cp.page.locator("#status-text").textContent()) ?? "";
      assert.match(text, /the console is for operators: .*it needs the scope agents:admin/, `${name}: the page says ${JSON.stringify(text)}`);
      const seen = sockets.length;
      await new Promise((r) => setTimeout(r, 1500)); // the first backoff would have retried within 500 ms
      assert.equal(sockets.length, seen, `${name}: the page kept retrying: ${sockets}`);
      noErrors(cp);
    }
    // The same user with agents:admin is an operator: the console opens.
    const ok = await openConsole(server.url, "alice:console-user", true, (ctx) => ctx.exposeFunction("agentgateGetToken", () => mint(3600, operatorScope)));
    noErrors(ok);
  } finally {
    await closePages();
    await server.stop();
  }
});
