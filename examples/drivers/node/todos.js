// node-postgres: the snippet of docs/applications.md ("Drivers"), run against a real database.
//
//   PGHOST=... PGPORT=... PGDATABASE=todos PGUSER=todo_api \
//   TOKEN_ALICE=... TOKEN_BOB=... TOKEN_EXPIRED=... TOKEN_TAMPERED=... node todos.js
//
// The database is the todo app's (examples/todos/schema.sql) with Alice's two todos and Bob's one.
// Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any failed.
'use strict';

const assert = require('assert');
const { Pool } = require('pg');

// snippet: begin
async function listTodos(pool, token) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT set_config('request.jwt', $1, true)", [token]);
    const { rows } = await client.query('SELECT id, title FROM todos ORDER BY id');
    await client.query('COMMIT'); // the connection is anonymous again
    return { status: 200, rows };
  } catch (e) {
    await client.query('ROLLBACK');
    if (e.code === '28000') return { status: 401, code: e.detail.replace('pg_idp error code: ', '') };
    throw e;
  } finally {
    client.release();
  }
}
// snippet: end

let failed = 0;
function check(name, expected, actual) {
  try {
    assert.deepStrictEqual(actual, expected);
    console.log(`ok - node-postgres: ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - node-postgres: ${name}\n    expected: ${JSON.stringify(expected)}\n    actual:   ${JSON.stringify(actual)}`);
  }
}

async function main() {
  const via = process.env.VIA || 'direct';
  // One connection, so that the check after COMMIT runs on the connection the requests used.
  const pool = new Pool({ max: 1 });
  const titles = (r) => ({ status: r.status, titles: (r.rows || []).map((t) => t.title) });
  check(`${via}: Alice's token lists her todos only`,
    { status: 200, titles: ['Alice: buy milk', 'Alice: ship pg_idp'] }, titles(await listTodos(pool, process.env.TOKEN_ALICE)));
  check(`${via}: Bob's token lists his todos only`,
    { status: 200, titles: ['Bob: walk the dog'] }, titles(await listTodos(pool, process.env.TOKEN_BOB)));
  check(`${via}: an expired token is a 401 with code expired`,
    { status: 401, code: 'expired' }, await listTodos(pool, process.env.TOKEN_EXPIRED));
  check(`${via}: a tampered token is a 401 with code invalid_signature`,
    { status: 401, code: 'invalid_signature' }, await listTodos(pool, process.env.TOKEN_TAMPERED));
  await listTodos(pool, process.env.TOKEN_ALICE);
  const { rows } = await pool.query('SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*)::int AS n FROM todos');
  check(`${via}: after COMMIT the connection is anonymous and sees no todos`, { anonymous: true, n: 0 }, rows[0]);
  await pool.end();
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.log(`not ok - node-postgres: ${e.message}`); process.exit(1); });
