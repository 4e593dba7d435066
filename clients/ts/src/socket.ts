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
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { SendMessageResponseSchema, type SendMessageResponse } from "./gen/agent/v1/agent_pb.js";
import { AgentEventSchema, type AgentEvent } from "./gen/agent/v1/event_pb.js";

/** The close code of a socket whose token expired (docs/websocket.md). */
export const CLOSE_TOKEN_EXPIRED = 4001;

/** How an AgentSocket reaches its agent. */
export interface SocketOptions {
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

  constructor(private readonly opts: SocketOptions) {
    this.lastSeq = opts.afterSeq;
    this.epoch = opts.epoch ?? "";
    const WS = opts.WebSocket ?? globalThis.WebSocket;
    if (!WS) throw new Error("no WebSocket class: pass one in SocketOptions.WebSocket (Node 20 needs --experimental-websocket)");
    this.WS = WS;
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

  /** sendMessage sends a message and resolves with the message and its reply. */
  async sendMessage(text: string, clientMessageId?: string): Promise<SendMessageResponse> {
    const res = await this.call("SendMessage", clientMessageId ? { text, clientMessageId } : { text });
    return fromJson(SendMessageResponseSchema, res, { ignoreUnknownFields: true });
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
  }
}

/** connectSocket opens an AgentSocket. */
export function connectSocket(opts: SocketOptions): AgentSocket {
  return new AgentSocket(opts);
}
