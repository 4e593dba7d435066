// Starts the real server binary on a loopback port for the end-to-end tests,
// and stops it by its PID.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { mkdirSync, renameSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

const built = new Map<string, Promise<string>>();

/**
 * goBinary returns the path of a build of the Go package pkg (such as
 * "./cmd/server") into bin/name: the path in $envVar when set, else a
 * build made once per test process.
 */
function goBinary(pkg: string, name: string, envVar: string): Promise<string> {
  const given = process.env[envVar];
  if (given) return Promise.resolve(given);
  let p = built.get(pkg);
  if (!p) {
    p = (async () => {
      const out = path.join(repoRoot, "bin", name);
      mkdirSync(path.dirname(out), { recursive: true });
      // Test files run in parallel processes: each builds to its own name and
      // renames, which is atomic, so none starts a half-written binary.
      const tmp = `${out}.${process.pid}`;
      await promisify(execFile)("go", ["build", "-o", tmp, pkg], { cwd: repoRoot });
      renameSync(tmp, out);
      return out;
    })();
    built.set(pkg, p);
  }
  return p;
}

/**
 * serverBinary returns the path of the server binary: $AGENTGATE_BIN when
 * set, else a build of ./cmd/server into bin/ (once per test process).
 */
export function serverBinary(): Promise<string> {
  return goBinary("./cmd/server", "agentgate-server", "AGENTGATE_BIN");
}

/**
 * toolGatewayBinary returns the path of the tool loop's test gateway
 * (internal/tooltest/gateway: a scripted responder that calls the tools a
 * message names, and the server tools get_time, lookup and transfer):
 * $TOOLTEST_BIN when set, else a build into bin/.
 */
export function toolGatewayBinary(): Promise<string> {
  return goBinary("./internal/tooltest/gateway", "tooltest-gateway", "TOOLTEST_BIN");
}

/**
 * startToolGateway runs the tool loop's test gateway with env, transfers
 * waiting for a person's approval (TOOL_APPROVAL=transfer) unless env
 * says otherwise.
 */
export async function startToolGateway(env: Record<string, string> = {}): Promise<Server> {
  return startBinary(await toolGatewayBinary(), { TOOL_APPROVAL: "transfer", ...env });
}

/** A running server process. */
export interface Server {
  /** "127.0.0.1:PORT" */
  addr: string;
  port: number;
  /** "http://127.0.0.1:PORT" */
  url: string;
  proc: ChildProcess;
  /** Everything the server logged so far, for failure messages. */
  logs: string[];
  /**
   * waitForLog resolves with the first JSON log record, past or future,
   * for which match is true, and fails after timeoutMs.
   */
  waitForLog(match: (rec: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** stop sends SIGTERM and waits for the exit (SIGKILL after 15s). */
  stop(): Promise<number | null>;
}

/**
 * startServer runs the binary with env on 127.0.0.1 (PORT=0 unless env
 * names one) and resolves once it logs that it serves. It fails after 30s.
 */
export async function startServer(env: Record<string, string> = {}): Promise<Server> {
  return startBinary(await serverBinary(), env);
}

/**
 * awaitReady polls /health until it answers 200, for 15s at most: with Redis
 * the server listens before it has connected, and the tests mean to start
 * with a working gateway.
 */
async function awaitReady(url: string, logs: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not answering yet: poll again.
    }
    if (Date.now() > deadline) throw new Error(`server not ready in 15s:\n${logs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 10)); // a bounded poll of the probe
  }
}

/**
 * startBinary is startServer for any program that runs the gateway and logs
 * as it does (the doors' tests run one with a scripted responder).
 */
export async function startBinary(bin: string, env: Record<string, string> = {}): Promise<Server> {
  const proc = spawn(bin, [], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const logs: string[] = [];
  const lineEvents = new EventEmitter();
  const exited = once(proc, "exit").then(([code]) => code as number | null);
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 30s:\n${logs.join("\n")}`)), 30_000);
    const lines = createInterface({ input: proc.stderr! });
    lines.on("line", (line) => {
      logs.push(line);
      lineEvents.emit("line", line);
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
      reject(new Error(`server exited with ${code} before serving:\n${logs.join("\n")}`));
    });
  });
  const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
  if (env.REDIS_URL) await awaitReady(`http://127.0.0.1:${port}`, logs);
  return {
    addr: `127.0.0.1:${port}`,
    port,
    url: `http://127.0.0.1:${port}`,
    proc,
    logs,
    waitForLog(match, timeoutMs = 10_000) {
      const test = (line: string) => {
        try {
          const rec = JSON.parse(line);
          return match(rec) ? rec : undefined;
        } catch {
          return undefined;
        }
      };
      for (const line of logs) {
        const rec = test(line);
        if (rec) return Promise.resolve(rec);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          lineEvents.off("line", onLine);
          reject(new Error(`no matching log record in ${timeoutMs}ms:\n${logs.join("\n")}`));
        }, timeoutMs);
        const onLine = (line: string) => {
          const rec = test(line);
          if (!rec) return;
          clearTimeout(timer);
          lineEvents.off("line", onLine);
          resolve(rec);
        };
        lineEvents.on("line", onLine);
      });
    },
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
