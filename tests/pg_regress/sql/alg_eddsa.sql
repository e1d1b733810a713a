-- EdDSA family: Ed25519 (OKP keys).
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'ed', 'issuer', 'https://families.example.com', 'jwks', :'fam_eddsa_jwks'::jsonb));
SELECT algorithms, key_ids FROM idp.providers WHERE name = 'ed';
SELECT idp.verify_jwt(:'alg_eddsa') - 'email' - 'tenant' AS result;
SELECT idp.verify_jwt(:'alg_es256')->>'error' AS es256_on_ed_provider;
SELECT regress.try($$SELECT idp.register_provider('{"provider":"bad-ed","issuer":"https://x","jwks":{"keys":[{"kty":"OKP","kid":"x448","crv":"Ed448","x":"AA"}]}}')$$) AS ed448;
