// docs/clients.md's TypeScript snippets are examples/quickstart.ts and
// examples/tools.ts, word for word, and they run as the page says: `npx tsx
// examples/quickstart.ts` in clients/ts, against the server binary, and
// examples/tools.ts against the gateway with the scripted model that calls
// tools (internal/tooltest).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { repoRoot, startServer, startToolGateway } from "./server.js";

const pkg = path.join(repoRoot, "clients/ts");

/** snippet is the first ts block of docs/clients.md after the line that names file. */
function snippet(file: string): string {
  const doc = readFileSync(path.join(repoRoot, "docs/clients.md"), "utf8");
  const at = doc.indexOf(`This is [\`clients/ts/${file}\`]`);
  assert.ok(at >= 0, `docs/clients.md names ${file}`);
  const start = doc.indexOf("```ts\n", at) + "```ts\n".length;
  return doc.slice(start, doc.indexOf("```\n", start));
}

for (const file of ["examples/quickstart.ts", "examples/tools.ts"]) {
  test(`the doc's snippet is ${file}`, () => {
    assert.equal(snippet(file), readFileSync(path.join(pkg, file), "utf8"));
  });
}

test("examples/quickstart.ts runs as docs/clients.md says", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const { stdout } = await promisify(execFile)(path.join(pkg, "node_modules/.bin/tsx"), ["examples/quickstart.ts"], {
      cwd: pkg,
      env: { ...process.env, AGENTGATE_URL: server.url },
      timeout: 30_000,
    });
    const lines = stdout.split("\n");
    assert.equal(lines[0], "echo: hello", stdout);
    assert.ok(lines.includes("1n user hello"), stdout);
    assert.ok(lines.includes("2n agent echo: hello"), stdout);
  } finally {
    await server.stop();
  }
});

test("examples/tools.ts runs as docs/clients.md says", { timeout: 60_000 }, async () => {
  const server = await startToolGateway();
  try {
    const { stdout } = await promisify(execFile)(path.join(pkg, "node_modules/.bin/tsx"), ["examples/tools.ts"], {
      cwd: pkg,
      env: {
        ...process.env,
        AGENTGATE_URL: server.url,
        AGENTGATE_PROMPT: 'get_weather {"city":"Paris"} then transfer {"amount":1200}',
        NODE_OPTIONS: "--experimental-websocket", // Node 20's WebSocket; later versions ignore it
      },
      timeout: 30_000,
    });
    const weather = '{"city":"Paris","sky":"sunny","celsius":21}';
    assert.deepEqual(stdout.split("\n"), [
      'approve transfer {"amount":1200}? yes',
      "step 0: Calling get_weather. ",
      `  get_weather {"city":"Paris"} → ${weather}`,
      "step 1: Calling transfer. ",
      '  transfer {"amount":1200} → transferred 1200 to the landlord',
      `step 2: Done: get_weather → ${weather}; transfer → transferred 1200 to the landlord.`,
      `on the socket: Calling get_weather. Calling transfer. Done: get_weather → ${weather}; transfer failed: denied: the user did not approve this call: not from the socket.`,
      "",
    ]);
  } finally {
    await server.stop();
  }
});
