-- RSA family: RS256/384/512 (PKCS#1 v1.5) and PS256/384/512 (PSS) from one JWKS key.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- The key's JWK has no "alg", so it serves all six RSA algorithms.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'rsa', 'issuer', 'https://families.example.com', 'jwks', :'fam_rsa_jwks'::jsonb));
SELECT algorithms, key_ids, has_secret FROM idp.providers WHERE name = 'rsa';
SELECT alg, idp.verify_jwt(token) - 'email' - 'tenant' AS result
FROM (VALUES ('RS256', :'alg_rs256'), ('RS384', :'alg_rs384'), ('RS512', :'alg_rs512'),
             ('PS256', :'alg_ps256'), ('PS384', :'alg_ps384'), ('PS512', :'alg_ps512')) t(alg, token);

-- Restricted to RS256: the PSS tokens of the same key are refused.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'rsa', 'issuer', 'https://families.example.com', 'jwks', :'fam_rsa_jwks'::jsonb,
  'algorithms', jsonb_build_array('RS256')));
SELECT alg, coalesce(r->>'user_id', r->>'error') AS result
FROM (VALUES ('RS256', :'alg_rs256'), ('PS256', :'alg_ps256'), ('RS512', :'alg_rs512')) t(alg, token),
     LATERAL (SELECT idp.verify_jwt(token) AS r) v;

-- An RSA key never verifies an HS token, whatever it was signed with; and no secret means no HS.
SELECT idp.verify_jwt(:'alg_hs256')->>'error' AS hs_on_rsa_provider;
