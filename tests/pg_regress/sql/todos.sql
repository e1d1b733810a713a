-- The InsForge + Clerk guide's todos app: users only see, change and delete their own todos.
-- Clerk issues RS256 session tokens and, through the "insforge" JWT template, HS256 tokens
-- signed with your secret; both carry the Clerk user id in `sub`.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

\i :specs/clerk.sql
\i :specs/insforge.sql

-- The schema, with the guide's requesting_user_id() now verified by the database itself.
CREATE TABLE todos (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text NOT NULL DEFAULT idp.requesting_user_id(),
  title       text NOT NULL,
  is_complete boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- Row-level security in one call: the guide's four policies (select, insert, update, delete,
-- each `user_id = (SELECT idp.requesting_user_id())`) as pg_idp's "strict" kind.
SELECT idp.enable_rls('todos');

-- The application connects as a role that is not the table owner, so the policies apply.
CREATE ROLE regress_todo_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_todo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON todos TO regress_todo_app;
SET ROLE regress_todo_app;

-- Alice (Clerk session token) creates two todos; user_id comes from her verified token.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
INSERT INTO todos (title) VALUES ('Buy milk'), ('Write the RLS spec');
SELECT id, user_id, title, is_complete FROM todos ORDER BY id;
COMMIT;

-- Bob (HS256 template token) creates one, and sees only his.
BEGIN;
SELECT set_config('request.jwt', :'insforge_bob', true) IS NOT NULL AS token_set;
INSERT INTO todos (title) VALUES ('Walk the dog');
SELECT id, user_id, title, is_complete FROM todos ORDER BY id;
-- He cannot touch Alice's rows: they are invisible to UPDATE and DELETE.
UPDATE todos SET is_complete = true WHERE title = 'Buy milk' RETURNING id;
DELETE FROM todos WHERE title = 'Write the RLS spec' RETURNING id;
-- Inserting a row for another user fails the policy with SQLSTATE 42501.
SELECT regress.try($$INSERT INTO todos (user_id, title) VALUES ('user_2alice', 'Forged for Alice') RETURNING id$$) AS forged_insert;
-- Nor can he hand his own row to Alice.
SELECT regress.try($$UPDATE todos SET user_id = 'user_2alice' WHERE title = 'Walk the dog' RETURNING id$$) AS give_away;
COMMIT;

-- Alice, now with her template token, sees her rows untouched, completes one, deletes the other.
BEGIN;
SET LOCAL request.jwt = :'insforge_alice';
SELECT id, user_id, title, is_complete FROM todos ORDER BY id;
UPDATE todos SET is_complete = true WHERE title = 'Buy milk' RETURNING id, title, is_complete;
DELETE FROM todos WHERE title = 'Write the RLS spec' RETURNING id, title;
SELECT id, user_id, title, is_complete FROM todos ORDER BY id;
COMMIT;

-- No token: zero rows, and nothing can be inserted.
SELECT count(*) AS anonymous_rows FROM todos;
SELECT regress.try($$INSERT INTO todos (title) VALUES ('anonymous') RETURNING id$$) AS anonymous_insert;

-- An invalid token is an error, not an empty result or someone else's rows.
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
SELECT regress.try('SELECT count(*) FROM todos') AS tampered;
ROLLBACK;
BEGIN;
SET LOCAL request.jwt = :'clerk_expired';
SELECT regress.try('SELECT count(*) FROM todos') AS expired;
ROLLBACK;

-- Bob's view, last.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT id, user_id, title, is_complete FROM todos ORDER BY id;
COMMIT;

RESET ROLE;
-- The owner (not subject to RLS) sees everything that was really stored.
SELECT id, user_id, title, is_complete FROM todos ORDER BY id;
DROP TABLE todos;
DROP OWNED BY regress_todo_app;
DROP ROLE regress_todo_app;
