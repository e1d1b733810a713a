// A real OpenID Provider for pg_idp's tests: panva's oidc-provider (pinned in
// examples/package-lock.json), on loopback over HTTPS with a CA made for the test run. pg_idp
// mints nothing here: every token the suites use comes from this provider.
//
//   node tests/oidc/provider.mjs DIR PORT [--keys ALG:KID,...] [--alg CLIENT=ALG ...]
//
// DIR holds tls/server.pem and tls/server.key (scripts/lib.sh's make_test_tls), client_secret (the
// confidential clients' secret) and keys/KID.json (each signing key, made at the first start that
// names its kid and kept, so a restart with the same kid keeps the key and a new kid is a new key).
// Once listening it writes DIR/state.json ({"pid", "port", "issuer", "kids"}); it logs one line per
// event on stdout (never a token or a secret).
//
// The issuer is https://127.0.0.1:PORT. Two resource servers whose access tokens are JWTs (typ
// at+jwt), each client's signed with the algorithm family the client is set to (below; --alg
// CLIENT=ALG changes one, as a key rotation to another family does): urn:pg-idp:app (the
// database: aud urn:pg-idp:app, scopes "db" and "read"), which a request that names no resource
// gets, as a provider's default audience; and urn:pg-idp:billing (another API of the same
// issuer: aud urn:pg-idp:billing, the same scopes), the default resource of client psql-billing.
// A token's scope is what the client asked for of these scopes (libpq asks for the pg_hba.conf
// line's scope, or its connection's oauth_scope).
//
// Clients:
//   svc-rs256, svc-ps256, svc-es256, svc-eddsa, svc-rotating: client_credentials (the secret in
//     DIR/client_secret); a token's sub is the client id.
//   psql (RS256), psql-es256 (ES256), psycopg (PS256), libpq-app (EdDSA): the device flow
//     (RFC 8628) as libpq 18 runs it, public clients; psql-short: the same, with a device code
//     that expires after 3 seconds; psql-billing (RS256): the same, its tokens for
//     urn:pg-idp:billing.
// Accounts (the device flow's sign-in page; the password is the name followed by "-password"):
//   alice (sub user_2alice) and bob (sub user_2bob), with db_role "app_user"; carol (sub
//   user_2carol) without db_role. db_role and email are claims of their access tokens.
// The device authorization response advertises a polling interval of 1 second (real providers
// say 5): libpq polls that often, which keeps the tests short.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';

const requireExamples = createRequire(new URL('../../examples/package.json', import.meta.url));
const { default: Provider, errors } = await import(pathToFileURL(requireExamples.resolve('oidc-provider')).href);

const [dir, portArg, ...rest] = process.argv.slice(2);
if (!dir || !portArg) {
  console.error('usage: provider.mjs DIR PORT [--keys ALG:KID,...] [--alg CLIENT=ALG ...]');
  process.exit(2);
}
const port = Number(portArg);
const issuer = `https://127.0.0.1:${port}`;
const RESOURCE = 'urn:pg-idp:app';
const BILLING = 'urn:pg-idp:billing';
const FAMILIES = ['RS256', 'PS256', 'ES256', 'EdDSA'];

let keySpec = 'RS256:rs-1,PS256:ps-1,ES256:es-1,EdDSA:ed-1';
const clientAlg = {
  'svc-rs256': 'RS256', 'svc-ps256': 'PS256', 'svc-es256': 'ES256', 'svc-eddsa': 'EdDSA', 'svc-rotating': 'RS256',
  psql: 'RS256', 'psql-es256': 'ES256', psycopg: 'PS256', 'libpq-app': 'EdDSA', 'psql-short': 'RS256',
  'psql-billing': 'RS256',
};
for (let i = 0; i < rest.length; i += 2) {
  const [flag, value] = [rest[i], rest[i + 1]];
  if (flag === '--keys' && value) keySpec = value;
  else if (flag === '--alg' && /^[a-z0-9-]+=[A-Za-z0-9]+$/.test(value || '')) {
    const [client, alg] = value.split('=');
    if (!(client in clientAlg) || !FAMILIES.includes(alg)) throw new Error(`--alg ${value}: unknown client or family`);
    clientAlg[client] = alg;
  } else throw new Error(`unknown argument: ${flag}`);
}

// The signing keys: made once per kid (kept in DIR/keys), one per family named.
fs.mkdirSync(path.join(dir, 'keys'), { recursive: true, mode: 0o700 });
function signingKey(alg, kid) {
  const file = path.join(dir, 'keys', `${kid}.json`);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  let pair;
  if (alg === 'RS256' || alg === 'PS256') pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (alg === 'ES256') pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else if (alg === 'EdDSA') pair = crypto.generateKeyPairSync('ed25519');
  else throw new Error(`unknown family ${alg}`);
  const jwk = { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
  fs.writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}
const keys = keySpec.split(',').map((s) => {
  const [alg, kid] = s.split(':');
  if (!FAMILIES.includes(alg) || !/^[A-Za-z0-9_-]+$/.test(kid || '')) throw new Error(`--keys: bad entry ${s}`);
  return signingKey(alg, kid);
});
for (const [client, alg] of Object.entries(clientAlg)) {
  if (!keys.some((k) => k.alg === alg)) throw new Error(`client ${client} signs with ${alg}, which has no key`);
}

const secret = fs.readFileSync(path.join(dir, 'client_secret'), 'utf8').trim();
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const clients = Object.keys(clientAlg).map((id) => (id.startsWith('svc-')
  ? { client_id: id, client_secret: secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }
  : { client_id: id, token_endpoint_auth_method: 'none', grant_types: [DEVICE], response_types: [], redirect_uris: [] }));

const accounts = {
  alice: { sub: 'user_2alice', email: 'alice@example.com', db_role: 'app_user' },
  bob: { sub: 'user_2bob', email: 'bob@example.com', db_role: 'app_user' },
  carol: { sub: 'user_2carol', email: 'carol@example.com' },
};
const bySub = Object.fromEntries(Object.values(accounts).map((a) => [a.sub, a]));

const html = (title, body) => `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  findAccount: (ctx, sub) => (bySub[sub] ? {
    accountId: sub,
    claims: () => ({ sub, email: bySub[sub].email }),
  } : undefined),
  extraTokenClaims: (ctx, token) => {
    const account = token.accountId && bySub[token.accountId];
    if (!account) return undefined;
    return account.db_role ? { email: account.email, db_role: account.db_role } : { email: account.email };
  },
  scopes: ['openid', 'db', 'read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    deviceFlow: {
      enabled: true,
      // The pages of the flow, without the default pages' web fonts (nothing leaves loopback).
      userCodeInputSource: (ctx, form, out, err) => {
        let msg = '<p>Enter the code displayed on your device</p>';
        if (err && err.name === 'AbortedError') msg = '<p id="error">The sign-in request was interrupted</p>';
        else if (err && err.name === 'ExpiredError') msg = '<p id="error">The code has expired</p>';
        else if (err) msg = '<p id="error">The code you entered is incorrect</p>';
        ctx.body = html('Device sign-in', `${msg}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      userCodeConfirmSource: (ctx, form, client, deviceInfo, userCode) => {
        ctx.body = html('Confirm device', `<p>${client.clientId} shows the code <code id="code">${userCode}</code></p>${form}
<button id="confirm" type="submit" form="op.deviceConfirmForm">Continue</button>
<button id="abort" type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`);
      },
      successSource: (ctx) => { ctx.body = html('Signed in', '<p id="done">You are signed in: you can close this page.</p>'); },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf || (client?.clientId === 'psql-billing' ? BILLING : RESOURCE),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator, client) => {
        if (indicator !== RESOURCE && indicator !== BILLING) throw new errors.InvalidTarget();
        return {
          scope: 'db read',
          audience: indicator,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: clientAlg[client.clientId] || 'RS256' } },
        };
      },
    },
  },
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || 600,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 600,
    DeviceCode: (ctx, code, client) => (client.clientId === 'psql-short' ? 3 : 600),
    Grant: 3600,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

// Advertise a 1 s polling interval in the device authorization response.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'device_authorization' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    ctx.body.interval = 1;
  }
});

const log = (...a) => console.log(new Date().toISOString(), ...a);
provider.on('grant.success', (ctx) => log(`grant.success client=${ctx.oidc.client?.clientId} grant_type=${ctx.oidc.params?.grant_type}`));
provider.on('grant.error', (ctx, err) => log(`grant.error client=${ctx.oidc.client?.clientId} error=${err.error}`));
provider.on('device_authorization.success', (ctx) => log(`device_authorization.success client=${ctx.oidc.client?.clientId}`));
provider.on('authorization.error', (ctx, err) => log(`authorization.error error=${err.error} (${err.error_description})`));
provider.on('server_error', (ctx, err) => log(`server_error ${err.stack}`));

// The sign-in and consent pages of an interaction (login, then consent).
async function body(req) {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > 8192) throw new Error('body too large');
  }
  return new URLSearchParams(data);
}

async function interaction(req, res) {
  const url = new URL(req.url, issuer);
  const [, , uid, action] = url.pathname.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  const page = (title, content) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(html(title, content));
  };
  if (req.method === 'GET') {
    if (details.prompt.name === 'login') {
      return page('Sign in', `<form method="post" action="/interaction/${uid}/login">
<input id="username" name="username" autocomplete="off"> <input id="password" name="password" type="password">
<button id="signin" type="submit">Sign in</button></form>`);
    }
    return page('Allow access', `<p>${details.params.client_id} asks for access (scope ${details.params.scope || ''})</p>
<form method="post" action="/interaction/${uid}/confirm"><button id="allow" type="submit">Allow</button></form>
<form method="post" action="/interaction/${uid}/deny"><button id="deny" type="submit">Deny</button></form>`);
  }
  const form = await body(req);
  if (action === 'login') {
    const account = accounts[form.get('username')];
    if (!account || form.get('password') !== `${form.get('username')}-password`) {
      res.statusCode = 303;
      res.setHeader('location', `/interaction/${uid}`);
      return res.end();
    }
    log(`login account=${form.get('username')} sub=${account.sub}`);
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }
  if (action === 'deny') {
    log(`consent denied client=${details.params.client_id}`);
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user denied access' }, { mergeWithLastSubmission: false });
  }
  // confirm: grant what the client asked for.
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  log(`consent allowed client=${details.params.client_id}`);
  return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
const tls = path.join(dir, 'tls');
const server = https.createServer({
  cert: fs.readFileSync(path.join(tls, 'server.pem')),
  key: fs.readFileSync(path.join(tls, 'server.key')),
}, (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      log(`interaction error ${err.message}`);
      if (!res.headersSent) res.statusCode = 400;
      res.end();
    });
    return;
  }
  callback(req, res);
});
server.listen(port, '127.0.0.1', () => {
  const state = { pid: process.pid, port, issuer, kids: keys.map((k) => k.kid) };
  fs.writeFileSync(path.join(dir, 'state.json.new'), JSON.stringify(state));
  fs.renameSync(path.join(dir, 'state.json.new'), path.join(dir, 'state.json'));
  log(`listening ${issuer} keys=${state.kids.join(',')} algs=${Object.entries(clientAlg).map(([c, a]) => `${c}:${a}`).join(',')}`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
