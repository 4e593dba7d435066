// The AI SDK door in a real browser (Debian's chromium, driven by
// playwright-core): a page on another origin streams a reply through the
// ai package's transport (bundled locally with esbuild), across CORS with
// a bearer token, while the gateway's console in another tab sees the same
// conversation over the WebSocket.
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { build } from "esbuild";
import { chromium, type Browser } from "playwright-core";
import { freePort } from "../../ts/test/ports.js";
import { history, startGateway } from "./gateway.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const token = "door-browser-token-0123456789";

let browser: Browser;

before(async () => {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 60_000,
    args: [
      "--no-sandbox",
      "--disable-dev-shm-usage",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

const chatPage = `<!doctype html><meta charset="utf-8"><title>useChat page</title>
<form id="form"><input id="text" autocomplete="off"><button>Send</button></form>
<p id="reply"></p><script type="module" src="/chat.js"></script>`;

/** servePage serves a page (html) and the bundle of its script (entry, at /chat.js) on a loopback port of its own. */
async function servePage(entry = "chat.ts", html = chatPage): Promise<{ origin: string; close: () => Promise<void> }> {
  const bundle = await build({
    entryPoints: [path.join(here, "page", entry)],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0].text;
  const srv = http.createServer((req, res) => {
    if (req.url?.startsWith("/chat.js")) {
      res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    } else {
      res.writeHead(200, { "content-type": "text/html" }).end(html);
    }
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const { port } = srv.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => srv.close(() => resolve())),
  };
}

test("a useChat-style page streams the reply, and the console sees the conversation", { timeout: 120_000 }, async () => {
  const page = await servePage();
  const port = await freePort();
  const gw = await startGateway({
    PORT: String(port),
    AUTH_TOKENS: token,
    ECHO_DELAY: "100ms",
    // The page's origin (the AI SDK door, across CORS) and the gateway's
    // own (the console's WebSocket).
    ALLOWED_ORIGINS: `${page.origin},http://127.0.0.1:${port}`,
  });
  const ctx = await browser.newContext();
  try {
    const errors: Error[] = [];
    const consoleTab = await ctx.newPage();
    consoleTab.on("pageerror", (e) => errors.push(e));
    await consoleTab.addInitScript((tok) => sessionStorage.setItem("agentgate.token", tok), token);
    await consoleTab.goto(`${gw.url}/console?agent=browser-door`);
    await consoleTab.locator('#status[data-state="open"]').waitFor();

    const chatTab = await ctx.newPage();
    chatTab.on("pageerror", (e) => errors.push(e));
    const q = new URLSearchParams({ gateway: gw.url, agent: "browser-door", token });
    await chatTab.goto(`${page.origin}/?${q}`);
    await chatTab.fill("#text", "slow hello from the page");
    await chatTab.press("#text", "Enter");
    await chatTab.locator('#reply[data-state="done"]').waitFor({ timeout: 30_000 });
    assert.equal(await chatTab.textContent("#reply"), "hello from the page");
    const streamed = await chatTab.evaluate(() => (window as unknown as { streamed: string[] }).streamed);
    assert.deepEqual(streamed, ["hello ", "hello from ", "hello from the ", "hello from the page"], "the deltas arrived one by one");

    const want = ["user #1: slow hello from the page", "assistant #2: hello from the page"];
    await consoleTab.waitForFunction((w) => {
      const got = Array.from(document.querySelectorAll<HTMLElement>("#messages > li:not(.empty)"), (li) =>
        `${li.dataset.role} #${li.dataset.seq ?? "?"}: ${li.querySelector(".text")?.textContent}`,
      );
      return JSON.stringify(got) === JSON.stringify(w);
    }, want, { timeout: 20_000 });
    assert.deepEqual(errors.map(String), [], "no script errors");
  } finally {
    await ctx.close();
    assert.equal(await gw.stop(), 0);
    await page.close();
  }
});

test("a page lends a tool: the agent calls it, the page runs it, the run goes on", { timeout: 120_000 }, async () => {
  const page = await servePage(
    "tools.ts",
    `<!doctype html><meta charset="utf-8"><title>The tools page</title>
<form id="form"><input id="text" autocomplete="off"><button>Send</button></form>
<p id="reply"></p><script type="module" src="/chat.js"></script>`,
  );
  const gw = await startGateway({ AUTH_TOKENS: token, ALLOWED_ORIGINS: page.origin });
  const ctx = await browser.newContext();
  try {
    const errors: Error[] = [];
    const tab = await ctx.newPage();
    tab.on("pageerror", (e) => errors.push(e));
    const q = new URLSearchParams({ gateway: gw.url, agent: "browser-tools", token });
    await tab.goto(`${page.origin}/?${q}`);
    await tab.fill("#text", "get_page_title");
    await tab.press("#text", "Enter");
    await tab.locator('#reply[data-state="done"]').waitFor({ timeout: 30_000 });
    assert.equal(await tab.textContent("#reply"), "Calling get_page_title. Done: get_page_title → The tools page.");
    const ran = await tab.evaluate(() => (window as unknown as { ran: string[] }).ran);
    assert.equal(ran.length, 1, "the page ran the call once");
    const log = await history(gw, "browser-tools", { Authorization: `Bearer ${token}` });
    const result = log.find((e) => e.toolCallResult)?.toolCallResult;
    assert.equal(result?.toolCallId, ran[0]);
    assert.equal(result?.content, "The tools page");
    assert.deepEqual(errors.map(String), [], "no script errors");
  } finally {
    await ctx.close();
    assert.equal(await gw.stop(), 0);
    await page.close();
  }
});
