// A real OpenID provider (oidc-provider 9) for the JWT verifier's
// integration test. It issues RFC 9068 JWT access tokens (typ at+jwt) by
// client credentials, signed with the key of the algorithm the resource
// names, and publishes the keys at /jwks, as any provider does.
//
// Resources (the resource parameter of the token request), all for the
// audience "agentgate":
//   urn:agentgate:rs256, urn:agentgate:es256, urn:agentgate:eddsa
// Clients (client_secret_basic, secret "<client id>-secret"):
//   alice-app  may get agents:read agents:write agents:admin
//   reader     may get agents:read only
//   team-app   like alice-app, and its tokens carry agents: ["team:*"]
// A client credentials token's sub is the client id.
//
// Usage: node server.mjs   (binds 127.0.0.1 on a free port and prints
// "issuer http://127.0.0.1:<port>" on stdout once it accepts connections)

import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import Provider, { errors } from "oidc-provider";

const AUDIENCE = "agentgate";
const ALGS = { "urn:agentgate:rs256": "RS256", "urn:agentgate:es256": "ES256", "urn:agentgate:eddsa": "EdDSA" };
const ALL_SCOPES = "agents:read agents:write agents:admin";
const CLIENT_SCOPES = { "alice-app": ALL_SCOPES, reader: "agents:read", "team-app": ALL_SCOPES };

// privateJWK makes a key pair and returns its private half as a JWK.
function privateJWK(type, options, kid, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: "jwk" }), kid, alg, use: "sig" };
}

const jwks = {
  keys: [
    privateJWK("rsa", { modulusLength: 2048 }, "rsa-1", "RS256"),
    privateJWK("ec", { namedCurve: "P-256" }, "ec-1", "ES256"),
    privateJWK("ed25519", {}, "ed-1", "EdDSA"),
  ],
};

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks,
    clients: Object.keys(CLIENT_SCOPES).map((id) => ({
      client_id: id,
      client_secret: `${id}-secret`,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => "urn:agentgate:rs256",
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resourceIndicator, client) {
          const alg = ALGS[resourceIndicator];
          if (!alg) throw new errors.InvalidTarget();
          return {
            scope: CLIENT_SCOPES[client.clientId],
            audience: AUDIENCE,
            accessTokenFormat: "jwt",
            accessTokenTTL: 300,
            jwt: { sign: { alg } },
          };
        },
      },
    },
    extraTokenClaims(ctx, token) {
      return token.clientId === "team-app" ? { agents: ["team:*"] } : undefined;
    },
  });
  server.on("request", provider.callback());
  console.log(`issuer ${issuer}`);
});
