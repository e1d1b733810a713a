-- The registry holds secrets: an application role can verify identities but can neither read
-- nor change them.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'), 'jwks', :'clerk_jwks'::jsonb));
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev', 'audience', 'insforge-api',
  'secret', :'insforge_secret', 'claim_mapping', '{"role": {"claim": "role", "default": "authenticated"}}'::jsonb));

CREATE ROLE app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO app;
SET ROLE app;

-- What the app can do: identity functions, verify_jwt, the providers view (no secrets).
BEGIN;
SET LOCAL request.jwt = :'insforge_alice';
SELECT idp.requesting_user_id(), idp.role(), idp.provider();
COMMIT;
SELECT idp.verify_jwt(:'clerk_bob')->>'user_id' AS verified;
SELECT name, issuer, audience, algorithms, key_ids, jwks_uri, claim_mapping, has_secret
FROM idp.providers ORDER BY name;
SELECT count(*) AS secret_columns FROM information_schema.columns
WHERE table_schema = 'idp' AND table_name = 'providers' AND column_name IN ('config', 'secret', 'jwks');

-- What it cannot: read secrets, change the registry, call the registry functions.
SELECT q AS attempt, regress.try(q) AS result FROM (VALUES
  ('SELECT config->>''secret'' FROM idp.provider_registry'),
  ($$SELECT idp._registry_changed('idp.provider_registry'::regclass)::text$$),
  ($$UPDATE idp.provider_registry SET issuer = 'https://evil.example.com' RETURNING name$$),
  ($$DELETE FROM idp.provider_registry RETURNING name$$),
  ($$INSERT INTO idp.provider_registry (name, issuer, config) VALUES ('evil', 'https://evil', '{}') RETURNING name$$),
  ($$SELECT idp.register_provider('{"provider":"evil","issuer":"https://evil.example.com","secret":"0123456789abcdef0123456789abcdef"}')$$),
  ($$SELECT idp.set_jwks('clerk', '{"keys":[]}')::text$$),
  ($$SELECT idp.unregister_provider('clerk')::text$$),
  ($$SELECT idp.refresh_jwks('clerk')::text$$),
  ($$SELECT idp.discover('https://acme.clerk.accounts.dev', 'clerk')::text$$),
  ($$SELECT idp._invalidate_caches()::text$$)
) AS t(q);

-- A hostile search_path changes nothing: pg_idp's own queries are schema-qualified and run as
-- the registry owner, and the lookalike objects below are never used.
RESET ROLE;
CREATE SCHEMA app_evil;
GRANT CREATE, USAGE ON SCHEMA app_evil TO app;
SET ROLE app;
CREATE TABLE app_evil.provider_registry (name text, issuer text, config jsonb);
INSERT INTO app_evil.provider_registry VALUES ('evil', 'https://acme.clerk.accounts.dev', '{"secret": "0123456789abcdef0123456789abcdef"}');
CREATE TABLE app_evil.pg_class (oid oid, relowner oid, relname name, relnamespace oid);
CREATE FUNCTION app_evil.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS $$ SELECT 'hijacked' $$;
CREATE FUNCTION app_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
SET search_path = app_evil, public;
SELECT idp.verify_jwt(:'clerk_alice')->>'user_id' AS still_verified;
SELECT idp.verify_jwt(:'tampered_payload')->>'error' AS still_refused;
BEGIN;
SELECT idp.authenticate(:'clerk_bob')->>'user_id' AS authenticated;
SELECT current_setting('request.jwt') = :'clerk_bob' AS request_jwt_set, idp.requesting_user_id();
COMMIT;
RESET search_path;
RESET ROLE;
DROP SCHEMA app_evil CASCADE;
DROP OWNED BY app;
DROP ROLE app;

-- Any change to the registry is picked up: here, in this backend, from the next statement.
SELECT idp.unregister_provider('insforge') AS removed, idp.unregister_provider('insforge') AS removed_again;
SELECT idp.verify_jwt(:'insforge_alice')->>'error' AS after_unregister;
SELECT name FROM idp.providers;
