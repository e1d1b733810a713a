-- Multi-tenant isolation on org_id (Auth0 Organizations, WorkOS organizations, Clerk
-- Organizations), each provider registered with "tenant": "org_id", one table with org_id and
-- user_id, and the three tenant kinds of idp.enable_rls:
--   tenant                   members of an organization share all its rows, never another's
--   owner_in_tenant          only one's own rows, and only within the current organization
--   tenant_read_owner_write  read the organization's rows; insert, update, delete only one's own
-- A user who switches organization (a new token, same sub, another org_id) sees only the other
-- organization's rows; a token without org_id sees nothing and cannot insert.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(cfg) AS registered FROM (VALUES
  ('{"provider": "auth0", "issuer": "https://acme.us.auth0.com/", "audience": "https://api.example.com",
     "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id"}}'::jsonb
   || jsonb_build_object('jwks', :'auth0_jwks'::jsonb)),
  ('{"provider": "workos", "issuer": "https://api.workos.com",
     "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id", "role": "role"}}'::jsonb
   || jsonb_build_object('jwks', :'workos_jwks'::jsonb)),
  ('{"provider": "clerk", "issuer": "https://acme.clerk.accounts.dev",
     "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id"}}'::jsonb
   || jsonb_build_object('jwks', :'clerk_jwks'::jsonb))
) AS p(cfg);

-- The identities used below: who, in which organization (NULL: the token has no org_id).
SELECT name, v->>'provider' AS provider, v->>'user_id' AS user_id, v->>'tenant' AS tenant
  FROM (VALUES ('workos_user', :'workos_user'), ('workos_user_other_org', :'workos_user_other_org'),
               ('workos_member', :'workos_member'), ('auth0_user', :'auth0_user'),
               ('auth0_m2m', :'auth0_m2m'), ('clerk_org_alice', :'clerk_org_alice'),
               ('clerk_alice', :'clerk_alice')) AS t(name, token),
       LATERAL (SELECT idp.verify_jwt(token) AS v) s;

CREATE TABLE projects (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id  text DEFAULT idp.tenant_id(),
  user_id text NOT NULL DEFAULT idp.requesting_user_id(),
  title   text NOT NULL
);
-- The owner (not subject to RLS) seeds rows in five organizations and one without any.
INSERT INTO projects (org_id, user_id, title) VALUES
  ('org_01XYZ789',  'user_01ABC123',             'Acme roadmap'),
  ('org_01XYZ789',  'user_01DEF456',             'Acme member notes'),
  ('org_01OTHER0',  'user_01ABC123',             'Globex launch plan'),
  ('org_01OTHER0',  'user_01ZZZ999',             'Globex payroll'),
  ('org_TENANT_ID', 'auth0|abc123',              'Auth0 tenant doc'),
  ('org_TENANT_ID', 'auth0|colleague',           'Auth0 colleague doc'),
  ('org_OTHER_ID',  'auth0|stranger',            'Other tenant payroll'),
  ('org_2acme',     'user_2alice',               'Clerk org doc'),
  (NULL,            'yOUrAuTh0cLiEnTiD@clients', 'Row without an organization');
CREATE ROLE regress_tenant_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_tenant_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO regress_tenant_app;

-- 1. tenant: the organization's rows, whoever owns them.
SELECT idp.enable_rls('projects', tenant_column => 'org_id', policy => 'tenant');
SET ROLE regress_tenant_app;

-- The WorkOS admin in Acme sees both Acme rows, may change a colleague's row (the tenant kind
-- shares the organization's rows) and inserts into Acme (org_id from the token).
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT idp.provider(), idp.requesting_user_id(), idp.tenant_id();
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
UPDATE projects SET title = title || ' (reviewed)' WHERE id = 2 RETURNING id, org_id, user_id, title;
INSERT INTO projects (title) VALUES ('Acme Q3 plan') RETURNING id, org_id, user_id, title;
-- Other organizations' rows are invisible to UPDATE and DELETE ...
UPDATE projects SET title = 'taken' WHERE org_id = 'org_01OTHER0' RETURNING id;
DELETE FROM projects WHERE org_id IN ('org_TENANT_ID', 'org_01OTHER0') OR org_id IS NULL RETURNING id;
-- ... and cannot be written into: planting a row or moving one there fails (42501).
SELECT regress.try($$INSERT INTO projects (org_id, title) VALUES ('org_01OTHER0', 'planted') RETURNING id$$) AS plant_other_org;
SELECT regress.try($$UPDATE projects SET org_id = 'org_01OTHER0' WHERE id = 1 RETURNING id$$) AS move_to_other_org;
COMMIT;

-- The same user switches to Globex (same sub, another org_id): Globex's rows only, not Acme's.
BEGIN;
SET LOCAL request.jwt = :'workos_user_other_org';
SELECT idp.provider(), idp.requesting_user_id(), idp.tenant_id();
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
UPDATE projects SET title = 'taken' WHERE org_id = 'org_01XYZ789' RETURNING id;
COMMIT;

-- Auth0 Organizations: the same isolation for another provider's organization.
BEGIN;
SET LOCAL request.jwt = :'auth0_user';
SELECT idp.provider(), idp.requesting_user_id(), idp.tenant_id();
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
COMMIT;

-- Clerk Organizations: a session token with org_id.
BEGIN;
SET LOCAL request.jwt = :'clerk_org_alice';
SELECT idp.provider(), idp.requesting_user_id(), idp.tenant_id();
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
COMMIT;

-- Tokens without org_id (Auth0 client credentials, a Clerk session outside an organization):
-- no rows, not even the row without an organization, and nothing can be inserted.
BEGIN;
SET LOCAL request.jwt = :'auth0_m2m';
SELECT idp.requesting_user_id(), idp.tenant_id() IS NULL AS no_tenant, count(*) AS rows FROM projects;
SELECT regress.try($$INSERT INTO projects (title) VALUES ('machine row') RETURNING id$$) AS m2m_insert;
SELECT regress.try($$INSERT INTO projects (org_id, title) VALUES ('org_TENANT_ID', 'machine row') RETURNING id$$) AS m2m_insert_with_org;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT idp.requesting_user_id(), idp.tenant_id() IS NULL AS no_tenant, count(*) AS rows FROM projects;
SELECT regress.try($$INSERT INTO projects (title) VALUES ('no org') RETURNING id$$) AS no_org_insert;
COMMIT;
-- Anonymous: nothing.
SELECT count(*) AS anonymous_rows FROM projects;
RESET ROLE;

-- 2. owner_in_tenant: one's own rows, within the current organization only.
SELECT idp.enable_rls('projects', tenant_column => 'org_id', policy => 'owner_in_tenant');
SET ROLE regress_tenant_app;

BEGIN;
SET LOCAL request.jwt = :'workos_member';
SELECT idp.requesting_user_id(), idp.tenant_id();
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
-- The admin's rows in the same organization are out of reach.
UPDATE projects SET title = 'taken' WHERE user_id = 'user_01ABC123' RETURNING id;
DELETE FROM projects WHERE user_id = 'user_01ABC123' RETURNING id;
SELECT regress.try($$INSERT INTO projects (user_id, title) VALUES ('user_01ABC123', 'forged for the admin') RETURNING id$$) AS forged_for_colleague;
SELECT regress.try($$UPDATE projects SET user_id = 'user_01ABC123' WHERE id = 2 RETURNING id$$) AS give_away;
INSERT INTO projects (title) VALUES ('Member todo') RETURNING id, org_id, user_id, title;
COMMIT;

-- The admin in Acme: their own Acme rows, not the member's, not their own Globex row.
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
COMMIT;
-- After switching to Globex: their own Globex row only.
BEGIN;
SET LOCAL request.jwt = :'workos_user_other_org';
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
SELECT regress.try($$INSERT INTO projects (org_id, title) VALUES ('org_01XYZ789', 'into the previous org') RETURNING id$$) AS into_previous_org;
COMMIT;

-- Without org_id: not even one's own row (its org_id is NULL); nothing can be inserted.
BEGIN;
SET LOCAL request.jwt = :'auth0_m2m';
SELECT idp.requesting_user_id(), count(*) AS rows FROM projects;
SELECT regress.try($$INSERT INTO projects (title) VALUES ('machine row') RETURNING id$$) AS m2m_insert;
COMMIT;
RESET ROLE;

-- 3. tenant_read_owner_write: read the organization's rows; write only one's own.
SELECT idp.enable_rls('projects', tenant_column => 'org_id', policy => 'tenant_read_owner_write');
SET ROLE regress_tenant_app;

BEGIN;
SET LOCAL request.jwt = :'workos_member';
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
-- Own rows: update and delete.
UPDATE projects SET title = 'Member todo (done)' WHERE title = 'Member todo' RETURNING id, user_id, title;
DELETE FROM projects WHERE title = 'Member todo (done)' RETURNING id, user_id, title;
-- The admin's rows are readable but invisible to UPDATE and DELETE.
UPDATE projects SET title = 'taken' WHERE user_id = 'user_01ABC123' RETURNING id;
DELETE FROM projects WHERE user_id = 'user_01ABC123' RETURNING id;
-- Inserting for someone else, giving one's row away, or moving it out of the organization: 42501.
SELECT regress.try($$INSERT INTO projects (user_id, title) VALUES ('user_01ABC123', 'forged for the admin') RETURNING id$$) AS forged_for_colleague;
SELECT regress.try($$UPDATE projects SET user_id = 'user_01ABC123' WHERE id = 2 RETURNING id$$) AS give_away;
SELECT regress.try($$UPDATE projects SET org_id = 'org_01OTHER0' WHERE id = 2 RETURNING id$$) AS move_to_other_org;
INSERT INTO projects (title) VALUES ('Member proposal') RETURNING id, org_id, user_id, title;
COMMIT;

-- The same admin, now in Globex: reads Globex's rows, writes only their own there, and can no
-- longer touch their Acme rows.
BEGIN;
SET LOCAL request.jwt = :'workos_user_other_org';
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
UPDATE projects SET title = title || ' (v2)' WHERE org_id = 'org_01OTHER0' RETURNING id, user_id, title;
UPDATE projects SET title = 'edited from Globex' WHERE org_id = 'org_01XYZ789' RETURNING id;
DELETE FROM projects WHERE user_id = 'user_01ABC123' AND org_id = 'org_01XYZ789' RETURNING id;
COMMIT;

-- Auth0: the organization's rows, its own writable only.
BEGIN;
SET LOCAL request.jwt = :'auth0_user';
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
UPDATE projects SET title = title || ' (seen)' RETURNING id, user_id, title;
COMMIT;

-- Without org_id: nothing to read, nothing to write.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT count(*) AS rows FROM projects;
SELECT regress.try($$INSERT INTO projects (title) VALUES ('no org') RETURNING id$$) AS no_org_insert;
COMMIT;
RESET ROLE;

-- What was really stored (the owner is not subject to RLS).
SELECT * FROM idp.rls_status();
SELECT id, org_id, user_id, title FROM projects ORDER BY id;
DROP TABLE projects;
DROP OWNED BY regress_tenant_app;
DROP ROLE regress_tenant_app;
