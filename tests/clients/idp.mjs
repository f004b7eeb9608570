// An external OpenID provider for EHP's tests: oidc-provider (npm), unmodified, configured as a
// national identity provider might be. It issues JWT access tokens (RFC 9068) for EHP's audience
// through the client credentials grant, signed with ES384, carrying the user as a claim: either
// fhirUser or an IIN. Usage: node idp.mjs PORT CLAIM VALUE AUDIENCE
import crypto from "node:crypto";
import Provider from "oidc-provider";

const [port, claim, value, audience] = process.argv.slice(2);
const ec = crypto.generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey.export({ format: "jwk" });
const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: "ehp-test",
    client_secret: "a-test-secret-for-the-provider",
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    scope: "user/*.rs",
  }],
  scopes: ["openid", "user/*.rs"],
  jwks: { keys: [{ ...ec, kid: "idp-es384", alg: "ES384", use: "sig" }, { ...rsa, kid: "idp-rs256", use: "sig" }] },
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
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
