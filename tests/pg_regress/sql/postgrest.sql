-- Behind PostgREST: with request.jwt empty, the bearer token comes from the request.headers
-- JSON that PostgREST sets at the start of every request transaction, so tokens of providers
-- PostgREST cannot verify itself (Clerk and Auth0 via JWKS, an HS256 InsForge template with a
-- secret of its own) still reach row-level security, verified by the database.
--   * request.jwt takes precedence over the header; header name and scheme are case-insensitive
--   * another scheme (Basic) is an anonymous request
--   * a forged request.jwt.claims (what Supabase-style setups trust) changes nothing
--   * a tampered bearer token is an error (28000); malformed request.headers is 22023
--   * the identity ends with the transaction
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(cfg) AS registered FROM (VALUES
  ('{"provider": "clerk", "issuer": "https://acme.clerk.accounts.dev",
     "claim_mapping": {"user_id": "sub", "email": "email"}}'::jsonb
   || jsonb_build_object('jwks', :'clerk_jwks'::jsonb)),
  ('{"provider": "insforge", "issuer": "https://acme.clerk.accounts.dev", "audience": "insforge-api"}'::jsonb
   || jsonb_build_object('secret', :'insforge_secret')),
  ('{"provider": "auth0", "issuer": "https://acme.us.auth0.com/", "audience": "https://api.example.com",
     "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id"}}'::jsonb
   || jsonb_build_object('jwks', :'auth0_jwks'::jsonb))
) AS p(cfg);

-- The API schema: one table behind /todos, the role PostgREST switches to for every request.
CREATE TABLE todos (
  id      int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text NOT NULL DEFAULT idp.requesting_user_id(),
  title   text NOT NULL
);
INSERT INTO todos (user_id, title) VALUES
  ('user_2alice', 'Alice: buy milk'), ('user_2bob', 'Bob: walk the dog'), ('auth0|abc123', 'Auth0 user: dark mode');
SELECT idp.enable_rls('todos');
CREATE ROLE web_user NOLOGIN;
GRANT USAGE ON SCHEMA idp TO web_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON todos TO web_user;

-- What PostgREST v12 runs first in each request transaction: one statement of set_config(...,
-- true) calls, sent with bind parameters (here: the method, the claims and the headers, both
-- JSON). Its result (which holds the token) goes into psql variables, never into the output.
PREPARE pgrst_request(text, text, text) AS
SELECT set_config('search_path', '"public"', true), set_config('role', 'web_user', true),
       set_config('request.jwt.claims', $2, true), set_config('request.method', $1, true),
       set_config('request.path', '/todos', true), set_config('request.headers', $3, true),
       set_config('request.cookies', '{}', true);

-- Clerk session token (RS256, JWKS) as the bearer token: Alice's rows only.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'clerk_alice')::text) \gset
SELECT current_user, coalesce(current_setting('request.jwt', true), '') = '' AS no_request_jwt, idp.provider(), idp.requesting_user_id(), idp.email();
SELECT id, user_id, title FROM todos ORDER BY id;
COMMIT;

-- Auth0 access token (RS256, audience array, org_id).
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'auth0_user')::text) \gset
SELECT current_user, idp.provider(), idp.requesting_user_id(), idp.tenant_id();
SELECT id, user_id, title FROM todos ORDER BY id;
COMMIT;

-- InsForge template token (HS256, secret of its own): Bob posts a todo (user_id from the token).
BEGIN;
EXECUTE pgrst_request('POST', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'insforge_bob')::text) \gset
SELECT current_user, current_setting('request.method') AS method, idp.provider(), idp.requesting_user_id();
INSERT INTO todos (title) VALUES ('Bob: via PostgREST') RETURNING id, user_id, title;
SELECT id, user_id, title FROM todos ORDER BY id;
SELECT regress.try($$INSERT INTO todos (user_id, title) VALUES ('user_2alice', 'forged for Alice') RETURNING id$$) AS forged_insert;
COMMIT;

-- request.jwt, when set, takes precedence over the header (and the header is then not even
-- read); set back to empty, the header is used again.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'clerk_alice')::text) \gset
SET LOCAL request.jwt = :'clerk_bob';
SELECT idp.requesting_user_id() AS with_request_jwt, (SELECT string_agg(title, ', ' ORDER BY id) FROM todos) AS titles;
SET LOCAL request.jwt = '';
SELECT idp.requesting_user_id() AS request_jwt_empty, (SELECT string_agg(title, ', ' ORDER BY id) FROM todos) AS titles;
SET LOCAL request.jwt = :'clerk_bob';
SELECT set_config('request.headers', 'not json', true) IS NOT NULL AS malformed_headers_set;
SELECT idp.requesting_user_id() AS request_jwt_over_malformed_headers;
COMMIT;

-- Header name and scheme in any case (PostgREST lower-cases header names; a proxy may not).
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('User-Agent', 'curl/8.5.0', 'Accept', '*/*', 'Authorization', 'bearer ' || :'clerk_bob')::text) \gset
SELECT idp.requesting_user_id() AS authorization_bearer, (SELECT string_agg(title, ', ' ORDER BY id) FROM todos) AS titles;
SELECT set_config('request.headers', json_build_object('AUTHORIZATION', 'BEARER ' || :'clerk_alice')::text, true) IS NOT NULL AS upper_case_set;
SELECT idp.requesting_user_id() AS upper_case_bearer;
COMMIT;

-- Another scheme is no token: an anonymous request (no rows, no insert). So is a request
-- without an Authorization header.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Basic dXNlcl8yYWxpY2U6cGFzc3dvcmQ=')::text) \gset
SELECT current_user, idp.requesting_user_id() IS NULL AS anonymous, count(*) AS rows FROM todos;
SELECT regress.try($$INSERT INTO todos (title) VALUES ('anonymous') RETURNING id$$) AS anonymous_insert;
COMMIT;
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*')::text) \gset
SELECT current_user, idp.requesting_user_id() IS NULL AS anonymous, count(*) AS rows FROM todos;
COMMIT;

-- A forged request.jwt.claims: any database user can set it, so a policy on
-- current_setting('request.jwt.claims')::json->>'sub' (auth.uid() in Supabase-style setups)
-- would believe it. pg_idp ignores it: the identity comes from the verified bearer token.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user', 'sub', 'user_2bob', 'email', 'bob@example.com')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'clerk_alice')::text) \gset
SELECT current_setting('request.jwt.claims')::json->>'sub' AS claims_sub, idp.requesting_user_id(), idp.email();
SELECT id, user_id, title FROM todos ORDER BY id;
COMMIT;
-- Forged claims and no token at all: anonymous.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user', 'sub', 'user_2bob')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*')::text) \gset
SELECT current_setting('request.jwt.claims')::json->>'sub' AS claims_sub, idp.requesting_user_id() IS NULL AS anonymous,
       count(*) AS rows FROM todos;
COMMIT;

-- A tampered or expired bearer token is an error (28000), never an anonymous answer.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'tampered_payload')::text) \gset
SELECT regress.try('SELECT count(*) FROM todos') AS tampered;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'clerk_expired')::text, true) IS NOT NULL AS expired_set;
SELECT regress.try('SELECT count(*) FROM todos') AS expired;
COMMIT;

-- Malformed request.headers: SQLSTATE 22023, without echoing the header.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  '{"authorization": "Bearer ' || :'clerk_alice') \gset
SELECT regress.try('SELECT count(*) FROM todos') AS truncated_json;
SELECT set_config('request.headers', json_build_array('Bearer ' || :'clerk_alice')::text, true) IS NOT NULL AS array_set;
SELECT regress.try('SELECT idp.requesting_user_id()') AS json_array;
SELECT set_config('request.headers', json_build_object('authorization', json_build_array('Bearer ' || :'clerk_alice'))::text, true) IS NOT NULL AS header_array_set;
SELECT regress.try('SELECT idp.requesting_user_id()') AS header_not_a_string;
SELECT set_config('request.headers', json_build_object('authorization', 'Bearer ' || :'clerk_alice', 'Authorization', 'Bearer ' || :'clerk_bob')::text, true) IS NOT NULL AS two_headers_set;
SELECT regress.try('SELECT idp.requesting_user_id()') AS two_authorization_headers;
COMMIT;

-- After COMMIT the request is over: back to the connecting role, no headers, no identity.
BEGIN;
EXECUTE pgrst_request('GET', json_build_object('role', 'web_user')::text,
  json_build_object('user-agent', 'curl/8.5.0', 'accept', '*/*', 'authorization', 'Bearer ' || :'clerk_alice')::text) \gset
SELECT current_user, idp.requesting_user_id();
COMMIT;
SELECT current_user, current_setting('request.headers') = '' AS headers_gone,
       current_setting('request.jwt.claims') = '' AS claims_gone, idp.requesting_user_id() IS NULL AS anonymous;
SET ROLE web_user;
SELECT count(*) AS rows_after_commit FROM todos;
RESET ROLE;

DEALLOCATE pgrst_request;
-- What was really stored.
SELECT id, user_id, title FROM todos ORDER BY id;
DROP TABLE todos;
DROP OWNED BY web_user;
DROP ROLE web_user;
