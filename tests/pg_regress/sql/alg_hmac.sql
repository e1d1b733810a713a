-- HMAC family: HS256, HS384, HS512 with a shared secret (utf8 or base64).
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- By default a secret serves every HS algorithm.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'hs-any', 'issuer', 'https://families.example.com', 'secret', :'fam_hs_secret'));
SELECT alg, idp.verify_jwt(token) - 'email' - 'tenant' AS result
FROM (VALUES ('HS256', :'alg_hs256'), ('HS384', :'alg_hs384'), ('HS512', :'alg_hs512')) t(alg, token);
SELECT algorithms, has_secret, key_ids FROM idp.providers WHERE name = 'hs-any';

-- An allow-list narrows it.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'hs-any', 'issuer', 'https://families.example.com', 'secret', :'fam_hs_secret',
  'algorithms', jsonb_build_array('HS256')));
SELECT alg, idp.verify_jwt(token)->>'error' AS error, idp.verify_jwt(token)->>'message' AS message
FROM (VALUES ('HS256', :'alg_hs256'), ('HS384', :'alg_hs384'), ('HS512', :'alg_hs512')) t(alg, token);

-- A base64-encoded secret (many providers show secrets that way).
SELECT idp.unregister_provider('hs-any');
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'hs-b64', 'issuer', 'https://families.example.com', 'secret', :'fam_b64_secret',
  'secret_encoding', 'base64'));
SELECT idp.verify_jwt(:'alg_hs256_b64secret')->>'user_id' AS user_id;
-- The same text taken as UTF-8 is another key.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'hs-b64', 'issuer', 'https://families.example.com', 'secret', :'fam_b64_secret'));
SELECT idp.verify_jwt(:'alg_hs256_b64secret')->>'error' AS error;

-- Secrets that are too short, not base64, or an allow-list the keys cannot serve.
SELECT regress.try(format('SELECT idp.register_provider(%L::jsonb)', cfg)) AS error
FROM (VALUES
  ('{"provider":"p","issuer":"https://x","secret":"c2hvcnQ=","secret_encoding":"base64"}'),
  ('{"provider":"p","issuer":"https://x","secret":"***not base64***not base64***not base64***","secret_encoding":"base64"}'),
  ('{"provider":"p","issuer":"https://x","secret":"0123456789abcdef0123456789abcdef","secret_encoding":"hex"}'),
  ('{"provider":"p","issuer":"https://x","secret":"0123456789abcdef0123456789abcdef","algorithms":["RS256"]}'),
  ('{"provider":"p","issuer":"https://x","secret":"0123456789abcdef0123456789abcdef","algorithms":["none"]}'),
  ('{"provider":"p","issuer":"https://x","secret":"0123456789abcdef0123456789abcdef","algorithms":[]}')
) AS bad(cfg);
