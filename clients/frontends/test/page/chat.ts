// The browser page of the doors' browser test: a chat that talks to the
// gateway through the AI SDK's own transport, as a useChat app does. It is
// bundled with esbuild, so the page needs no network.
import { DefaultChatTransport, readUIMessageStream, type UIMessage } from "ai";

const params = new URLSearchParams(location.search);
const gateway = params.get("gateway")!;
const agent = params.get("agent")!;
const token = params.get("token") ?? "";

const transport = new DefaultChatTransport<UIMessage>({
  api: `${gateway}/ai/chat`,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
});

const form = document.getElementById("form") as HTMLFormElement;
const input = document.getElementById("text") as HTMLInputElement;
const reply = document.getElementById("reply")!;
const messages: UIMessage[] = [];
// Every text the reply showed while it streamed, for the test to read.
const streamed: string[] = [];
(window as unknown as { streamed: string[] }).streamed = streamed;

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const user: UIMessage = { id: crypto.randomUUID(), role: "user", parts: [{ type: "text", text: input.value }] };
  messages.push(user);
  reply.dataset.state = "streaming";
  try {
    const stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId: agent,
      messageId: undefined,
      messages,
      abortSignal: undefined,
    });
    let last: UIMessage | undefined;
    for await (const m of readUIMessageStream({ stream })) {
      last = m;
      const text = m.parts.map((p) => (p.type === "text" ? p.text : "")).join("");
      if (text && streamed.at(-1) !== text) streamed.push(text);
      reply.textContent = text;
    }
    if (last) messages.push(last);
    reply.dataset.state = "done";
  } catch (err) {
    reply.textContent = String(err);
    reply.dataset.state = "error";
  }
});
