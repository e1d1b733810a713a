-- The guides' Step 6 for memory: "Memory: each user gets isolated memory namespaces", and the
-- `memory/v2/remember` call ({"content": ..., "entity_name": "user_events"}).
-- memories(user_id, entity_name, content) under idp.enable_rls, remember(content, entity_name)
-- and recall(entity_name), both SECURITY INVOKER SQL functions: a namespace (entity_name)
-- belongs to the user, so Alice's and Bob's "user_events" are two namespaces that never mix;
-- an anonymous request cannot remember anything (an error, never a row without an owner).
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

-- Clerk (Alice and Bob) and WorkOS (a third user) side by side.
\i :specs/clerk.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'workos', 'issuer', 'https://api.workos.com',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'tenant', 'org_id', 'role', 'role'),
  'jwks', :'workos_jwks'::jsonb));

CREATE TABLE memories (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id     text NOT NULL DEFAULT idp.requesting_user_id(),
  entity_name text NOT NULL,
  content     text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
SELECT idp.enable_rls('memories');

-- The remember call: stores a memory for the requesting user, returns its id.
CREATE FUNCTION remember(content text, entity_name text) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY INVOKER AS $$
    INSERT INTO memories (entity_name, content) VALUES (remember.entity_name, remember.content)
    RETURNING id
$$;
-- A namespace's memories, oldest first; only the requesting user's, by the policy alone.
CREATE FUNCTION recall(entity_name text) RETURNS TABLE (id bigint, user_id text, content text)
LANGUAGE sql STABLE SECURITY INVOKER AS $$
    SELECT m.id, m.user_id, m.content FROM memories m
     WHERE m.entity_name = recall.entity_name
     ORDER BY m.id
$$;

CREATE ROLE regress_memories_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_memories_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON memories TO regress_memories_app;
SET ROLE regress_memories_app;

-- Alice remembers two events and a preference.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT remember('User signed up via Google OAuth', 'user_events') AS id;
SELECT remember('User upgraded to Pro', 'user_events') AS id;
SELECT remember('User prefers dark mode', 'user_preferences') AS id;
COMMIT;

-- Bob remembers under the same entity_name, and in a namespace of his own.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT remember('User signed up via GitHub', 'user_events') AS id;
SELECT remember('Acquisition target: Initech', 'bob_private_notes') AS id;
COMMIT;

-- The third user (WorkOS) also has user_events.
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT remember('User joined org_01XYZ789', 'user_events') AS id;
COMMIT;

-- Alice recalls user_events: her two, not Bob's or the WorkOS user's; she lists only her
-- own namespaces; Bob's private namespace is empty for her, not an error that it exists.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT * FROM recall('user_events');
SELECT DISTINCT entity_name FROM memories ORDER BY entity_name;
SELECT count(*) AS bobs_notes FROM recall('bob_private_notes');
COMMIT;

-- Bob recalls user_events: only his.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT * FROM recall('user_events');
SELECT DISTINCT entity_name FROM memories ORDER BY entity_name;
SELECT * FROM recall('user_preferences');
-- He cannot write into Alice's namespace (42501), nor change, move or forget her memories (0 rows).
SELECT regress.try($$INSERT INTO memories (user_id, entity_name, content)
                     VALUES ('user_2alice', 'user_events', 'User deleted their account') RETURNING id$$) AS forged_memory;
UPDATE memories SET content = 'rewritten' WHERE entity_name = 'user_events' AND user_id = 'user_2alice' RETURNING id;
UPDATE memories SET user_id = 'user_2bob' WHERE id IN (1, 2, 3) RETURNING id;
DELETE FROM memories WHERE entity_name = 'user_preferences' RETURNING id;
-- Nor hand one of his to her.
SELECT regress.try($$UPDATE memories SET user_id = 'user_2alice' WHERE entity_name = 'bob_private_notes' RETURNING id$$) AS give_away;
-- Forgetting his own namespace works, and touches only his.
DELETE FROM memories WHERE entity_name = 'user_events' RETURNING id, user_id, content;
COMMIT;

-- The WorkOS user's user_events are theirs alone.
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT * FROM recall('user_events');
COMMIT;

-- Alice's memories are intact.
BEGIN;
SET LOCAL request.jwt = :'clerk_alice';
SELECT * FROM recall('user_events');
SELECT * FROM recall('user_preferences');
COMMIT;

-- Anonymous (no token): recall is empty; remember is an error (the insert policy refuses the
-- NULL owner with 42501, before NOT NULL would), so no memory without an owner is stored.
SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*) AS anonymous_recall FROM recall('user_events');
SELECT regress.try($$SELECT remember('anonymous visitor', 'user_events')$$) AS anonymous_remember;
-- An invalid token fails both calls with 28000.
BEGIN;
SET LOCAL request.jwt = :'clerk_expired';
SELECT regress.try($$SELECT remember('from an expired session', 'user_events')$$) AS expired_remember;
SELECT regress.try($$SELECT count(*) FROM recall('user_events')$$) AS expired_recall;
ROLLBACK;
BEGIN;
SET LOCAL request.jwt = :'tampered_payload';
SELECT regress.try($$SELECT remember('tampered', 'user_events')$$) AS tampered_remember;
ROLLBACK;
-- With idp.on_invalid_token = null the bad token is anonymous: still no recall, no remember.
BEGIN;
SET LOCAL idp.on_invalid_token = 'null';
SET LOCAL request.jwt = :'tampered_payload';
SELECT idp.requesting_user_id() IS NULL AS anonymous, count(*) AS lenient_recall FROM recall('user_events');
SELECT regress.try($$SELECT remember('tampered, lenient', 'user_events')$$) AS lenient_remember;
ROLLBACK;

RESET ROLE;
-- Even without RLS (the owner), an anonymous remember is an error: NOT NULL, not a NULL owner.
-- (The DETAIL, "Failing row contains (...)", holds the row's id and timestamp: cut off.)
SELECT split_part(regress.try($$SELECT remember('owner, no token', 'user_events')$$), ' [', 1) AS owner_anonymous_remember;
-- What was really stored: every memory has its owner, none without one.
SELECT id, user_id, entity_name, content FROM memories ORDER BY id;
SELECT count(*) AS ownerless FROM memories WHERE user_id IS NULL;
DROP TABLE memories;
DROP FUNCTION remember(text, text);
DROP FUNCTION recall(text);
DROP OWNED BY regress_memories_app;
DROP ROLE regress_memories_app;
