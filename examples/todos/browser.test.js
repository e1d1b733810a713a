// The todo app in a real browser: headless Chromium (Debian's chromium package) driven by
// playwright-core. Two users in two browser contexts; each sees only their own todos; editing
// another user's todo by id through the API fails; bad tokens are refused with their code;
// sign-out leaves nothing visible. And, outside the browser, the server answers only requests
// whose Host header is its own address (a DNS-rebinding page's requests name another host).
//
//   node examples/todos/browser.test.js URL [--screenshot FILE]
//
// URL is a running examples/todos/server.js on an empty database. Prints one "ok - ..." or
// "not ok - ..." line per check; exits 1 if any failed. --screenshot saves the signed-in page.
'use strict';

const assert = require('assert');
const http = require('http');
const { chromium } = require('playwright-core');

const [url, flag, shotFile] = process.argv.slice(2);
if (!url || (flag && (flag !== '--screenshot' || !shotFile))) {
  console.error('usage: browser.test.js URL [--screenshot FILE]');
  process.exit(2);
}

let failed = 0;
function check(name, expected, actual) {
  try {
    assert.deepStrictEqual(actual, expected);
    console.log(`ok - browser: ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - browser: ${name}\n    expected: ${JSON.stringify(expected)}\n    actual:   ${JSON.stringify(actual)}`);
  }
}

// The titles of the todos on the page, and which are done.
async function todos(page) {
  return page.$$eval('#todos li.todo', (lis) => lis.map((li) => (li.classList.contains('done') ? '[x] ' : '[ ] ') + li.querySelector('span').textContent));
}

async function signIn(page, user) {
  await page.goto(url);
  await page.click(`#users button[data-user="${user}"]`);
  await page.waitForSelector('#app:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#who-id').textContent !== '');
  // The list has been rendered (its todos, or the "Nothing to do." line).
  await page.waitForSelector('#todos li');
}

async function add(page, title) {
  const before = await page.$$eval('#todos li.todo', (l) => l.length);
  await page.fill('#title', title);
  await page.click('#add button[type=submit]');
  await page.waitForFunction((n) => document.querySelectorAll('#todos li.todo').length === n + 1, before);
}

// A request from the page, with the page's own token (token undefined) or with `token` (null: none).
async function apiFrom(page, method, path, body, token) {
  return page.evaluate(async ([method, path, body, own, token]) => {
    const t = own ? JSON.parse(sessionStorage.getItem('session') || 'null')?.token : token;
    const headers = { 'content-type': 'application/json' };
    if (t) headers.authorization = `Bearer ${t}`;
    const res = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: res.status, body: await res.json() };
  }, [method, path, body || null, token === undefined, token || null]);
}

// A request to the server with the Host header `host` (null: none): its status and JSON body.
function withHost(method, path, host, body) {
  const u = new URL(url);
  const headers = { 'content-type': 'application/json' };
  if (host !== null) headers.host = host;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, setHost: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => {
        let parsed = data;
        try { parsed = JSON.parse(data); } catch (e) { /* the page */ }
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

// DNS rebinding: a page on another site whose name now points at 127.0.0.1 asks for a token.
async function hostChecks() {
  const port = new URL(url).port;
  const session = { user: 'alice' };
  for (const host of [`rebind.attacker.example:${port}`, `rebind.attacker.example`, `127.0.0.1:${Number(port) + 1}`,
    `127.0.0.1.nip.io:${port}`, '']) {
    const r = await withHost('POST', '/api/session', host, session);
    check(`a token request with Host ${JSON.stringify(host)} is refused (421, no token)`,
      [421, 'wrong_host', false], [r.status, r.body.code, JSON.stringify(r.body).includes('token')]);
  }
  // Without a Host header Node's HTTP/1.1 server answers 400 before the API sees the request.
  const none = await withHost('POST', '/api/session', null, session);
  check('a token request without a Host header is refused (400, no token)',
    [400, false], [none.status, JSON.stringify(none.body).includes('token')]);
  const page = await withHost('GET', '/', `rebind.attacker.example:${port}`);
  check('the page itself, under another Host, is refused too', 421, page.status);
  // Control: the server's own address, by IP and as localhost, still answers.
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
    const r = await withHost('POST', '/api/session', host, session);
    check(`a token request with Host ${host} gets a token`, [200, 'alice', 3], [r.status, r.body.user, (r.body.token || '').split('.').length]);
  }
  check('the page answers under its own Host', 200, (await withHost('GET', '/', `127.0.0.1:${port}`)).status);
}

async function main() {
  await hostChecks();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    // Two users, two browser contexts (separate storage, as two people on two machines).
    const alice = await (await browser.newContext({ viewport: { width: 760, height: 560 } })).newPage();
    const bob = await (await browser.newContext()).newPage();

    await signIn(alice, 'alice');
    check('Alice signs in with a Clerk session token (RS256), verified by the database',
      'user_2alice (provider clerk)', await alice.textContent('#who-id'));
    check('Alice starts with no todos', [], await todos(alice));
    await add(alice, 'Buy milk');
    await add(alice, 'Ship pg_idp 0.4.0');
    await add(alice, 'Write the release notes');
    await alice.click('#todos li.todo:nth-child(2) input[type=checkbox]');
    await alice.waitForSelector('#todos li.todo.done');
    check('Alice creates three todos and completes one',
      ['[ ] Buy milk', '[x] Ship pg_idp 0.4.0', '[ ] Write the release notes'], await todos(alice));

    await signIn(bob, 'bob');
    check('Bob signs in with the InsForge template token (HS256)',
      'user_2bob (provider insforge)', await bob.textContent('#who-id'));
    check("Bob's list does not show Alice's todos", [], await todos(bob));
    await add(bob, 'Walk the dog');
    check('Bob sees only his own todo', ['[ ] Walk the dog'], await todos(bob));

    await alice.reload();
    await alice.waitForSelector('#todos li.todo');
    check("Alice, reloading, sees only hers (not Bob's)",
      ['[ ] Buy milk', '[x] Ship pg_idp 0.4.0', '[ ] Write the release notes'], await todos(alice));

    // Bob goes around the page: Alice's todo ids, straight to the API with his token.
    const aliceIds = await alice.$$eval('#todos li.todo', (lis) => lis.map((li) => li.dataset.id));
    const target = aliceIds[0];
    check("Bob cannot complete Alice's todo by id (404: row-level security hides it)",
      404, (await apiFrom(bob, 'PATCH', `/api/todos/${target}`, { is_complete: true })).status);
    check("Bob cannot delete Alice's todo by id",
      404, (await apiFrom(bob, 'DELETE', `/api/todos/${target}`)).status);
    const anonList = await apiFrom(bob, 'GET', '/api/todos', null, null);
    const anonPatch = await apiFrom(bob, 'PATCH', `/api/todos/${target}`, { is_complete: true }, null);
    check('without a token the API lists nothing and changes nothing',
      [200, [], 404], [anonList.status, anonList.body, anonPatch.status]);
    await alice.reload();
    await alice.waitForSelector('#todos li.todo');
    check("Alice's todos are untouched by Bob's attempts",
      ['[ ] Buy milk', '[x] Ship pg_idp 0.4.0', '[ ] Write the release notes'], await todos(alice));

    if (shotFile) {
      await alice.click('#tampered');
      await alice.waitForFunction(() => document.querySelector('#status').textContent.startsWith('refused'));
      await alice.screenshot({ path: shotFile, fullPage: true });
    }

    // Bad tokens, from the page's own buttons.
    await alice.evaluate(() => { document.querySelector('#status').textContent = ''; });
    await alice.click('#expired');
    await alice.waitForFunction(() => document.querySelector('#status').textContent.startsWith('refused'));
    check('an expired token is refused with its code', true, (await alice.textContent('#status')).startsWith('refused: 401 expired:'));
    await alice.evaluate(() => { document.querySelector('#status').textContent = ''; });
    await alice.click('#tampered');
    await alice.waitForFunction(() => document.querySelector('#status').textContent.startsWith('refused'));
    check("a tampered token (Alice's, edited to claim Bob) is refused with its code", true,
      (await alice.textContent('#status')).startsWith('refused: 401 invalid_signature:'));

    await alice.click('#todos li.todo:nth-child(1) button.delete');
    await alice.waitForFunction(() => document.querySelectorAll('#todos li.todo').length === 2);
    check('Alice deletes a todo', ['[x] Ship pg_idp 0.4.0', '[ ] Write the release notes'], await todos(alice));

    await alice.click('#signout');
    await alice.waitForSelector('#signin:not([hidden])');
    check('after sign-out no todo is on the page and no token is kept',
      [0, null], [await alice.$$eval('#todos li', (l) => l.length), await alice.evaluate(() => sessionStorage.getItem('session'))]);
    await alice.reload();
    await alice.waitForSelector('#users button');
    check('after sign-out the API, asked without a token, lists nothing',
      { status: 200, body: [] }, await apiFrom(alice, 'GET', '/api/todos'));
    check("Bob still sees only his todo", ['[ ] Walk the dog'], (await bob.reload(), await bob.waitForSelector('#todos li.todo'), await todos(bob)));
  } finally {
    await browser.close();
  }
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`not ok - browser: ${e.message}`); process.exit(1); });
