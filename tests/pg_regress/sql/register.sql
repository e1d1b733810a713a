-- Registering providers: the body of the guides' POST /api/v1/auth/providers, as SQL.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Clerk, exactly as the guide registers it, with the JWKS inline.
SELECT idp.register_provider('{
  "provider": "clerk",
  "domain": "acme.clerk.accounts.dev",
  "client_id": "pk_test_YWNtZS5jbGVyay5hY2NvdW50cy5kZXYk",
  "jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json",
  "issuer": "https://acme.clerk.accounts.dev",
  "claim_mapping": {"user_id": "sub", "email": "email"}
}'::jsonb || jsonb_build_object('jwks', :'clerk_jwks'::jsonb));

SELECT name, issuer, config->'claim_mapping' AS claim_mapping FROM idp.provider_registry;
SELECT idp.verify_jwt(:'clerk_alice');

-- Re-registering a name replaces it: with an audience the Clerk session token lacks, it no
-- longer verifies; registered again without, it does.
SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'audience', 'https://api.example.com', 'jwks', :'clerk_jwks'::jsonb));
SELECT count(*) AS providers FROM idp.provider_registry;
SELECT idp.verify_jwt(:'clerk_alice')->>'error' AS error;
SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'jwks', :'clerk_jwks'::jsonb));
SELECT idp.verify_jwt(:'clerk_alice')->>'user_id' AS user_id;

-- Bad configs: SQLSTATE 22023 and a message naming the field; nothing is stored.
SELECT regress.try(format('SELECT idp.register_provider(%L::jsonb)', cfg)) AS error
FROM (VALUES
  ('{"provider": "nokeys", "issuer": "https://x.example.com"}'),
  ('{"provider": "noissuer", "secret": "0123456789abcdef0123456789abcdef"}'),
  ('{"provider": "extra", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "signing_key": "x"}'),
  ('{"issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef"}'),
  ('{"provider": "has space", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef"}'),
  ('{"provider": "short", "issuer": "https://x.example.com", "secret": "too-short-secret"}'),
  ('{"provider": "badaud", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "audience": 42}'),
  ('{"provider": "badmap", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "claim_mapping": {"user": "sub"}}'),
  ('{"provider": "badjwks", "issuer": "https://x.example.com", "jwks": {"keys": [{"kty": "RSA", "kid": "k1", "use": "enc", "n": "AQAB", "e": "AQAB"}]}}'),
  ('{"provider": "badkty", "issuer": "https://x.example.com", "jwks": {"keys": [{"kty": "XYZ", "kid": "k2"}]}}'),
  ('{"provider": "privkey", "issuer": "https://x.example.com", "jwks": {"keys": [{"kty": "EC", "kid": "k3", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}}'),
  ('{"provider": "emptyjwks", "issuer": "https://x.example.com", "jwks": {"keys": []}}'),
  ('{"provider": "loginnoaud", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "login": {"roles": ["app"]}}'),
  ('{"provider": "loginbadaud", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "login": {"audience": []}}'),
  ('{"provider": "loginbadgroups", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "login": {"audience": "db", "group_roles": {"g": "app"}}}'),
  ('["not", "an", "object"]')
) AS bad(cfg);
-- A provider whose tokens log in names their audience (login.audience, or its audience): the
-- refusal says what to write.
SELECT idp.register_provider('{"provider": "loginnoaud", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef", "login": {"roles": ["app"]}}');
SELECT idp.register_provider('{"provider": "logindb", "issuer": "https://x.example.com", "secret": "0123456789abcdef0123456789abcdef",
  "login": {"audience": "https://db.example.com", "roles": ["app"], "group_roles": {"db-analysts": ["analyst"]}}}') AS with_login_audience,
       idp.register_provider('{"provider": "loginapi", "issuer": "https://y.example.com", "secret": "0123456789abcdef0123456789abcdef",
  "audience": "https://api.example.com", "login": {"roles": ["app"]}}') AS with_its_audience;
SELECT idp.unregister_provider('logindb'), idp.unregister_provider('loginapi');
SELECT count(*) AS providers FROM idp.provider_registry;
-- The rejected secret is not echoed back.
SELECT strpos(regress.try($$SELECT idp.register_provider('{"provider":"s","issuer":"https://x","secret":"too-short-secret"}')$$),
              'too-short-secret') AS secret_in_message;

-- Only the extension owner (or a superuser) can register providers or read the registry.
CREATE ROLE regress_register_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_register_app;
SET ROLE regress_register_app;
SELECT regress.try($$SELECT idp.register_provider('{"provider":"mine","issuer":"https://evil.example.com","secret":"0123456789abcdef0123456789abcdef"}')$$) AS register;
SELECT regress.try('SELECT config::text FROM idp.provider_registry LIMIT 1') AS read_registry;
SELECT regress.try($$UPDATE idp.provider_registry SET issuer = 'https://evil.example.com' RETURNING name$$) AS update_registry;
-- ...yet it can verify tokens against that registry.
SELECT idp.verify_jwt(:'clerk_alice')->>'user_id' AS user_id;
RESET ROLE;
DROP OWNED BY regress_register_app;
DROP ROLE regress_register_app;
