// RunTracker: an agent's runs, assembled from its events. A run answers
// one user message in steps (docs/websocket.md, "Tools"); each step is an
// assistant message with its text and tool calls, streamed first
// (runStarted or stepStarted, textDelta, the tool call events) and then
// persisted. Answers that come while a run is paused are persisted events
// of their own: a client's tool_call_result, a person's
// tool_call_decision. The tracker folds all of them into one Run per run
// id, whatever their source and however often they come: the pushed
// events of a socket, a Subscribe stream, the events of a SendMessage or
// SubmitToolResult response, a page of GetHistory. So a page that loads
// the history after a reload, then follows live events, shows the same
// runs as the page that saw them happen: the paused step with its pending
// calls and approval requests, the answers given since, the step being
// written.
//
// The persisted step is the truth about a step: it replaces what its live
// events built, except an answer the tracker learned after the step was
// written. Live events of a step already persisted come late (a response
// and the push cross on the wire) and change nothing; a step started
// again (a client joined mid-step, or another replica took the run over)
// is built anew.
import { durationMs } from "@bufbuild/protobuf/wkt";
import {
  FinishReason,
  Role,
  ToolCallKind,
  ToolCallState,
  type AgentEvent,
  type Interrupt,
  type Message,
  type ToolCall,
  type ToolCallResult,
  type Usage,
} from "./gen/agent/v1/event_pb.js";

/** A person's decision on an approval request (DecideToolCall). */
export interface ToolDecision {
  approved: boolean;
  reason: string;
  /** The subject of the token that decided; "service" or "anonymous" otherwise. */
  decidedBy: string;
  approvalId: string;
}

/** One tool call of a run, where it stands now. */
export interface RunToolCall {
  /** The tool call id: what SubmitToolResult and DecideToolCall name. */
  readonly id: string;
  readonly runId: string;
  name: string;
  /** The arguments, usually JSON: what the model wrote so far while the step streams. */
  arguments: string;
  /**
   * Where the call stands: PENDING waits for a client's result,
   * AWAITING_APPROVAL for a person's decision (see decision), DONE, ERROR,
   * DENIED and CLOSED are answered (see result). UNSPECIFIED while its
   * step is being written, unless a result came with it.
   */
  state: ToolCallState;
  /** Who runs it: the gateway (SERVER), a client (CLIENT), the upstream agent (UPSTREAM). */
  kind: ToolCallKind;
  /** The result: the output, or (isError) why it failed or was denied or closed. */
  result?: string;
  isError: boolean;
  /** The approval request the server issued, for a call that asked one. */
  approvalId: string;
  /** The decision on the approval request, once given. */
  decision?: ToolDecision;
  /** How long the gateway took to run a server tool, in ms. */
  durationMs?: number;
  /** The message id of the step that made the call. */
  messageId: string;
}

/** One step of a run: one assistant message. */
export interface RunStep {
  /** The step's number in its run, from 0. */
  readonly step: number;
  messageId: string;
  text: string;
  toolCalls: RunToolCall[];
  /** An upstream agent's interrupts that pause the run at this step. */
  interrupts: Interrupt[];
  /** How the step ended; UNSPECIFIED while it is being written. */
  finishReason: FinishReason;
  usage?: Usage;
  /** The seq of the persisted step; 0n while it is being written. */
  seq: bigint;
}

/**
 * How a run stands: "running" (a step is being written, or the next one
 * follows), "paused" (it waits for a client's tool result or a person's
 * decision), "ended" (a step ended it: see finishReason) or "failed" (see
 * error).
 */
export type RunStatus = "running" | "paused" | "ended" | "failed";

/** Run is one run of an agent, as its events told it so far. */
export class Run {
  readonly steps: RunStep[] = [];
  /** The run error that ended it, if it failed. */
  error?: { code: string; message: string; seq: bigint };
  /** Decisions on an upstream agent's interrupts that hold no tool call, by interrupt id. */
  readonly interruptDecisions = new Map<string, ToolDecision>();

  constructor(
    readonly runId: string,
    /** The seq of the user message the run answers. */
    public replyToSeq: bigint,
  ) {}

  get status(): RunStatus {
    if (this.error) return "failed";
    const last = this.steps[this.steps.length - 1];
    if (!last || last.seq === 0n) return "running";
    if (last.finishReason !== FinishReason.TOOL_CALLS) return "ended";
    return this.pendingCalls().length > 0 || this.approvalRequests().length > 0 || this.openInterrupts().length > 0 ? "paused" : "running";
  }

  /** The finish reason of the step that ended the run, once it ended. */
  get finishReason(): FinishReason {
    return this.status === "ended" ? this.steps[this.steps.length - 1].finishReason : FinishReason.UNSPECIFIED;
  }

  /** The text of every step, in order. */
  get text(): string {
    return this.steps.map((s) => s.text).join("");
  }

  /** Every tool call of the run, in order. */
  toolCalls(): RunToolCall[] {
    return this.steps.flatMap((s) => s.toolCalls);
  }

  /** The client tools' calls that wait for a result (SubmitToolResult). */
  pendingCalls(): RunToolCall[] {
    return this.toolCalls().filter((c) => c.state === ToolCallState.PENDING);
  }

  /** The calls that wait for a person's decision (DecideToolCall). */
  approvalRequests(): RunToolCall[] {
    return this.toolCalls().filter((c) => c.state === ToolCallState.AWAITING_APPROVAL && !c.decision);
  }

  /** An upstream agent's interrupts about no tool call that wait for a decision. */
  openInterrupts(): Interrupt[] {
    return this.steps.flatMap((s) => s.interrupts).filter((i) => !i.toolCallId && !this.interruptDecisions.has(i.interruptId));
  }

  /** toolCall returns the run's call of that id. */
  toolCall(id: string): RunToolCall | undefined {
    for (const s of this.steps) for (const c of s.toolCalls) if (c.id === id) return c;
    return undefined;
  }
}

/** Whether a call in state s has its answer. */
export function answered(s: ToolCallState): boolean {
  return s === ToolCallState.DONE || s === ToolCallState.ERROR || s === ToolCallState.DENIED || s === ToolCallState.CLOSED;
}

/**
 * RunTracker folds an agent's events into its runs. Feed it every event of
 * one agent, from any source, in any mix (see the file's comment); apply
 * returns the run the event touched. It is plain data and logic: use one
 * per agent and per view.
 */
export class RunTracker {
  /** The runs, in the order they were first seen (for a replayed log, the order they ran). */
  readonly runs: Run[] = [];
  private readonly byId = new Map<string, Run>();
  private readonly seen = new Set<bigint>(); // persisted seqs applied

  /** run returns the run of that id. */
  run(runId: string): Run | undefined {
    return this.byId.get(runId);
  }

  /** The newest run. */
  get latest(): Run | undefined {
    return this.runs[this.runs.length - 1];
  }

  /** Every client tool call that waits for a result, across runs. */
  pendingCalls(): RunToolCall[] {
    return this.runs.flatMap((r) => r.pendingCalls());
  }

  /** Every call that waits for a person's decision, across runs. */
  approvalRequests(): RunToolCall[] {
    return this.runs.flatMap((r) => r.approvalRequests());
  }

  /** Forget every run: the log they belonged to is gone. */
  clear(): void {
    this.runs.length = 0;
    this.byId.clear();
    this.seen.clear();
  }

  /**
   * apply folds one event in and returns the run it touched, or undefined
   * for an event of no run (a user message, a heartbeat). A persisted
   * event seen before changes nothing; a historyReset forgets every run.
   */
  apply(ev: AgentEvent): Run | undefined {
    if (ev.seq > 0n) {
      if (this.seen.has(ev.seq)) return undefined;
      this.seen.add(ev.seq);
    }
    const k = ev.kind;
    switch (k.case) {
      case "historyReset":
        this.clear();
        return undefined;
      case "message":
        return k.value.role === Role.ASSISTANT ? this.persistedStep(k.value, ev.seq) : undefined;
      case "runStarted":
        return this.started(k.value.runId, k.value.replyToSeq, 0, k.value.messageId);
      case "stepStarted":
        return this.started(k.value.runId, k.value.replyToSeq, k.value.step, k.value.messageId);
      case "textDelta": {
        const [run, step] = this.liveStep(k.value.runId, k.value.messageId);
        if (step) step.text += k.value.delta;
        return run;
      }
      case "toolCallStart": {
        const [run, step] = this.liveStep(k.value.runId, k.value.messageId);
        if (step && !run.toolCall(k.value.toolCallId)) step.toolCalls.push(newCall(k.value.runId, k.value.toolCallId, k.value.name, k.value.messageId));
        return run;
      }
      case "toolCallArgs": {
        const run = this.byId.get(k.value.runId);
        const call = run?.toolCall(k.value.toolCallId);
        if (call && this.unpersisted(run!, call)) call.arguments += k.value.delta;
        return run;
      }
      case "toolCallEnd":
        return this.byId.get(k.value.runId);
      case "toolCallResult":
        return this.result(k.value, ev.seq);
      case "toolApprovalRequest": {
        const r = k.value;
        const run = this.byId.get(r.runId);
        const call = run?.toolCall(r.toolCallId);
        if (call && !answered(call.state) && !call.decision) {
          call.state = ToolCallState.AWAITING_APPROVAL;
          call.approvalId = r.approvalId;
        }
        return run;
      }
      case "toolCallDecision": {
        const d = k.value;
        const run = this.byId.get(d.runId);
        if (!run) return undefined;
        const decision = { approved: d.approved, reason: d.reason, decidedBy: d.decidedBy, approvalId: d.approvalId };
        const call = d.toolCallId ? run.toolCall(d.toolCallId) : undefined;
        if (call) call.decision = decision;
        else if (d.interruptId) run.interruptDecisions.set(d.interruptId, decision);
        return run;
      }
      case "runError": {
        const e = k.value;
        const run = this.ensure(e.runId || `error:${e.replyToSeq}`, e.replyToSeq);
        run.error = { code: e.code, message: e.message, seq: ev.seq };
        return run;
      }
    }
    return undefined;
  }

  private ensure(runId: string, replyToSeq: bigint): Run {
    let run = this.byId.get(runId);
    if (!run) {
      run = new Run(runId, replyToSeq);
      this.byId.set(runId, run);
      this.runs.push(run);
    } else if (replyToSeq > 0n) {
      run.replyToSeq = replyToSeq;
    }
    return run;
  }

  /**
   * started begins step n anew, unless it was persisted: a client that
   * joins mid-step gets the step's start, its text so far and its tool
   * calls again, and a run taken over by another replica starts again.
   */
  private started(runId: string, replyToSeq: bigint, n: number, messageId: string): Run {
    const run = this.ensure(runId, replyToSeq);
    const have = run.steps[n];
    if (have?.seq) return run;
    run.steps[n] = newStep(n, messageId);
    run.steps.length = n + 1; // later steps of an attempt that was taken over
    fill(run);
    return run;
  }

  /** liveStep finds the step a live event builds; none once it was persisted. */
  private liveStep(runId: string, messageId: string): [Run, RunStep | undefined] {
    const run = this.ensure(runId, 0n);
    let step = run.steps.find((s) => s.messageId === messageId);
    if (!step) {
      // Its start was missed: the event comes from a step after the last.
      step = newStep(run.steps.length, messageId);
      run.steps.push(step);
    }
    return [run, step.seq ? undefined : step];
  }

  private unpersisted(run: Run, call: RunToolCall): boolean {
    return !run.steps.find((s) => s.messageId === call.messageId)?.seq;
  }

  /** persistedStep takes a step as persisted, keeping answers learned since. */
  private persistedStep(m: Message, seq: bigint): Run {
    const run = this.ensure(m.runId, m.replyToSeq);
    let step = run.steps[m.step];
    if (!step || step.messageId !== m.messageId) {
      step = newStep(m.step, m.messageId);
      run.steps[m.step] = step;
    }
    step.seq = seq;
    step.text = m.text;
    step.finishReason = m.finishReason;
    step.usage = m.usage;
    step.interrupts = m.interrupts;
    const live = new Map(step.toolCalls.map((c) => [c.id, c]));
    step.toolCalls = m.toolCalls.map((tc) => mergeCall(live.get(tc.toolCallId) ?? newCall(m.runId, tc.toolCallId, tc.name, m.messageId), tc));
    fill(run);
    return run;
  }

  private result(r: ToolCallResult, seq: bigint): Run | undefined {
    const run = this.byId.get(r.runId);
    const call = run?.toolCall(r.toolCallId);
    if (!call) return run;
    // A live result is the first news of an answer; a persisted one is
    // the answer, and wins over a live one that came first.
    if (answered(call.state) && seq === 0n) return run;
    call.result = r.content;
    call.isError = r.isError;
    call.state = r.state || (r.isError ? ToolCallState.ERROR : ToolCallState.DONE);
    if (r.duration) call.durationMs = durationMs(r.duration);
    return run;
  }
}

/**
 * fill puts a placeholder in the place of each step not seen yet (a page
 * of history that starts mid-run, a client that joined late): its
 * persisted message replaces it when it comes.
 */
function fill(run: Run): void {
  for (let i = 0; i < run.steps.length; i++) run.steps[i] ??= newStep(i, "");
}

function newStep(step: number, messageId: string): RunStep {
  return { step, messageId, text: "", toolCalls: [], interrupts: [], finishReason: FinishReason.UNSPECIFIED, seq: 0n };
}

function newCall(runId: string, id: string, name: string, messageId: string): RunToolCall {
  return { id, runId, name, arguments: "", state: ToolCallState.UNSPECIFIED, kind: ToolCallKind.UNSPECIFIED, isError: false, approvalId: "", messageId };
}

/**
 * mergeCall takes a call as its step persisted it into c, unless c has an
 * answer the step does not (a result that came since, which the step's
 * state predates).
 */
function mergeCall(c: RunToolCall, tc: ToolCall): RunToolCall {
  c.name = tc.name;
  c.arguments = tc.arguments;
  c.kind = tc.kind;
  c.approvalId = tc.approvalId || c.approvalId;
  if (answered(c.state) && !answered(tc.state)) return c;
  c.state = tc.state;
  c.result = tc.result || (answered(tc.state) ? "" : undefined);
  c.isError = tc.isError;
  if (tc.duration) c.durationMs = durationMs(tc.duration);
  return c;
}
