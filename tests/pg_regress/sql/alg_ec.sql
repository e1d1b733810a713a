-- EC family: ES256 (P-256) and ES384 (P-384).
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'ec', 'issuer', 'https://families.example.com',
  'jwks', jsonb_build_object('keys', (:'fam_es256_jwks'::jsonb -> 'keys') || (:'fam_es384_jwks'::jsonb -> 'keys'))));
SELECT algorithms, key_ids FROM idp.providers WHERE name = 'ec';
SELECT alg, idp.verify_jwt(token) - 'email' - 'tenant' AS result
FROM (VALUES ('ES256', :'alg_es256'), ('ES384', :'alg_es384')) t(alg, token);
-- Keys are chosen by kid, and a P-256 key never verifies ES384.
SELECT idp.verify_jwt(:'alg_rs256')->>'error' AS rs256_on_ec_provider;
-- crit headers are refused: pg_idp understands no JOSE extension.
SELECT idp.verify_jwt(:'crit_header') - 'valid' AS crit;
-- A key off the curve is refused at registration, naming it.
SELECT regress.try($$SELECT idp.register_provider('{"provider":"bad-ec","issuer":"https://x","jwks":{"keys":[{"kty":"EC","kid":"bent","crv":"P-256","x":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE","y":"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"}]}}')$$) AS off_curve;
SELECT regress.try($$SELECT idp.register_provider('{"provider":"bad-ec","issuer":"https://x","jwks":{"keys":[{"kty":"EC","kid":"p521","crv":"P-521","x":"AA","y":"AA"}]}}')$$) AS p521;
