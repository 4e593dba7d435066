// Starts the gateway for the doors' tests: the whole gateway with the
// scripted responder and server tools of internal/tooltest (tool calls,
// run errors and slow replies on demand), built from this tree
// ($TOOLTEST_BIN when set), on a loopback port, and stops it by its PID.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startBinary, toolGatewayBinary, type Server } from "../../ts/test/server.js";

export { startRedis, type Redis } from "../../ts/test/ports.js";

/** The repository root. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** A running gateway process. */
export type Gateway = Server;

/** startGateway runs the gateway with env and resolves once it serves (30s at most). */
export async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  return startBinary(await toolGatewayBinary(), env);
}

/** history reads an agent's persisted events through the Connect API (JSON). */
export async function history(gw: Gateway, agentId: string, headers: Record<string, string> = {}): Promise<any[]> {
  const res = await fetch(`${gw.url}/agent.v1.AgentService/GetHistory`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ agentId }),
  });
  if (!res.ok) throw new Error(`GetHistory: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { events?: any[] };
  return body.events ?? [];
}

/** deleteAgent deletes an agent through the Connect API (JSON). */
export async function deleteAgent(gw: Gateway, agentId: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`${gw.url}/agent.v1.AgentService/DeleteAgent`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ agentId }),
  });
  if (!res.ok) throw new Error(`DeleteAgent: ${res.status} ${await res.text()}`);
}
