// Off-the-shelf tools against the real server binary, with no .proto file at
// hand (server reflection), as docs/clients.md shows them: grpcurl -plaintext
// (list, describe, SendMessage, Subscribe, health) and buf curl (Connect over
// HTTP/1.1, gRPC over h2c).
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, before, describe as suite, test } from "node:test";
import { repoRoot, startServer, type Server } from "./server.js";

/** grpcurl: $GRPCURL, else GOPATH/bin/grpcurl (where setup installs it), else PATH. */
function grpcurlPath(): string {
  if (process.env.GRPCURL) return process.env.GRPCURL;
  const gopath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
  const bin = path.join(gopath.split(path.delimiter)[0], "bin", "grpcurl");
  return existsSync(bin) ? bin : "grpcurl";
}

/** bufPath is the buf pinned in tools/go.mod, built by `go tool`. */
function bufPath(): string {
  return execFileSync("go", ["tool", "-n", "-modfile=tools/go.mod", "buf"], { cwd: repoRoot, encoding: "utf8" }).trim();
}

interface Result {
  stdout: string;
  stderr: string;
}

/** run runs a command to completion (60s at most) and fails on a non-zero exit. */
function run(cmd: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: repoRoot, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(cmd)} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

type Json = Record<string, any>;

/**
 * splitObjects feeds complete top-level JSON objects out of text that
 * arrives in pieces (grpcurl and buf print one pretty-printed object per
 * streamed message) and returns the unfinished rest.
 */
function splitObjects(text: string, emit: (obj: Json) => void): string {
  let depth = 0;
  let inString = false;
  let start = -1;
  let consumed = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "}" && --depth === 0) {
      emit(JSON.parse(text.slice(start, i + 1)));
      consumed = i + 1;
    }
  }
  return text.slice(consumed);
}

/** describe is test/events.ts's describe for events in protobuf JSON. */
function describe(ev: Json): string | undefined {
  if (ev.message) {
    const role = ev.message.role === "ROLE_USER" ? "user" : "assistant";
    return `message ${ev.seq} ${role}: ${ev.message.text}`;
  }
  if (ev.runStarted) return "run_started";
  if (ev.textDelta) return `delta: ${ev.textDelta.delta}`;
  return undefined;
}

function collapseDeltas(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const prev = out[out.length - 1];
    if (l.startsWith("delta: ") && prev?.startsWith("delta: ")) out[out.length - 1] = prev + l.slice(7);
    else out.push(l);
  }
  return out;
}

/**
 * subscribeOrder runs a streaming Subscribe command for an agent that has one
 * exchange already (seq 1 and 2). Once the replay has reached seq 2, the
 * stream is live: it sends a second message with sendSecond, reads until its
 * reply (seq 4), stops the command by its PID, and returns the events seen.
 */
async function subscribeOrder(cmd: string, args: string[], sendSecond: () => Promise<unknown>): Promise<string[]> {
  const proc = spawn(cmd, args, { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const seen: string[] = [];
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr += d));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply seq 4 in 30s; seen ${JSON.stringify(seen)}\n${stderr}`)), 30_000);
      let buf = "";
      let sent = false;
      proc.stdout.on("data", (d) => {
        buf = splitObjects(buf + d, (res) => {
          const ev = res.event ?? {};
          const line = describe(ev);
          if (line) seen.push(line);
          if (ev.seq === "2" && !sent) {
            sent = true;
            sendSecond().catch(reject);
          }
          if (ev.seq === "4") {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      proc.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${path.basename(cmd)} exited with ${code}; seen ${JSON.stringify(seen)}\n${stderr}`));
      });
    });
  } finally {
    proc.kill("SIGTERM");
    await exited;
  }
  return collapseDeltas(seen);
}

function expectedOrder(first: string, second: string): string[] {
  return [
    `message 1 user: ${first}`,
    `message 2 assistant: echo: ${first}`,
    `message 3 user: ${second}`,
    "run_started",
    `delta: echo: ${second}`,
    `message 4 assistant: echo: ${second}`,
  ];
}

let server: Server;
let grpcurl: string;
let buf: string;

before(async () => {
  server = await startServer();
  grpcurl = grpcurlPath();
  buf = bufPath();
});

after(async () => {
  assert.equal(await server.stop(), 0);
});

suite("grpcurl -plaintext", () => {
  // call runs grpcurl -plaintext [flags] ADDRESS [verb or method] [symbol].
  const call = (flags: string[], ...rest: string[]) => run(grpcurl, ["-plaintext", ...flags, server.addr, ...rest]);

  test("list shows the services", async () => {
    const { stdout } = await call([], "list");
    const services = stdout.trim().split("\n");
    assert.ok(services.includes("agent.v1.AgentService"), stdout);
    assert.ok(services.includes("grpc.health.v1.Health"), stdout);
  });

  test("describe shows the methods and messages", async () => {
    const { stdout } = await call([], "describe", "agent.v1.AgentService");
    assert.match(stdout, /rpc SendMessage \( \.agent\.v1\.SendMessageRequest \) returns \( \.agent\.v1\.SendMessageResponse \);/);
    assert.match(stdout, /rpc Subscribe \( \.agent\.v1\.SubscribeRequest \) returns \( stream \.agent\.v1\.SubscribeResponse \);/);
    const msg = await call([], "describe", "agent.v1.SendMessageRequest");
    assert.match(msg.stdout, /string text = 2;/);
  });

  test("SendMessage returns the message and the echo reply", async () => {
    const { stdout } = await call(["-d", '{"agent_id":"grpcurl-send","text":"hello grpcurl"}'], "agent.v1.AgentService/SendMessage");
    const res = JSON.parse(stdout);
    assert.equal(describe(res.message), "message 1 user: hello grpcurl");
    assert.equal(describe(res.reply), "message 2 assistant: echo: hello grpcurl");
    assert.equal(res.reply.message.replyToSeq, "1");
  });

  test("Subscribe streams the events in order", { timeout: 60_000 }, async () => {
    const send = (text: string) =>
      call(["-d", JSON.stringify({ agent_id: "grpcurl-subscribe", text })], "agent.v1.AgentService/SendMessage");
    await send("first");
    const seen = await subscribeOrder(
      grpcurl,
      ["-plaintext", "-d", '{"agent_id":"grpcurl-subscribe","after_seq":0}', server.addr, "agent.v1.AgentService/Subscribe"],
      () => send("second"),
    );
    assert.deepEqual(seen, expectedOrder("first", "second"));
  });

  test("the health check serves the server and the agent service", async () => {
    for (const service of ["", "agent.v1.AgentService"]) {
      const { stdout } = await call(["-d", JSON.stringify({ service })], "grpc.health.v1.Health/Check");
      assert.deepEqual(JSON.parse(stdout), { status: "SERVING" }, `service ${JSON.stringify(service)}`);
    }
  });
});

suite("buf curl", () => {
  const url = (procedure: string) => `${server.url}/${procedure}`;

  test("Connect over HTTP/1.1, with the schema from proto/", async () => {
    // Reflection needs HTTP/2, so an HTTP/1.1 call takes its schema from
    // the repository's buf module.
    const { stdout, stderr } = await run(buf, [
      "curl", "-v", "--schema", ".", "--protocol", "connect",
      "-d", '{"agent_id":"buf-connect","text":"hello buf"}', url("agent.v1.AgentService/SendMessage"),
    ]);
    assert.match(stderr, /< \(#1\) HTTP\/1\.1 200 OK/);
    const res = JSON.parse(stdout);
    assert.equal(describe(res.message), "message 1 user: hello buf");
    assert.equal(describe(res.reply), "message 2 assistant: echo: hello buf");
    await server.waitForLog((r) => r.msg === "rpc" && r.agent === "buf-connect" && r.protocol === "connect");
  });

  test("gRPC over h2c, with server reflection", async () => {
    const { stdout, stderr } = await run(buf, [
      "curl", "-v", "--protocol", "grpc", "--http2-prior-knowledge",
      "-d", '{"agent_id":"buf-grpc","text":"hello gRPC"}', url("agent.v1.AgentService/SendMessage"),
    ]);
    assert.match(stderr, /Using server reflection/);
    assert.match(stderr, /< \(#2\) HTTP\/2\.0 200 OK/);
    const res = JSON.parse(stdout);
    assert.equal(describe(res.message), "message 1 user: hello gRPC");
    assert.equal(describe(res.reply), "message 2 assistant: echo: hello gRPC");
    await server.waitForLog((r) => r.msg === "rpc" && r.agent === "buf-grpc" && r.protocol === "grpc");
  });

  test("Subscribe over gRPC streams the events in order", { timeout: 60_000 }, async () => {
    const send = (text: string) =>
      run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", JSON.stringify({ agent_id: "buf-subscribe", text }), url("agent.v1.AgentService/SendMessage")]);
    await send("first");
    const seen = await subscribeOrder(
      buf,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"agent_id":"buf-subscribe","after_seq":0}', url("agent.v1.AgentService/Subscribe")],
      () => send("second"),
    );
    assert.deepEqual(seen, expectedOrder("first", "second"));
  });

  test("the gRPC health check", async () => {
    const { stdout } = await run(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", url("grpc.health.v1.Health/Check")]);
    assert.deepEqual(JSON.parse(stdout), { status: "SERVING" });
  });
});
