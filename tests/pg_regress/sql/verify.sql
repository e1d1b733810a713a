-- idp.verify_jwt() and idp.requesting_user_id() on good and bad tokens.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- A Clerk app (RS256 session tokens, JWKS), its InsForge-style JWT template (HS256 with a
-- shared secret, audience insforge-api, same issuer), and an RS256-only provider "acme".
\i :specs/clerk.sql
\i :specs/insforge.sql
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
WHERE pronamespace = 'idp'::regnamespace AND prokind = 'f' AND proname NOT IN ('_invalidate_caches')
ORDER BY proname;

-- Settings. idp.max_token_bytes (default 16384, superuser-only) rejects large tokens before
-- any parsing.
SHOW idp.max_token_bytes;
SELECT idp.verify_jwt(:'too_large')->>'error' AS twenty_kb_token;
SET idp.max_token_bytes = 512;
SELECT idp.verify_jwt(:'clerk_alice')->>'error' AS with_512_byte_limit;
RESET idp.max_token_bytes;

-- idp.on_invalid_token = null makes an invalid request token anonymous instead of an error.
SHOW idp.on_invalid_token;
SET idp.on_invalid_token = 'null';
BEGIN;
SET LOCAL request.jwt = :'clerk_expired';
SELECT idp.requesting_user_id() IS NULL AS anonymous, idp.identity() IS NULL AS no_identity;
COMMIT;
RESET idp.on_invalid_token;
SELECT regress.try($$SET idp.on_invalid_token = 'ignore'$$) AS bad_value;

-- idp.authenticate(token): verify, make it the request token for the transaction, return the
-- identity; it raises on an invalid token whatever idp.on_invalid_token says.
BEGIN;
SELECT idp.authenticate(:'clerk_alice') - 'expires_at' AS identity;
SELECT idp.requesting_user_id(), idp.email(), idp.provider(), idp.role(), idp.tenant_id();
SELECT (idp.identity()->>'expires_at')::timestamptz > now() AS expires_in_future;
SELECT idp.claim('sid') AS sid, idp.claim('$.azp') AS azp, idp.claim('missing') AS missing;
SELECT idp.claims() ? 'exp' AS claims_has_exp;
COMMIT;
SELECT idp.requesting_user_id() IS NULL AS gone_after_commit;
SET idp.on_invalid_token = 'null';
SELECT regress.try(format('SELECT idp.authenticate(%L)::text', :'clerk_expired')) AS authenticate_expired;
RESET idp.on_invalid_token;
SELECT regress.try($$SELECT idp.claim('$[')::text$$) AS bad_claim_path;
