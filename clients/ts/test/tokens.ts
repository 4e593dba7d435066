// Users' tokens for the tests of tokens that expire: HS256 JWTs of the
// secret the test's server verifies, as a frontend's backend would mint
// them.
import { createHmac } from "node:crypto";

/**
 * The settings of a gateway that takes users' HS256 tokens, with a short
 * grace, and no limit of messages or frames: the tests send as fast as
 * the echo replies (ECHO_DELAY paces them).
 */
export const jwtEnv = {
  AUTH_JWT_SECRET: "the-ts-tests-HS256-secret-0123456789",
  AUTH_JWT_ISSUER: "https://idp.example.test/",
  AUTH_JWT_AUDIENCE: "agentgate",
  AUTH_EXPIRY_GRACE: "300ms",
  USER_MESSAGE_RATE: "0",
  WS_FRAME_RATE: "100000",
  ECHO_DELAY: "5ms",
};

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** The scopes of an operator, whom the console takes. */
export const operatorScope = "agents:read agents:write agents:admin";

/**
 * mint returns alice's token for her agents (alice:*), expiring in
 * lifetimeSeconds (JWT times are whole seconds, so one to that many), with
 * the scope claim given (none by default: she may read and write).
 */
export function mint(lifetimeSeconds: number, scope?: string): string {
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({
    iss: jwtEnv.AUTH_JWT_ISSUER,
    aud: jwtEnv.AUTH_JWT_AUDIENCE,
    sub: "alice",
    agents: ["alice:*"],
    ...(scope === undefined ? {} : { scope }),
    iat: now,
    exp: now + lifetimeSeconds,
  })}`;
  return `${body}.${createHmac("sha256", jwtEnv.AUTH_JWT_SECRET).update(body).digest("base64url")}`;
}
