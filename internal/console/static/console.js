// The agentgate console: one agent's conversation over the WebSocket bridge
// (/ws/agent/{agent_id}), in the same JSON frames as the legacy frontend.
//
// The socket pushes the agent's events ({"event": …}); persisted ones carry a
// seq, and the page remembers the last one it showed. When the socket drops
// (a deploy closes it with 1001, a slow reader gets 1013, the network goes),
// the page reconnects with jittered exponential backoff and resumes with
// ?after_seq=<last seq>&epoch=<its log's epoch>, so it shows what it missed
// and nothing twice. If the log it saw is gone (a server without Redis that
// restarted, a deleted agent, a Redis that lost its data), the server says
// so with a historyReset and replays the new log, and the page draws the
// conversation anew from there. A page that joins while a reply is being
// written gets the reply so far, then the rest.
//
// Tokens that expire (users' JWTs) are handed on the open socket: when the
// server says the token expires soon (an "expiring" frame), the page asks
// for a fresh one and sends it in a refresh frame; a socket closed all the
// same with 4001 reconnects with a fresh token and resumes. A fresh token
// comes from window.agentgateGetToken, if whatever drives the browser
// defines it (an extension, a test's exposeFunction: a function returning
// a token or a promise of one; the page's CSP lets no other page's script
// in, nor frames it), else from the token field: there an operator pastes
// a new token and presses Open.
//
// The console is an operator's: its socket says so (console=true), and the
// gateway then wants a token that may administer the agent (agents:admin).
// A refused page asks the gateway why (/console/check) and says it.
//
// Runs of the tool loop are shown as they go: each step of a reply is a
// bubble of its own, with its tool calls, each with its state; a client
// tool's call that waits for a result has a field where the operator types
// one, and a call that waits for a person's approval has Approve and Deny
// buttons with a reason. Decisions and results are shown as they arrive,
// and a page reloaded while a run is paused replays the log and shows the
// pending call and the approval request again.
"use strict";

(() => {
  const AGENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;
  const BACKOFF_BASE_MS = 250;
  const BACKOFF_MAX_MS = 10000;
  const MAX_LOG_LINES = 500;
  const CLOSE_TOKEN_EXPIRED = 4001;
  // What each state of a tool call is called on the page.
  const STATES = {
    "": "writing…",
    TOOL_CALL_STATE_UNSPECIFIED: "done",
    TOOL_CALL_STATE_PENDING: "waiting for a client's result",
    TOOL_CALL_STATE_AWAITING_APPROVAL: "waiting for approval",
    TOOL_CALL_STATE_DONE: "done",
    TOOL_CALL_STATE_ERROR: "failed",
    TOOL_CALL_STATE_DENIED: "denied",
    TOOL_CALL_STATE_CLOSED: "closed",
  };
  const ANSWERED = new Set(["TOOL_CALL_STATE_DONE", "TOOL_CALL_STATE_ERROR", "TOOL_CALL_STATE_DENIED", "TOOL_CALL_STATE_CLOSED"]);
  const KINDS = { TOOL_CALL_KIND_SERVER: "server", TOOL_CALL_KIND_CLIENT: "client", TOOL_CALL_KIND_UPSTREAM: "upstream" };

  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $("connect-form"), agent: $("agent"), token: $("token"),
    status: $("status"), statusText: $("status-text"),
    messages: $("messages"), events: $("events"), seq: $("seq"),
    sendForm: $("send-form"), text: $("text"), send: $("send"),
  };

  // Connection state.
  let agentId = "";
  let token = "";
  let ws = null; // the current socket; events of older ones are ignored
  let attempt = 0; // reconnects since the last healthy socket, for the backoff
  let retryTimer = 0;
  let retryAt = 0;
  let tickTimer = 0;
  let lastClose = "";
  let nextRequest = 0;
  const requests = new Map(); // request id → {kind, cmid}

  // Conversation state.
  let lastSeq = 0; // the newest persisted event shown
  let epoch = ""; // the epoch of the log lastSeq counts in
  const shown = new Set(); // keys of persisted events shown
  const replies = new Map(); // message id → element of a reply being streamed
  const runs = new Map(); // run id → message id of its step being written
  const pending = new Map(); // client message id → {text, el, requestId}
  const calls = new Map(); // run id + "/" + tool call id → the call, with its element

  // ---- rendering ----------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function scrollDown(list) {
    list.scrollTop = list.scrollHeight;
  }

  function clock(ts) {
    const d = ts ? new Date(ts) : new Date();
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function bubble(role, text, meta) {
    ui.messages.querySelector(".empty")?.remove();
    const li = el("li", "msg");
    li.dataset.role = role;
    li.append(el("span", "meta", meta), el("div", "text", text));
    ui.messages.append(li);
    scrollDown(ui.messages);
    return li;
  }

  function setMeta(li, text) {
    li.querySelector(".meta").textContent = text;
  }

  function divider(text) {
    ui.messages.append(el("li", "divider", text));
    scrollDown(ui.messages);
  }

  function logLine(kind, seq, detail) {
    const li = el("li", "k-" + kind);
    li.append(el("span", "", seq ? "#" + seq : ""), el("span", "", kind), el("span", "", detail));
    li.title = detail;
    ui.events.append(li);
    while (ui.events.childElementCount > MAX_LOG_LINES) ui.events.firstElementChild.remove();
    scrollDown(ui.events);
  }

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
  }

  function showSeq() {
    ui.seq.textContent = "seq " + lastSeq;
  }

  function resetConversation() {
    ui.messages.replaceChildren(el("li", "empty", "No messages yet. Say something to the agent."));
    ui.events.replaceChildren();
    lastSeq = 0;
    epoch = "";
    shown.clear();
    replies.clear();
    runs.clear();
    pending.clear();
    calls.clear();
    showSeq();
  }

  // ---- events -------------------------------------------------------------

  // eventKey identifies a persisted event independently of its seq.
  function eventKey(ev) {
    if (ev.message) return "m:" + ev.message.messageId;
    if (ev.runError) return "e:" + (ev.runError.runId || "") + ":" + (ev.runError.replyToSeq || "");
    if (ev.toolCallResult) return "r:" + callKey(ev.toolCallResult.runId, ev.toolCallResult.toolCallId);
    if (ev.toolCallDecision) {
      const d = ev.toolCallDecision;
      return "d:" + callKey(d.runId, d.toolCallId || d.interruptId);
    }
    return "s:" + ev.seq;
  }

  function onEvent(ev) {
    const seq = Number(ev.seq || 0);
    if (seq > 0) {
      const key = eventKey(ev);
      if (seq <= lastSeq || shown.has(key)) return; // replayed twice: shown already
      shown.add(key);
      lastSeq = seq;
      if (ev.epoch) epoch = ev.epoch;
      showSeq();
    }
    if (ev.message) return showMessage(ev, seq);
    if (ev.runStarted || ev.stepStarted) {
      const r = ev.runStarted || ev.stepStarted;
      runs.set(r.runId, r.messageId);
      logLine(ev.runStarted ? "runStarted" : "stepStarted", 0, (ev.stepStarted ? "step " + r.step + ", " : "") + "reply to #" + (r.replyToSeq || "?"));
      streamingReply(r.messageId, r.step || 0);
      return;
    }
    if (ev.textDelta) {
      const d = ev.textDelta;
      logLine("textDelta", 0, JSON.stringify(d.delta));
      const li = streamingReply(d.messageId);
      li.querySelector(".text").textContent += d.delta;
      scrollDown(ui.messages);
      return;
    }
    if (ev.toolCallStart) {
      const c = ev.toolCallStart;
      logLine("toolCallStart", 0, c.name + " " + c.toolCallId);
      render(callIn(streamingReply(c.messageId), c.runId, c.toolCallId, c.name));
      return;
    }
    if (ev.toolCallArgs || ev.toolCallEnd) {
      const c = ev.toolCallArgs || ev.toolCallEnd;
      logLine(ev.toolCallArgs ? "toolCallArgs" : "toolCallEnd", 0, c.toolCallId + (c.delta ? " " + c.delta : ""));
      const call = calls.get(callKey(c.runId, c.toolCallId));
      if (call && ev.toolCallArgs && !call.state) {
        call.args += c.delta;
        render(call);
      }
      return;
    }
    if (ev.toolCallResult) return showResult(ev.toolCallResult, seq);
    if (ev.toolApprovalRequest) {
      const r = ev.toolApprovalRequest;
      logLine("toolApprovalRequest", 0, (r.name || r.interruptId) + " " + (r.toolCallId || ""));
      const call = calls.get(callKey(r.runId, r.toolCallId));
      if (call && !ANSWERED.has(call.state)) {
        call.state = "TOOL_CALL_STATE_AWAITING_APPROVAL";
        call.approvalId = r.approvalId;
        render(call);
      }
      return;
    }
    if (ev.toolCallDecision) {
      const d = ev.toolCallDecision;
      logLine("toolCallDecision", seq, (d.approved ? "approved " : "denied ") + (d.toolCallId || d.interruptId) + " by " + (d.decidedBy || "?"));
      const call = calls.get(callKey(d.runId, d.toolCallId));
      if (call) {
        call.decision = { approved: !!d.approved, reason: d.reason || "", by: d.decidedBy || "" };
        render(call);
      }
      return;
    }
    if (ev.historyReset) {
      const r = ev.historyReset;
      logLine("historyReset", 0, "epoch " + (r.epoch || "(none)") + ", from #" + (r.firstRetainedSeq || 0));
      return startOver(r.epoch || "");
    }
    if (ev.runError) {
      const e = ev.runError;
      logLine("runError", seq, e.code + ": " + e.message);
      const mid = runs.get(e.runId);
      const li = mid && replies.get(mid);
      if (li) li.remove();
      bubble("error", e.message || e.code, "#" + seq + " · agent failed · " + clock(ev.createTime));
      return;
    }
    if (ev.historyGap) {
      const g = ev.historyGap;
      logLine("historyGap", 0, "trimmed before #" + g.firstRetainedSeq);
      divider("Older events were trimmed; history continues at #" + g.firstRetainedSeq);
      return;
    }
    if (ev.heartbeat) return;
    logLine("unknown", seq, Object.keys(ev).join(" "));
  }

  function streamingReply(messageId, step) {
    let li = replies.get(messageId);
    if (!li) {
      li = bubble("assistant", "", "agent" + (step ? " · step " + step : "") + " · typing…");
      li.classList.add("streaming");
      li.dataset.messageId = messageId;
      replies.set(messageId, li);
    }
    return li;
  }

  // ---- tool calls ---------------------------------------------------------

  function callKey(runId, id) {
    return (runId || "") + "/" + (id || "");
  }

  // callIn returns the tool call of a run, adding it, with its element, to
  // the step's bubble li if it is new (or moving it there: a step's
  // persisted message may come to a new bubble).
  function callIn(li, runId, id, name) {
    const key = callKey(runId, id);
    let call = calls.get(key);
    if (!call) {
      call = { key, runId, id, name: name || "tool", kind: "", state: "", args: "", result: "", isError: false, approvalId: "", decision: null, duration: "", el: toolElement(key) };
      calls.set(key, call);
    }
    if (call.el.parentElement !== li) li.append(call.el);
    return call;
  }

  // toolElement is a tool call's line: its name, kind and state, its
  // arguments and result, the decision on it, and the forms that answer it.
  function toolElement(key) {
    const t = el("div", "tool");
    t.dataset.key = key;
    const head = el("div", "tool-head");
    head.append(el("span", "name"), el("span", "kind"), el("span", "state"));
    const answer = el("form", "answer");
    const text = el("input", "answer-text");
    text.placeholder = "the result: text or JSON";
    text.setAttribute("aria-label", "Tool result");
    answer.append(text, button("send-result", "Send result"), button("send-error", "Send as error", "secondary"));
    const decide = el("form", "decide");
    const reason = el("input", "reason");
    reason.placeholder = "reason (optional)";
    reason.setAttribute("aria-label", "Reason");
    decide.append(reason, button("approve", "Approve"), button("deny", "Deny", "danger"));
    t.append(head, el("code", "args"), el("div", "result"), el("div", "decision"), answer, decide, el("div", "answer-error"));
    // Enter in a field does what its first button does.
    answer.addEventListener("submit", (e) => {
      e.preventDefault();
      answerCall(key, false);
    });
    decide.addEventListener("submit", (e) => e.preventDefault());
    t.addEventListener("click", (e) => {
      const act = e.target.dataset && e.target.dataset.act;
      if (act === "approve" || act === "deny") decideCall(key, act === "approve");
      else if (act) answerCall(key, act === "send-error");
    });
    return t;
  }

  function button(act, label, cls) {
    const b = el("button", cls || "", label);
    b.type = "button";
    b.dataset.act = act;
    return b;
  }

  // render shows a call as it stands.
  function render(call) {
    const t = call.el;
    const awaiting = call.state === "TOOL_CALL_STATE_AWAITING_APPROVAL";
    const d = call.decision;
    t.dataset.state = call.state || "writing";
    t.querySelector(".name").textContent = call.name;
    t.querySelector(".kind").textContent = KINDS[call.kind] || "";
    t.querySelector(".state").textContent =
      awaiting && d ? (d.approved ? "approved · running" : "denied") : STATES[call.state] + took(call.duration);
    t.querySelector(".args").textContent = call.args;
    t.querySelector(".result").textContent = call.result || ANSWERED.has(call.state) ? "→ " + call.result : "";
    t.querySelector(".decision").textContent = d ? (d.approved ? "approved" : "denied") + (d.by ? " by " + d.by : "") + (d.reason ? ": " + d.reason : "") : "";
    t.querySelector(".answer").hidden = call.state !== "TOOL_CALL_STATE_PENDING";
    t.querySelector(".decide").hidden = !awaiting || !!d;
    if (ANSWERED.has(call.state) || d) t.querySelector(".answer-error").textContent = "";
  }

  // took says how long a server tool took: " · 12 ms", from the JSON of a
  // protobuf Duration ("0.012s").
  function took(duration) {
    const ms = parseFloat(duration) * 1000;
    if (!duration || !isFinite(ms)) return "";
    return " · " + (ms < 1 ? "<1 ms" : ms < 10000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(1) + " s");
  }

  // fromStep takes a call as its persisted step has it, keeping an answer
  // that came since (the step's state predates it).
  function fromStep(call, c) {
    call.name = c.name || call.name;
    call.args = c.arguments || "";
    call.kind = c.kind || call.kind;
    call.approvalId = c.approvalId || call.approvalId;
    const state = c.state || "TOOL_CALL_STATE_UNSPECIFIED";
    if (ANSWERED.has(call.state) && !ANSWERED.has(state)) return;
    call.state = state;
    call.result = c.result || "";
    call.isError = !!c.isError;
    call.duration = c.duration || call.duration;
  }

  function showResult(r, seq) {
    logLine("toolCallResult", seq, r.toolCallId + " → " + r.content);
    const call = calls.get(callKey(r.runId, r.toolCallId));
    // A live result is the first news of an answer; the persisted one wins.
    if (!call || (ANSWERED.has(call.state) && !seq)) return;
    call.result = r.content || "";
    call.isError = !!r.isError;
    call.state = r.state || (r.isError ? "TOOL_CALL_STATE_ERROR" : "TOOL_CALL_STATE_DONE");
    call.duration = r.duration || call.duration;
    render(call);
  }

  // answerCall sends the operator's result of a pending call: its output,
  // or, asError, why it failed.
  function answerCall(key, asError) {
    const call = calls.get(key);
    if (!call) return;
    const body = { toolCallId: call.id };
    body[asError ? "error" : "output"] = call.el.querySelector(".answer-text").value;
    ask(call, "SubmitToolResult", body, ".answer");
  }

  // decideCall sends the operator's decision on an approval request.
  function decideCall(key, approve) {
    const call = calls.get(key);
    if (!call) return;
    const body = { toolCallId: call.id, approve };
    const reason = call.el.querySelector(".reason").value.trim();
    if (reason) body.reason = reason;
    if (call.approvalId) body.approvalId = call.approvalId;
    ask(call, "DecideToolCall", body, ".decide");
  }

  // ask sends an answer to a call; its buttons wait for the reply, and an
  // error is shown under the call. The answer itself shows when its event
  // is pushed.
  function ask(call, method, body, form) {
    const problem = call.el.querySelector(".answer-error");
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      problem.textContent = "not connected: try again once the console is connected";
      return;
    }
    for (const b of call.el.querySelectorAll(form + " button")) b.disabled = true;
    problem.textContent = "";
    request("answer", method, body, { call, form });
  }

  function answered(frame, r) {
    for (const b of r.call.el.querySelectorAll(r.form + " button")) b.disabled = false;
    if (frame.error) {
      r.call.el.querySelector(".answer-error").textContent = frame.error.code + ": " + frame.error.message;
      logLine("error", 0, frame.error.code + ": " + frame.error.message);
    }
  }

  // finish says how a reply ended, where that is news: cut short,
  // cancelled, filtered; and what it cost, if known.
  function finish(m) {
    const why = {
      FINISH_REASON_LENGTH: " · cut short (length)",
      FINISH_REASON_CANCELLED: " · cancelled",
      FINISH_REASON_CONTENT_FILTER: " · filtered",
      FINISH_REASON_TOOL_CALLS: " · waiting for tools",
    }[m.finishReason] || "";
    const u = m.usage;
    const cost = u ? " · " + (u.inputTokens || 0) + "+" + (u.outputTokens || 0) + " tokens" + (u.model ? " " + u.model : "") : "";
    return why + cost;
  }

  function showMessage(ev, seq) {
    const m = ev.message;
    const user = m.role === "ROLE_USER";
    logLine("message", seq, (user ? "user: " : "agent: ") + m.text);
    const meta = "#" + seq + " · " + (user ? "you" : "agent") + (m.step ? " · step " + m.step : "") + finish(m) + " · " + clock(ev.createTime);
    let li;
    if (user && m.clientMessageId && pending.has(m.clientMessageId)) {
      li = pending.get(m.clientMessageId).el;
      pending.delete(m.clientMessageId);
      li.classList.remove("pending");
    } else if (!user && replies.has(m.messageId)) {
      li = replies.get(m.messageId);
      replies.delete(m.messageId);
      li.classList.remove("streaming");
    } else {
      li = bubble(user ? "user" : "assistant", m.text, meta);
    }
    li.querySelector(".text").textContent = m.text;
    for (const c of m.toolCalls || []) {
      const call = callIn(li, m.runId, c.toolCallId, c.name);
      fromStep(call, c);
      render(call);
    }
    li.dataset.seq = String(seq);
    li.dataset.messageId = m.messageId;
    setMeta(li, meta);
    scrollDown(ui.messages);
  }

  // ---- requests -----------------------------------------------------------

  function request(kind, method, body, extra) {
    const id = kind[0] + ++nextRequest;
    requests.set(id, Object.assign({ kind }, extra));
    ws.send(JSON.stringify({ id, method, request: body }));
    return id;
  }

  function onReply(frame) {
    const r = requests.get(frame.id);
    if (!r) return;
    requests.delete(frame.id);
    if (r.kind === "refresh") return refreshed(frame, r);
    if (r.kind === "answer") return answered(frame, r);
    if (r.kind !== "send") return;
    const p = pending.get(r.cmid);
    if (frame.error) {
      logLine("error", 0, frame.error.code + ": " + frame.error.message);
      if (p) {
        pending.delete(r.cmid);
        p.el.dataset.role = "error";
        p.el.classList.remove("pending");
        setMeta(p.el, "not sent · " + frame.error.code);
        p.el.querySelector(".text").textContent = p.text + "\n— " + frame.error.message;
      }
    } else if (p) {
      p.requestId = "done"; // its events are on their way, pushed
    }
  }

  function random() {
    const b = new Uint8Array(12);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  function sendMessage(text) {
    const cmid = "console-" + random();
    const li = bubble("user", text, "sending…");
    li.classList.add("pending");
    pending.set(cmid, { text, el: li, requestId: "" });
    flush();
  }

  // flush sends the messages not sent on the current socket. A message whose
  // socket dropped before the answer is sent again: its client_message_id
  // makes the retry idempotent.
  function flush() {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      for (const p of pending.values()) if (!p.requestId) setMeta(p.el, "queued · waiting for the connection");
      return;
    }
    for (const [cmid, p] of pending) {
      if (p.requestId) continue;
      p.requestId = request("send", "SendMessage", { text: p.text, clientMessageId: cmid }, { cmid });
      setMeta(p.el, "sending…");
    }
  }

  // startOver follows a log that began anew on the server: the replay of
  // the new log follows the historyReset on the same socket.
  function startOver(newEpoch) {
    // A reply that was streaming belongs to the old history.
    for (const li of replies.values()) li.remove();
    replies.clear();
    runs.clear();
    calls.clear();
    divider("The server's history started over (a restart without Redis?) — showing it from the beginning");
    lastSeq = 0;
    epoch = newEpoch;
    showSeq();
  }

  // ---- tokens -------------------------------------------------------------

  // tokenSource resolves with the token to connect or refresh with: the
  // driver's (window.agentgateGetToken), or the one typed into the field.
  async function tokenSource() {
    if (typeof window.agentgateGetToken === "function") {
      try {
        return String((await window.agentgateGetToken()) || "");
      } catch (e) {
        logLine("error", 0, "agentgateGetToken failed: " + e.message);
        return token;
      }
    }
    return ui.token.value.trim() || token;
  }

  // refreshToken hands the open socket a fresh token, if there is one.
  async function refreshToken() {
    const sock = ws;
    const fresh = await tokenSource();
    if (!fresh || fresh === token || ws !== sock || !sock || sock.readyState !== WebSocket.OPEN) return;
    const id = "t" + ++nextRequest;
    requests.set(id, { kind: "refresh", token: fresh });
    sock.send(JSON.stringify({ id, refresh: { token: fresh } }));
  }

  function refreshed(frame, r) {
    if (frame.error) {
      logLine("error", 0, "refresh refused: " + frame.error.code + ": " + frame.error.message);
      return;
    }
    token = r.token;
    const until = frame.response && frame.response.expireTime;
    logLine("conn", 0, "token refreshed" + (until ? ", expires " + clock(until) : ""));
  }

  // ---- the socket ---------------------------------------------------------

  function socketURL(withToken) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // console=true: this socket is the console's, an operator's.
    let url = scheme + "//" + location.host + "/ws/agent/" + encodeURIComponent(agentId) + "?console=true&after_seq=" + lastSeq;
    if (epoch) url += "&epoch=" + encodeURIComponent(epoch);
    if (withToken) url += "&access_token=" + encodeURIComponent(token);
    return url;
  }

  function openSocket() {
    if (!token) return new WebSocket(socketURL(false), ["agent.v1"]);
    try {
      // Browsers cannot set headers on a WebSocket: the token rides in a
      // subprotocol, which keeps it out of URLs and access logs.
      return new WebSocket(socketURL(false), ["agent.v1", "bearer." + token]);
    } catch (e) {
      // A token with characters a subprotocol cannot carry goes in the query.
      return new WebSocket(socketURL(true), ["agent.v1"]);
    }
  }

  async function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (ws) {
      const old = ws;
      ws = null;
      old.close(1000, "reconnecting");
    }
    const want = agentId;
    const tok = await tokenSource();
    if (want !== agentId || ws) return; // moved on meanwhile
    token = tok;
    // Answers whose reply the old socket took with it: the operator may
    // send them again (the same answer is taken as a duplicate).
    for (const r of requests.values()) {
      if (r.kind === "answer") answered({ error: { code: "unavailable", message: "the connection dropped before the answer: send it again" } }, r);
    }
    requests.clear();
    for (const p of pending.values()) if (p.requestId !== "done") p.requestId = "";
    setStatus(attempt ? "reconnecting" : "connecting", "connecting to " + agentId + "…");
    let sock;
    try {
      sock = openSocket();
    } catch (e) {
      setStatus("failed", "cannot open the socket: " + e.message);
      return;
    }
    ws = sock;
    let openedAt = 0;
    sock.onopen = () => {
      if (ws !== sock) return;
      openedAt = Date.now();
      setStatus("open", "connected · " + agentId);
      logLine("conn", 0, "open, after_seq=" + lastSeq);
      flush();
    };
    sock.onmessage = (msg) => {
      if (ws !== sock) return;
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch (e) {
        logLine("error", 0, "not JSON: " + String(msg.data).slice(0, 80));
        return;
      }
      if (frame.event) onEvent(frame.event);
      else if (frame.expiring) {
        logLine("conn", 0, "token expires " + clock(frame.expiring.expireTime) + ", closes " + clock(frame.expiring.closeTime));
        refreshToken();
      } else if (frame.id !== undefined) onReply(frame);
      else if (frame.error) logLine("error", 0, frame.error.code + ": " + frame.error.message);
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      lastClose = e.code + (e.reason ? " " + e.reason : "");
      // A socket that lived a while was healthy: start the backoff afresh.
      // One closed at once (refused, overloaded) keeps backing off.
      if (openedAt && Date.now() - openedAt > 5000) attempt = 0;
      logLine("conn", 0, "closed " + lastClose);
      if (e.code === CLOSE_TOKEN_EXPIRED) return reconnectExpired();
      if (openedAt) {
        scheduleReconnect();
        return;
      }
      // Closed before it opened: the upgrade was refused, and a browser
      // shows that as 1006 only. Ask the server why.
      const asked = { agentId, token };
      explainRefusal().then(async (ans) => {
        if (ws || asked.agentId !== agentId || asked.token !== token) return; // moved on meanwhile
        if (ans && (ans.reason === "expired_token" || ans.reason === "invalid_token")) {
          const fresh = await tokenSource();
          if (fresh && fresh !== asked.token && asked.agentId === agentId && !ws) {
            scheduleReconnect(); // with the fresh token
            return;
          }
        }
        if (ans && !ans.ok && !ans.retry) {
          // Retrying cannot help until the token or the server's settings change.
          setStatus("refused", "refused: " + ans.message);
          logLine("error", 0, "refused (" + ans.reason + "): " + ans.message);
          return;
        }
        if (ans && !ans.ok) lastClose += " · " + ans.message;
        scheduleReconnect();
      });
    };
  }

  // reconnectExpired follows a close for an expired token: at once with a
  // fresh token, or, when the only token at hand is the expired one, not at
  // all until the operator gives a new one.
  async function reconnectExpired() {
    const asked = agentId;
    const fresh = await tokenSource();
    if (asked !== agentId || ws) return; // moved on meanwhile
    if (!fresh || fresh === token) {
      setStatus("refused", "refused: the token expired: paste a fresh one and press Open");
      return;
    }
    connect();
  }

  // explainRefusal runs, at the server, the checks a refused upgrade ran
  // (token, origin, agent id, connection limit) and resolves with its
  // answer {ok, reason, message, retry}, or null if the server cannot be
  // asked (it is down: keep retrying).
  async function explainRefusal() {
    const headers = token ? { Authorization: "Bearer " + token } : {};
    try {
      const res = await fetch("/console/check?agent=" + encodeURIComponent(agentId), { method: "POST", headers, cache: "no-store" });
      return await res.json();
    } catch (e) {
      return null;
    }
  }

  // scheduleReconnect waits a jittered, exponentially growing delay: between
  // half and all of min(10s, 250ms × 2^attempt), so that the clients a
  // deploy disconnected do not all come back in the same instant.
  function scheduleReconnect() {
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    attempt++;
    retryAt = Date.now() + delay;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, delay);
    for (const p of pending.values()) if (p.requestId !== "done") p.requestId = "";
    tickStatus();
  }

  // tickStatus counts the wait down in the status line, until connect.
  function tickStatus() {
    clearTimeout(tickTimer);
    if (!retryTimer) return;
    const left = Math.max(0, retryAt - Date.now());
    setStatus("reconnecting", "reconnecting in " + (left / 1000).toFixed(1) + "s · attempt " + attempt +
      (lastClose ? " · closed " + lastClose : ""));
    tickTimer = setTimeout(tickStatus, Math.min(250, left + 10));
  }

  // open switches to an agent (or reconnects to the same one).
  function open(id, tok) {
    if (id !== agentId) resetConversation();
    agentId = id;
    token = tok;
    attempt = 0;
    localStorage.setItem("agentgate.agent", id);
    sessionStorage.setItem("agentgate.token", tok);
    const url = new URL(location.href);
    url.searchParams.set("agent", id);
    history.replaceState(null, "", url);
    document.title = id + " · agentgate console";
    connect();
  }

  // ---- wiring -------------------------------------------------------------

  ui.form.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = ui.agent.value.trim();
    if (!AGENT_ID.test(id)) {
      ui.agent.setCustomValidity("1 to 128 characters of A-Z a-z 0-9 . _ : -");
      ui.agent.reportValidity();
      return;
    }
    open(id, ui.token.value.trim());
  });
  ui.agent.addEventListener("input", () => ui.agent.setCustomValidity(""));

  ui.sendForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.text.value.trim();
    if (!text || !agentId) return;
    ui.text.value = "";
    sendMessage(text);
    ui.text.focus();
  });
  ui.text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      ui.sendForm.requestSubmit();
    }
  });
  // Back online: try at once instead of waiting out the backoff.
  window.addEventListener("online", () => {
    if (retryTimer) connect();
  });

  const params = new URLSearchParams(location.search);
  const initial = params.get("agent") || localStorage.getItem("agentgate.agent") || "demo";
  ui.agent.value = AGENT_ID.test(initial) ? initial : "demo";
  ui.token.value = sessionStorage.getItem("agentgate.token") || "";
  resetConversation();
  open(ui.agent.value, ui.token.value);
})();
