// A client_credentials access token from the test provider (tests/oidc/provider.mjs), with the
// resource indicator of its resource server (RFC 8707), printed on stdout.
//
//   OIDC_CLIENT_SECRET=... node tests/oidc/token.mjs ISSUER CA_FILE CLIENT
//
// The secret comes from the environment, not the command line (where any local user could read
// it). Exits 1 with the provider's error on stderr when no token is issued.
import * as fs from 'node:fs';
import * as https from 'node:https';

const [issuer, caFile, client] = process.argv.slice(2);
const secret = process.env.OIDC_CLIENT_SECRET;
if (!issuer || !caFile || !client || !secret) {
  console.error('usage: OIDC_CLIENT_SECRET=... token.mjs ISSUER CA_FILE CLIENT');
  process.exit(2);
}
const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'db', resource: 'urn:pg-idp:app' }).toString();
const req = https.request(`${issuer}/token`, {
  method: 'POST',
  ca: fs.readFileSync(caFile),
  auth: `${encodeURIComponent(client)}:${encodeURIComponent(secret)}`,
  headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
}, (res) => {
  let data = '';
  res.setEncoding('utf8');
  res.on('data', (c) => { data += c; });
  res.on('end', () => {
    let parsed = {};
    try { parsed = JSON.parse(data); } catch (e) { /* reported below */ }
    if (res.statusCode !== 200 || !parsed.access_token) {
      console.error(`token: ${res.statusCode} ${parsed.error || ''} ${parsed.error_description || data.slice(0, 200)}`);
      process.exit(1);
    }
    process.stdout.write(`${parsed.access_token}\n`);
  });
});
req.on('error', (e) => { console.error(`token: ${e.message}`); process.exit(1); });
req.end(body);
