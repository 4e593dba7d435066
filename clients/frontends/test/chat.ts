// Drives the AI SDK's Chat state machine, AbstractChat (what useChat
// wraps), from Node, without React: a ChatState that keeps the messages in
// plain arrays and tells listeners when they change.
import { AbstractChat, DefaultChatTransport, type ChatInit, type ChatState, type ChatStatus, type UIMessage } from "ai";

class State implements ChatState<UIMessage> {
  #status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  /** status tells the listeners when it changes too: a stream has ended
   * only once the chat is ready again, after its last chunk. */
  get status(): ChatStatus {
    return this.#status;
  }
  set status(s: ChatStatus) {
    this.#status = s;
    this.changed();
  }
  messages: UIMessage[] = [];
  listeners = new Set<() => void>();
  changed() {
    for (const l of this.listeners) l();
  }
  pushMessage = (m: UIMessage) => {
    this.messages = [...this.messages, m];
    this.changed();
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
    this.changed();
  };
  replaceMessage = (i: number, m: UIMessage) => {
    this.messages = this.messages.map((x, j) => (j === i ? m : x));
    this.changed();
  };
  snapshot = <T>(t: T): T => structuredClone(t);
}

/** Chat is the Chat of useChat, minus React. */
export class Chat extends AbstractChat<UIMessage> {
  readonly store: State;
  constructor(init: Omit<ChatInit<UIMessage>, "state">) {
    const state = new State();
    super({ ...init, state } as ChatInit<UIMessage> & { state: State });
    this.store = state;
  }

  /** until resolves once pred holds of the messages (checked on each change
   * of the messages or the status). */
  until(pred: (messages: UIMessage[]) => boolean, timeoutMs = 20_000): Promise<void> {
    if (pred(this.store.messages)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.store.listeners.delete(check);
        reject(new Error(`messages did not become as expected: ${JSON.stringify(this.store.messages)}`));
      }, timeoutMs);
      const check = () => {
        if (!pred(this.store.messages)) return;
        clearTimeout(timer);
        this.store.listeners.delete(check);
        resolve();
      };
      this.store.listeners.add(check);
    });
  }
}

/** newChat is a chat with agentId through the gateway at base. */
export function newChat(base: string, agentId: string, headers: Record<string, string> = {}, onError?: (e: Error) => void) {
  const transport = new DefaultChatTransport<UIMessage>({ api: `${base}/ai/chat`, headers });
  return new Chat({ id: agentId, transport, onError });
}

/** text is a message's text parts joined. */
export function text(m: UIMessage | undefined): string {
  return (m?.parts ?? []).map((p) => (p.type === "text" ? p.text : "")).join("");
}
