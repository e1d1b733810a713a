-- idp.verify_jwt() and idp.requesting_user_id() on good and bad tokens.
\set ECHO none
\getenv fixtures PG_IDP_FIXTURES
\i :fixtures
\set ECHO all
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;

-- A Clerk app (RS256 session tokens, JWKS), its InsForge-style JWT template (HS256 with a
-- shared secret, audience insforge-api, same issuer), and an RS256-only provider "acme".
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev', 'audience', 'insforge-api',
  'secret', :'insforge_secret'));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'acme', 'issuer', 'https://login.acme.test', 'jwks', :'clerk_jwks'::jsonb));
-- A provider whose clocks drift: 15 minutes of leeway on exp and nbf.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'leeway', 'issuer', 'https://leeway.example.com', 'leeway_seconds', 900,
  'jwks', :'clerk_jwks'::jsonb));

CREATE TEMP TABLE cases (ord serial, name text, token text);
INSERT INTO cases (name, token) VALUES
  ('valid RS256 (Clerk session)',         :'clerk_alice'),
  ('valid HS256 (JWT template)',          :'insforge_bob'),
  ('expired 10 min ago, leeway 15 min',   :'expired_within_leeway'),
  ('expired',                             :'clerk_expired'),
  ('not yet valid',                       :'clerk_not_yet_valid'),
  ('wrong issuer',                        :'wrong_issuer'),
  ('wrong audience',                      :'wrong_audience'),
  ('unknown kid',                         :'unknown_kid'),
  ('right kid, other key',                :'impostor_key'),
  ('tampered payload',                    :'tampered_payload'),
  ('tampered signature',                  :'tampered_signature'),
  ('alg none',                            :'alg_none'),
  ('HS256 signed with the RSA public key', :'hs256_with_rsa_public_key'),
  ('same, at the shared Clerk issuer',    :'hs256_with_rsa_public_key_clerk'),
  ('no sub claim',                        :'no_sub'),
  ('garbage',                             'not-a-jwt'),
  ('empty string',                        '');

SELECT ord, name, r->>'valid' AS valid,
       coalesce(r->>'provider' || ' ' || (r->>'user_id'), r->>'error') AS result,
       r->>'message' AS message
FROM cases, LATERAL (SELECT idp.verify_jwt(token) AS r) v
ORDER BY ord;

-- The full shape of a valid answer: every key present, null where unmapped.
SELECT idp.verify_jwt(:'clerk_alice');
SELECT idp.verify_jwt(:'insforge_bob');

-- verify_jwt never raises for a bad token; nothing of the token or the secret is echoed.
SELECT count(*) AS leaks
FROM cases, LATERAL (SELECT idp.verify_jwt(token)::text AS r) v
WHERE (length(token) > 0 AND strpos(r, token) > 0)
   OR (split_part(token, '.', 3) <> '' AND strpos(r, split_part(token, '.', 3)) > 0)
   OR (split_part(token, '.', 2) <> '' AND strpos(r, split_part(token, '.', 2)) > 0)
   OR strpos(r, :'insforge_secret') > 0;

-- The request token: NULL without one; the user id with a valid one; an ERROR with SQLSTATE
-- 28000, the reason as message and the stable code in the DETAIL otherwise.
SELECT idp.requesting_user_id() IS NULL AS anonymous_is_null;
SET request.jwt = '';
SELECT idp.requesting_user_id() IS NULL AS empty_is_null;
RESET request.jwt;
SELECT ord, name, regress.as_request(token) AS requesting_user_id
FROM cases WHERE token <> '' ORDER BY ord;
SELECT count(*) AS leaks
FROM cases, LATERAL (SELECT regress.as_request(token) AS r) v
WHERE (split_part(token, '.', 3) <> '' AND strpos(r, split_part(token, '.', 3)) > 0)
   OR (split_part(token, '.', 2) <> '' AND strpos(r, split_part(token, '.', 2)) > 0)
   OR strpos(r, :'insforge_secret') > 0;

-- As psql shows it to a user:
BEGIN;
SET LOCAL request.jwt = :'clerk_expired';
SELECT idp.requesting_user_id();
ROLLBACK;

-- SET LOCAL lasts for the transaction only.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT idp.requesting_user_id() AS in_transaction;
COMMIT;
SELECT idp.requesting_user_id() IS NULL AS after_commit;
SELECT set_config('request.jwt', :'insforge_alice', true) IS NOT NULL AS set, idp.requesting_user_id() AS same_statement;

-- STABLE, so the planner can use it in index conditions.
SELECT proname, provolatile FROM pg_proc
WHERE pronamespace = 'idp'::regnamespace AND proname IN ('requesting_user_id', 'verify_jwt', 'register_provider')
ORDER BY proname;
