// docs/clients.md's TypeScript snippet is examples/quickstart.ts, word for
// word, and it runs as the page says: `npx tsx examples/quickstart.ts` in
// clients/ts, against the server binary.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { repoRoot, startServer } from "./server.js";

const pkg = path.join(repoRoot, "clients/ts");

test("the doc's snippet is examples/quickstart.ts", () => {
  const doc = readFileSync(path.join(repoRoot, "docs/clients.md"), "utf8");
  const at = doc.indexOf("This is [`clients/ts/examples/quickstart.ts`]");
  assert.ok(at >= 0, "docs/clients.md names the example");
  const start = doc.indexOf("```ts\n", at) + "```ts\n".length;
  const snippet = doc.slice(start, doc.indexOf("```\n", start));
  assert.equal(snippet, readFileSync(path.join(pkg, "examples/quickstart.ts"), "utf8"));
});

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
