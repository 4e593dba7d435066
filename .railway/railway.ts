// Railway infrastructure for agentgate, read by `railway config plan` and
// `railway config apply` (Railway CLI 5.42.1 or newer). docs/deploy.md walks
// through the whole deploy; scripts/test.sh type-checks this file and runs it.
//
// The gateway service has no `source`: `railway up` uploads the working tree
// and Railway builds it with the Dockerfile. To deploy on every push instead,
// add `source: github("OWNER/REPO")` to the service.
import { defineRailway, project, redis, service } from "railway/iac";

// How long the server may drain on SIGTERM before it cuts connections. It is
// passed to the server as SHUTDOWN_TIMEOUT.
const shutdownTimeoutSeconds = 10;

// How long Railway waits between SIGTERM and SIGKILL when it replaces a
// deployment. Railway's default is 0 s, which would kill open WebSockets and
// streams before the server could close them with 1001 / unavailable, so it
// is set a few seconds above SHUTDOWN_TIMEOUT: the process exits on its own.
const drainingSeconds = shutdownTimeoutSeconds + 5;

export default defineRailway(() => {
  // Holds the agents' event logs and fan-out, so that every replica serves
  // every agent. Railway provisions it; its REDIS_URL is referenced below.
  const cache = redis("Redis");

  const gateway = service("agentgate", {
    build: { builder: "DOCKERFILE", dockerfilePath: "Dockerfile" },
    // A deployment goes live only once GET /health answers 200. /health is
    // readiness: it answers 503 while Redis is unreachable, so a replica
    // that cannot reach Redis never takes traffic.
    healthcheck: "/health",
    healthcheckTimeout: 120,
    // With REDIS_URL set, replicas share agents: raise this freely.
    replicas: 1,
    deploy: {
      restartPolicyType: "ON_FAILURE",
      restartPolicyMaxRetries: 10,
      drainingSeconds,
      // The old deployment is sent SIGTERM as soon as the new one is healthy;
      // its WebSockets close with 1001 and reconnect to the new one.
      overlapSeconds: 0,
    },
    // PORT is not set here: Railway assigns it and routes the public domain
    // to it, and the server reads it.
    env: {
      LOG_FORMAT: "json",
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT: `${shutdownTimeoutSeconds}s`,
      REDIS_URL: cache.env.REDIS_URL,
    },
  });

  return project("agentgate", { resources: [cache, gateway] });
});
