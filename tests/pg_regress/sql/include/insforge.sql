-- Shared by the specs (\i :specs/insforge.sql): the InsForge JWT template of the same Clerk
-- instance, HS256 with its secret.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev', 'audience', 'insforge-api',
  'secret', :'insforge_secret'));
