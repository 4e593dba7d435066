// The TypeScript client of agent.v1.AgentService. The message and service
// types are generated from proto/ into ./gen by `buf generate`; this file
// adds a transport helper for Node.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AgentService } from "./gen/agent/v1/agent_pb.js";

export * from "./gen/agent/v1/agent_pb.js";
export * from "./gen/agent/v1/event_pb.js";

/** A client of AgentService. */
export type AgentClient = Client<typeof AgentService>;

/** How a Node client reaches the gateway. */
export interface NodeClientOptions {
  /** The gateway's base URL, such as "http://localhost:8080". */
  baseUrl: string;
  /**
   * "connect" (the default) speaks the Connect protocol over HTTP/1.1;
   * "grpc" speaks gRPC over HTTP/2, in cleartext (h2c) for http:// URLs.
   */
  protocol?: "connect" | "grpc";
  /** A token of AUTH_TOKENS, sent as "Authorization: Bearer <token>". */
  token?: string;
  /**
   * Returns the token of each call, for tokens that expire (a user's JWT):
   * it is called before every call and every stream, so cache the token in
   * it and fetch a new one when it nears its exp. A stream outliving its
   * token ends with unauthenticated; followAgent then resumes it with a
   * fresh one. Takes the place of token.
   */
  getToken?: () => string | Promise<string>;
}

/** createNodeClient returns an AgentService client for Node. */
export function createNodeClient(opts: NodeClientOptions): AgentClient {
  const interceptors: Interceptor[] = [];
  const getToken = opts.getToken;
  if (getToken) {
    interceptors.push((next) => async (req) => {
      req.header.set("Authorization", `Bearer ${await getToken()}`);
      return next(req);
    });
  } else if (opts.token) {
    const header = `Bearer ${opts.token}`;
    interceptors.push((next) => (req) => {
      req.header.set("Authorization", header);
      return next(req);
    });
  }
  const transport =
    opts.protocol === "grpc"
      ? createGrpcTransport({ baseUrl: opts.baseUrl, interceptors })
      : createConnectTransport({ baseUrl: opts.baseUrl, httpVersion: "1.1", interceptors });
  return createClient(AgentService, transport);
}

export { AgentFollower, followAgent, type FollowOptions } from "./follow.js";
export {
  AgentSocket,
  connectSocket,
  CLOSE_TOKEN_EXPIRED,
  SocketCallError,
  type AnswerOptions,
  type DecideOptions,
  type SendOptions,
  type SocketOptions,
} from "./socket.js";
export { Run, RunTracker, answered, type RunStatus, type RunStep, type RunToolCall, type ToolDecision } from "./run.js";
export { AgentSession, openSession, type SessionOptions } from "./session.js";
export {
  ToolRunner,
  codeOf,
  defineTool,
  outcomeOf,
  toolDefs,
  type AnyClientTool,
  type ClientTool,
  type ToolLoopOptions,
  type ToolOutcome,
  type ToolRunnerOptions,
} from "./tools.js";
