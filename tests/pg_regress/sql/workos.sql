-- The WorkOS guide, as SQL.
--   Step 1  an environment (client id client_01HQSXWORKOS), AuthKit enabled
--   Step 2  redirect URIs; SSO connections per organization (WorkOS federates them)
--   Step 3  register WorkOS as an identity provider: issuer https://api.workos.com; claim
--           mapping sub -> user_id, email -> email, org_id -> tenant (and AuthKit's role)
--   Step 4  test the connection with an AuthKit access token:
--           {valid, provider, user_id, email, tenant}
--   Step 5  use the token: request.jwt, the identity functions, sid and permissions
--   Step 6  row-level security: multi-tenant isolation on org_id, role and permissions
--   Troubleshooting: RLS blocking access or org mismatch (403), a member without a role
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Step 3: the guide's registration body as written (YOUR_WORKOS_CLIENT_ID =
-- client_01HQSXWORKOS), keys fetched from its jwks_uri (a local server stands in for
-- api.workos.com).
SELECT idp.register_provider('{
"provider": "workos",
"domain": "api.workos.com",
"client_id": "client_01HQSXWORKOS",
"jwks_uri": "https://api.workos.com/sso/jwks/client_01HQSXWORKOS",
"issuer": "https://api.workos.com",
"claim_mapping": {
"user_id": "sub",
"email": "email",
"tenant": "org_id"
}
}');
SELECT idp.verify_jwt(:'workos_user') AS guide_body_verifies;
-- The same body plus AuthKit's role claim, for idp.role().
SELECT idp.register_provider('{
"provider": "workos",
"domain": "api.workos.com",
"client_id": "client_01HQSXWORKOS",
"jwks_uri": "https://api.workos.com/sso/jwks/client_01HQSXWORKOS",
"issuer": "https://api.workos.com",
"claim_mapping": {
"user_id": "sub",
"email": "email",
"tenant": "org_id",
"role": "role"
}
}');

-- The other four guides' providers, side by side (InsForge shares Clerk's issuer).
\set self workos
\i :specs/other_guides.sql
SELECT name, issuer, algorithms, key_ids, jwks_uri, claim_mapping FROM idp.providers ORDER BY name;

-- Step 4: "A successful response returns {valid, provider, user_id, email, tenant}". AuthKit
-- access tokens carry no email claim, so email is null here.
SELECT idp.verify_jwt(:'workos_user');
SELECT idp.verify_jwt(:'workos_member');

-- Step 5: the access token of the request.
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider();
SELECT idp.claim('sid') AS sid, idp.claim('permissions') AS permissions,
       idp.claim('$.permissions[1]') AS second_permission, idp.claim('jti') AS jti;
SELECT idp.identity() - 'expires_at' AS identity;
SELECT idp.claims() - 'exp' - 'iat' AS claims;
COMMIT;

-- A member of the same organization with no role and no permissions.
BEGIN;
SET LOCAL request.jwt = :'workos_member';
SELECT idp.requesting_user_id(), idp.tenant_id(), idp.role(), idp.claim('sid') AS sid,
       idp.claim('permissions') AS permissions;
SELECT idp.identity() - 'expires_at' AS identity;
COMMIT;

-- Step 6: multi-tenant isolation on org_id. Everyone in the organization reads its posts;
-- writing needs the posts:write permission; deleting needs the admin role.
CREATE TABLE workos_posts (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id  text NOT NULL DEFAULT idp.tenant_id(),
  author  text NOT NULL DEFAULT idp.requesting_user_id(),
  title   text NOT NULL
);
ALTER TABLE workos_posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY workos_posts_read ON workos_posts FOR SELECT
  USING (org_id = (SELECT idp.tenant_id()));
CREATE POLICY workos_posts_write ON workos_posts FOR INSERT
  WITH CHECK (org_id = (SELECT idp.tenant_id()) AND (SELECT idp.claim('permissions')) ? 'posts:write');
CREATE POLICY workos_posts_delete ON workos_posts FOR DELETE
  USING (org_id = (SELECT idp.tenant_id()) AND (SELECT idp.role()) = 'admin');
-- The owner (not subject to RLS) seeds a post in each of two organizations.
INSERT INTO workos_posts (org_id, author, title) VALUES
  ('org_01XYZ789', 'user_01DEF456', 'Welcome to Acme'),
  ('org_01OTHER0', 'user_01ZZZ999', 'Globex internal memo');
CREATE ROLE regress_workos_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_workos_app;
GRANT SELECT, INSERT, DELETE ON workos_posts TO regress_workos_app;
SET ROLE regress_workos_app;

-- The admin (posts:write) posts, and sees only their organization's posts.
BEGIN;
SET LOCAL request.jwt = :'workos_user';
INSERT INTO workos_posts (title) VALUES ('Okta SSO is connected');
SELECT org_id, author, title FROM workos_posts ORDER BY id;
-- "403 Forbidden: org mismatch": another organization's rows are invisible and unwritable.
DELETE FROM workos_posts WHERE org_id = 'org_01OTHER0' RETURNING id;
SELECT regress.try($$INSERT INTO workos_posts (org_id, title) VALUES ('org_01OTHER0', 'planted') RETURNING id$$) AS other_org;
COMMIT;

-- The member reads the same organization's posts but can neither post nor delete.
BEGIN;
SET LOCAL request.jwt = :'workos_member';
SELECT org_id, author, title FROM workos_posts ORDER BY id;
SELECT regress.try($$INSERT INTO workos_posts (title) VALUES ('member post') RETURNING id$$) AS member_insert;
DELETE FROM workos_posts WHERE title = 'Welcome to Acme' RETURNING id;
COMMIT;

-- The admin can delete.
BEGIN;
SET LOCAL request.jwt = :'workos_user';
DELETE FROM workos_posts WHERE title = 'Welcome to Acme' RETURNING org_id, title;
COMMIT;

-- A token of another provider carries no WorkOS organization: no rows. An invalid token: an error.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT idp.provider(), idp.tenant_id() IS NULL AS no_tenant, count(*) AS rows FROM workos_posts;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'tampered_signature';
SELECT regress.try('SELECT count(*) FROM workos_posts') AS tampered;
ROLLBACK;

RESET ROLE;
SELECT org_id, author, title FROM workos_posts ORDER BY id;
DROP TABLE workos_posts;
DROP OWNED BY regress_workos_app;
DROP ROLE regress_workos_app;
