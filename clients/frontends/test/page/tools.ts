// The page of the doors' browser test of a frontend tool: a chat on the
// AI SDK's Chat (what useChat wraps) that lends the gateway a tool of its
// own, get_page_title, runs it in the page when the agent calls it
// (onToolCall), and answers with addToolOutput; sendAutomaticallyWhen
// sends the answer on, as a useChat app does. Bundled with esbuild.
import { DefaultChatTransport, lastAssistantMessageIsCompleteWithToolCalls, type UIMessage } from "ai";
import { Chat, text } from "../chat.js";

const params = new URLSearchParams(location.search);
const gateway = params.get("gateway")!;
const agent = params.get("agent")!;
const token = params.get("token") ?? "";

// The tools the page lends, in the request body, on every request.
const tools = [{ name: "get_page_title", description: "The title of the page the user reads.", parameters: { type: "object", properties: {} } }];
const transport = new DefaultChatTransport<UIMessage>({
  api: `${gateway}/ai/chat`,
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  body: { tools },
});

// The calls the page ran, for the test to read.
const ran: string[] = [];
(window as unknown as { ran: string[] }).ran = ran;

const chat: Chat = new Chat({
  id: agent,
  transport,
  sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
  onToolCall: ({ toolCall }) => {
    if (toolCall.toolName !== "get_page_title") return;
    ran.push(toolCall.toolCallId);
    void chat.addToolOutput({ tool: "get_page_title", toolCallId: toolCall.toolCallId, output: document.title });
  },
});

const form = document.getElementById("form") as HTMLFormElement;
const input = document.getElementById("text") as HTMLInputElement;
const reply = document.getElementById("reply")!;
chat.store.listeners.add(() => {
  reply.textContent = text(chat.messages.filter((m) => m.role === "assistant").at(-1));
});

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  reply.dataset.state = "streaming";
  await chat.sendMessage({ text: input.value });
  reply.dataset.state = chat.status === "error" ? "error" : "done";
  if (chat.error) reply.textContent = String(chat.error);
});
