// Starts the gateway for the doors' tests: the whole gateway with the
// scripted responder of internal/door/doortest (tool calls, run errors and
// slow replies on demand), built from this tree, on a loopback port, and
// stops it by its PID.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, renameSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export { startRedis, type Redis } from "../../ts/test/ports.js";

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

let built: Promise<string> | undefined;

/**
 * gatewayBinary is $DOORTEST_BIN when set, else a build of
 * ./internal/door/doortest/gateway into bin/ (once per test process).
 */
function gatewayBinary(): Promise<string> {
  if (process.env.DOORTEST_BIN) return Promise.resolve(process.env.DOORTEST_BIN);
  built ??= (async () => {
    const out = path.join(repoRoot, "bin", "doortest-gateway");
    mkdirSync(path.dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}`;
    await promisify(execFile)("go", ["build", "-o", tmp, "./internal/door/doortest/gateway"], { cwd: repoRoot });
    renameSync(tmp, out);
    return out;
  })();
  return built;
}

/** A running gateway process. */
export interface Gateway {
  url: string;
  proc: ChildProcess;
  logs: string[];
  /** stop sends SIGTERM and waits for the exit (SIGKILL after 15s). */
  stop(): Promise<number | null>;
}

/** startGateway runs the gateway with env and resolves once it serves (30s at most). */
export async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const bin = await gatewayBinary();
  const proc = spawn(bin, [], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const logs: string[] = [];
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start in 30s:\n${logs.join("\n")}`)), 30_000);
    createInterface({ input: proc.stderr! }).on("line", (line) => {
      logs.push(line);
      try {
        const rec = JSON.parse(line);
        if (rec.msg === "serving" && rec.addr) {
          clearTimeout(timer);
          resolve(rec.addr);
        }
      } catch {
        // Not JSON: kept in logs only.
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before serving:\n${logs.join("\n")}`));
    });
  });
  const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    logs,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const kill = setTimeout(() => proc.kill("SIGKILL"), 15_000);
      try {
        return await exited;
      } finally {
        clearTimeout(kill);
      }
    },
  };
}

/** history reads an agent's persisted events through the Connect API (JSON). */
export async function history(gw: Gateway, agentId: string, headers: Record<string, string> = {}): Promise<any[]> {
  const res = await fetch(`${gw.url}/agent.v1.AgentService/GetHistory`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ agentId }),
  });
  if (!res.ok) throw new Error(`GetHistory: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { events?: any[] };
  return body.events ?? [];
}
