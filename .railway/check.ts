// Runs railway.ts the way the Railway CLI does, with a context per
// environment, and checks what the type checker cannot: every variable
// reference points to a resource of the project, and the deploy settings of
// the gateway's service keep the server's shutdown inside Railway's draining
// window. Other services of the project (an MCP server, say: docs/tools.md)
// are checked for their references only.
import {
  RAILWAY_GRAPH_VERSION,
  createRailwayContext,
  validateGraph,
  type Edge,
  type ResourceNode,
} from "railway/iac";
import program from "./railway.ts";

function check(environment: string): string[] {
  const ctx = createRailwayContext({ environment, command: "plan" });
  const definition = program(ctx, (name, rest) => ({ name, ...rest }));
  if (definition instanceof Promise) {
    return ["railway.ts must return its project synchronously"];
  }
  const resources: ResourceNode[] = (definition.resources ?? []).flat();
  const edges: Edge[] = [];
  const errors: string[] = [];
  let gateways = 0;
  for (const resource of resources) {
    if (resource.type !== "service") continue;
    for (const [key, value] of Object.entries(resource.variables ?? {})) {
      if (value.type === "reference") {
        edges.push({ from: resource.address, to: value.resource, type: "variable", key });
      }
    }
    if (resource.name !== gatewayService) continue;
    gateways++;
    if (resource.variables?.["PORT"]) errors.push(`${resource.name}: PORT is Railway's to set`);
    errors.push(...checkDeploy(resource.name, resource.deploy, resource.variables));
    if (resource.build?.builder !== "DOCKERFILE") {
      errors.push(`${resource.name}: build.builder must be DOCKERFILE`);
    }
  }
  if (gateways !== 1) errors.push(`want one service named ${gatewayService}, the gateway`);
  errors.push(
    ...validateGraph({
      version: RAILWAY_GRAPH_VERSION,
      project: { name: definition.name },
      environments: [{ name: environment }],
      resources,
      edges,
    }),
  );
  return errors.map((e) => `${environment}: ${e}`);
}

// gatewayService is the name of the gateway's service in railway.ts.
const gatewayService = "agentgate";

type Service = Extract<ResourceNode, { type: "service" }>;

function checkDeploy(name: string, deploy: Service["deploy"], variables: Service["variables"]): string[] {
  const errors: string[] = [];
  if (deploy?.healthcheckPath !== "/health") errors.push(`${name}: healthcheck must be /health`);
  if (deploy?.restartPolicyType !== "ON_FAILURE") errors.push(`${name}: restart policy must be ON_FAILURE`);
  const timeout = variables?.["SHUTDOWN_TIMEOUT"];
  const match = timeout?.type === "literal" ? /^(\d+)s$/.exec(timeout.value ?? "") : null;
  if (!match) {
    errors.push(`${name}: SHUTDOWN_TIMEOUT must be a literal number of seconds, such as "10s"`);
  } else if ((deploy?.drainingSeconds ?? 0) <= Number(match[1])) {
    errors.push(`${name}: drainingSeconds must exceed SHUTDOWN_TIMEOUT, or Railway kills the drain`);
  }
  return errors;
}

const errors = ["production", "staging"].flatMap(check);
if (errors.length > 0) {
  console.error(`.railway/railway.ts:\n  ${errors.join("\n  ")}`);
  process.exitCode = 1;
} else {
  console.log("railway.ts: ok");
}
