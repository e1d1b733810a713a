-- Shared by the specs (\i :specs/clerk.sql): Clerk's RS256 session tokens, its keys inline.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email'),
  'jwks', :'clerk_jwks'::jsonb));
