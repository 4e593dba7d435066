// An AG-UI 1.0 agent for the agui responder's wire tests. Every event it
// sends is written by the official @ag-ui/encoder, so the Go side is tested
// against the bytes a real AG-UI backend produces, not against our own idea
// of them. Framing variants the encoder never writes (CRLF, comments, split
// data lines) are made by rewriting the encoder's output.
//
// POST /<scenario> answers one RunAgentInput; the scenarios are in SCENARIOS.
// Every POST is validated with the official RunAgentInput schema and
// recorded by its runId; GET /recorded/<runId> returns what was received.
//
// Usage: node server.mjs   (binds 127.0.0.1 on a free port and prints
// "listening <port>" on stdout once it accepts connections)

import http from "node:http";
import { EventEncoder } from "@ag-ui/encoder";
import { RunAgentInputSchema } from "@ag-ui/core/schemas";

const recorded = new Map();

// Each scenario writes a reply for the input through a writer that knows
// the framing: send(event) encodes one event, raw(text) writes bytes as is.
const SCENARIOS = {
  // A plain text reply in three pieces, with usage from two model calls.
  async text(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_START", messageId: "m1", role: "assistant" });
    for (const delta of ["Hello", ", ", "world"]) {
      w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "m1", delta });
    }
    w.send({ type: "TEXT_MESSAGE_END", messageId: "m1" });
    w.send({
      type: "RUN_FINISHED",
      threadId: input.threadId,
      runId: input.runId,
      usage: [
        { provider: "openai", model: "gpt-test", inputTokens: 10, outputTokens: 4, totalTokens: 14 },
        { provider: "openai", model: "gpt-test", inputTokens: 3, outputTokens: 2 },
      ],
    });
  },

  // Text, then a tool call whose arguments come in pieces and its result as
  // content parts, then a second call in TOOL_CALL_CHUNK shorthand with a
  // string result, then more text in TEXT_MESSAGE_CHUNK shorthand.
  async tools(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_START", messageId: "m1", role: "assistant" });
    w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "m1", delta: "Let me look." });
    w.send({ type: "TEXT_MESSAGE_END", messageId: "m1" });
    w.send({ type: "TOOL_CALL_START", toolCallId: "call_1", toolCallName: "get_weather", parentMessageId: "m1" });
    for (const delta of ['{"city":', '"Paris"', "}"]) {
      w.send({ type: "TOOL_CALL_ARGS", toolCallId: "call_1", delta });
    }
    w.send({ type: "TOOL_CALL_END", toolCallId: "call_1" });
    w.send({
      type: "TOOL_CALL_RESULT",
      messageId: "t1",
      toolCallId: "call_1",
      role: "tool",
      content: [
        { type: "text", text: "sunny, " },
        { type: "image", source: { type: "url", value: "https://example.com/sun.png" } },
        { type: "text", text: "21C" },
      ],
    });
    w.send({ type: "TOOL_CALL_CHUNK", toolCallId: "call_2", toolCallName: "get_time", parentMessageId: "m1", delta: '{"tz":' });
    w.send({ type: "TOOL_CALL_CHUNK", delta: '"CET"}' });
    w.send({ type: "TOOL_CALL_RESULT", messageId: "t2", toolCallId: "call_2", content: "12:00" });
    w.send({ type: "TEXT_MESSAGE_CHUNK", messageId: "m2", role: "assistant", delta: "It is " });
    w.send({ type: "TEXT_MESSAGE_CHUNK", delta: "sunny." });
    w.send({ type: "RUN_FINISHED", threadId: input.threadId, runId: input.runId });
  },

  // A tool call in TOOL_CALL_CHUNK shorthand that is still open when the run
  // finishes, waiting for the client to run the tool.
  async pending(w, input) {
    w.started(input);
    w.send({ type: "TOOL_CALL_CHUNK", toolCallId: "call_9", toolCallName: "ask_user", delta: '{"q":"ok?"}' });
    w.send({
      type: "RUN_FINISHED",
      threadId: input.threadId,
      runId: input.runId,
      outcome: { type: "success", pendingToolCallIds: ["call_9"] },
    });
  },

  // Some text, then a RUN_ERROR with a code.
  async error(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_START", messageId: "m1" });
    w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "m1", delta: "Thinking" });
    w.send({ type: "TEXT_MESSAGE_END", messageId: "m1" });
    w.send({ type: "RUN_ERROR", code: "model_overloaded", message: "The model is overloaded, try again later." });
  },

  // A RUN_ERROR without a code, as the first event (allowed by the client).
  async "error-nocode"(w) {
    w.send({ type: "RUN_ERROR", message: "Something broke." });
  },

  // Text, then the stream just ends: no RUN_FINISHED, no RUN_ERROR.
  async truncated(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_START", messageId: "m1" });
    w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "m1", delta: "Half a" });
  },

  // The text reply, every line ending in CRLF.
  async crlf(w, input) {
    w.crlf = true;
    await SCENARIOS.text(w, input);
  },

  // What real servers add around the encoder's frames: keep-alive comments,
  // event:, id: and retry: lines, and one event's JSON split over several
  // data: lines. Plus events the responder does not use, an event type from
  // the future, a second text message, and a user-role message that is not
  // part of the reply.
  async framing(w, input) {
    w.raw(": keep-alive\n\n");
    w.raw("retry: 1000\n");
    w.started(input);
    w.raw("event: message\nid: 1\n");
    w.send({ type: "STEP_STARTED", stepName: "plan" });
    w.send({ type: "STATE_SNAPSHOT", snapshot: { n: 1 } });
    w.send({ type: "STATE_DELTA", delta: [{ op: "replace", path: "/n", value: 2 }] });
    w.send({ type: "CUSTOM", name: "x", value: { a: [1, 2] } });
    w.raw(`data: ${JSON.stringify({ type: "FUTURE_EVENT", delta: { a: 1 } })}\n\n`);
    w.send({ type: "TEXT_MESSAGE_START", messageId: "u9", role: "user" });
    w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "u9", delta: "NOT PART OF THE REPLY" });
    w.send({ type: "TEXT_MESSAGE_END", messageId: "u9" });
    w.send({ type: "TEXT_MESSAGE_START", messageId: "m1" });
    w.split({ type: "TEXT_MESSAGE_CONTENT", messageId: "m1", delta: "first\nline" });
    w.raw(": ping\n\n");
    w.send({ type: "TEXT_MESSAGE_END", messageId: "m1" });
    w.send({ type: "STEP_FINISHED", stepName: "plan" });
    w.send({ type: "TEXT_MESSAGE_START", messageId: "m2" });
    w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "m2", delta: " second" });
    w.send({ type: "TEXT_MESSAGE_END", messageId: "m2" });
    w.send({ type: "RUN_FINISHED", threadId: input.threadId, runId: input.runId });
  },

  // RUN_FINISHED with outcome cancelled.
  async cancelled(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_CHUNK", messageId: "m1", delta: "Stopped" });
    w.send({ type: "RUN_FINISHED", threadId: input.threadId, runId: input.runId, outcome: { type: "cancelled" } });
  },

  // RUN_FINISHED with outcome interrupt, after some text.
  async interrupt(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_CHUNK", messageId: "m1", delta: "Approve?" });
    w.send({
      type: "RUN_FINISHED",
      threadId: input.threadId,
      runId: input.runId,
      outcome: { type: "interrupt", interrupts: [{ id: "i1", reason: "approval" }] },
    });
  },

  // A client tool, over two runs. A run without a tool result calls the
  // first tool the client lent (input.tools), its arguments in pieces, and
  // finishes with the call pending for the client; the run whose input
  // ends with the tool message answers with the result, or with the
  // failure the message's error reports.
  async "client-tool"(w, input) {
    w.started(input);
    const last = input.messages.at(-1);
    if (last?.role === "tool") {
      const text = last.error ? `The tool failed: ${last.error}` : `The tool says: ${last.content}`;
      w.send({ type: "TEXT_MESSAGE_START", messageId: "m2", role: "assistant" });
      w.send({ type: "TEXT_MESSAGE_CONTENT", messageId: "m2", delta: text });
      w.send({ type: "TEXT_MESSAGE_END", messageId: "m2" });
      w.send({ type: "RUN_FINISHED", threadId: input.threadId, runId: input.runId, outcome: { type: "success" } });
      return;
    }
    const tool = input.tools[0];
    if (!tool) {
      w.send({ type: "RUN_ERROR", code: "no_tools", message: "no tool was lent" });
      return;
    }
    w.send({ type: "TOOL_CALL_START", toolCallId: "call_lent_1", toolCallName: tool.name, parentMessageId: "m1" });
    for (const delta of ['{"city":', '"Paris"}']) {
      w.send({ type: "TOOL_CALL_ARGS", toolCallId: "call_lent_1", delta });
    }
    w.send({ type: "TOOL_CALL_END", toolCallId: "call_lent_1" });
    w.send({
      type: "RUN_FINISHED",
      threadId: input.threadId,
      runId: input.runId,
      outcome: { type: "success", pendingToolCallIds: ["call_lent_1"] },
    });
  },

  // The agent's own tool that needs a person's yes, over two runs. A run
  // without a resume streams the call and finishes interrupted: an approval
  // of the call, and a question about nothing. The run that carries the
  // resume runs the call if it was approved (TOOL_CALL_RESULT for the
  // original call, without its start again), and says what it did.
  async approval(w, input) {
    w.started(input);
    const answer = (input.resume ?? []).find((r) => r.interruptId === "int-delete");
    if (!answer) {
      w.send({ type: "TOOL_CALL_START", toolCallId: "call_delete", toolCallName: "delete_file" });
      w.send({ type: "TOOL_CALL_ARGS", toolCallId: "call_delete", delta: '{"path":"/tmp/report.pdf"}' });
      w.send({ type: "TOOL_CALL_END", toolCallId: "call_delete" });
      w.send({
        type: "RUN_FINISHED",
        threadId: input.threadId,
        runId: input.runId,
        outcome: {
          type: "interrupt",
          interrupts: [
            { id: "int-delete", reason: "tool_call", toolCallId: "call_delete", message: "Delete /tmp/report.pdf?" },
            { id: "int-note", reason: "input_required", message: "Any note for the log?" },
          ],
        },
      });
      return;
    }
    const approved = answer.status === "resolved" && answer.payload?.approved === true;
    w.send({ type: "TOOL_CALL_RESULT", messageId: "t1", toolCallId: "call_delete", role: "tool", content: approved ? "deleted" : "kept" });
    const why = answer.payload?.reason ? ` (${answer.payload.reason})` : "";
    w.send({ type: "TEXT_MESSAGE_CHUNK", messageId: "m2", role: "assistant", delta: approved ? "Deleted." : `Kept the file${why}.` });
    w.send({ type: "RUN_FINISHED", threadId: input.threadId, runId: input.runId });
  },

  // RUN_ERROR as an agent passes on its model's refusal of a conversation
  // too long.
  async "context-too-long"(w, input) {
    w.started(input);
    w.send({
      type: "RUN_ERROR",
      code: "context_length_exceeded",
      message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens.",
    });
  },

  // RUN_ERROR with the words of a context too long and the exception's
  // name as the code, as frameworks pass an exception on.
  async "context-words"(w, input) {
    w.started(input);
    w.send({ type: "RUN_ERROR", code: "BadRequestError", message: "Error code: 400 - prompt is too long: 210000 tokens > 200000 maximum" });
  },

  // RUN_ERROR as an agent passes on its model's rate limit.
  async "rate-limited-run"(w, input) {
    w.started(input);
    w.send({ type: "RUN_ERROR", code: "rate_limit_exceeded", message: "Rate limit reached for gpt-4o in organization org-x." });
  },

  // One text event, then silence until the client goes away.
  async stall(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_CHUNK", messageId: "m1", delta: "Wait" });
    await w.closed;
  },

  // A text event larger than the responder's frame limit in the test.
  async huge(w, input) {
    w.started(input);
    w.send({ type: "TEXT_MESSAGE_CHUNK", messageId: "m1", delta: "x".repeat(64 * 1024) });
    w.send({ type: "RUN_FINISHED", threadId: input.threadId, runId: input.runId });
  },
};

// Scenarios answered with an HTTP status and a JSON body, before any stream.
// Besides these, "silent" never answers at all and "json" answers 200 with
// a JSON body instead of a stream.
const STATUSES = { unauthorized: 401, forbidden: 403, ratelimited: 429, broken: 500 };

// writer wraps a response with the encoder, for one scenario.
function writer(req, res) {
  const enc = new EventEncoder({ accept: req.headers.accept });
  const w = {
    crlf: false,
    closed: new Promise((resolve) => res.on("close", resolve)),
    raw(text) {
      res.write(w.crlf ? text.replaceAll("\n", "\r\n") : text);
    },
    // send writes what the encoder negotiated from the request's Accept
    // header: SSE for text/event-stream, protobuf frames for a client that
    // prefers application/vnd.ag-ui.event+proto (or accepts anything).
    send(event) {
      res.write(w.crlf ? enc.encodeSSE(event).replaceAll("\n", "\r\n") : enc.encodeBinary(event));
    },
    // split sends an event with its JSON pretty-printed over several data:
    // lines, which SSE joins with "\n" (JSON whitespace) before decoding.
    split(event) {
      const frame = enc.encodeSSE(event);
      const json = JSON.stringify(JSON.parse(frame.slice("data: ".length)), null, 1);
      w.raw(json.split("\n").map((line) => `data: ${line}\n`).join("") + "\n");
    },
    started(input) {
      w.send({ type: "RUN_STARTED", threadId: input.threadId, runId: input.runId, protocolVersion: "1.0" });
    },
  };
  res.writeHead(200, { "Content-Type": enc.getContentType(), "Cache-Control": "no-cache" });
  res.flushHeaders();
  return w;
}

async function readJSON(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function record(req, body) {
  // Strict: a field AG-UI does not know is refused too.
  const parsed = RunAgentInputSchema.strict().safeParse(body);
  const entry = {
    method: req.method,
    path: req.url,
    headers: {
      accept: req.headers.accept ?? null,
      authorization: req.headers.authorization ?? null,
      contentType: req.headers["content-type"] ?? null,
    },
    body,
    valid: parsed.success,
    issues: parsed.success ? [] : parsed.error.issues,
  };
  if (typeof body?.runId === "string") recorded.set(body.runId, entry);
  return entry;
}

function json(res, status, value) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(value));
}

async function handle(req, res) {
  const name = decodeURIComponent(req.url.slice(1));
  if (req.method === "GET" && name.startsWith("recorded/")) {
    const entry = recorded.get(name.slice("recorded/".length));
    return entry ? json(res, 200, entry) : json(res, 404, { error: "nothing recorded" });
  }
  if (req.method !== "POST") return json(res, 405, { error: "POST a RunAgentInput" });
  const entry = record(req, await readJSON(req));
  if (STATUSES[name]) return json(res, STATUSES[name], { error: `scenario ${name}` });
  if (name === "silent") return new Promise((resolve) => res.on("close", resolve)); // no headers, ever
  if (name === "json") return json(res, 200, { error: "not a stream" });
  if (!entry.valid) return json(res, 422, { error: "invalid RunAgentInput", issues: entry.issues });
  const scenario = SCENARIOS[name];
  if (!scenario) return json(res, 404, { error: `no scenario ${name}` });
  await scenario(writer(req, res), entry.body);
  res.end();
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`upstream: ${err.stack}\n`);
    if (!res.headersSent) json(res, 500, { error: String(err) });
    else res.destroy(err);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
