-- EdDSA family: Ed25519 (OKP keys).
\set ECHO none
\getenv fixtures PG_IDP_FIXTURES
\i :fixtures
\set ECHO all
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_idp CASCADE;
CREATE EXTENSION pg_idp;
RESET client_min_messages;

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'ed', 'issuer', 'https://families.example.com', 'jwks', :'fam_eddsa_jwks'::jsonb));
SELECT algorithms, key_ids FROM idp.providers WHERE name = 'ed';
SELECT idp.verify_jwt(:'alg_eddsa') - 'email' - 'tenant' AS result;
SELECT idp.verify_jwt(:'alg_es256')->>'error' AS es256_on_ed_provider;
SELECT regress.try($$SELECT idp.register_provider('{"provider":"bad-ed","issuer":"https://x","jwks":{"keys":[{"kty":"OKP","kid":"x448","crv":"Ed448","x":"AA"}]}}')$$) AS ed448;
