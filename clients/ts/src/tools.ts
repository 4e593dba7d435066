// Client tools: tools a client lends the model with its message, runs when
// the model calls them, and answers with SubmitToolResult (docs/clients.md,
// "Tools"). defineTool declares one with the JSON Schema of its arguments
// and the function that runs it; toolDefs turns tools into the Tool
// messages a SendMessage or Converse request carries; ToolRunner runs the
// calls and sends their results, once per call, for AgentSocket and
// AgentSession, whichever way the call became known.
import { create, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ToolSchema, type Tool } from "./gen/agent/v1/event_pb.js";
import { ToolCallKind, ToolCallState } from "./gen/agent/v1/event_pb.js";
import type { AgentEvent } from "./gen/agent/v1/event_pb.js";
import type { Run, RunToolCall, RunTracker } from "./run.js";

/** A tool name: 1 to 64 characters of a-z A-Z 0-9 _ - (the rule of the model APIs). */
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * A client tool: what the model is told of it, and the function that runs
 * it in this client.
 */
export interface ClientTool<Args = Record<string, unknown>> {
  /** How the model calls it: 1 to 64 characters of a-z A-Z 0-9 _ -. */
  readonly name: string;
  /** Tells the model when to use the tool. */
  readonly description?: string;
  /** The JSON Schema of its arguments, an object schema; none for a tool without arguments. */
  readonly parameters?: JsonObject;
  /**
   * Runs a call, with the arguments the model wrote (parsed JSON, not
   * checked against the schema: models err). What it returns is the
   * call's output: a string as it is, anything else as JSON, undefined as
   * "". What it throws is the call's error, which the model is told. A
   * tool without execute is answered by the application, with
   * submitToolResult (see onToolCall).
   */
  readonly execute?: (args: Args, call: RunToolCall) => unknown;
}

/** A client tool of any arguments, as lists of tools take them. */
export type AnyClientTool = ClientTool<never>;

/**
 * defineTool declares a client tool, checking its name and schema as the
 * gateway will (a bad one would make every message that lends it
 * invalid_argument). Args types the arguments execute gets: write it to
 * match the schema.
 */
export function defineTool<Args = Record<string, unknown>>(tool: ClientTool<Args>): ClientTool<Args> {
  if (!TOOL_NAME.test(tool.name)) {
    throw new Error(`tool name ${JSON.stringify(tool.name)}: want 1 to 64 characters of a-z A-Z 0-9 _ -`);
  }
  const p = tool.parameters;
  if (p !== undefined && (p === null || typeof p !== "object" || Array.isArray(p))) {
    throw new Error(`tool ${tool.name}: parameters must be a JSON Schema object`);
  }
  return Object.freeze({ ...tool });
}

/** toolDefs returns the Tool messages of tools, for a request's tools. */
export function toolDefs(tools: readonly (AnyClientTool | Tool)[]): Tool[] {
  return tools.map((t) =>
    "$typeName" in t ? t : create(ToolSchema, { name: t.name, description: t.description ?? "", parameters: t.parameters }),
  );
}

/** A tool call's answer: its output, or why it failed. */
export type ToolOutcome = { output: string } | { error: string };

/** outcomeOf runs tool's execute for call and returns its answer; it never throws. */
export async function outcomeOf(tool: AnyClientTool, call: RunToolCall): Promise<ToolOutcome> {
  let args: unknown;
  try {
    args = call.arguments.trim() ? JSON.parse(call.arguments) : {};
  } catch {
    return { error: `the arguments are not JSON: ${call.arguments.slice(0, 200)}` };
  }
  try {
    const out = await tool.execute!(args as never, call);
    return { output: out === undefined ? "" : typeof out === "string" ? out : JSON.stringify(out) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * codeOf is an error's code in snake_case, as the socket's error frames
 * spell it ("unavailable", "already_exists"): the code of a ConnectError
 * or of a SocketCallError, else "unknown".
 */
export function codeOf(err: unknown): string {
  if (err instanceof ConnectError) return Code[err.code].replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "unknown";
}

/** Codes after which sending the same result again may pass. */
const retryable = new Set(["unavailable", "deadline_exceeded", "resource_exhausted", "aborted", "unknown", "internal"]);

/** What ToolRunner needs. */
export interface ToolRunnerOptions {
  /** The client tools; those with execute are run. */
  tools?: readonly AnyClientTool[];
  /**
   * Told once of each pending call of a client tool that no execute
   * answers (a tool lent without one, or CLIENT_TOOLS' tools): show it,
   * and answer it with submitToolResult.
   */
  onToolCall?: (call: RunToolCall) => void;
  /** Sends a call's answer: SubmitToolResult on the socket or over Connect. */
  submit: (call: RunToolCall, outcome: ToolOutcome) => Promise<unknown>;
  /**
   * Told when an answer could not be sent and will not be retried: the
   * call was answered otherwise (already_exists), closed
   * (failed_precondition), or the answer refused (invalid_argument,
   * permission_denied).
   */
  onError?: (err: unknown, call: RunToolCall) => void;
  /** First retry delay of a send that failed on the way, in ms (doubles, with jitter). Default 250. */
  baseDelayMs?: number;
  /** Longest retry delay, in ms. Default 10000. */
  maxDelayMs?: number;
}

interface Answer {
  call: RunToolCall;
  outcome?: Promise<ToolOutcome>;
  done: Promise<void>;
  settle: () => void;
  attempt: number;
  timer?: ReturnType<typeof setTimeout>;
  sending: boolean;
}

/**
 * ToolRunner answers the pending calls of client tools: it runs each call
 * of a tool with execute once, and sends its answer until the gateway
 * took it, whatever happens on the way. A call is known by its run and
 * its id, so a call delivered twice (a response and the push crossing, a
 * replay after a reconnect, a page of history and the live stream) is run
 * once; an answer lost with its connection is sent again, the same, which
 * the gateway takes as a duplicate. Calls already answered, by anyone,
 * are never run.
 *
 * Hold it while a replay is under way: a pending call replayed from the
 * log may have its answer a few events later, and only the end of the
 * replay says whether it does.
 */
export class ToolRunner {
  private readonly tools = new Map<string, AnyClientTool>();
  private readonly answers = new Map<string, Answer>();
  private readonly told = new Set<string>();
  private held = 0;
  private readonly waiting = new Map<string, RunToolCall>();
  private closed = false;

  constructor(private readonly opts: ToolRunnerOptions) {
    for (const t of opts.tools ?? []) this.tools.set(t.name, t);
  }

  /** runs reports whether a call of this tool would be run here. */
  runs(name: string): boolean {
    return !!this.tools.get(name)?.execute;
  }

  /**
   * consider looks at a call: one that waits for a client's result, of a
   * tool with execute, is run and answered (once); one of another client
   * tool is told to onToolCall (once). While held, it waits for release.
   */
  consider(call: RunToolCall): void {
    if (this.closed || call.state !== ToolCallState.PENDING || call.kind !== ToolCallKind.CLIENT) return;
    const key = keyOf(call);
    if (this.held) {
      this.waiting.set(key, call);
      return;
    }
    if (this.runs(call.name)) {
      void this.answer(call);
    } else if (!this.told.has(key)) {
      this.told.add(key);
      this.opts.onToolCall?.(call);
    }
  }

  /**
   * answer runs the call (unless it ran already) and resolves once its
   * answer was taken, or refused for good; it does not check the call's
   * state: consider does.
   */
  answer(call: RunToolCall): Promise<void> {
    if (this.closed) return Promise.resolve();
    const key = keyOf(call);
    let a = this.answers.get(key);
    if (!a) {
      let settle!: () => void;
      const done = new Promise<void>((resolve) => (settle = resolve));
      a = { call, done, settle, attempt: 0, sending: false };
      this.answers.set(key, a);
      a.outcome = outcomeOf(this.tools.get(call.name)!, call);
      void this.send(a);
    }
    return a.done;
  }

  /** hold defers consider until release; holds nest. */
  hold(): void {
    this.held++;
  }

  /** release ends a hold, and considers the calls that waited, as they stand now. */
  release(): void {
    if (this.held === 0 || --this.held > 0) return;
    const calls = [...this.waiting.values()];
    this.waiting.clear();
    for (const c of calls) this.consider(c);
  }

  /** flush sends now the answers that wait for a retry (a connection came back). */
  flush(): void {
    for (const a of this.answers.values()) {
      if (a.timer === undefined) continue;
      clearTimeout(a.timer);
      a.timer = undefined;
      void this.send(a);
    }
  }

  /** close stops retrying; answers not sent by then are dropped. */
  close(): void {
    this.closed = true;
    for (const a of this.answers.values()) {
      clearTimeout(a.timer);
      a.settle();
    }
  }

  private async send(a: Answer): Promise<void> {
    if (this.closed || a.sending) return;
    a.sending = true;
    try {
      await this.opts.submit(a.call, await a.outcome!);
      a.settle();
    } catch (err) {
      if (this.closed) return;
      if (!retryable.has(codeOf(err))) {
        this.opts.onError?.(err, a.call);
        a.settle();
        return;
      }
      const base = this.opts.baseDelayMs ?? 250;
      const ceiling = Math.min(this.opts.maxDelayMs ?? 10_000, base * 2 ** Math.min(a.attempt++, 16));
      a.timer = setTimeout(() => {
        a.timer = undefined;
        void this.send(a);
      }, ceiling / 2 + (Math.random() * ceiling) / 2);
    } finally {
      a.sending = false;
    }
  }
}

function keyOf(call: RunToolCall): string {
  return `${call.runId}\u0000${call.id}`;
}

/** What AgentSocket and AgentSession take for the tool loop. */
export interface ToolLoopOptions {
  /**
   * Client tools: lent with every message (unless a send names its own),
   * and those with execute run when the model calls them, once per call,
   * their results sent with SubmitToolResult.
   */
  tools?: readonly AnyClientTool[];
  /**
   * Told once of each pending call of a client tool that no execute here
   * answers: answer it with submitToolResult (a person typing a result, a
   * tool the application runs its own way).
   */
  onToolCall?: (call: RunToolCall) => void;
  /** Told of a result that could not be sent and will not be (see ToolRunnerOptions.onError). */
  onToolError?: (err: unknown, call: RunToolCall) => void;
  /** Told of every change of a run (see runs), after the event that made it. */
  onRun?: (run: Run) => void;
}

/** newRunner is the ToolRunner of a socket's or a session's options, sending with submit. */
export function newRunner(o: ToolLoopOptions & { baseDelayMs?: number; maxDelayMs?: number }, submit: ToolRunnerOptions["submit"]): ToolRunner {
  return new ToolRunner({ tools: o.tools, onToolCall: o.onToolCall, onError: o.onToolError, submit, baseDelayMs: o.baseDelayMs, maxDelayMs: o.maxDelayMs });
}

/**
 * foldEvents folds events into runs, tells onRun of each run they touch,
 * and has runner consider the pending calls the run then shows.
 */
export function foldEvents(runs: RunTracker, runner: ToolRunner, events: readonly (AgentEvent | undefined)[], onRun?: (run: Run) => void): void {
  for (const ev of events) {
    const run = ev && runs.apply(ev);
    if (!run) continue;
    onRun?.(run);
    for (const call of run.pendingCalls()) runner.consider(call);
  }
}
