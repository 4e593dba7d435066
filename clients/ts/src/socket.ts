// AgentSocket: the WebSocket bridge (/ws/agent/<id>, docs/websocket.md)
// for browsers and Node ≥ 22 (or Node 20 with --experimental-websocket),
// with tokens that expire. It gets its token from a getToken callback: at
// every connection, and when the server says the token expires soon (an
// "expiring" frame), when it hands the fresh one to the open socket in a
// refresh frame and keeps the socket. If the socket is closed all the same
// (4001, the token expired; 1001, a deploy; 1013, too slow a reader; the
// network), it reconnects with a fresh token and resumes after the last
// persisted event it saw, with its epoch, so that nothing is missed and
// nothing shown twice.
//
// It keeps the agent's runs (runs, a RunTracker) from every event it gets,
// pushed or in a response, and answers the calls of its client tools: it
// lends its tools with each message, runs a call of one with execute once,
// and sends the result until the gateway took it, across reconnects. After
// a reconnect that replays, it runs nothing until the replay reached the
// log's end as it was at the open (GetAgent's lastSeq): a call replayed as
// pending may have been answered since, a few events later.
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  DecideToolCallResponseSchema,
  GetAgentResponseSchema,
  GetHistoryResponseSchema,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
  SubmitToolResultResponseSchema,
  type DecideToolCallResponse,
  type SendMessageResponse,
  type SubmitToolResultResponse,
} from "./gen/agent/v1/agent_pb.js";
import { AgentEventSchema, type AgentEvent, type Tool } from "./gen/agent/v1/event_pb.js";
import { RunTracker } from "./run.js";
import { foldEvents, newRunner, toolDefs, ToolRunner, type AnyClientTool, type ToolLoopOptions, type ToolOutcome } from "./tools.js";

/** The close code of a socket whose token expired (docs/websocket.md). */
export const CLOSE_TOKEN_EXPIRED = 4001;

/** How an AgentSocket reaches its agent. */
export interface SocketOptions extends ToolLoopOptions {
  /** The gateway's base URL: http(s):// or ws(s)://. */
  baseUrl: string;
  agentId: string;
  /**
   * Returns the token to connect with, and a fresh one when the server
   * says the current one expires: a service token of AUTH_TOKENS, or a
   * user's JWT from your backend or identity provider. Cache it in the
   * callback; it is called at every connection. Without it the socket
   * connects without a token.
   */
  getToken?: () => string | Promise<string>;
  /** Replay persisted events after this seq first; unset follows live events only. */
  afterSeq?: bigint;
  /** The epoch of the log afterSeq counts in. */
  epoch?: string;
  /** Receives the agent's events, in order, each persisted one once. */
  onEvent?: (ev: AgentEvent) => void;
  /**
   * Told when the socket opens and closes: "open", or "closed" with the
   * close code and reason, before it reconnects.
   */
  onState?: (state: "open" | "closed", code?: number, reason?: string) => void;
  /** The WebSocket class; default the global one. */
  WebSocket?: typeof WebSocket;
  /** First reconnect delay in ms (doubles, with jitter, up to maxDelayMs). Default 250. */
  baseDelayMs?: number;
  /** Longest reconnect delay in ms. Default 10000. */
  maxDelayMs?: number;
}

/** How sendMessage sends. */
export interface SendOptions {
  /** Makes the send idempotent: a retry with the same id appends nothing. */
  clientMessageId?: string;
  /** The client tools to lend with this message, in place of the socket's tools. */
  tools?: readonly (AnyClientTool | Tool)[];
}

/** How an answer is sent. */
export interface AnswerOptions {
  /**
   * Wait for what the run does next when this answer lets it go on, and
   * return its events with the answer (it arrives pushed either way).
   */
  wait?: boolean;
}

/** How a decision is given. */
export interface DecideOptions extends AnswerOptions {
  /** Why, in a person's words; a denial's reason is told to the model. At most 1 KiB. */
  reason?: string;
  /** The approval request decided (RunToolCall.approvalId); refused if it is not the call's. */
  approvalId?: string;
}

/** An error frame's error: a Connect code, a message, and when to retry if the server says. */
export class SocketCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(`${code}: ${message}`);
  }
}

interface Pending {
  resolve: (v: JsonValue) => void;
  reject: (e: Error) => void;
}

/** AgentSocket is one agent's socket, kept open across token expiries and reconnects. */
export class AgentSocket {
  /** The newest persisted event seen, and its log's epoch: where a reconnect resumes. */
  lastSeq: bigint | undefined;
  epoch: string;
  /** How many times the socket opened. */
  connections = 0;
  /** The agent's runs, from every event the socket got. */
  readonly runs = new RunTracker();

  private ws: WebSocket | undefined;
  private token = "";
  private closed = false;
  private attempt = 0;
  private next = 0;
  private openedAt = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private readonly pending = new Map<string, Pending>();
  private waiters: Array<() => void> = [];
  private readonly WS: typeof WebSocket;
  private readonly runner: ToolRunner;
  // While a replay is under way: the seq it must reach before the runner
  // may run anything (undefined until GetAgent answered).
  private catchingUp = false;
  private catchUpTo: bigint | undefined;

  constructor(private readonly opts: SocketOptions) {
    this.lastSeq = opts.afterSeq;
    this.epoch = opts.epoch ?? "";
    const WS = opts.WebSocket ?? globalThis.WebSocket;
    if (!WS) throw new Error("no WebSocket class: pass one in SocketOptions.WebSocket (Node 20 needs --experimental-websocket)");
    this.WS = WS;
    this.runner = newRunner(opts, (call, outcome) => this.submitToolResult(call.id, outcome));
    void this.connect();
  }

  /** Resolves once the socket is open. */
  opened(): Promise<void> {
    if (this.ws?.readyState === this.WS.OPEN) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * call sends a unary method's request and resolves with its response
   * (protobuf's JSON), or rejects with a SocketCallError; a socket that
   * closes first rejects its calls with code "unavailable": retry them
   * (SendMessage with a clientMessageId, so that nothing is sent twice).
   */
  call(method: string, request: JsonValue = {}): Promise<JsonValue> {
    const id = `c${++this.next}`;
    return this.send(id, { id, method, request });
  }

  /**
   * sendMessage sends a message, lending the socket's tools (or those of
   * opts), and resolves with the message and the reply: the step that
   * ended the run, or paused it for tool results or decisions (see runs
   * for the run as it goes on). A string opts is the clientMessageId.
   */
  async sendMessage(text: string, opts?: string | SendOptions): Promise<SendMessageResponse> {
    const o = typeof opts === "string" ? { clientMessageId: opts } : (opts ?? {});
    const tools = o.tools ?? this.opts.tools;
    const req = create(SendMessageRequestSchema, { text, clientMessageId: o.clientMessageId, tools: tools ? toolDefs(tools) : [] });
    const res = fromJson(SendMessageResponseSchema, await this.call("SendMessage", toJson(SendMessageRequestSchema, req)), { ignoreUnknownFields: true });
    this.absorb(res.events);
    return res;
  }

  /**
   * submitToolResult answers a client tool's pending call with its output,
   * or the error it failed with. The same answer again is a duplicate
   * (duplicate set); another is refused (already_exists).
   */
  async submitToolResult(toolCallId: string, outcome: ToolOutcome, opts: AnswerOptions = {}): Promise<SubmitToolResultResponse> {
    const req: Record<string, JsonValue> = { toolCallId, ...outcome };
    if (opts.wait) req.wait = true;
    const res = fromJson(SubmitToolResultResponseSchema, await this.call("SubmitToolResult", req), { ignoreUnknownFields: true });
    this.absorb([res.result, ...res.events]);
    return res;
  }

  /** approve approves a call that waits for a person: the tool runs, and the run goes on. */
  approve(toolCallId: string, opts: DecideOptions = {}): Promise<DecideToolCallResponse> {
    return this.decide(toolCallId, true, opts);
  }

  /** deny denies a call that waits for a person: the model is told, with the reason. */
  deny(toolCallId: string, opts: DecideOptions = {}): Promise<DecideToolCallResponse> {
    return this.decide(toolCallId, false, opts);
  }

  private async decide(toolCallId: string, approve: boolean, opts: DecideOptions): Promise<DecideToolCallResponse> {
    const req: Record<string, JsonValue> = { toolCallId, approve };
    if (opts.reason) req.reason = opts.reason;
    if (opts.approvalId) req.approvalId = opts.approvalId;
    if (opts.wait) req.wait = true;
    const res = fromJson(DecideToolCallResponseSchema, await this.call("DecideToolCall", req), { ignoreUnknownFields: true });
    this.absorb([res.decision, ...res.events]);
    return res;
  }

  /**
   * loadHistory reads the agent's whole retained log with GetHistory into
   * runs, and answers the pending calls it finds: for a socket opened
   * without afterSeq, which gets live events only. (A socket opened with
   * afterSeq 0n replays the log by itself.)
   */
  async loadHistory(): Promise<void> {
    this.runner.hold();
    try {
      for (let after = 0n; ; ) {
        const page = fromJson(GetHistoryResponseSchema, await this.call("GetHistory", { afterSeq: String(after), limit: 1000 }), { ignoreUnknownFields: true });
        this.absorb(page.events);
        if (!page.hasMore || page.events.length === 0) return;
        after = page.events[page.events.length - 1].seq;
      }
    } finally {
      this.runner.release();
    }
  }

  /**
   * refresh hands the socket a fresh token from getToken, if it is not the
   * one the socket has. The server answers with the new token's times; a
   * token it refuses changes nothing (the socket keeps the one it had).
   */
  async refresh(): Promise<void> {
    const token = await this.getToken();
    if (!token || token === this.token || this.ws?.readyState !== this.WS.OPEN) return;
    const id = `r${++this.next}`;
    await this.send(id, { id, refresh: { token } });
    this.token = token;
  }

  /** close closes the socket for good. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.runner.close();
    this.ws?.close(1000, "done");
    this.fail("the socket was closed");
  }

  private getToken(): Promise<string> {
    return Promise.resolve(this.opts.getToken ? this.opts.getToken() : "");
  }

  private send(id: string, frame: JsonValue): Promise<JsonValue> {
    const ws = this.ws;
    if (!ws || ws.readyState !== this.WS.OPEN) return Promise.reject(new SocketCallError("unavailable", "the socket is not open"));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify(frame));
    });
  }

  private url(): string {
    const u = new URL(`/ws/agent/${encodeURIComponent(this.opts.agentId)}`, this.opts.baseUrl.replace(/^http/, "ws"));
    if (this.lastSeq !== undefined) {
      u.searchParams.set("after_seq", String(this.lastSeq));
      if (this.epoch) u.searchParams.set("epoch", this.epoch);
    }
    return u.toString();
  }

  private async connect(): Promise<void> {
    let token = "";
    try {
      token = await this.getToken();
    } catch {
      // No token now: the attempt is refused, and retried with backoff.
    }
    if (this.closed) return;
    if (this.lastSeq !== undefined && !this.catchingUp) {
      // This connection replays: the runner waits for the replay's end.
      this.catchingUp = true;
      this.catchUpTo = undefined;
      this.runner.hold();
    }
    // Browsers cannot set headers on a WebSocket: the token rides in a
    // subprotocol, which keeps it out of URLs and access logs.
    const ws = new this.WS(this.url(), token ? ["agent.v1", `bearer.${token}`] : ["agent.v1"]);
    this.ws = ws;
    this.token = token;
    this.openedAt = 0;
    ws.onopen = () => {
      this.openedAt = Date.now();
      this.connections++;
      this.opts.onState?.("open");
      for (const w of this.waiters.splice(0)) w();
      if (this.catchingUp) this.measureReplay();
      this.runner.flush();
    };
    ws.onmessage = (m) => this.frame(String(m.data));
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.fail(`the socket closed (${e.code})`);
      this.opts.onState?.("closed", e.code, e.reason);
      if (this.closed) return;
      const lived = this.openedAt ? Date.now() - this.openedAt : 0;
      if (lived > 5000) this.attempt = 0;
      // An expired token is mended by a fresh one at once, unless the
      // socket it was handed did not live a second: then getToken gives
      // expired tokens, and the backoff spares the server.
      const delay = e.code === CLOSE_TOKEN_EXPIRED && lived >= 1000 ? 0 : this.backoff();
      this.retry = setTimeout(() => void this.connect(), delay);
    };
  }

  private backoff(): number {
    const base = this.opts.baseDelayMs ?? 250;
    const ceiling = Math.min(this.opts.maxDelayMs ?? 10_000, base * 2 ** Math.min(this.attempt++, 16));
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  private fail(why: string): void {
    for (const p of this.pending.values()) p.reject(new SocketCallError("unavailable", why));
    this.pending.clear();
  }

  private frame(data: string): void {
    let f: { id?: string; response?: JsonValue; error?: { code: string; message: string; retryAfter?: number }; end?: boolean; event?: JsonValue; expiring?: JsonValue };
    try {
      f = JSON.parse(data);
    } catch {
      return;
    }
    if (f.event !== undefined) return this.event(fromJson(AgentEventSchema, f.event, { ignoreUnknownFields: true }));
    if (f.expiring !== undefined) {
      void this.refresh().catch(() => {
        // Refused: the socket closes at its end, and reconnects with a new token.
      });
      return;
    }
    const p = f.id === undefined ? undefined : this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id!);
    if (f.error) p.reject(new SocketCallError(f.error.code, f.error.message, f.error.retryAfter));
    else p.resolve(f.response ?? null);
  }

  private event(ev: AgentEvent): void {
    if (ev.kind.case === "historyReset") {
      this.lastSeq = 0n;
      this.epoch = ev.kind.value.epoch;
    } else if (ev.seq > 0n) {
      if (this.lastSeq !== undefined && ev.seq <= this.lastSeq && (!ev.epoch || ev.epoch === this.epoch)) return; // seen
      this.lastSeq = ev.seq;
      if (ev.epoch) this.epoch = ev.epoch;
    }
    this.opts.onEvent?.(ev);
    this.absorb([ev]);
    if (this.catchingUp && this.catchUpTo !== undefined && (this.lastSeq ?? 0n) >= this.catchUpTo) this.caughtUp();
  }

  /** absorb folds events into runs and answers the pending calls they show. */
  private absorb(events: readonly (AgentEvent | undefined)[]): void {
    foldEvents(this.runs, this.runner, events, this.opts.onRun);
  }

  /**
   * measureReplay asks where the log ends, which the replay of this
   * connection reaches; the runner waits until it has. If the socket
   * cannot tell (the agent is new, the call fails), it waits no longer.
   */
  private measureReplay(): void {
    this.call("GetAgent").then(
      (res) => {
        this.catchUpTo = fromJson(GetAgentResponseSchema, res, { ignoreUnknownFields: true }).agent?.lastSeq ?? 0n;
        if ((this.lastSeq ?? 0n) >= this.catchUpTo) this.caughtUp();
      },
      (err) => {
        // A socket that closed asks again when it opens; otherwise
        // (not_found: a new agent, nothing to replay) there is no wait.
        if ((err as SocketCallError).code !== "unavailable") this.caughtUp();
      },
    );
  }

  private caughtUp(): void {
    if (!this.catchingUp) return;
    this.catchingUp = false;
    this.runner.release();
  }
}

/** connectSocket opens an AgentSocket. */
export function connectSocket(opts: SocketOptions): AgentSocket {
  return new AgentSocket(opts);
}
