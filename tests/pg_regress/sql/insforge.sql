-- The InsForge + Clerk guide (Clerk JWT template signed with InsForge's secret), as SQL.
--   Step 1  an InsForge project and its JWT secret
--   Step 2  a Clerk JWT template "insforge": HS256 signed with that secret, claims
--           {"role": "authenticated", "aud": "insforge-api"}; Clerk adds sub and iss itself,
--           so template tokens share the issuer of Clerk's RS256 session tokens
--   Step 3  the application's environment (nothing to do in the database)
--   Step 4  getToken({template: 'insforge'}), requesting_user_id() and a todos table with RLS
--           (the full todos app is the todos spec; here: which provider verified which token,
--           the role, and idp.authenticate())
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Steps 1-2: the template's issuer, audience and secret; the role claim defaults to
-- "authenticated" for a template that does not set it.
SELECT idp.register_provider('{
  "provider": "insforge",
  "issuer": "https://acme.clerk.accounts.dev",
  "audience": "insforge-api",
  "claim_mapping": {
    "user_id": "sub",
    "role": {"claim": "role", "default": "authenticated"}
  }
}'::jsonb || jsonb_build_object('secret', :'insforge_secret'));

-- The other four guides' providers, side by side: Clerk's session tokens have the same issuer.
\set self insforge
\i :specs/other_guides.sql
-- The view shows the secret exists, never the secret.
SELECT name, issuer, audience, algorithms, key_ids, has_secret, claim_mapping FROM idp.providers ORDER BY name;

-- Template tokens verify: {valid, provider, user_id, email, tenant} (the template has no email).
SELECT idp.verify_jwt(:'insforge_alice');
SELECT idp.verify_jwt(:'insforge_bob');
SELECT idp.verify_jwt(:'insforge_no_role');

-- One issuer, two providers: the RS256 session tokens are Clerk's, the HS256 template tokens
-- InsForge's, for the same Clerk user ids. As a request: provider, user and role of each.
CREATE FUNCTION pg_temp.as_request_identity(token text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('request.jwt', token, true);
    RETURN idp.identity() - 'expires_at';
END $$;
SELECT name, i->>'provider' AS provider, i->>'user_id' AS user_id, i->>'role' AS role, i->>'email' AS email
FROM (VALUES (1, 'clerk_alice', :'clerk_alice'), (2, 'clerk_bob', :'clerk_bob'),
             (3, 'clerk_org_alice', :'clerk_org_alice'), (4, 'insforge_alice', :'insforge_alice'),
             (5, 'insforge_bob', :'insforge_bob'), (6, 'insforge_no_role', :'insforge_no_role')) AS t(ord, name, token),
     LATERAL (SELECT pg_temp.as_request_identity(token) AS i) v
ORDER BY ord;

-- A template without the role claim: the role comes from the mapping's default.
BEGIN;
SET LOCAL request.jwt = :'insforge_no_role';
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider();
SELECT idp.claim('role') AS role_claim, idp.claim('aud') AS aud;
SELECT idp.identity() - 'expires_at' AS identity;
SELECT idp.claims() - 'exp' - 'iat' AS claims;
COMMIT;
-- The guide's template, with its role claim.
BEGIN;
SET LOCAL request.jwt = :'insforge_alice';
SELECT idp.requesting_user_id(), idp.role(), idp.provider(), idp.claim('role') AS role_claim;
COMMIT;

-- idp.authenticate(): verify the token the client sent and make it the request token for the
-- transaction, in one call.
BEGIN;
SELECT idp.authenticate(:'insforge_bob') - 'expires_at' AS authenticated;
SELECT idp.requesting_user_id(), idp.provider(), idp.role();
COMMIT;
SELECT idp.requesting_user_id() IS NULL AS gone_after_commit;
-- A token that does not verify is an error, and the request token is left as it was.
BEGIN;
SET LOCAL request.jwt = :'insforge_alice';
SELECT regress.try(format('SELECT idp.authenticate(%L)', :'wrong_audience')) AS wrong_audience;
SELECT regress.try(format('SELECT idp.authenticate(%L)', :'clerk_expired')) AS clerk_expired;
SELECT idp.requesting_user_id(), current_setting('request.jwt') = :'insforge_alice' AS request_jwt_unchanged;
COMMIT;

-- Rejections at the shared issuer: the error of the provider that got furthest.
SELECT name, r->>'error' AS error, r->>'message' AS message
FROM (VALUES (1, 'template token for another audience', :'wrong_audience'),
             (2, 'expired Clerk session token', :'clerk_expired'),
             (3, 'HS256 signed with Clerk''s public JWKS', :'hs256_with_rsa_public_key_clerk')) AS t(ord, name, token),
     LATERAL (SELECT idp.verify_jwt(token) AS r) v
ORDER BY ord;

-- Step 4's RLS with the template's role: only requests whose role is "authenticated" reach
-- their own rows. A Clerk session token (no template, so no role) reaches none.
CREATE TABLE insforge_todos (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text NOT NULL DEFAULT idp.requesting_user_id(),
  title   text NOT NULL
);
ALTER TABLE insforge_todos ENABLE ROW LEVEL SECURITY;
CREATE POLICY insforge_todos_own ON insforge_todos
  USING ((SELECT idp.role()) = 'authenticated' AND user_id = (SELECT idp.requesting_user_id()))
  WITH CHECK ((SELECT idp.role()) = 'authenticated' AND user_id = (SELECT idp.requesting_user_id()));
INSERT INTO insforge_todos (user_id, title) VALUES
  ('user_2alice', 'Buy milk'), ('user_2bob', 'Walk the dog'), ('user_2carol', 'Call mom');
CREATE ROLE regress_insforge_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_insforge_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON insforge_todos TO regress_insforge_app;
SET ROLE regress_insforge_app;
BEGIN;
SET LOCAL request.jwt = :'insforge_alice';
SELECT user_id, title FROM insforge_todos ORDER BY id;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'insforge_no_role';
INSERT INTO insforge_todos (title) VALUES ('Book flights');
SELECT user_id, title FROM insforge_todos ORDER BY id;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT idp.role() IS NULL AS no_role, count(*) AS rows FROM insforge_todos;
SELECT regress.try($$INSERT INTO insforge_todos (title) VALUES ('via session token') RETURNING id$$) AS session_insert;
COMMIT;
RESET ROLE;
SELECT user_id, title FROM insforge_todos ORDER BY id;
DROP TABLE insforge_todos;
DROP OWNED BY regress_insforge_app;
DROP ROLE regress_insforge_app;

-- All identity functions are STABLE; authenticate, which sets request.jwt, is VOLATILE.
SELECT proname, provolatile FROM pg_proc
WHERE pronamespace = 'idp'::regnamespace
  AND proname IN ('authenticate', 'claim', 'claims', 'email', 'identity', 'provider',
                  'requesting_user_id', 'role', 'tenant_id', 'verify_jwt')
ORDER BY proname;
