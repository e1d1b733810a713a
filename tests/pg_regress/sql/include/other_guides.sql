-- Shared by the guide specs (\set self <provider>, then \i :specs/other_guides.sql): every guide's
-- provider but :self, registered side by side with its keys inline (InsForge shares Clerk's issuer).
SELECT idp.register_provider(cfg) AS registered FROM (VALUES
  ('{"provider": "clerk", "domain": "acme.clerk.accounts.dev", "client_id": "pk_test_YWNtZS5jbGVyay5hY2NvdW50cy5kZXYk",
     "jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json", "issuer": "https://acme.clerk.accounts.dev",
     "claim_mapping": {"user_id": "sub", "email": "email"}}'::jsonb
   || jsonb_build_object('jwks', :'clerk_jwks'::jsonb)),
  ('{"provider": "auth0", "domain": "acme.us.auth0.com", "client_id": "yOUrAuTh0cLiEnTiD",
     "audience": "https://api.example.com", "jwks_uri": "https://acme.us.auth0.com/.well-known/jwks.json",
     "issuer": "https://acme.us.auth0.com/", "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id"}}'::jsonb
   || jsonb_build_object('jwks', :'auth0_jwks'::jsonb)),
  ('{"provider": "stytch", "domain": "stytch.com", "client_id": "project-test-6e3f1a2b",
     "audience": "project-test-6e3f1a2b", "jwks_uri": "https://stytch.com/v1/sessions/jwks/project-test-6e3f1a2b",
     "issuer": "stytch.com/project-test-6e3f1a2b", "claim_mapping": {"user_id": "sub", "email": "emails"}}'::jsonb
   || jsonb_build_object('jwks', :'stytch_jwks'::jsonb)),
  ('{"provider": "workos", "domain": "api.workos.com", "client_id": "client_01HQSXWORKOS",
     "jwks_uri": "https://api.workos.com/sso/jwks/client_01HQSXWORKOS", "issuer": "https://api.workos.com",
     "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id", "role": "role"}}'::jsonb
   || jsonb_build_object('jwks', :'workos_jwks'::jsonb)),
  ('{"provider": "insforge", "issuer": "https://acme.clerk.accounts.dev", "audience": "insforge-api",
     "claim_mapping": {"user_id": "sub", "role": {"claim": "role", "default": "authenticated"}}}'::jsonb
   || jsonb_build_object('secret', :'insforge_secret'))
) AS p(cfg)
WHERE cfg->>'provider' <> :'self';
