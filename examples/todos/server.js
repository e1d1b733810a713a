// The InsForge guide's todo app, against pg_idp: one static page and a small JSON API.
//
//   node examples/todos/server.js            (examples/todos/prepare made the keys and the database)
//
// Environment: PORT (default 8080; 0 picks one), HOST (default 127.0.0.1), TODOS_KEYS (the key
// directory of prepare), PG_IDP (the pg-idp CLI, which mints the local users' tokens), and
// libpq's PGHOST, PGPORT, PGDATABASE and PGUSER (the todo_api role), which node-postgres reads.
//
// Sign-in stands in for Clerk: POST /api/session mints the user's token with pg-idp, with the
// claims Clerk puts in a session token (RS256) or in the "insforge" JWT template (HS256). Every
// other request carries that token as "Authorization: Bearer ..."; the API passes it to
// PostgreSQL inside the request's transaction and never filters by user itself: row-level
// security decides what each token sees. A token the database refuses (SQLSTATE 28000) is a 401
// with the pg_idp error code from the DETAIL.
//
// Only requests addressed to this server are answered: the Host header must be exactly the
// address it listens on (HOST:PORT, and localhost:PORT when HOST is 127.0.0.1), or the answer is
// 421. A web page on another site cannot call the API, token minting included, through a DNS
// name it points at 127.0.0.1 (DNS rebinding): its requests carry that name as their Host.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const { Pool } = require('pg');

const ISSUER = 'https://acme.clerk.accounts.dev';
const KEYS = process.env.TODOS_KEYS;
const PG_IDP = process.env.PG_IDP;
if (!KEYS || !PG_IDP) {
  console.error('todos: TODOS_KEYS and PG_IDP must be set (see examples/todos/prepare)');
  process.exit(2);
}

// The local users: two with Clerk session tokens, one with the InsForge template's token.
const USERS = {
  alice: { name: 'Alice', sub: 'user_2alice', email: 'alice@example.com', token: 'clerk' },
  bob: { name: 'Bob', sub: 'user_2bob', email: 'bob@example.com', token: 'insforge' },
  carol: { name: 'Carol', sub: 'user_2carol', email: 'carol@example.com', token: 'clerk' },
};
const TOKEN_KINDS = {
  clerk: 'Clerk session token (RS256)',
  insforge: 'Clerk JWT template "insforge" (HS256)',
};

// A token for `user`, minted by pg-idp; `expired`: one that expired a minute ago.
function mint(user, origin, expired) {
  const u = USERS[user];
  const claims = u.token === 'clerk'
    ? { iss: ISSUER, sub: u.sub, email: u.email, azp: origin, sid: `sess_${user}_${Date.now()}` }
    : { iss: ISSUER, sub: u.sub, role: 'authenticated', aud: 'insforge-api' };
  const args = ['mint', '--key', path.join(KEYS, `${u.token}.key.json`), '--claims', JSON.stringify(claims)];
  if (u.token === 'insforge') args.push('--no-kid');
  args.push(...(expired ? ['--exp', '-60', '--iat', '-3660'] : ['--exp', '3600']));
  return execFileSync(PG_IDP, args, { encoding: 'utf8' }).trim();
}

const pool = new Pool({ max: 4 });

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Run `work(client)` in a transaction whose identity is `token` (or none): the token is a bind
// parameter of set_config(..., true), so it lives only as long as the transaction.
async function asUser(token, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('request.jwt', $1, true)", [token || '']);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

// PostgreSQL's errors as HTTP answers. 28000: the token was refused; the DETAIL holds
// "pg_idp error code: <code>". The message names the reason, never the token.
function fromDatabase(e) {
  if (e instanceof HttpError) return e;
  const m = /pg_idp error code: ([a-z_]+)/.exec(e.detail || '');
  switch (e.code) {
    case '28000': return new HttpError(401, m ? m[1] : 'invalid_token', e.message);
    case '42501': return new HttpError(403, 'forbidden', e.message);
    case '23502':
    case '23514':
    case '22P02': return new HttpError(400, 'bad_request', e.message);
    default:
      console.error('todos: database error', e.code, e.message);
      return new HttpError(500, 'internal', 'internal error');
  }
}

function bearer(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : null;
}

async function body(req) {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > 16384) throw new HttpError(413, 'too_large', 'request body too large');
  }
  if (!data) return {};
  try {
    return JSON.parse(data);
  } catch (e) {
    throw new HttpError(400, 'bad_request', 'the body is not JSON');
  }
}

function todoId(s) {
  if (!/^[0-9]{1,18}$/.test(s)) throw new HttpError(400, 'bad_request', 'a todo id is a number');
  return s;
}

const COLUMNS = 'id::text AS id, title, is_complete, created_at';

async function route(req, url) {
  const token = bearer(req);
  const p = url.pathname;
  if (req.method === 'GET' && p === '/api/users') {
    return Object.entries(USERS).map(([id, u]) => ({ id, name: u.name, sub: u.sub, token: TOKEN_KINDS[u.token] }));
  }
  if (req.method === 'POST' && p === '/api/session') {
    const b = await body(req);
    if (!Object.prototype.hasOwnProperty.call(USERS, b.user)) throw new HttpError(400, 'bad_request', 'unknown user');
    const origin = `http://${req.headers.host}`;
    return { user: b.user, kind: TOKEN_KINDS[USERS[b.user].token], token: mint(b.user, origin, b.expired === true) };
  }
  if (req.method === 'GET' && p === '/api/me') {
    return asUser(token, async (c) => {
      const { rows } = await c.query(
        'SELECT idp.requesting_user_id() AS user_id, idp.provider() AS provider, idp.email() AS email, idp.role() AS role');
      return rows[0];
    });
  }
  if (req.method === 'GET' && p === '/api/todos') {
    return asUser(token, async (c) => (await c.query(`SELECT ${COLUMNS} FROM todos ORDER BY id`)).rows);
  }
  if (req.method === 'POST' && p === '/api/todos') {
    const b = await body(req);
    if (typeof b.title !== 'string' || !b.title.trim()) throw new HttpError(400, 'bad_request', 'a todo needs a title');
    return asUser(token, async (c) =>
      (await c.query(`INSERT INTO todos (title) VALUES ($1) RETURNING ${COLUMNS}`, [b.title.trim()])).rows[0]);
  }
  const m = /^\/api\/todos\/([^/]+)$/.exec(p);
  if (m && req.method === 'PATCH') {
    const id = todoId(m[1]);
    const b = await body(req);
    if (typeof b.is_complete !== 'boolean') throw new HttpError(400, 'bad_request', 'is_complete must be true or false');
    // No "AND user_id = ..." here: a todo that is not the caller's is not visible to the UPDATE.
    const row = await asUser(token, async (c) =>
      (await c.query(`UPDATE todos SET is_complete = $2 WHERE id = $1 RETURNING ${COLUMNS}`, [id, b.is_complete])).rows[0]);
    if (!row) throw new HttpError(404, 'not_found', 'no such todo');
    return row;
  }
  if (m && req.method === 'DELETE') {
    const id = todoId(m[1]);
    const n = await asUser(token, async (c) => (await c.query('DELETE FROM todos WHERE id = $1', [id])).rowCount);
    if (n === 0) throw new HttpError(404, 'not_found', 'no such todo');
    return { deleted: id };
  }
  throw new HttpError(404, 'not_found', 'no such endpoint');
}

const PAGE = fs.readFileSync(path.join(__dirname, 'index.html'));

// The Host headers this server answers, once it listens (HOST:PORT, and localhost:PORT for a
// loopback HOST; IPv6 addresses in brackets, as in a URL).
let allowedHosts = new Set();
function hostsFor(address, port) {
  const shown = address.includes(':') ? `[${address}]` : address;
  const hosts = [`${shown}:${port}`];
  if (address === '127.0.0.1' || address === '::1') hosts.push(`localhost:${port}`);
  return new Set(hosts.map((h) => h.toLowerCase()));
}

const server = http.createServer(async (req, res) => {
  if (!allowedHosts.has((req.headers.host || '').toLowerCase())) {
    res.writeHead(421, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: 'this server answers only requests addressed to it (Host header)', code: 'wrong_host' }));
    return;
  }
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html')) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(PAGE);
    return;
  }
  let status = 200;
  let answer;
  try {
    answer = await route(req, url);
  } catch (e) {
    const h = fromDatabase(e);
    status = h.status;
    answer = { error: h.message, code: h.code };
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(answer));
});

server.listen(Number(process.env.PORT || 8080), process.env.HOST || '127.0.0.1', () => {
  const a = server.address();
  allowedHosts = hostsFor(a.address, a.port);
  console.log(`todos: listening on http://${a.address}:${a.port}/`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    pool.end().finally(() => process.exit(0));
  });
}
