-- The Auth0 guide, as SQL.
--   Step 1  a tenant at acme.us.auth0.com; an application (client id yOUrAuTh0cLiEnTiD)
--   Step 2  an API (resource server) whose identifier is the audience, signed RS256
--   Step 3  register Auth0 as an identity provider: the issuer ends with "/"; claim mapping
--           sub -> user_id, email -> email, org_id -> tenant
--   Step 4  test the connection (a user token and a client-credentials token):
--           {valid, provider, user_id, email, tenant}
--   Step 5  use the token: request.jwt and the identity functions, namespaced custom claims
--   Step 6  row-level security; Auth0 Organizations: tenant-scoped data isolation
--   Troubleshooting: audience mismatch (401), issuer without its trailing slash, RLS blocking
--   (403), missing email and missing org_id claims
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Step 3: the guide's registration body as written (YOUR_TENANT = acme), keys fetched from its
-- jwks_uri (a local server stands in for acme.us.auth0.com). Its audience is the guide's API.
SELECT idp.register_provider('{
"provider": "auth0",
"domain": "acme.us.auth0.com",
"client_id": "yOUrAuTh0cLiEnTiD",
"audience": "https://api.ainative.studio",
"jwks_uri": "https://acme.us.auth0.com/.well-known/jwks.json",
"issuer": "https://acme.us.auth0.com/",
"claim_mapping": {
"user_id": "sub",
"email": "email",
"tenant": "org_id"
}
}');
SELECT name, audience, key_ids FROM idp.providers;
SELECT idp.verify_jwt(:'auth0_guide_user') AS guide_api_token;
-- This spec's own API (Step 2's identifier): the same body with its audience.
SELECT idp.register_provider('{
"provider": "auth0",
"domain": "acme.us.auth0.com",
"client_id": "yOUrAuTh0cLiEnTiD",
"audience": "https://api.example.com",
"jwks_uri": "https://acme.us.auth0.com/.well-known/jwks.json",
"issuer": "https://acme.us.auth0.com/",
"claim_mapping": {
"user_id": "sub",
"email": "email",
"tenant": "org_id"
}
}');

-- The other four guides' providers, side by side (InsForge shares Clerk's issuer).
\set self auth0
\i :specs/other_guides.sql
SELECT name, issuer, audience, algorithms, key_ids, claim_mapping FROM idp.providers ORDER BY name;

-- Step 4: "A successful response returns {valid, provider, user_id, email}", plus the tenant
-- of an Organizations token. The token's aud is an array (the API and /userinfo): one match
-- is enough.
SELECT idp.verify_jwt(:'auth0_user');
-- The guide's own test token: client credentials, a machine client ("<client id>@clients"),
-- no email, no organization.
SELECT idp.verify_jwt(:'auth0_m2m');

-- Step 5: the user token of the request.
BEGIN;
SET LOCAL request.jwt = :'auth0_user';
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider();
-- A namespaced custom claim (an Action adds "https://example.com/roles"): by name or by JSONPath.
SELECT idp.claim('https://example.com/roles') AS roles,
       idp.claim('$[''https://example.com/roles''][0]') AS first_role,
       idp.claim('$[''https://example.com/roles''][1]') AS second_role,
       idp.claim('scope') AS scope, idp.claim('azp') AS azp, idp.claim('aud') AS aud;
SELECT idp.identity() - 'expires_at' AS identity;
COMMIT;

-- The client-credentials token, as a request: gty tells a machine from a user.
BEGIN;
SET LOCAL request.jwt = :'auth0_m2m';
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.provider(), idp.claim('gty') AS gty;
SELECT idp.identity() - 'expires_at' AS identity;
COMMIT;

-- Troubleshooting: "401 Unauthorized: audience mismatch" and an issuer registered or issued
-- without Auth0's trailing slash: rejected, with a code.
SELECT name, r->>'valid' AS valid, r->>'error' AS error, r->>'message' AS message
FROM (VALUES ('issuer without trailing slash', :'auth0_no_slash'),
             ('audience of another API', :'auth0_other_api')) AS t(name, token),
     LATERAL (SELECT idp.verify_jwt(token) AS r) v;
-- As the request token, an ERROR (SQLSTATE 28000), never an anonymous answer.
SELECT regress.as_request(:'auth0_no_slash') AS no_slash;
SELECT regress.as_request(:'auth0_other_api') AS other_api;

-- Step 6 / Organizations: tenant-scoped isolation on org_id.
CREATE TABLE auth0_documents (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id  text NOT NULL DEFAULT idp.tenant_id(),
  user_id text NOT NULL DEFAULT idp.requesting_user_id(),
  title   text NOT NULL
);
ALTER TABLE auth0_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY auth0_documents_tenant ON auth0_documents
  USING (org_id = (SELECT idp.tenant_id()))
  WITH CHECK (org_id = (SELECT idp.tenant_id()));
-- The owner (not subject to RLS) seeds two organizations' documents.
INSERT INTO auth0_documents (org_id, user_id, title) VALUES
  ('org_TENANT_ID', 'auth0|colleague', 'Tenant roadmap'),
  ('org_OTHER_ID',  'auth0|stranger',  'Other tenant payroll');
CREATE ROLE regress_auth0_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_auth0_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth0_documents TO regress_auth0_app;
SET ROLE regress_auth0_app;

BEGIN;
SET LOCAL request.jwt = :'auth0_user';
INSERT INTO auth0_documents (title) VALUES ('Dark mode preferences');
SELECT org_id, user_id, title FROM auth0_documents ORDER BY id;
-- "403 Forbidden": the other organization's rows are invisible and cannot be written.
UPDATE auth0_documents SET title = 'mine now' WHERE org_id = 'org_OTHER_ID' RETURNING id;
SELECT regress.try($$INSERT INTO auth0_documents (org_id, title) VALUES ('org_OTHER_ID', 'planted') RETURNING id$$) AS forged;
COMMIT;

-- "Missing org_id claim: not using Auth0 Organizations": no tenant, so no tenant's rows, and
-- nothing can be inserted (org_id would be NULL).
BEGIN;
SET LOCAL request.jwt = :'auth0_m2m';
SELECT idp.tenant_id() IS NULL AS no_tenant, count(*) AS rows FROM auth0_documents;
SELECT regress.try($$INSERT INTO auth0_documents (title) VALUES ('from a machine') RETURNING id$$) AS m2m_insert;
COMMIT;

-- A token for another API does not get in either.
BEGIN;
SET LOCAL request.jwt = :'auth0_other_api';
SELECT regress.try('SELECT count(*) FROM auth0_documents') AS other_api;
ROLLBACK;

RESET ROLE;
SELECT org_id, user_id, title FROM auth0_documents ORDER BY id;
DROP TABLE auth0_documents;
DROP OWNED BY regress_auth0_app;
DROP ROLE regress_auth0_app;
