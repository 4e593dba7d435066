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
}

/** createNodeClient returns an AgentService client for Node. */
export function createNodeClient(opts: NodeClientOptions): AgentClient {
  const interceptors: Interceptor[] = [];
  if (opts.token) {
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
