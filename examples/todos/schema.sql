-- The todo app's database, as the InsForge guide builds it: Clerk's session tokens (RS256, the
-- Clerk guide's registration body, keys inline here) and the Clerk JWT template "insforge" (HS256
-- with the backend's secret, aud insforge-api, role authenticated) side by side, one todos table
-- under row-level security, and the role the API connects as. Run by examples/todos/prepare:
--   psql -v clerk_jwks=JWKS -v insforge_secret=SECRET -f schema.sql
\set ON_ERROR_STOP 1
CREATE EXTENSION pg_idp;
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'domain', 'acme.clerk.accounts.dev',
  'issuer', 'https://acme.clerk.accounts.dev',
  'jwks_uri', 'https://acme.clerk.accounts.dev/.well-known/jwks.json',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb)) AS registered
UNION ALL
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev',
  'audience', 'insforge-api', 'secret', :'insforge_secret',
  'claim_mapping', jsonb_build_object('role', jsonb_build_object('claim', 'role', 'default', 'authenticated'))));

CREATE TABLE todos (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text NOT NULL DEFAULT idp.requesting_user_id(),
  title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  is_complete boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
-- The guides' "Enable Row-Level Security" step: a policy per command comparing user_id with
-- (SELECT idp.requesting_user_id()).
SELECT idp.enable_rls('todos') IS NOT NULL AS rls_enabled;

-- The API connects as todo_api: not the table owner, so the policies apply to it.
CREATE ROLE todo_api LOGIN;
GRANT USAGE ON SCHEMA idp TO todo_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON todos TO todo_api;
