// RunTracker's logic, event by event: the same runs whatever mix of live
// events, responses and replays delivers them, and in whatever order a
// response and the push cross.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { AgentEventSchema, FinishReason, Role, RunTracker, ToolCallKind, ToolCallState, type AgentEvent, type Run } from "../src/index.js";

type Kind = MessageInitShape<typeof AgentEventSchema>["kind"];

const ev = (kind: Kind, seq = 0n): AgentEvent => create(AgentEventSchema, { seq, kind });

const started = (step = 0, messageId = `m${step}`) =>
  step === 0
    ? ev({ case: "runStarted", value: { runId: "r1", messageId, replyToSeq: 1n } })
    : ev({ case: "stepStarted", value: { runId: "r1", messageId, step, replyToSeq: 1n } });
const delta = (text: string, messageId = "m0") => ev({ case: "textDelta", value: { runId: "r1", messageId, delta: text } });
const callStart = (id: string, name: string, messageId = "m0") =>
  ev({ case: "toolCallStart", value: { runId: "r1", messageId, toolCallId: id, name } });
const callArgs = (id: string, text: string) => ev({ case: "toolCallArgs", value: { runId: "r1", toolCallId: id, delta: text } });
const result = (id: string, content: string, state: ToolCallState, seq = 0n, messageId = "m0") =>
  ev({ case: "toolCallResult", value: { runId: "r1", messageId, toolCallId: id, content, state, isError: state !== ToolCallState.DONE, duration: seq ? undefined : durationFromMs(12) } }, seq);
const decision = (id: string, approved: boolean, seq: bigint) =>
  ev({ case: "toolCallDecision", value: { runId: "r1", messageId: "m0", toolCallId: id, approvalId: "a1", approved, reason: "why", decidedBy: "alice" } }, seq);

/** step is a persisted step of run r1. */
function step(seq: bigint, n: number, text: string, finish: FinishReason, calls: { id: string; name: string; state: ToolCallState; kind?: ToolCallKind; result?: string; approvalId?: string }[] = []) {
  return ev(
    {
      case: "message",
      value: {
        messageId: `m${n}`,
        role: Role.ASSISTANT,
        text,
        runId: "r1",
        replyToSeq: 1n,
        step: n,
        finishReason: finish,
        toolCalls: calls.map((c) => ({ toolCallId: c.id, name: c.name, arguments: "{}", state: c.state, kind: c.kind ?? ToolCallKind.CLIENT, result: c.result ?? "", approvalId: c.approvalId ?? "" })),
      },
    },
    seq,
  );
}

/** shape is a run in short, to compare. */
function shape(run: Run | undefined) {
  return run && {
    status: run.status,
    steps: run.steps.map((s) => `${s.seq}:${s.text}|${s.toolCalls.map((c) => `${c.id} ${ToolCallState[c.state]} ${c.result ?? "-"}`).join(",")}`),
  };
}

const userMessage = ev({ case: "message", value: { messageId: "u1", role: Role.USER, text: "hi" } }, 1n);
const paused = step(2n, 0, "Calling. ", FinishReason.TOOL_CALLS, [
  { id: "c1", name: "get_weather", state: ToolCallState.PENDING },
  { id: "c2", name: "transfer", state: ToolCallState.AWAITING_APPROVAL, kind: ToolCallKind.SERVER, approvalId: "a1" },
]);

test("a run as it streams, pauses, is answered and ends", () => {
  const t = new RunTracker();
  assert.equal(t.apply(userMessage), undefined, "a user message is no run's");
  for (const e of [started(), delta("Call"), delta("ing. "), callStart("c1", "get_weather"), callArgs("c1", "{"), callArgs("c1", "}")]) t.apply(e);
  const run = t.run("r1")!;
  assert.deepEqual(shape(run), { status: "running", steps: ["0:Calling. |c1 UNSPECIFIED -"] });
  assert.equal(run.toolCall("c1")?.arguments, "{}");

  t.apply(paused);
  assert.deepEqual(shape(run), { status: "paused", steps: ["2:Calling. |c1 PENDING -,c2 AWAITING_APPROVAL -"] });
  assert.deepEqual(t.pendingCalls().map((c) => c.id), ["c1"]);
  assert.deepEqual(t.approvalRequests().map((c) => c.approvalId), ["a1"]);

  t.apply(result("c1", "sunny", ToolCallState.DONE, 3n));
  assert.equal(run.status, "paused", "the approval is still asked");
  t.apply(decision("c2", true, 4n));
  assert.equal(run.status, "running", "approved: the run goes on");
  assert.deepEqual(run.toolCall("c2")?.decision, { approved: true, reason: "why", decidedBy: "alice", approvalId: "a1" });
  t.apply(started(1));
  t.apply(result("c2", "transferred", ToolCallState.DONE)); // live, in the next step
  assert.equal(run.toolCall("c2")?.durationMs, 12);
  t.apply(delta("Done.", "m1"));
  t.apply(result("c2", "transferred", ToolCallState.DONE, 5n));
  t.apply(step(6n, 1, "Done.", FinishReason.STOP));
  assert.deepEqual(shape(run), { status: "ended", steps: ["2:Calling. |c1 DONE sunny,c2 DONE transferred", "6:Done.|"] });
  assert.equal(run.finishReason, FinishReason.STOP);
  assert.equal(run.text, "Calling. Done.");
});

test("a reload (the persisted events) gives the same run, and delivering them twice changes nothing", () => {
  const persisted = [userMessage, paused, result("c1", "sunny", ToolCallState.DONE, 3n), decision("c2", false, 4n), result("c2", "denied: why", ToolCallState.DENIED, 5n), step(6n, 1, "Done.", FinishReason.STOP)];
  for (const n of [2, 4, persisted.length]) {
    const t = new RunTracker();
    for (const e of [...persisted.slice(0, n), ...persisted.slice(0, n)]) t.apply(e);
    assert.equal(t.runs.length, 1);
    const want = {
      2: { status: "paused", steps: ["2:Calling. |c1 PENDING -,c2 AWAITING_APPROVAL -"] },
      4: { status: "running", steps: ["2:Calling. |c1 DONE sunny,c2 AWAITING_APPROVAL -"] },
      [persisted.length]: { status: "ended", steps: ["2:Calling. |c1 DONE sunny,c2 DENIED denied: why", "6:Done.|"] },
    }[n];
    assert.deepEqual(shape(t.latest), want, `after ${n} events`);
  }
});

test("a response and the push crossing: late live events of a persisted step change nothing", () => {
  const t = new RunTracker();
  t.apply(paused); // the SendMessage response came first
  t.apply(result("c1", "sunny", ToolCallState.DONE, 3n)); // then a SubmitToolResult's
  for (const e of [started(), delta("Calling. "), callStart("c1", "get_weather"), callArgs("c1", "{}"), ev({ case: "toolApprovalRequest", value: { runId: "r1", messageId: "m0", toolCallId: "c2", approvalId: "a1" } })]) {
    t.apply(e);
  }
  assert.deepEqual(shape(t.latest), { status: "paused", steps: ["2:Calling. |c1 DONE sunny,c2 AWAITING_APPROVAL -"] });
  assert.equal(t.latest!.toolCall("c1")?.arguments, "{}");
});

test("a step joined mid-way, or taken over by another replica, is built anew", () => {
  const t = new RunTracker();
  for (const e of [started(), delta("Hel"), callStart("c1", "get_weather"), callArgs("c1", '{"ci')]) t.apply(e);
  // A resume: the run's start again, the text so far in one piece, the calls so far.
  for (const e of [started(), delta("Hello "), callStart("c1", "get_weather"), callArgs("c1", '{"city"')]) t.apply(e);
  assert.deepEqual(shape(t.latest), { status: "running", steps: ["0:Hello |c1 UNSPECIFIED -"] });
  assert.equal(t.latest!.toolCall("c1")?.arguments, '{"city"');
  // Another replica takes the run over: its step has another message id.
  for (const e of [started(0, "m0b"), delta("Hi", "m0b")]) t.apply(e);
  assert.deepEqual(shape(t.latest), { status: "running", steps: ["0:Hi|"] });
  // A client that joined at a later step: earlier ones wait for their messages.
  const late = new RunTracker();
  late.apply(started(2, "m2"));
  late.apply(delta("third", "m2"));
  assert.deepEqual(shape(late.latest), { status: "running", steps: ["0:|", "0:|", "0:third|"] });
});

test("a run error fails the run; a history reset forgets every run", () => {
  const t = new RunTracker();
  t.apply(started());
  t.apply(ev({ case: "runError", value: { runId: "r1", replyToSeq: 1n, code: "responder_failed", message: "it broke" } }, 2n));
  assert.equal(t.latest?.status, "failed");
  assert.deepEqual(t.latest?.error, { code: "responder_failed", message: "it broke", seq: 2n });
  t.apply(ev({ case: "runError", value: { replyToSeq: 3n, code: "reply_timeout", message: "late" } }, 4n));
  assert.equal(t.runs.length, 2, "a failure before its run started is a run of its own");
  t.apply(ev({ case: "historyReset", value: { epoch: "E2" } }));
  assert.deepEqual(t.runs, []);
  t.apply(paused); // seq 2 again, in the new log: not a duplicate
  assert.equal(t.latest?.status, "paused");
});
