// Helpers that describe an agent's events compactly, so that tests can
// assert on their exact order.
import { Role, type AgentEvent } from "../src/index.js";

/**
 * describe turns an event into a short line: "message 3 user: hi",
 * "run_started", "delta: echo: ", "message 4 assistant: echo: hi".
 * Heartbeats give undefined: they carry nothing to assert on.
 */
export function describe(ev: AgentEvent): string | undefined {
  switch (ev.kind.case) {
    case "message": {
      const role = ev.kind.value.role === Role.USER ? "user" : "assistant";
      return `message ${ev.seq} ${role}: ${ev.kind.value.text}`;
    }
    case "runStarted":
      return "run_started";
    case "textDelta":
      return `delta: ${ev.kind.value.delta}`;
    case "runError":
      return `run_error: ${ev.kind.value.code}`;
    case "historyGap":
      return `history_gap ${ev.kind.value.firstRetainedSeq}`;
    default:
      return undefined;
  }
}

/**
 * collapseDeltas joins consecutive "delta: …" lines into one, since how a
 * reply is cut into deltas is the responder's business, not the wire's.
 */
export function collapseDeltas(lines: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const prev = out[out.length - 1];
    if (l.startsWith("delta: ") && prev?.startsWith("delta: ")) {
      out[out.length - 1] = prev + l.slice("delta: ".length);
    } else {
      out.push(l);
    }
  }
  return out;
}
