-- Key rotation with idp.set_jwks: the new key is accepted and the retired one refused, in the
-- same backend, from the next transaction.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'rotating', 'issuer', 'https://rotating.example.com', 'jwks', :'rot1_jwks'::jsonb));

-- A request with the current key is verified and cached.
BEGIN;
SET LOCAL request.jwt = :'rot_old';
SELECT idp.requesting_user_id() AS before_rotation;
COMMIT;
SELECT idp.verify_jwt(:'rot_new')->>'error' AS new_key_not_yet_known;

-- Rotate: publish both keys during the overlap...
SELECT idp.set_jwks('rotating', jsonb_build_object('keys',
  (:'rot1_jwks'::jsonb -> 'keys') || (:'rot2_jwks'::jsonb -> 'keys'))) AS keys_loaded;
SELECT key_ids FROM idp.providers WHERE name = 'rotating';
SELECT idp.verify_jwt(:'rot_old')->>'user_id' AS old_during_overlap, idp.verify_jwt(:'rot_new')->>'user_id' AS new_during_overlap;

-- ...then retire the old key. The cached identity of the old token does not survive.
SELECT idp.set_jwks('rotating', :'rot2_jwks'::jsonb) AS keys_loaded;
BEGIN;
SET LOCAL request.jwt = :'rot_old';
SELECT regress.try('SELECT idp.requesting_user_id()') AS old_key_after_rotation;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'rot_new';
SELECT idp.requesting_user_id() AS new_key_after_rotation;
COMMIT;

-- A key set that cannot be used is refused whole, naming the key, and the current keys stay.
SELECT regress.try($$SELECT idp.set_jwks('rotating', '{"keys":[{"kty":"RSA","kid":"rot-enc","use":"enc","n":"AQAB","e":"AQAB"}]}')::text$$) AS wrong_use;
SELECT regress.try($$SELECT idp.set_jwks('rotating', '{"keys":[{"kty":"RSA","kid":"rot-bad","n":"not base64!","e":"AQAB"}]}')::text$$) AS bad_base64;
SELECT regress.try($$SELECT idp.set_jwks('rotating', '{"keys":[{"kty":"oct","kid":"rot-oct","k":"c2VjcmV0"}]}')::text$$) AS short_oct;
SELECT regress.try($$SELECT idp.set_jwks('nobody', '{"keys":[]}')::text$$) AS unknown_provider;
SELECT key_ids FROM idp.providers WHERE name = 'rotating';
SELECT idp.verify_jwt(:'rot_new')->>'user_id' AS still_verified;

-- A rotation made by another session (here through dblink) is seen by this backend from its
-- next transaction, through its caches.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')) AS conninfo \gset
BEGIN;
SET LOCAL request.jwt = :'rot_new';
SELECT idp.requesting_user_id() AS cached_here;
COMMIT;
SELECT keys AS loaded_by_other_session
FROM dblink(:'conninfo', format('SELECT idp.set_jwks(%L, %L::jsonb)', 'rotating', :'rot1_jwks')) AS t(keys int);
BEGIN;
SET LOCAL request.jwt = :'rot_new';
SELECT regress.try('SELECT idp.requesting_user_id()') AS next_transaction_here;
COMMIT;
-- The same for a provider removed by another session, and one registered by it.
SELECT idp.verify_jwt(:'rot_old')->>'valid' AS cached_here_again;
SELECT removed AS removed_by_other_session
FROM dblink(:'conninfo', $$SELECT idp.unregister_provider('rotating')$$) AS t(removed boolean);
SELECT idp.verify_jwt(:'rot_old')->>'error' AS after_removal_here;
SELECT name AS registered_by_other_session
FROM dblink(:'conninfo', format('SELECT idp.register_provider(%L::jsonb)',
     jsonb_build_object('provider', 'rotating', 'issuer', 'https://rotating.example.com', 'jwks', :'rot1_jwks'::jsonb))) AS t(name text);
SELECT idp.verify_jwt(:'rot_old')->>'user_id' AS after_registration_here;
DROP EXTENSION dblink;
