-- The WorkOS guide's SCIM directory sync: WorkOS posts dsync.* events to a webhook, signed with
-- `WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256 of "t.body">`. The application hands the body
-- and that header to idp.apply_directory_event; a user the directory deprovisions loses access
-- at once (code `deprovisioned`), and idp.groups() gives policies the user's directory groups.
-- A token is matched to a directory user by a stable id (here a JWT-template claim carrying the
-- directory user id), never by an email the token merely claims.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

SELECT idp.register_provider(jsonb_build_object(
  'provider', 'workos', 'issuer', 'https://api.workos.com', 'jwks', :'workos_jwks'::jsonb,
  'webhook_secret', 'whsec_regress_0123456789', 'directory_claim', 'directory_user_id',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email', 'tenant', 'org_id')));

-- What WorkOS sends: the header for a body, signed at a time (ms since the epoch).
CREATE FUNCTION sign_event(body text, secret text, at_ms bigint DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
RETURNS text LANGUAGE sql AS $$
  SELECT format('t=%s, v1=%s', at_ms, encode(hmac(at_ms || '.' || body, secret, 'sha256'), 'hex'))
$$;
CREATE FUNCTION deliver(body text) RETURNS text LANGUAGE sql AS $$
  SELECT idp.apply_directory_event('workos', body, sign_event(body, 'whsec_regress_0123456789'))
$$;

-- Jane is provisioned (the guide's dsync.user.created); a replay of the same event is a no-op.
\set jane_created '{"id":"event_01","event":"dsync.user.created","created_at":"2026-01-01T00:00:01Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","first_name":"Jane","last_name":"Doe","state":"active","raw_attributes":{}}}'
SELECT deliver(:'jane_created') AS created, deliver(:'jane_created') AS replayed;
SELECT id, email, state FROM idp.directory_users;
BEGIN;
SET LOCAL request.jwt = :'workos_jane';
SELECT idp.requesting_user_id(), idp.email(), idp.groups() AS no_groups_yet;
COMMIT;

-- A group, and Jane in it: idp.groups() feeds policies.
SELECT deliver('{"id":"event_02","event":"dsync.group.created","created_at":"2026-01-01T00:00:02Z","data":{"id":"directory_group_eng","name":"Engineering"}}') AS group_created;
SELECT deliver('{"id":"event_03","event":"dsync.group.user_added","created_at":"2026-01-01T00:00:03Z","data":{"user":{"id":"directory_user_01JANE"},"group":{"id":"directory_group_eng"}}}') AS user_added;
CREATE TABLE team_docs (id int, team_id text, title text);
INSERT INTO team_docs VALUES (1, 'directory_group_eng', 'Eng roadmap'), (2, 'directory_group_sales', 'Sales plan');
ALTER TABLE team_docs ENABLE ROW LEVEL SECURITY;
-- The cast makes the sub-select an array expression, evaluated once per statement.
CREATE POLICY team_read ON team_docs FOR SELECT USING (team_id = ANY ((SELECT idp.groups())::text[]));
CREATE ROLE regress_directory_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_directory_app;
GRANT SELECT ON team_docs TO regress_directory_app;
SET ROLE regress_directory_app;
BEGIN;
SET LOCAL request.jwt = :'workos_jane';
SELECT idp.groups();
SELECT id, title FROM team_docs ORDER BY id;
COMMIT;
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT idp.groups() AS not_in_the_directory;
SELECT count(*) AS rows_for_someone_else FROM team_docs;
COMMIT;
-- The review's attack: another account's token claiming Jane's email (unverified) gets none of
-- her groups or rows.
BEGIN;
SET LOCAL request.jwt = :'workos_email_attacker';
SELECT idp.requesting_user_id(), idp.email(), idp.groups() AS attacker_groups;
SELECT count(*) AS attacker_rows FROM team_docs;
COMMIT;
RESET ROLE;

-- Deprovisioned (state inactive): her token fails at once, cached or not.
SELECT deliver('{"id":"event_04","event":"dsync.user.updated","created_at":"2026-01-01T00:00:04Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"inactive"}}') AS deactivated;
SELECT regress.as_request(:'workos_jane') AS jane_inactive;
SELECT idp.verify_jwt(:'workos_jane')->>'error' AS verify_jwt;
-- An older event arriving late (active, from before) does not bring her back.
SELECT deliver('{"id":"event_00","event":"dsync.user.updated","created_at":"2026-01-01T00:00:00Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"active"}}') AS late_event;
SELECT regress.as_request(:'workos_jane') AS still_inactive;
-- Reactivated by a newer event, then removed from the group, then deleted.
SELECT deliver('{"id":"event_05","event":"dsync.user.updated","created_at":"2026-01-01T00:00:05Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"active"}}') AS reactivated;
SELECT regress.as_request(:'workos_jane') AS jane_back;
SELECT deliver('{"id":"event_06","event":"dsync.group.user_removed","created_at":"2026-01-01T00:00:06Z","data":{"user":{"id":"directory_user_01JANE"},"group":{"id":"directory_group_eng"}}}') AS user_removed;
BEGIN;
SET LOCAL request.jwt = :'workos_jane';
SELECT idp.groups() AS groups_after_removal;
COMMIT;
SELECT deliver('{"id":"event_07","event":"dsync.user.deleted","created_at":"2026-01-01T00:00:07Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com"}}') AS deleted;
SELECT deliver('{"id":"event_08","event":"dsync.user.updated","created_at":"2026-01-01T00:00:08Z","data":{"id":"directory_user_01JANE","email":"jane@acme.com","state":"active"}}') AS update_after_delete;
SELECT regress.as_request(:'workos_jane') AS jane_deleted;
SELECT deliver('{"id":"event_09","event":"dsync.activity.unknown","created_at":"2026-01-01T00:00:09Z","data":{}}') AS unknown_event;

-- Forged, tampered, stale or malformed webhooks change nothing.
\set body '{"id":"event_10","event":"dsync.user.created","created_at":"2026-01-01T00:00:10Z","data":{"id":"directory_user_01EVE","email":"eve@acme.com","state":"active"}}'
SELECT regress.try(format('SELECT idp.apply_directory_event(%L, %L, %L)', 'workos', :'body', sign_event(:'body', 'not_the_webhook_secret'))) AS wrong_secret;
SELECT regress.try(format('SELECT idp.apply_directory_event(%L, %L, %L)', 'workos', replace(:'body', 'EVE', 'MALLORY'), sign_event(:'body', 'whsec_regress_0123456789'))) AS tampered;
SELECT regress.try(format('SELECT idp.apply_directory_event(%L, %L, %L)', 'workos', :'body',
       sign_event(:'body', 'whsec_regress_0123456789', ((extract(epoch FROM now()) - 600) * 1000)::bigint))) AS ten_minutes_old;
SELECT regress.try(format('SELECT idp.apply_directory_event(%L, %L, %L)', 'workos', :'body', 'v1=00')) AS no_timestamp;
SELECT regress.try(format('SELECT idp.apply_directory_event(%L, %L, %L)', 'workos', 'not json', sign_event('not json', 'whsec_regress_0123456789'))) AS not_json;
SELECT regress.try($$SELECT deliver('{"event":"dsync.user.created","data":{}}')$$) AS no_data_id;
SELECT regress.try($$SELECT deliver('{"data":{"id":"x"}}')$$) AS no_event;
SELECT regress.try($$SELECT deliver('{"id":"event_12","event":"dsync.user.created","created_at":"yesterday-ish","data":{"id":"x"}}')$$) AS bad_created_at;
SELECT regress.try($$SELECT deliver('{"id":"event_11","event":"dsync.group.user_added","created_at":"2026-01-01T00:00:11Z","data":{"user":{}}}')$$) AS no_group;
SELECT count(*) AS eve_rows FROM idp.directory_users WHERE id = 'directory_user_01EVE';
SELECT idp.register_provider(jsonb_build_object('provider', 'plain', 'issuer', 'https://plain.example.com', 'secret', :'insforge_secret'));
SELECT regress.try($$SELECT idp.apply_directory_event('plain', '{}', 't=1, v1=00')$$) AS no_webhook_secret;
SELECT regress.try($$SELECT idp.apply_directory_event('nope', '{}', 't=1, v1=00')$$) AS unknown_provider;
SELECT regress.try($$SELECT idp.register_provider('{"provider":"w","issuer":"https://w.example.com","secret":"0123456789abcdef0123456789abcdef","webhook_secret":"short"}')$$) AS short_webhook_secret;

-- The guide's own example event, verbatim: no id and no created_at. It is ordered by the time of
-- its signature; an older signed update arriving later is stale.
\set guide_event '{"event": "dsync.user.created", "data": {"id": "directory_user_01ABC", "email": "jane@acme.com", "first_name": "Jane", "last_name": "Doe", "state": "active", "raw_attributes": {}}}'
SELECT idp.apply_directory_event('workos', :'guide_event', sign_event(:'guide_event', 'whsec_regress_0123456789')) AS guide_event;
SELECT id, email, state, event_at = date_trunc('milliseconds', event_at) AS ordered_by_signature FROM idp.directory_users WHERE id = 'directory_user_01ABC';
\set older_update '{"event": "dsync.user.updated", "data": {"id": "directory_user_01ABC", "email": "jane@acme.com", "state": "inactive"}}'
SELECT idp.apply_directory_event('workos', :'older_update',
       sign_event(:'older_update', 'whsec_regress_0123456789', ((extract(epoch FROM now()) - 60) * 1000)::bigint)) AS older_update;
SELECT state FROM idp.directory_users WHERE id = 'directory_user_01ABC';

-- Matching by email is an option, and then only for tokens whose email_verified is true; emails
-- are folded one way (idp._email_key) for the directory and for tokens, whatever the locale.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'workos', 'issuer', 'https://api.workos.com', 'jwks', :'workos_jwks'::jsonb,
  'webhook_secret', 'whsec_regress_0123456789', 'directory_match', 'email',
  'claim_mapping', jsonb_build_object('user_id', 'sub', 'email', 'email', 'tenant', 'org_id')));
-- Every directory user with Jane's email is now deleted: her verified email matches them, the
-- attacker's unverified claim of the same email matches nothing.
\set abc_deleted '{"event": "dsync.user.deleted", "data": {"id": "directory_user_01ABC", "email": "jane@acme.com"}}'
SELECT idp.apply_directory_event('workos', :'abc_deleted', sign_event(:'abc_deleted', 'whsec_regress_0123456789')) AS abc_deleted;
SELECT regress.as_request(:'workos_jane') AS verified_email_matches;
SELECT regress.as_request(:'workos_email_attacker') AS unverified_email_does_not;
SELECT regress.as_request(:'workos_email_unverified_claim') AS string_true_is_not_verified;
SELECT deliver('{"id":"event_21","event":"dsync.user.created","created_at":"2026-01-01T00:00:21Z","data":{"id":"directory_user_01ILKER","email":"İLKER@Acme.com","state":"inactive"}}') AS ilker_inactive;
SELECT deliver('{"id":"event_22","event":"dsync.user.created","created_at":"2026-01-01T00:00:22Z","data":{"id":"directory_user_01ODYS","emails":[{"value":"ΟΔΥΣ@ACME.COM","primary":true}],"state":"inactive"}}') AS odys_inactive;
SELECT id, email, email_key FROM idp.directory_users WHERE id IN ('directory_user_01ILKER', 'directory_user_01ODYS') ORDER BY id;
SELECT regress.as_request(:'workos_ilker') AS ilker_deprovisioned;
SELECT regress.as_request(:'workos_odys') AS odys_deprovisioned;

-- Or the token's sub against the directory user's idp_id.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'workos', 'issuer', 'https://api.workos.com', 'jwks', :'workos_jwks'::jsonb,
  'webhook_secret', 'whsec_regress_0123456789', 'directory_match', 'idp_id'));
SELECT deliver('{"id":"event_23","event":"dsync.user.created","created_at":"2026-01-01T00:00:23Z","data":{"id":"directory_user_01IDP","idp_id":"user_01ABC123","email":"x@acme.com","state":"active"}}') AS idp_user;
SELECT deliver('{"id":"event_24","event":"dsync.group.user_added","created_at":"2026-01-01T00:00:24Z","data":{"user":{"id":"directory_user_01IDP"},"group":{"id":"directory_group_eng"}}}') AS idp_user_added;
BEGIN;
SET LOCAL request.jwt = :'workos_user';
SELECT idp.requesting_user_id(), idp.groups() AS groups_by_idp_id;
COMMIT;

-- Only the extension owner applies events; the application role gets 42501.
SET ROLE regress_directory_app;
SELECT regress.try($$SELECT idp.apply_directory_event('workos', '{}', 't=1, v1=00')$$) AS app_role;
RESET ROLE;
SELECT event, count(*) FROM idp.directory_events GROUP BY event ORDER BY event;

-- Deprovisioning covers the person, as revocations do: Clerk's RS256 session tokens and its HS256
-- JWT template "insforge" are two provider entries of one issuer, with the same sub. A user the
-- directory of either entry deprovisions is refused for both; a user of another issuer with the
-- same id is not.
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev', 'jwks', :'clerk_jwks'::jsonb,
  'webhook_secret', 'whsec_clerk_regress_0123456789'));
\i :specs/insforge.sql
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'elsewhere', 'issuer', 'https://evil.example.com', 'jwks', :'clerk_jwks'::jsonb,
  'webhook_secret', 'whsec_elsewhere_0123456789'));
CREATE FUNCTION deliver_to(provider text, secret text, body text) RETURNS text LANGUAGE sql AS $$
  SELECT idp.apply_directory_event(provider, body, sign_event(body, secret))
$$;
SELECT deliver_to('clerk', 'whsec_clerk_regress_0123456789', '{"id":"event_c1","event":"dsync.user.created","created_at":"2026-01-01T00:00:01Z","data":{"id":"user_2alice","email":"alice@example.com","state":"active"}}') AS alice_provisioned;
SELECT regress.as_request(:'clerk_alice') AS session_token, regress.as_request(:'insforge_alice') AS template_token;
SELECT deliver_to('clerk', 'whsec_clerk_regress_0123456789', '{"id":"event_c2","event":"dsync.user.updated","created_at":"2026-01-01T00:00:02Z","data":{"id":"user_2alice","email":"alice@example.com","state":"inactive"}}') AS alice_deprovisioned;
-- The attack: the template entry, which has no directory of its own, still answered valid.
SELECT regress.as_request(:'clerk_alice') AS session_token, regress.as_request(:'insforge_alice') AS template_token;
SELECT idp.verify_jwt(:'insforge_alice') - 'message' AS verify_jwt, idp.verify_jwt(:'insforge_alice')->>'message' AS message;
-- Controls: another user of the issuer, and Alice's id at another issuer, are unaffected.
SELECT regress.as_request(:'insforge_bob') AS other_user, regress.as_request(:'wrong_issuer') AS other_issuer;
-- The other way round: deprovisioned in the directory of the template's entry.
SELECT deliver_to('clerk', 'whsec_clerk_regress_0123456789', '{"id":"event_c3","event":"dsync.user.updated","created_at":"2026-01-01T00:00:03Z","data":{"id":"user_2alice","state":"active"}}') AS alice_back;
SELECT idp.register_provider(jsonb_build_object(
  'provider', 'insforge', 'issuer', 'https://acme.clerk.accounts.dev', 'audience', 'insforge-api',
  'secret', :'insforge_secret', 'webhook_secret', 'whsec_insforge_regress_0123456789'));
SELECT deliver_to('insforge', 'whsec_insforge_regress_0123456789', '{"id":"event_i1","event":"dsync.user.deleted","created_at":"2026-01-01T00:00:04Z","data":{"id":"user_2alice"}}') AS deleted_by_the_template_directory;
SELECT regress.as_request(:'clerk_alice') AS session_token, regress.as_request(:'insforge_alice') AS template_token;
-- Deprovisioned at the other issuer only: Clerk's tokens are unaffected.
SELECT deliver_to('insforge', 'whsec_insforge_regress_0123456789', '{"id":"event_i2","event":"dsync.user.created","created_at":"2026-01-01T00:00:05Z","data":{"id":"user_2bob","state":"active"}}') AS bob_active;
SELECT deliver_to('elsewhere', 'whsec_elsewhere_0123456789', '{"id":"event_e1","event":"dsync.user.deleted","created_at":"2026-01-01T00:00:06Z","data":{"id":"user_2bob"}}') AS bob_gone_elsewhere;
SELECT regress.as_request(:'clerk_bob') AS bob_session, regress.as_request(:'insforge_bob') AS bob_template;
SELECT idp.unregister_provider('elsewhere');
DROP FUNCTION deliver_to(text, text, text);

DROP TABLE team_docs;
DROP FUNCTION deliver(text);
DROP FUNCTION sign_event(text, text, bigint);
DROP OWNED BY regress_directory_app;
DROP ROLE regress_directory_app;
