-- The Clerk guide, as SQL.
--   Step 1  an application at acme.clerk.accounts.dev (RS256 session tokens, JWKS)
--   Step 2  allowed origins (the session token's azp); JWT templates (optional: see insforge)
--   Step 3  register Clerk as an identity provider; claim mapping sub -> user_id, email -> email
--           (and, with Organizations, org_id -> tenant)
--   Step 4  test the connection: {valid, provider, user_id, email}
--   Step 5  use the token: request.jwt and the identity functions
--   Step 6  row-level security, "strict": every user sees only their own rows
--   Troubleshooting: expired token (401), RLS blocking (403), wrong issuer, missing email,
--   no token at all (getToken() returns null)
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Step 3: the guide's registration body as written (YOUR_APP = acme): its keys are fetched from
-- the jwks_uri now (here a local server stands in for acme.clerk.accounts.dev).
SELECT idp.register_provider('{
"provider": "clerk",
"domain": "acme.clerk.accounts.dev",
"client_id": "pk_test_YWNtZS5jbGVyay5hY2NvdW50cy5kZXYk",
"jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json",
"issuer": "https://acme.clerk.accounts.dev",
"claim_mapping": {
"user_id": "sub",
"email": "email"
}
}');
SELECT name, key_ids, jwks_uri FROM idp.providers;
SELECT idp.verify_jwt(:'clerk_alice') AS fetched_keys_verify;

-- Troubleshooting "invalid_token error: JWKS URI unreachable (check for typos in
-- clerk.accounts.dev)": a body whose jwks_uri cannot be fetched registers nothing.
SELECT regress.try($$SELECT idp.register_provider('{"provider": "clerk_typo", "issuer": "https://acme.clerk.acounts.dev",
  "jwks_uri": "https://acme.clerk.acounts.dev/.well-known/jwks.json"}')$$) ~ '^08000 JWKS at https://acme.clerk.acounts.dev/.well-known/jwks.json could not be fetched' AS typo_refused;
SELECT count(*) AS typo_registered FROM idp.providers WHERE name = 'clerk_typo';

-- A database that cannot reach Clerk when it is set up registers without fetching: tokens fail
-- with the code no_keys until the keys arrive (the refresh worker, or idp.refresh_jwks).
SELECT idp.unregister_provider('clerk');
SELECT idp.register_provider('{
"provider": "clerk",
"domain": "acme.clerk.accounts.dev",
"client_id": "pk_test_YWNtZS5jbGVyay5hY2NvdW50cy5kZXYk",
"jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json",
"issuer": "https://acme.clerk.accounts.dev",
"claim_mapping": {
"user_id": "sub",
"email": "email"
}
}', fetch_keys => false);
SELECT name, key_ids, algorithms FROM idp.providers;
SELECT idp.verify_jwt(:'clerk_alice') AS before_keys;
SELECT regress.as_request(:'clerk_alice') AS request_before_keys;
SELECT idp.refresh_jwks('clerk') AS keys_loaded;
SELECT regress.as_request(:'clerk_alice') AS request_after_keys;
-- The keys came through the proxy named by idp.http_proxy_file (scripts/regress: its URL carries
-- credentials). idp.http_proxy, whose URL may carry them too, is hidden from other roles: SHOW
-- and current_setting are refused (42501), pg_settings leaves it out (a superuser sees it).
CREATE ROLE clerk_app;
SET ROLE clerk_app;
SELECT left(regress.try('SHOW idp.http_proxy'), 5) AS app_show,
       left(regress.try($$SELECT current_setting('idp.http_proxy')$$), 5) AS app_current_setting,
       (SELECT count(*) FROM pg_settings WHERE name = 'idp.http_proxy') AS app_pg_settings;
RESET ROLE;
DROP ROLE clerk_app;
SELECT count(*) AS superuser_pg_settings FROM pg_settings WHERE name = 'idp.http_proxy';
-- Proxy settings that cannot be used fail the fetch with a code, never naming a URL (it may
-- carry credentials) nor a proxy file's content; the keys stay. Both settings at once:
SET idp.http_proxy = 'ftp://user:hunter2@nowhere';
SELECT regress.try($$SELECT idp.refresh_jwks('clerk')::text$$) AS both_set;
-- A setting that is not a proxy URL:
SET idp.http_proxy_file = '';
SELECT regress.try($$SELECT idp.refresh_jwks('clerk')::text$$) AS bad_proxy;
RESET idp.http_proxy;
-- A proxy file that does not hold one (relative: to the data directory), a missing file:
SELECT format($$COPY (SELECT 'ftp://user:hunter2@nowhere') TO %L$$, current_setting('data_directory') || '/pg_idp_bad_proxy.url') AS copy_bad \gset
:copy_bad;
SET idp.http_proxy_file = 'pg_idp_bad_proxy.url';
SELECT regress.try($$SELECT idp.refresh_jwks('clerk')::text$$) AS bad_proxy_file;
SET idp.http_proxy_file = 'pg_idp_no_such_proxy.url';
SELECT regress.try($$SELECT idp.refresh_jwks('clerk')::text$$) AS missing_proxy_file;
RESET idp.http_proxy_file;
SELECT regress.as_request(:'clerk_alice') AS keys_kept;
-- Only a superuser sets either (42501 for another role).
CREATE ROLE clerk_app;
SET ROLE clerk_app;
SELECT left(regress.try($$SELECT set_config('idp.http_proxy_file', '/tmp/x', false)$$), 5) AS app_sets_proxy_file,
       left(regress.try($$SELECT set_config('idp.http_proxy', 'http://127.0.0.1:9', false)$$), 5) AS app_sets_proxy;
RESET ROLE;
DROP ROLE clerk_app;

-- The other four guides' providers, side by side (InsForge shares Clerk's issuer).
\set self clerk
\i :specs/other_guides.sql
SELECT name, issuer, audience, algorithms, key_ids, jwks_uri, has_secret FROM idp.providers ORDER BY name;

-- Step 4: "A successful response returns {valid, provider, user_id, email}" (tenant: unmapped).
SELECT idp.verify_jwt(:'clerk_alice');
SELECT idp.verify_jwt(:'clerk_bob');

-- Step 5: the session token of the request, for its transaction only. Alice is signed in
-- through an organization: org_id and org_role are in the token, azp is the allowed origin.
BEGIN;
SET LOCAL request.jwt = :'clerk_org_alice';
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider();
SELECT idp.claim('azp') AS azp, idp.claim('sid') AS sid, idp.claim('org_id') AS org_id,
       idp.claim('org_role') AS org_role, idp.claim('$.missing') AS missing;
SELECT idp.identity() - 'expires_at' AS identity;
-- expires_at is the token's exp, as a timestamp (not shown: it changes every run).
SELECT (idp.identity()->>'expires_at')::timestamptz = to_timestamp(idp.claim('exp')::numeric) AS expires_at_is_exp;
SELECT idp.claims() - 'exp' - 'iat' AS claims;
COMMIT;
SELECT idp.requesting_user_id() IS NULL AS gone_after_commit;

-- "If you use Clerk Organizations, ... map org_id to the tenant field": registered again with
-- the tenant mapping, the change is seen at once. A user outside any organization has none.
SELECT idp.register_provider('{
  "provider": "clerk",
  "domain": "acme.clerk.accounts.dev",
  "client_id": "pk_test_YWNtZS5jbGVyay5hY2NvdW50cy5kZXYk",
  "jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json",
  "issuer": "https://acme.clerk.accounts.dev",
  "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id"}
}'::jsonb || jsonb_build_object('jwks', :'clerk_jwks'::jsonb));
SELECT idp.verify_jwt(:'clerk_org_alice');
SELECT idp.verify_jwt(:'clerk_alice');
BEGIN;
SET LOCAL request.jwt = :'clerk_org_alice';
SELECT idp.tenant_id();
COMMIT;

-- JWT templates: the same Clerk user through the HS256 "insforge" template (same issuer) is
-- verified by the insforge provider; which one verified the request is idp.provider().
-- Troubleshooting "Missing email claim": the template adds no email claim, so idp.email() is NULL.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT idp.provider(), idp.requesting_user_id(), idp.email(), idp.role();
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'insforge_alice';
SELECT idp.provider(), idp.requesting_user_id(), idp.email(), idp.role();
COMMIT;

-- Step 6: RLS "strict": files filtered by the user id of the verified token.
CREATE TABLE clerk_files (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text NOT NULL DEFAULT idp.requesting_user_id(),
  name    text NOT NULL
);
ALTER TABLE clerk_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY clerk_files_owner ON clerk_files
  USING (user_id = (SELECT idp.requesting_user_id()))
  WITH CHECK (user_id = (SELECT idp.requesting_user_id()));
CREATE ROLE regress_clerk_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_clerk_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON clerk_files TO regress_clerk_app;
SET ROLE regress_clerk_app;

BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
INSERT INTO clerk_files (name) VALUES ('alice-avatar.png'), ('alice-notes.md');
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
INSERT INTO clerk_files (name) VALUES ('bob-report.pdf');
SELECT user_id, name FROM clerk_files ORDER BY id;
-- Troubleshooting "403 Forbidden: RLS blocking access": Bob's sub is not the owner of
-- Alice's files, so he cannot see, change or claim them.
DELETE FROM clerk_files WHERE name LIKE 'alice%' RETURNING name;
SELECT regress.try($$INSERT INTO clerk_files (user_id, name) VALUES ('user_2alice', 'planted.txt') RETURNING name$$) AS forged;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT user_id, name FROM clerk_files ORDER BY id;
COMMIT;

-- Troubleshooting "getToken() returns null": no token, an anonymous request, no rows.
SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*) AS rows FROM clerk_files;

-- Troubleshooting "401 Unauthorized: token expired"; "invalid_token": an issuer no provider is
-- registered for (what a typo in the Clerk domain leads to); a tampered token. Rejected with a
-- code by verify_jwt, an ERROR for a request.
SELECT name, r->>'valid' AS valid, r->>'error' AS error, r->>'message' AS message
FROM (VALUES ('expired', :'clerk_expired'), ('wrong issuer', :'wrong_issuer'),
             ('tampered', :'tampered_payload')) AS t(name, token),
     LATERAL (SELECT idp.verify_jwt(token) AS r) v;
BEGIN;
SET LOCAL request.jwt = :'clerk_expired';
SELECT regress.try('SELECT count(*) FROM clerk_files') AS expired;
ROLLBACK;

RESET ROLE;
SELECT user_id, name FROM clerk_files ORDER BY id;
DROP TABLE clerk_files;
DROP OWNED BY regress_clerk_app;
DROP ROLE regress_clerk_app;
