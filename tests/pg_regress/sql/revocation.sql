-- Revocation: a user who signed out everywhere (or was removed) and a single revoked session
-- (Clerk and WorkOS tokens carry the session id in `sid`). Revoked tokens fail with the code
-- `revoked`, including tokens this backend has already verified and cached, and revocations
-- made by another session are seen from the next transaction.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

\i :specs/clerk.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'workos', 'issuer', 'https://api.workos.com', 'jwks', :'workos_jwks'::jsonb,
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'tenant', 'org_id')));
-- The Clerk JWT template (HS256, same issuer): another entry for the same people.
\i :specs/insforge.sql

-- Warm this backend's cache with Alice's and Bob's tokens.
SELECT regress.as_request(:'clerk_alice') AS alice, regress.as_request(:'clerk_bob') AS bob;

-- Alice is revoked: her tokens issued until now fail, from the cache too; Bob is untouched.
SELECT idp.revoke_user('clerk', 'user_2alice');
SELECT regress.as_request(:'clerk_alice') AS alice_after_revoke, regress.as_request(:'clerk_bob') AS bob;
SELECT idp.verify_jwt(:'clerk_alice')->>'error' AS verify_jwt_alice;
-- A revocation covers the person (issuer and user id), whichever entry verifies her token: her
-- InsForge template token fails too (in 0.2.0 it still worked and saw the same rows).
SELECT regress.as_request(:'insforge_alice') AS alice_template_token, regress.as_request(:'insforge_bob') AS bob_template_token;
SELECT provider, kind, subject, issued_before IS NOT NULL AS has_time FROM idp.revocations ORDER BY 1, 2, 3;
-- A revocation dated before her token was issued (she signed in again afterwards) lets it through.
SELECT idp.revoke_user('clerk', 'user_2alice', now() - interval '1 day');
SELECT regress.as_request(:'clerk_alice') AS alice_signed_in_again;
SELECT idp.revoke_user('clerk', 'user_2alice');
SELECT idp.unrevoke_user('clerk', 'user_2alice') AS unrevoked, idp.unrevoke_user('clerk', 'user_2alice') AS again;
SELECT regress.as_request(:'clerk_alice') AS alice_unrevoked;

-- One session: only tokens of that sid fail.
SELECT idp.revoke_session('clerk', 'sess_user_2bob');
SELECT regress.as_request(:'clerk_bob') AS bob_session_revoked, regress.as_request(:'clerk_alice') AS alice;
SELECT idp.revoke_session('workos', 'session_01HQSXZGF8FHF7A9ZZFCW4387R');
SELECT regress.as_request(:'workos_user') AS workos_session_revoked, regress.as_request(:'workos_member') AS workos_other_session;
SELECT idp.unrevoke_session('clerk', 'sess_user_2bob') AS unrevoked_session;
SELECT regress.as_request(:'clerk_bob') AS bob_back;

-- Revocations made by another session are seen here from the next transaction.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS dblink;
RESET client_min_messages;
SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')) AS conninfo \gset
SELECT regress.as_request(:'clerk_bob') AS bob_cached_here;
SELECT * FROM dblink(:'conninfo', $$SELECT idp.revoke_user('clerk', 'user_2bob')::text$$) AS t(done text);
SELECT regress.as_request(:'clerk_bob') AS bob_after_remote_revoke;
SELECT * FROM dblink(:'conninfo', $$SELECT idp.unrevoke_user('clerk', 'user_2bob')::text$$) AS t(done text);
SELECT regress.as_request(:'clerk_bob') AS bob_after_remote_unrevoke;
DROP EXTENSION dblink;

-- Bad calls.
SELECT regress.try($$SELECT idp.revoke_user('nope', 'user_1')::text$$) AS unknown_provider;
SELECT regress.try($$SELECT idp.revoke_user('clerk', '')::text$$) AS empty_user;
SELECT regress.try($$SELECT idp.revoke_session('clerk', NULL)::text$$) AS null_sid;
SELECT regress.try($$SELECT idp.revoke_user('clerk', 'user_1', NULL)::text$$) AS null_time;

-- Only the extension owner may revoke or read the list; an application role gets 42501.
CREATE ROLE regress_revocation_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_revocation_app;
SET ROLE regress_revocation_app;
SELECT q AS attempt, regress.try(q) AS result FROM (VALUES
  ($$SELECT idp.revoke_user('clerk', 'user_2alice')::text$$),
  ($$SELECT idp.unrevoke_session('clerk', 'sess_user_2bob')::text$$),
  ($$SELECT count(*)::text FROM idp.revocations$$),
  ($$DELETE FROM idp.revocation_list RETURNING subject$$)
) AS t(q);
RESET ROLE;
DROP OWNED BY regress_revocation_app;
DROP ROLE regress_revocation_app;

-- Old entries can be purged.
SELECT idp.purge_revocations(interval '1 hour') AS purged_recent, idp.purge_revocations(interval '-1 hour') AS purged_all;
SELECT count(*) AS left_over FROM idp.revocations;
SELECT regress.as_request(:'workos_user') AS workos_after_purge;
