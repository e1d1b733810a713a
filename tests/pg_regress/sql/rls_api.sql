-- idp.enable_rls, idp.disable_rls and idp.rls_status: row-level security in one call.
--   * the policies each kind creates (strict, tenant, owner_in_tenant, tenant_read_owner_write)
--   * idempotence; another kind replaces pg_idp's policies and leaves the owner's own alone
--   * FORCE; disable_rls and the RLS state it leaves; text, varchar, domain and uuid columns
--   * refused calls (22023, 42710, 42501) change nothing; rls_status follows column renames
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pgcrypto;
CREATE EXTENSION pgcrypto;
RESET client_min_messages;

\i :specs/clerk.sql
-- An HS256 issuer whose user ids are uuids (tokens minted below with pgcrypto).
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'uuid-app', 'issuer', 'https://uuid.example.com', 'secret', :'fam_hs_secret'));

-- Helpers: a table's policies as pg_policies shows them (whitespace folded, by name), and
-- everything enable_rls can change on a table as one value, to prove a refused call changed
-- nothing.
CREATE FUNCTION rls_policies(t regclass)
RETURNS TABLE (policyname name, cmd text, qual text, with_check text) LANGUAGE sql STABLE AS $$
  SELECT p.policyname, p.cmd, regexp_replace(p.qual, '\s+', ' ', 'g'), regexp_replace(p.with_check, '\s+', ' ', 'g')
    FROM pg_policies p
    JOIN pg_class c ON c.relname = p.tablename
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = p.schemaname
   WHERE c.oid = t
   ORDER BY p.policyname
$$;
CREATE FUNCTION rls_state(t regclass) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT format('rls=%s force=%s policies=[%s]', c.relrowsecurity, c.relforcerowsecurity,
         (SELECT string_agg(format('%s %s %s %s USING %s CHECK %s COMMENT %s', pol.polname, pol.polcmd,
                                   pol.polpermissive, pol.polroles, pg_get_expr(pol.polqual, pol.polrelid),
                                   pg_get_expr(pol.polwithcheck, pol.polrelid), obj_description(pol.oid, 'pg_policy')),
                            '; ' ORDER BY pol.polname)
            FROM pg_policy pol WHERE pol.polrelid = t))
    FROM pg_class c WHERE c.oid = t
$$;
-- A compact HS256 token with a 1-hour exp (the token text is never printed).
CREATE FUNCTION mint_hs256(claims jsonb, secret text) RETURNS text LANGUAGE sql AS $$
  WITH parts AS (
    SELECT rtrim(translate(encode(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS h,
           rtrim(translate(encode(convert_to((claims || jsonb_build_object('exp', extract(epoch FROM now())::bigint + 3600))::text, 'UTF8'), 'base64'), E'+/\n', '-_'), '=') AS p)
  SELECT h || '.' || p || '.' || rtrim(translate(encode(hmac(h || '.' || p, secret, 'sha256'), 'base64'), E'+/\n', '-_'), '=')
    FROM parts
$$;

CREATE ROLE regress_rls_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_rls_app;

-- 1. strict (the default): every command compares user_id with the verified user id, as an
-- InitPlan; pg_idp's record of them is a row of idp.rls_tables (not a comment: Citus does not
-- propagate comments).
CREATE TABLE notes (id int PRIMARY KEY, user_id text NOT NULL, body text NOT NULL);
INSERT INTO notes VALUES (1, 'user_2alice', 'alice note'), (2, 'user_2bob', 'bob note');
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO regress_rls_app;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'notes'::regclass;
SELECT idp.enable_rls('notes');
SELECT * FROM rls_policies('notes');
SELECT pol.polname, pol.polpermissive, pol.polroles::regrole[] AS roles
  FROM pg_policy pol WHERE pol.polrelid = 'notes'::regclass ORDER BY pol.polname;
SELECT * FROM idp.rls_tables WHERE tbl = 'notes'::regclass;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'notes'::regclass;
SELECT * FROM idp.rls_status();
-- It works: the application role sees only the requesting user's rows.
SET ROLE regress_rls_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, user_id, body FROM notes ORDER BY id;
COMMIT;
SELECT count(*) AS anonymous_rows FROM notes;
RESET ROLE;

-- Idempotent: a second identical call leaves exactly the same policies and state.
SELECT rls_state('notes') AS notes_before \gset
SELECT idp.enable_rls('notes');
SELECT rls_state('notes') = :'notes_before' AS unchanged, count(*) AS policies
  FROM pg_policy WHERE polrelid = 'notes'::regclass;

-- 2. The tenant kinds, on one table with org_id and user_id.
CREATE TABLE docs (id int PRIMARY KEY, org_id text NOT NULL, user_id text NOT NULL, title text NOT NULL);
-- tenant: members of the organization (idp.tenant_id()) share all its rows; user_id unused.
SELECT idp.enable_rls('docs', tenant_column => 'org_id', policy => 'tenant');
SELECT * FROM rls_policies('docs');
-- owner_in_tenant: the user's own rows, and only within the current organization.
SELECT idp.enable_rls('docs', tenant_column => 'org_id', policy => 'owner_in_tenant');
SELECT * FROM rls_policies('docs');
-- tenant_read_owner_write: read the organization's rows; write only one's own (in it).
SELECT idp.enable_rls('docs', tenant_column => 'org_id', policy => 'tenant_read_owner_write');
SELECT * FROM rls_policies('docs');
SELECT * FROM idp.rls_status() WHERE tbl = 'docs'::regclass;
-- The owner's own policy lives alongside; enabling again with another kind (names are
-- case-insensitive) replaces pg_idp's four policies and leaves it alone.
CREATE POLICY docs_auditor ON docs FOR SELECT TO regress_rls_app USING (title LIKE 'public:%');
SELECT idp.enable_rls('docs', 'user_id', 'org_id', 'STRICT');
SELECT * FROM rls_policies('docs');
SELECT * FROM idp.rls_status() WHERE tbl = 'docs'::regclass;
SELECT idp.enable_rls('docs', tenant_column => 'org_id', policy => 'owner_in_tenant');
SELECT * FROM idp.rls_status() WHERE tbl = 'docs'::regclass;
SELECT * FROM idp.rls_tables WHERE tbl = 'docs'::regclass;
-- The tenant kind needs no user column at all.
CREATE TABLE org_settings (org_id text PRIMARY KEY, theme text);
SELECT idp.enable_rls('org_settings', tenant_column => 'org_id', policy => 'tenant');
SELECT * FROM idp.rls_status() WHERE tbl = 'org_settings'::regclass;
-- Quoted names are quoted in the policies.
CREATE TABLE "Team Notes" ("Owner Id" text, body text);
SELECT idp.enable_rls('"Team Notes"', user_column => 'Owner Id');
SELECT * FROM rls_policies('"Team Notes"');

-- 3. FORCE: without it the table owner bypasses the policies; with it the owner is subject to
-- them too (superusers always bypass RLS).
CREATE ROLE regress_rls_owner NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_rls_owner;
CREATE TABLE ledger (id int PRIMARY KEY, user_id text NOT NULL, amount int NOT NULL);
INSERT INTO ledger VALUES (1, 'user_2alice', 10), (2, 'user_2bob', 20);
ALTER TABLE ledger OWNER TO regress_rls_owner;
SET ROLE regress_rls_owner;
SELECT idp.enable_rls('ledger');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'ledger'::regclass;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, user_id FROM ledger ORDER BY id;
COMMIT;
SELECT idp.enable_rls('ledger', force => true);
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'ledger'::regclass;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT id, user_id FROM ledger ORDER BY id;
COMMIT;
SELECT count(*) AS owner_anonymous_rows FROM ledger;
SELECT * FROM idp.rls_status() WHERE tbl = 'ledger'::regclass;
-- Enabling again without force does not lift FORCE: the table stays as strict as it was.
SELECT idp.enable_rls('ledger');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'ledger'::regclass;
RESET ROLE;

-- 4. disable_rls removes pg_idp's policies only and returns how many it removed.
-- With no other policy left, RLS is turned off again (and FORCE with it).
SELECT idp.disable_rls('ledger');
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'ledger'::regclass) AS policies
  FROM pg_class WHERE oid = 'ledger'::regclass;
-- With the owner's own policy remaining, RLS stays on for it.
SELECT idp.disable_rls('docs');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass;
SELECT * FROM rls_policies('docs');
-- Neither table is listed any more; a second call removes nothing and changes nothing.
SELECT tbl, policy FROM idp.rls_status();
SELECT rls_state('docs') AS docs_before \gset
SELECT idp.disable_rls('docs') AS again, idp.disable_rls('ledger') AS again_ledger;
SELECT rls_state('docs') = :'docs_before' AS unchanged;
SELECT relrowsecurity FROM pg_class WHERE oid = 'ledger'::regclass;
-- A table pg_idp never touched: 0, its own RLS setup untouched.
CREATE TABLE own_rls (id int, user_id text);
ALTER TABLE own_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rls_all ON own_rls USING (user_id = current_user);
SELECT rls_state('own_rls') AS own_before \gset
SELECT idp.disable_rls('own_rls');
SELECT rls_state('own_rls') = :'own_before' AS unchanged;
SELECT regress.try('SELECT idp.disable_rls(NULL)') AS null_table;
-- A table that was locked down before enable_rls (RLS on, no policy: non-owners see nothing,
-- and FORCE on) is never opened by disable_rls: it goes back to exactly that state.
CREATE TABLE locked (id int, user_id text);
ALTER TABLE locked ENABLE ROW LEVEL SECURITY;
ALTER TABLE locked FORCE ROW LEVEL SECURITY;
SELECT idp.enable_rls('locked');
SELECT idp.enable_rls('locked', policy => 'strict');
SELECT idp.disable_rls('locked');
SELECT relrowsecurity, relforcerowsecurity,
       (SELECT count(*) FROM pg_policy WHERE polrelid = 'locked'::regclass) AS policies
  FROM pg_class WHERE oid = 'locked'::regclass;
-- And FORCE that enable_rls added on a table without it is taken away again.
CREATE TABLE unforced (id int, user_id text);
ALTER TABLE unforced ENABLE ROW LEVEL SECURITY;
SELECT idp.enable_rls('unforced', force => true);
SELECT idp.disable_rls('unforced');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'unforced'::regclass;
DROP TABLE locked, unforced;

-- 5. Column types: varchar, a domain over text, uuid. A uuid column is compared with the user
-- id as a uuid when it is a canonical uuid (any case); any other id matches nothing, without
-- an error.
CREATE DOMAIN user_ref AS text CHECK (VALUE <> '');
CREATE TABLE vc_notes (id int, user_id varchar(64), body text);
CREATE TABLE dom_notes (id int, user_id user_ref, body text);
CREATE TABLE uuid_notes (id int, user_id uuid, body text);
INSERT INTO vc_notes VALUES (1, 'user_2alice', 'alice'), (2, 'user_2bob', 'bob');
INSERT INTO dom_notes VALUES (1, 'user_2alice', 'alice'), (2, 'user_2bob', 'bob');
INSERT INTO uuid_notes VALUES (1, '0f8fad5b-d9cb-469f-a165-70867728950e', 'u1'), (2, '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'u2');
SELECT idp.enable_rls('vc_notes'), idp.enable_rls('dom_notes'), idp.enable_rls('uuid_notes');
SELECT * FROM rls_policies('vc_notes') WHERE cmd = 'SELECT';
SELECT * FROM rls_policies('dom_notes') WHERE cmd = 'SELECT';
SELECT * FROM rls_policies('uuid_notes');
SELECT tbl, policy, user_column FROM idp.rls_status() ORDER BY tbl::text;
GRANT SELECT, INSERT ON vc_notes, dom_notes, uuid_notes TO regress_rls_app;
SELECT mint_hs256('{"iss": "https://uuid.example.com", "sub": "0f8fad5b-d9cb-469f-a165-70867728950e"}', :'fam_hs_secret') AS uuid_user,
       mint_hs256('{"iss": "https://uuid.example.com", "sub": "0F8FAD5B-D9CB-469F-A165-70867728950E"}', :'fam_hs_secret') AS uuid_user_upper,
       mint_hs256('{"iss": "https://uuid.example.com", "sub": "0f8fad5bd9cb469fa16570867728950e"}', :'fam_hs_secret') AS uuid_user_no_dashes,
       mint_hs256('{"iss": "https://uuid.example.com", "sub": "{0f8fad5b-d9cb-469f-a165-70867728950e}"}', :'fam_hs_secret') AS uuid_user_braces
\gset
SET ROLE regress_rls_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT 'varchar' AS col, id, body FROM vc_notes UNION ALL SELECT 'domain', id, body FROM dom_notes ORDER BY 1, 2;
-- A Clerk id is not a uuid: no uuid row, no error, and nothing can be inserted.
SELECT count(*) AS uuid_rows_for_clerk_id FROM uuid_notes;
SELECT regress.try($$INSERT INTO uuid_notes VALUES (3, '0f8fad5b-d9cb-469f-a165-70867728950e', 'planted') RETURNING id$$) AS clerk_insert;
COMMIT;
SELECT name, regress.as_request(token) AS user_id, regress.try('SELECT coalesce(string_agg(id::text, '','' ORDER BY id), ''none'') FROM uuid_notes') AS rows
  FROM (VALUES ('canonical', :'uuid_user'), ('upper case', :'uuid_user_upper'),
               ('no dashes', :'uuid_user_no_dashes'), ('braces', :'uuid_user_braces')) AS t(name, token);
BEGIN;
SET LOCAL request.jwt = :'uuid_user';
INSERT INTO uuid_notes VALUES (3, '0f8fad5b-d9cb-469f-a165-70867728950e', 'u1 again') RETURNING id, user_id;
SELECT regress.try($$INSERT INTO uuid_notes VALUES (4, '7c9e6679-7425-40de-944b-e07fc1f90ae7', 'for u2') RETURNING id$$) AS insert_for_other;
COMMIT;
RESET ROLE;

-- 6. Refused calls: SQLSTATE 22023 for bad arguments, and nothing changed.
SELECT rls_state('notes') AS notes_before \gset
CREATE VIEW notes_view AS SELECT * FROM notes;
SELECT name, regress.try(q) AS result, rls_state('notes') = :'notes_before' AS notes_unchanged
  FROM (VALUES
    ('missing column',       $$SELECT idp.enable_rls('notes', user_column => 'owner_id')$$),
    ('integer column',       $$SELECT idp.enable_rls('notes', user_column => 'id')$$),
    ('unknown policy',       $$SELECT idp.enable_rls('notes', policy => 'public')$$),
    ('NULL policy',          $$SELECT idp.enable_rls('notes', policy => NULL)$$),
    ('NULL user column',     $$SELECT idp.enable_rls('notes', user_column => NULL)$$),
    ('tenant, no column',    $$SELECT idp.enable_rls('notes', policy => 'tenant')$$),
    ('missing tenant col',   $$SELECT idp.enable_rls('notes', tenant_column => 'org_id', policy => 'owner_in_tenant')$$),
    ('integer tenant col',   $$SELECT idp.enable_rls('notes', tenant_column => 'id', policy => 'tenant_read_owner_write')$$),
    ('NULL table',           $$SELECT idp.enable_rls(NULL)$$)
  ) AS t(name, q);
SELECT rls_state('notes_view') AS view_before \gset
SELECT regress.try($$SELECT idp.enable_rls('notes_view')$$) AS view,
       rls_state('notes_view') = :'view_before' AS view_unchanged;
SELECT * FROM rls_policies('notes');
-- A policy of the owner's that is already called pg_idp_select: 42710, nothing created.
CREATE TABLE clash (id int, user_id text);
ALTER TABLE clash ENABLE ROW LEVEL SECURITY;
CREATE POLICY pg_idp_select ON clash FOR SELECT USING (true);
SELECT rls_state('clash') AS clash_before \gset
SELECT regress.try($$SELECT idp.enable_rls('clash')$$) AS clash,
       rls_state('clash') = :'clash_before' AS clash_unchanged;
SELECT * FROM rls_policies('clash');
-- The same after the owner replaced one of pg_idp's policies with their own: pg_idp's other
-- three stay as they were.
DROP POLICY pg_idp_select ON vc_notes;
CREATE POLICY pg_idp_select ON vc_notes FOR SELECT USING (true);
SELECT rls_state('vc_notes') AS vc_before \gset
SELECT regress.try($$SELECT idp.enable_rls('vc_notes', policy => 'strict')$$) AS replaced_by_owner,
       rls_state('vc_notes') = :'vc_before' AS vc_unchanged;
SELECT * FROM rls_policies('vc_notes');
-- Only the table's owner may change its policies: 42501 for the application role, both ways.
SET ROLE regress_rls_app;
SELECT regress.try($$SELECT idp.enable_rls('notes', policy => 'strict')$$) AS app_enable,
       regress.try($$SELECT idp.enable_rls('own_rls')$$) AS app_enable_untouched_table,
       regress.try($$SELECT idp.disable_rls('notes')$$) AS app_disable;
RESET ROLE;
SELECT rls_state('notes') = :'notes_before' AS notes_unchanged,
       rls_state('own_rls') = :'own_before' AS own_rls_unchanged;

-- 7. rls_status follows a column rename (the policies do too).
ALTER TABLE notes RENAME COLUMN user_id TO owner_id;
ALTER TABLE org_settings RENAME COLUMN org_id TO tenant;
SELECT * FROM idp.rls_status() WHERE tbl IN ('notes'::regclass, 'org_settings'::regclass);
SELECT * FROM rls_policies('notes') WHERE cmd = 'SELECT';
SET ROLE regress_rls_app;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT id, owner_id, body FROM notes ORDER BY id;
COMMIT;
RESET ROLE;

DROP VIEW notes_view;
DROP TABLE notes, docs, org_settings, "Team Notes", ledger, own_rls, vc_notes, dom_notes, uuid_notes, clash;
DROP DOMAIN user_ref;
DROP FUNCTION rls_policies(regclass), rls_state(regclass), mint_hs256(jsonb, text);
DROP EXTENSION pgcrypto;
DROP OWNED BY regress_rls_app;
DROP ROLE regress_rls_app;
DROP OWNED BY regress_rls_owner;
DROP ROLE regress_rls_owner;
