-- The identity belongs to a transaction: set it with SET LOCAL, set_config(..., true) or
-- idp.authenticate(), and COMMIT or ROLLBACK ends it; savepoints restore the token they saw.
-- A session-level SET request.jwt outlives the transaction: behind a transaction-pooling
-- connection pooler the next client of the connection would inherit it, so never do it.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

\i :specs/clerk.sql
\i :specs/insforge.sql

CREATE TABLE inbox (id int PRIMARY KEY, user_id text NOT NULL, subject text NOT NULL);
INSERT INTO inbox VALUES (1, 'user_2alice', 'for alice'), (2, 'user_2bob', 'for bob');
SELECT idp.enable_rls('inbox');
CREATE ROLE regress_txn_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_txn_app;
GRANT SELECT ON inbox TO regress_txn_app;
SET ROLE regress_txn_app;

-- Whose request this is, and what RLS lets it see.
CREATE FUNCTION pg_temp.whoami(OUT user_id text, OUT subjects text) LANGUAGE sql AS $$
  SELECT regress.try('SELECT idp.requesting_user_id()'),
         regress.try('SELECT coalesce(string_agg(subject, '', '' ORDER BY id), ''none'') FROM inbox')
$$;

-- 1. SET LOCAL, then COMMIT: gone.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT * FROM pg_temp.whoami();
COMMIT;
SELECT * FROM pg_temp.whoami();
-- set_config(..., true), then ROLLBACK: gone.
BEGIN;
SELECT set_config('request.jwt', :'clerk_bob', true) IS NOT NULL AS token_set;
SELECT * FROM pg_temp.whoami();
ROLLBACK;
SELECT * FROM pg_temp.whoami();
-- Outside a transaction block, set_config(..., true) lasts for its own statement only, and
-- SET LOCAL does nothing at all (with a warning).
SELECT set_config('request.jwt', :'clerk_alice', true) IS NOT NULL AS token_set, (pg_temp.whoami()).user_id AS same_statement;
SELECT * FROM pg_temp.whoami();
SET LOCAL request.jwt = :'clerk_alice';
SELECT * FROM pg_temp.whoami();

-- 2. Savepoints: rolling back to one restores the token it saw; releasing one keeps the change.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SAVEPOINT switched;
SET LOCAL request.jwt = :'clerk_bob';
SELECT * FROM pg_temp.whoami();
ROLLBACK TO SAVEPOINT switched;
SELECT * FROM pg_temp.whoami();
-- A bad token set inside a savepoint (every identity check fails with 28000) is undone with it.
SAVEPOINT bad_token;
SET LOCAL request.jwt = :'tampered_payload';
SELECT * FROM pg_temp.whoami();
ROLLBACK TO SAVEPOINT bad_token;
SELECT * FROM pg_temp.whoami();
SAVEPOINT kept;
SELECT set_config('request.jwt', :'insforge_bob', true) IS NOT NULL AS token_set;
RELEASE SAVEPOINT kept;
SELECT * FROM pg_temp.whoami();
COMMIT;
SELECT * FROM pg_temp.whoami();

-- 3. Switching users within one transaction: the next statement sees the new token.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT * FROM pg_temp.whoami();
SET LOCAL request.jwt = :'clerk_bob';
SELECT * FROM pg_temp.whoami();
SELECT set_config('request.jwt', :'insforge_alice', true) IS NOT NULL AS token_set;
SELECT idp.provider(), * FROM pg_temp.whoami();
SET LOCAL request.jwt = '';
SELECT * FROM pg_temp.whoami();
COMMIT;

-- 4. idp.authenticate(token): verifies, sets request.jwt for the rest of the transaction,
-- returns the identity.
BEGIN;
SELECT idp.authenticate(:'clerk_alice') - 'expires_at' AS identity;
SELECT * FROM pg_temp.whoami();
SELECT current_setting('request.jwt') = :'clerk_alice' AS is_request_jwt;
COMMIT;
SELECT * FROM pg_temp.whoami();
BEGIN;
SELECT idp.authenticate(:'clerk_bob')->>'user_id' AS authenticated;
ROLLBACK;
SELECT * FROM pg_temp.whoami();
-- In autocommit it lasts for its own statement only.
SELECT idp.authenticate(:'clerk_bob')->>'user_id' AS authenticated;
SELECT * FROM pg_temp.whoami();
-- Rolled back with its savepoint; refused tokens (28000) leave the current one in place.
BEGIN;
SELECT idp.authenticate(:'clerk_alice')->>'user_id' AS authenticated;
SAVEPOINT s;
SELECT idp.authenticate(:'insforge_bob')->>'user_id' AS authenticated;
SELECT * FROM pg_temp.whoami();
ROLLBACK TO SAVEPOINT s;
SELECT * FROM pg_temp.whoami();
SELECT regress.try(format('SELECT idp.authenticate(%L)', :'tampered_signature')) AS tampered;
SELECT regress.try(format('SELECT idp.authenticate(%L)', :'clerk_expired')) AS expired;
SELECT * FROM pg_temp.whoami();
COMMIT;
SELECT * FROM pg_temp.whoami();

-- 5. What NOT to do behind a pooler: a session-level SET outlives every transaction ...
SET request.jwt = :'clerk_alice';
BEGIN;
SELECT * FROM pg_temp.whoami();
COMMIT;
-- ... so the next transaction on this connection (the pooler's next client) is still Alice.
SELECT * FROM pg_temp.whoami();
-- SET LOCAL overrides it for one transaction only; then the session value is back.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT * FROM pg_temp.whoami();
COMMIT;
SELECT * FROM pg_temp.whoami();
-- A session-level SET inside a transaction block persists once it commits (and is undone by
-- a ROLLBACK).
BEGIN;
SET request.jwt = :'clerk_bob';
ROLLBACK;
SELECT * FROM pg_temp.whoami();
BEGIN;
SET request.jwt = :'clerk_bob';
COMMIT;
SELECT * FROM pg_temp.whoami();
-- RESET removes it (so does DISCARD ALL, a session pooler's reset query).
RESET request.jwt;
SELECT * FROM pg_temp.whoami();
SET request.jwt = :'clerk_alice';
SELECT (pg_temp.whoami()).user_id AS before_discard;
RESET ROLE;
DISCARD ALL;
SET ROLE regress_txn_app;
SELECT regress.try('SELECT idp.requesting_user_id()') AS after_discard;

RESET ROLE;
DROP TABLE inbox;
DROP OWNED BY regress_txn_app;
DROP ROLE regress_txn_app;
