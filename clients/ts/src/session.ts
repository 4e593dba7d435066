// AgentSession: one agent over the typed API (Connect, gRPC or gRPC-Web),
// with the tool loop's helpers: its runs (a RunTracker), the client tools
// it lends and answers, and a person's decisions. send resolves with the
// run once it ended or paused for what this client does not answer itself
// (a decision, a tool without execute): the results of its own tools are
// sent on the way, with wait, so that each answer's response carries what
// the run did next. load reads the history (a reload), follow the live
// events: calls found pending there are answered too, once each, however
// many ways they arrive.
import { Code, ConnectError } from "@connectrpc/connect";
import type { DecideToolCallResponse, SubmitToolResultResponse } from "./gen/agent/v1/agent_pb.js";
import type { AgentEvent } from "./gen/agent/v1/event_pb.js";
import { followAgent } from "./follow.js";
import type { AgentClient } from "./index.js";
import { RunTracker, type Run, type RunToolCall } from "./run.js";
import type { DecideOptions, SendOptions } from "./socket.js";
import { foldEvents, newRunner, toolDefs, ToolRunner, type ToolLoopOptions, type ToolOutcome } from "./tools.js";

/** What an AgentSession lends, answers and tells. */
export interface SessionOptions extends ToolLoopOptions {
  /** Where load and follow start: after this seq of the log of epoch (from an earlier session). */
  afterSeq?: bigint;
  epoch?: string;
  /** First retry delay in ms, of a follow and of a result's send. Default 250. */
  baseDelayMs?: number;
  /** Longest retry delay in ms. Default 10000. */
  maxDelayMs?: number;
}

/** AgentSession talks to one agent over an AgentClient. */
export class AgentSession {
  /** The agent's runs, from every event the session got. */
  readonly runs = new RunTracker();
  /** Where load and follow stand in the log: the newest persisted seq read in order, and its epoch. */
  lastSeq: bigint | undefined;
  epoch: string;
  private readonly runner: ToolRunner;

  constructor(
    private readonly client: AgentClient,
    readonly agentId: string,
    private readonly opts: SessionOptions = {},
  ) {
    this.lastSeq = opts.afterSeq;
    this.epoch = opts.epoch ?? "";
    this.runner = newRunner(opts, (call, outcome) => this.sendResult(call.id, outcome));
  }

  /**
   * send sends a message, lending the session's tools (or those of opts),
   * and resolves with its run once it ended, failed, or paused for what
   * this session does not answer: its own tools' calls are run and
   * answered on the way.
   */
  async send(text: string, opts: SendOptions = {}): Promise<Run> {
    const tools = opts.tools ?? this.opts.tools;
    const res = await this.client.sendMessage({
      agentId: this.agentId,
      text,
      clientMessageId: opts.clientMessageId,
      tools: tools ? toolDefs(tools) : [],
    });
    this.absorb(res.events.length ? res.events : [res.reply]);
    return this.settle(this.runOf(res.reply));
  }

  /**
   * submitToolResult answers a pending call with its output or error (a
   * call of a tool without execute, or one a person answers), and
   * resolves with its run once it went as far as send's would.
   */
  async submitToolResult(toolCallId: string, outcome: ToolOutcome): Promise<Run> {
    const res = await this.sendResult(toolCallId, outcome);
    return this.settle(this.runOf(res.result));
  }

  /** approve approves a call that waits for a person, and resolves with its run as send does. */
  approve(toolCallId: string, opts: DecideOptions = {}): Promise<Run> {
    return this.decide(toolCallId, true, opts);
  }

  /** deny denies a call that waits for a person (the model is told, with the reason), and resolves with its run. */
  deny(toolCallId: string, opts: DecideOptions = {}): Promise<Run> {
    return this.decide(toolCallId, false, opts);
  }

  /**
   * load reads the log after lastSeq (all of it, the first time) with
   * GetHistory, as a page does after a reload, and answers the pending
   * calls of its tools it finds. A log made anew since is read whole.
   */
  async load(): Promise<void> {
    this.runner.hold();
    try {
      for (;;) {
        const page = await this.client.getHistory({ agentId: this.agentId, afterSeq: this.lastSeq ?? 0n, limit: 1000 });
        if (this.epoch && page.epoch && page.epoch !== this.epoch && this.lastSeq) {
          this.runs.clear();
          this.lastSeq = undefined;
          this.epoch = page.epoch;
          continue;
        }
        this.absorb(page.events);
        if (page.events.length) this.lastSeq = page.events[page.events.length - 1].seq;
        this.epoch = page.epoch || this.epoch;
        if (!page.hasMore || !page.events.length) return;
      }
    } finally {
      this.runner.release();
    }
  }

  /**
   * follow follows the agent's events from lastSeq (live only when
   * unset), across failures as followAgent does, until signal aborts,
   * answering the pending calls of its tools as they come. After each
   * (re)subscription that replays, it runs nothing until the replay
   * reached the log's end as it was then: a call replayed as pending may
   * have been answered a few events later.
   */
  async follow(signal: AbortSignal): Promise<void> {
    let target: bigint | undefined;
    let holding = false;
    const caughtUp = () => {
      if (!holding) return;
      holding = false;
      this.runner.release();
    };
    const follower = followAgent(this.client, this.agentId, {
      afterSeq: this.lastSeq,
      epoch: this.epoch,
      signal,
      baseDelayMs: this.opts.baseDelayMs,
      maxDelayMs: this.opts.maxDelayMs,
      onSubscribe: (after) => {
        if (after === undefined) return;
        if (!holding) this.runner.hold();
        holding = true;
        target = undefined;
        this.client.getAgent({ agentId: this.agentId }, { signal }).then(
          (res) => {
            target = res.agent?.lastSeq ?? 0n;
            if ((follower.lastSeq ?? 0n) >= target) caughtUp();
          },
          (err) => {
            if (ConnectError.from(err).code === Code.NotFound) caughtUp(); // a new agent: nothing to replay
            else target = 0n; // the stream's next event ends the wait
          },
        );
      },
    });
    try {
      for await (const ev of follower) {
        this.lastSeq = follower.lastSeq;
        this.epoch = follower.epoch;
        this.absorb([ev]);
        if (holding && target !== undefined && (follower.lastSeq ?? 0n) >= target) caughtUp();
      }
    } finally {
      caughtUp();
    }
  }

  /** close stops retrying the results not sent yet. */
  close(): void {
    this.runner.close();
  }

  private async decide(toolCallId: string, approve: boolean, opts: DecideOptions): Promise<Run> {
    const res: DecideToolCallResponse = await this.client.decideToolCall({
      agentId: this.agentId,
      toolCallId,
      approve,
      reason: opts.reason,
      approvalId: opts.approvalId,
      wait: true,
    });
    this.absorb([res.decision, ...res.events]);
    return this.settle(this.runOf(res.decision));
  }

  private async sendResult(toolCallId: string, outcome: ToolOutcome): Promise<SubmitToolResultResponse> {
    const res = await this.client.submitToolResult({
      agentId: this.agentId,
      toolCallId,
      result: "output" in outcome ? { case: "output", value: outcome.output } : { case: "error", value: outcome.error },
      wait: true,
    });
    this.absorb([res.result, ...res.events]);
    return res;
  }

  /** absorb folds events into runs and answers the pending calls they show. */
  private absorb(events: readonly (AgentEvent | undefined)[]): void {
    foldEvents(this.runs, this.runner, events, this.opts.onRun);
  }

  /** runOf is the run an event of a response belongs to. */
  private runOf(ev: AgentEvent | undefined): Run {
    const k = ev?.kind;
    let id = "";
    if (k?.case === "message" || k?.case === "toolCallResult" || k?.case === "toolCallDecision") id = k.value.runId;
    else if (k?.case === "runError") id = k.value.runId || `error:${k.value.replyToSeq}`;
    const run = this.runs.run(id);
    if (!run) throw new Error(`the response names no run the session knows (${k?.case ?? "no event"})`);
    return run;
  }

  /**
   * settle answers the run's pending calls of tools with execute, and the
   * ones that follow, until none is left: each answer was sent with wait,
   * so the last one's response brought what the run did next.
   */
  private async settle(run: Run): Promise<Run> {
    const tried = new Set<RunToolCall>();
    for (;;) {
      const calls = run.pendingCalls().filter((c) => this.runner.runs(c.name) && !tried.has(c));
      if (!calls.length) return run;
      for (const c of calls) tried.add(c);
      await Promise.all(calls.map((c) => this.runner.answer(c)));
    }
  }
}

/** openSession returns an AgentSession of agentId. */
export function openSession(client: AgentClient, agentId: string, opts?: SessionOptions): AgentSession {
  return new AgentSession(client, agentId, opts);
}
