-- The Stytch guide, as SQL.
--   Step 1  a project (project id project-test-6e3f1a2b), magic links enabled
--   Step 2  redirect URLs (nothing to do in the database)
--   Step 3  register Stytch as an identity provider: issuer stytch.com/<project id>; claim
--           mapping sub -> user_id, emails -> email (Stytch stores emails as an array: the
--           first one is the email); the project id as the audience
--   Step 4  test the connection with a magic-link session JWT: {valid, provider, user_id, email}
--   Step 5  use the session JWT: request.jwt, the identity functions, the session claim
--   Step 6  row-level security: each user gets an isolated memory namespace
--   Troubleshooting: a session JWT of another project (wrong project id), no email
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Step 3: the guide's registration body as written (YOUR_STYTCH_PROJECT_ID =
-- project-test-6e3f1a2b), keys fetched from its jwks_uri (a local server stands in for stytch.com).
SELECT idp.register_provider('{
"provider": "stytch",
"domain": "stytch.com",
"client_id": "project-test-6e3f1a2b",
"jwks_uri": "https://stytch.com/v1/sessions/jwks/project-test-6e3f1a2b",
"issuer": "stytch.com/project-test-6e3f1a2b",
"claim_mapping": {
"user_id": "sub",
"email": "emails"
}
}');
SELECT idp.verify_jwt(:'stytch_user') AS guide_body_verifies;
-- Stytch puts the project id in aud: requiring it as the audience also refuses another
-- project's tokens (same body, plus "audience").
SELECT idp.register_provider('{
"provider": "stytch",
"domain": "stytch.com",
"client_id": "project-test-6e3f1a2b",
"audience": "project-test-6e3f1a2b",
"jwks_uri": "https://stytch.com/v1/sessions/jwks/project-test-6e3f1a2b",
"issuer": "stytch.com/project-test-6e3f1a2b",
"claim_mapping": {
"user_id": "sub",
"email": "emails"
}
}');

-- The other four guides' providers, side by side (InsForge shares Clerk's issuer).
\set self stytch
\i :specs/other_guides.sql
SELECT name, issuer, audience, algorithms, key_ids, jwks_uri FROM idp.providers ORDER BY name;

-- Step 4: "A successful response returns {valid, provider, user_id, email}": the email is the
-- first of the token's emails array.
SELECT idp.verify_jwt(:'stytch_user');

-- Step 5: the session JWT of the request.
BEGIN;
SET LOCAL request.jwt = :'stytch_user';
SELECT idp.requesting_user_id(), idp.email(), idp.tenant_id(), idp.role(), idp.provider();
SELECT idp.claim('emails') AS emails, idp.claim('$.emails[1]') AS second_email, idp.claim('aud') AS aud;
-- The session claim: its id, and how the user authenticated (a magic link sent by email).
SELECT idp.claim('$[''https://stytch.com/session''].id') AS session_id,
       idp.claim('$[''https://stytch.com/session''].authentication_factors[0]') AS first_factor;
SELECT idp.identity() - 'expires_at' AS identity;
COMMIT;

-- Troubleshooting "invalid_token: project ID wrong": a session JWT of another Stytch project
-- (same issuer form, audience of that project) is rejected, with a code.
SELECT r->>'valid' AS valid, r->>'error' AS error, r->>'message' AS message
FROM (SELECT idp.verify_jwt(:'stytch_other_project') AS r) v;
SELECT regress.as_request(:'stytch_other_project') AS other_project;

-- Step 6: ZeroMemory-style isolated namespaces: each user reads and writes only their own.
CREATE TABLE stytch_memories (
  id          int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text NOT NULL DEFAULT idp.requesting_user_id(),
  entity_name text NOT NULL,
  content     text NOT NULL
);
ALTER TABLE stytch_memories ENABLE ROW LEVEL SECURITY;
CREATE POLICY stytch_memories_owner ON stytch_memories
  USING (user_id = (SELECT idp.requesting_user_id()))
  WITH CHECK (user_id = (SELECT idp.requesting_user_id()));
INSERT INTO stytch_memories (user_id, entity_name, content)
  VALUES ('user-test-someone-else', 'user_events', 'Someone else signed in with a password');
CREATE ROLE regress_stytch_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_stytch_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON stytch_memories TO regress_stytch_app;
SET ROLE regress_stytch_app;

BEGIN;
SET LOCAL request.jwt = :'stytch_user';
INSERT INTO stytch_memories (entity_name, content) VALUES ('user_events', 'User authenticated via magic link');
SELECT user_id, entity_name, content FROM stytch_memories ORDER BY id;
-- "403 Forbidden": another user's memories cannot be read, deleted or written.
DELETE FROM stytch_memories WHERE user_id = 'user-test-someone-else' RETURNING id;
SELECT regress.try($$INSERT INTO stytch_memories (user_id, entity_name, content) VALUES ('user-test-someone-else', 'user_events', 'planted') RETURNING id$$) AS forged;
COMMIT;

-- No session (the magic link was never authenticated): an anonymous request sees nothing.
SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*) AS rows FROM stytch_memories;
-- The other project's session JWT is an error, not an empty namespace.
BEGIN;
SET LOCAL request.jwt = :'stytch_other_project';
SELECT regress.try('SELECT count(*) FROM stytch_memories') AS other_project;
ROLLBACK;

RESET ROLE;
SELECT user_id, entity_name, content FROM stytch_memories ORDER BY id;
DROP TABLE stytch_memories;
DROP OWNED BY regress_stytch_app;
DROP ROLE regress_stytch_app;
