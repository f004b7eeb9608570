// An external OpenID provider for EHP's tests: oidc-provider (npm), unmodified, configured as a
// national identity provider might be. It issues JWT access tokens (RFC 9068) for EHP's audience
// through the client credentials grant, signed with ES384, carrying the user as a claim: either
// fhirUser or an IIN. With REDIRECT_URI it also lets users sign in to EHP's pages (client
// "ehp-pages", authorization code flow, its own development login form): the claim rides in the ID
// token (CLAIMS_IN "id_token") or only in the UserInfo answer ("userinfo"); ID tokens are signed
// with ID_TOKEN_ALG (an RSA algorithm).
// Usage: node idp.mjs PORT CLAIM VALUE AUDIENCE [REDIRECT_URI CLAIMS_IN ID_TOKEN_ALG]
import crypto from "node:crypto";
import Provider from "oidc-provider";

const [port, claim, value, audience, redirect, claimsIn, idTokenAlg] = process.argv.slice(2);
const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({ format: "jwk" });
const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
const clients = [{
  client_id: "ehp-test",
  client_secret: "a-test-secret-for-the-provider",
  grant_types: ["client_credentials"],
  redirect_uris: [],
  response_types: [],
  scope: "user/*.rs",
}];
if (redirect) {
  clients.push({
    client_id: "ehp-pages",
    client_secret: "a-test-secret-for-the-pages",
    grant_types: ["authorization_code"],
    redirect_uris: [redirect],
    response_types: ["code"],
    scope: `openid ${claim}`,
    id_token_signed_response_alg: idTokenAlg || "RS256",
  });
}
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients,
  scopes: ["openid", "user/*.rs", claim],
  claims: { openid: ["sub"], [claim]: [claim] },
  conformIdTokenClaims: claimsIn === "userinfo",
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id, [claim]: value }) }),
  jwks: { keys: [{ ...ec, kid: "idp-es384", alg: "ES384", use: "sig" }, { ...rsa, kid: "idp-rs256", use: "sig" }] },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client) => (client.clientId === "ehp-test" ? audience : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "user/*.rs",
        audience,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "ES384" } },
      }),
    },
  },
  extraTokenClaims: () => ({ [claim]: value }),
});
provider.listen(Number(port), "127.0.0.1", () => console.log(`idp listening on ${port}`));
