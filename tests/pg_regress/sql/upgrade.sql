-- Upgrading: a database on pg_idp 0.1.0 (the first release) with a registered provider and
-- hand-written policies runs ALTER EXTENSION pg_idp UPDATE. Providers, keys and policies
-- survive, tokens verify as before, the new features work, and the upgraded extension is the
-- same, object by object, as a fresh install of the new version.
\set ECHO none
\getenv fixtures PG_IDP_FIXTURES
\i :fixtures
\set ECHO all
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_idp CASCADE;
CREATE EXTENSION pg_idp VERSION '0.1.0';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb));
CREATE TABLE todos (id int PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
INSERT INTO todos VALUES (1, 'user_2alice', 'alice 1'), (2, 'user_2bob', 'bob 1');
ALTER TABLE todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY todos_own ON todos USING (user_id = (SELECT idp.requesting_user_id()));
CREATE ROLE regress_upgrade_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_upgrade_app;
GRANT SELECT ON todos TO regress_upgrade_app;
-- (The new library already serves the old schema until the update runs.)
SET ROLE regress_upgrade_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, title FROM todos ORDER BY id;
COMMIT;
RESET ROLE;

ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';

-- What was there is still there and still works.
SELECT name, issuer, key_ids FROM idp.providers;
SET ROLE regress_upgrade_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT id, title FROM todos ORDER BY id;
SELECT idp.verify_jwt(:'tampered_payload')->>'error' AS tampered;
COMMIT;
RESET ROLE;
-- The new features, on the upgraded database.
SELECT idp.revoke_user('clerk', 'user_2bob');
SELECT regress.as_request(:'clerk_bob') AS bob_revoked;
SELECT idp.unrevoke_user('clerk', 'user_2bob');
SELECT idp.enable_rls('todos');
SELECT tbl, policy, policies FROM idp.rls_status();
SELECT idp.cache_stats() ? 'entries' AS cache_stats;

-- Object by object, the upgraded extension equals a fresh install.
CREATE FUNCTION pg_temp.describe() RETURNS TABLE (kind text, what text) LANGUAGE sql AS $$
  SELECT 'function', format('%s(%s) returns %s %s %s %s strict=%s definer=%s acl=%s src=%s', p.proname,
         pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), (SELECT lanname FROM pg_language l WHERE l.oid = p.prolang),
         p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proacl::text, md5(p.prosrc))
    FROM pg_proc p WHERE p.pronamespace = 'idp'::regnamespace
  UNION ALL
  SELECT 'column', format('%s.%s %s notnull=%s default=%s', c.relname, a.attname,
         format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'idp'::regnamespace
  UNION ALL
  SELECT 'relation', format('%s %s acl=%s', c.relname, c.relkind, c.relacl::text)
    FROM pg_class c WHERE c.relnamespace = 'idp'::regnamespace
  UNION ALL
  SELECT 'constraint', format('%s %s', conrelid::regclass, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = 'idp'::regnamespace
  UNION ALL
  SELECT 'trigger', format('%s %s', tgrelid::regclass, pg_get_triggerdef(oid))
    FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'idp'::regnamespace)
  UNION ALL
  SELECT 'view', format('%s %s', c.relname, pg_get_viewdef(c.oid))
    FROM pg_class c WHERE c.relnamespace = 'idp'::regnamespace AND c.relkind = 'v'
  UNION ALL
  SELECT 'event trigger', format('%s %s %s %s', evtname, evtevent, evtfoid::regprocedure, evttags)
    FROM pg_event_trigger
  UNION ALL
  SELECT 'dumped', (SELECT string_agg(x::regclass::text, ',' ORDER BY x::regclass::text)
                      FROM pg_extension e, unnest(e.extconfig) x WHERE e.extname = 'pg_idp')
$$;
CREATE TEMP TABLE upgraded AS SELECT * FROM pg_temp.describe();
DROP TABLE todos;
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.describe();
SELECT 'only after the update' AS side, * FROM (SELECT * FROM upgraded EXCEPT SELECT * FROM fresh) u
UNION ALL
SELECT 'only in a fresh install', * FROM (SELECT * FROM fresh EXCEPT SELECT * FROM upgraded) f
ORDER BY 1, 2, 3;
SELECT count(*) > 50 AS compared_enough FROM fresh;

-- From 0.2.0 to 0.3.0: a database with a partitioned table under enable_rls
-- (whose partitions 0.2.0 left open) and a directory user matched by email.
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp VERSION '0.2.0';
RESET client_min_messages;
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb));
CREATE TABLE ptodos (id int, user_id text NOT NULL, title text) PARTITION BY LIST (user_id);
CREATE TABLE ptodos_a PARTITION OF ptodos FOR VALUES IN ('user_2alice');
CREATE TABLE ptodos_b PARTITION OF ptodos FOR VALUES IN ('user_2bob');
INSERT INTO ptodos VALUES (1, 'user_2alice', 'alice 1'), (2, 'user_2bob', 'bob 1');
SELECT idp.enable_rls('ptodos');
INSERT INTO idp.directory_users (provider, id, email, state, raw, event_at)
VALUES ('clerk', 'directory_user_01', 'alice@example.com', 'active', '{"idp_id": "00u_alice"}', now());
GRANT SELECT ON ptodos, ptodos_a, ptodos_b TO regress_upgrade_app;
SET ROLE regress_upgrade_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT count(*) AS bob_sees_on_alices_partition_in_020 FROM ptodos_a;
COMMIT;
RESET ROLE;

ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';
-- The update closed the partitions, and kept (and completed) the directory.
SELECT tbl, policy, open_partitions FROM idp.rls_status();
SET ROLE regress_upgrade_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT count(*) AS bob_on_alices_partition FROM ptodos_a;
SELECT count(*) AS bob_on_his_own FROM ptodos_b;
COMMIT;
RESET ROLE;
SELECT id, email, idp_id, email_key FROM idp.directory_users;
SELECT name, key_ids FROM idp.providers;

CREATE TEMP TABLE upgraded_020 AS SELECT * FROM pg_temp.describe();
DROP TABLE ptodos;
DELETE FROM idp.directory_users;
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;
CREATE TEMP TABLE fresh_030 AS SELECT * FROM pg_temp.describe();
SELECT 'only after the update from 0.2.0' AS side, * FROM (SELECT * FROM upgraded_020 EXCEPT SELECT * FROM fresh_030) u
UNION ALL
SELECT 'only in a fresh install', * FROM (SELECT * FROM fresh_030 EXCEPT SELECT * FROM upgraded_020) f
ORDER BY 1, 2, 3;

-- From 0.3.0 to 0.4.0: a database with a provider, a table under enable_rls
-- and a revocation. The update keeps them and adds the compatibility functions, the counters
-- and provider health, and the login snapshot's report.
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp VERSION '0.3.0';
RESET client_min_messages;
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb));
CREATE TABLE todos3 (id int PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
INSERT INTO todos3 VALUES (1, 'user_2alice', 'alice 1'), (2, 'user_2bob', 'bob 1');
SELECT idp.enable_rls('todos3');
SELECT idp.revoke_user('clerk', 'user_2bob');
GRANT SELECT ON todos3 TO regress_upgrade_app;

ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';
SELECT tbl, policy, form, open_partitions FROM idp.rls_status();
SET ROLE regress_upgrade_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, title FROM todos3 ORDER BY id;
COMMIT;
RESET ROLE;
SELECT regress.as_request(:'clerk_bob') AS bob_still_revoked;
-- What 0.4.0 adds, on the upgraded database.
SELECT * FROM idp.install_compat('supabase');
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT auth.jwt()->>'sub' AS compat_jwt_sub, auth.email() AS compat_email;
COMMIT;
SELECT * FROM idp.uninstall_compat('supabase');
SELECT successes > 0 AS counted FROM idp.stats WHERE datname = current_database() AND provider = 'clerk';
SELECT provider, key_source, key_count, key_ids FROM idp.provider_health;

CREATE TEMP TABLE upgraded_030 AS SELECT * FROM pg_temp.describe();
DROP TABLE todos3;
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;
CREATE TEMP TABLE fresh_040 AS SELECT * FROM pg_temp.describe();
SELECT 'only after the update from 0.3.0' AS side, * FROM (SELECT * FROM upgraded_030 EXCEPT SELECT * FROM fresh_040) u
UNION ALL
SELECT 'only in a fresh install', * FROM (SELECT * FROM fresh_040 EXCEPT SELECT * FROM upgraded_030) f
ORDER BY 1, 2, 3;

-- From 0.4.0 to 0.5.0 (and on to 0.6.0): a database with a provider, a revocation, a table under
-- enable_rls, a directory user, and Supabase's auth.uid() that install_compat replaced while
-- another role owned it (0.4.0 left it that role's). The update keeps everything, takes
-- auth.uid() from that role, and adds what the launcher needs.
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp VERSION '0.4.0';
RESET client_min_messages;
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb));
CREATE TABLE todos4 (id int PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
INSERT INTO todos4 VALUES (1, 'user_2alice', 'alice 1'), (2, 'user_2bob', 'bob 1');
SELECT idp.enable_rls('todos4');
SELECT idp.revoke_user('clerk', 'user_2bob');
GRANT SELECT ON todos4 TO regress_upgrade_app;
INSERT INTO idp.directory_users (provider, id, email, email_key, state, raw, event_at)
VALUES ('clerk', 'directory_user_04', 'carol@example.com', 'carol@example.com', 'active', '{}', now());
CREATE ROLE regress_upgrade_auth_admin NOLOGIN;
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid';
ALTER FUNCTION auth.uid() OWNER TO regress_upgrade_auth_admin;
SELECT * FROM idp.install_compat('supabase', replace => true);
SELECT proowner::regrole AS uid_owner_in_040 FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure;

ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';
SELECT name, key_ids FROM idp.providers;
SELECT tbl, policy, form, open_partitions FROM idp.rls_status();
SET ROLE regress_upgrade_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, title FROM todos4 ORDER BY id;
COMMIT;
RESET ROLE;
SELECT regress.as_request(:'clerk_bob') AS bob_still_revoked;
SELECT id, email, state FROM idp.directory_users;
-- auth.uid() is pg_idp's now, and its previous owner is kept for uninstall_compat.
SELECT proowner::regrole = current_user::regrole AS uid_owned_by_the_extension_owner
  FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure;
SELECT name, replaced_owner FROM idp.compat_objects WHERE name = 'auth.uid()';
SELECT * FROM idp.uninstall_compat('supabase');
SELECT proowner::regrole AS uid_owner_given_back FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure;
DROP FUNCTION auth.uid();
DROP SCHEMA auth;
-- What 0.5.0 adds (with pg_idp preloaded, as here, the launcher lists this database).
SELECT state IS NOT NULL AS launcher_lists_this_database
  FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database());

CREATE TEMP TABLE upgraded_040 AS SELECT * FROM pg_temp.describe();
DROP TABLE todos4;
DELETE FROM idp.directory_users;
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;
CREATE TEMP TABLE fresh_050 AS SELECT * FROM pg_temp.describe();
SELECT 'only after the update from 0.4.0' AS side, * FROM (SELECT * FROM upgraded_040 EXCEPT SELECT * FROM fresh_050) u
UNION ALL
SELECT 'only in a fresh install', * FROM (SELECT * FROM fresh_050 EXCEPT SELECT * FROM upgraded_040) f
ORDER BY 1, 2, 3;

-- From 0.5.0 (the last release) to 0.6.0: a database with two providers whose tokens log in, one
-- naming the audience of its login tokens and one that does not (0.5.0 allowed that). The update
-- keeps both, warns about the second (whose logins 0.6.0 refuses until it names one), and adds
-- the login counters to idp.stats.
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp VERSION '0.5.0';
RESET client_min_messages;
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb, 'login', '{"roles": ["app_user"], "audience": "urn:acme:db"}'::jsonb));
-- The new library already refuses to register a login without an audience, even into the 0.5.0
-- schema; the row such a registration left in 0.5.0 is made here by hand.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev', 'secret', :'insforge_secret',
  'login', '{"roles": ["app_user"]}'::jsonb));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev', 'secret', :'insforge_secret',
  'login', '{"roles": ["app_user"], "audience": "x"}'::jsonb)) AS registered;
UPDATE idp.provider_registry SET config = config #- '{login,audience}' WHERE name = 'insforge';
-- Until the update, the new library answers 0.5.0's views and functions with their old columns.
SELECT count(*) >= 0 AS stats_of_050 FROM idp.stats;
SELECT count(*) >= 0 AS served_databases_of_050 FROM idp.served_databases();

ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';
-- Both are kept, and request tokens verify as before.
SELECT name, config->'login' AS login FROM idp.provider_registry ORDER BY name;
SELECT idp.verify_jwt(:'clerk_alice')->>'user_id' AS clerk_request_token;
-- What 0.6.0 adds: idp.stats counts logins (PostgreSQL 18's validator).
SELECT count(*) >= 0 AS stats_has_login_counters FROM (SELECT logins, logins_refused, login_refusals_by_code FROM idp.stats) s;

CREATE TEMP TABLE upgraded_050 AS SELECT * FROM pg_temp.describe();
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;
CREATE TEMP TABLE fresh_060 AS SELECT * FROM pg_temp.describe();
SELECT 'only after the update from 0.5.0' AS side, * FROM (SELECT * FROM upgraded_050 EXCEPT SELECT * FROM fresh_060) u
UNION ALL
SELECT 'only in a fresh install', * FROM (SELECT * FROM fresh_060 EXCEPT SELECT * FROM upgraded_050) f
ORDER BY 1, 2, 3;

-- A 0.4.0 install whose schema idp a database owner could change (0.4.0 installed into a schema
-- made before it): the update refuses (42501) until a superuser has it back.
SET client_min_messages = warning;
DROP EXTENSION pg_idp CASCADE;
CREATE EXTENSION pg_idp VERSION '0.4.0';
RESET client_min_messages;
ALTER SCHEMA idp OWNER TO regress_upgrade_app;
\set VERBOSITY sqlstate
ALTER EXTENSION pg_idp UPDATE;
\set VERBOSITY terse
ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';
ALTER SCHEMA idp OWNER TO CURRENT_USER;
ALTER EXTENSION pg_idp UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_idp';

DROP OWNED BY regress_upgrade_app;
DROP ROLE regress_upgrade_app;
DROP ROLE regress_upgrade_auth_admin;
