// followAgent: a subscription to one agent that survives reconnects. It
// keeps the seq and epoch of the last persisted event, resumes with both
// after every failure (a stream that outlived its token included: with a
// client whose getToken gives fresh tokens, at once), and passes the
// server's historyReset on, so that a caller never mistakes a new log for
// the old one.
import { Code, ConnectError } from "@connectrpc/connect";
import type { AgentEvent } from "./gen/agent/v1/event_pb.js";
import type { AgentClient } from "./index.js";

/** How followAgent subscribes and retries. */
export interface FollowOptions {
  /** Replay persisted events after this seq first; unset follows live events only. */
  afterSeq?: bigint;
  /** The epoch of the log afterSeq counts in (from the events you saw). */
  epoch?: string;
  /** Leave the reply's text deltas out. */
  skipDeltas?: boolean;
  /** Stops following. */
  signal?: AbortSignal;
  /** First retry delay in ms (doubles, with jitter, up to maxDelayMs). Default 250. */
  baseDelayMs?: number;
  /** Longest retry delay in ms. Default 10000. */
  maxDelayMs?: number;
  /**
   * Told as each Subscribe starts, the first and every resume, with the
   * seq it replays after (undefined: live events only).
   */
  onSubscribe?: (afterSeq: bigint | undefined) => void;
}

/** Codes that retrying cannot fix: the caller's request is wrong. */
const final = new Set([Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated, Code.Unimplemented]);

/**
 * AgentFollower yields the agent's events, in order, across reconnects. A
 * historyReset event means the log it followed is gone: drop what you show
 * and render the replay that follows it. lastSeq and epoch say where it
 * stands: persist them to resume after a reload.
 */
export class AgentFollower implements AsyncIterable<AgentEvent> {
  lastSeq: bigint | undefined;
  epoch: string;

  constructor(
    private readonly client: AgentClient,
    private readonly agentId: string,
    private readonly opts: FollowOptions = {},
  ) {
    this.lastSeq = opts.afterSeq;
    this.epoch = opts.epoch ?? "";
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AgentEvent> {
    const base = this.opts.baseDelayMs ?? 250;
    const cap = this.opts.maxDelayMs ?? 10_000;
    let attempt = 0;
    while (!this.opts.signal?.aborted) {
      // A stream that outlived its token ends with unauthenticated: it is
      // resumed at once, with the client's next token (its getToken). One
      // refused as it starts is final: the client has no better token.
      const began = Date.now();
      this.opts.onSubscribe?.(this.lastSeq);
      try {
        const stream = this.client.subscribe(
          {
            agentId: this.agentId,
            afterSeq: this.lastSeq,
            epoch: this.lastSeq === undefined ? "" : this.epoch,
            skipDeltas: this.opts.skipDeltas ?? false,
          },
          { signal: this.opts.signal },
        );
        for await (const res of stream) {
          attempt = 0;
          const ev = res.event;
          if (!ev) continue;
          this.track(ev);
          yield ev;
        }
      } catch (err) {
        const ce = ConnectError.from(err);
        if (ce.code === Code.Unauthenticated && Date.now() - began >= 1000 && !this.opts.signal?.aborted) {
          continue;
        }
        if (this.opts.signal?.aborted || ce.code === Code.Canceled || final.has(ce.code)) {
          if (this.opts.signal?.aborted) return;
          throw ce;
        }
      }
      const ceiling = Math.min(cap, base * 2 ** Math.min(attempt++, 16));
      await delay(ceiling / 2 + (Math.random() * ceiling) / 2, this.opts.signal);
    }
  }

  /** track remembers where the follower stands after ev. */
  private track(ev: AgentEvent): void {
    if (ev.kind.case === "historyReset") {
      this.lastSeq = 0n;
      this.epoch = ev.kind.value.epoch;
    } else if (ev.seq > 0n) {
      this.lastSeq = ev.seq;
      if (ev.epoch) this.epoch = ev.epoch;
    }
  }
}

/** followAgent returns an AgentFollower of agentId. */
export function followAgent(client: AgentClient, agentId: string, opts?: FollowOptions): AgentFollower {
  return new AgentFollower(client, agentId, opts);
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
