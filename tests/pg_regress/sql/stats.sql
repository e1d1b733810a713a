-- What pg_idp is doing: the cluster-wide counters of idp.stats (several backends at once,
-- after they exit, in parallel workers, reset), idp.provider_health, and who may read and
-- reset them. The regress cluster preloads pg_idp (shared_preload_libraries), as the counters
-- need; scripts/integration checks a server that does not (a NOTICE, no rows), a hot standby
-- (counted there) and the audit log lines in the server log.
\getenv specs PG_IDP_SPECS
\i :specs/preamble.sql

\i :specs/clerk.sql
\i :specs/insforge.sql

SELECT format('dbname=%s host=%s port=%s', current_database(),
              split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')) AS conninfo \gset
-- This database's rows that counted anything (the slots of earlier specs' providers stay, as
-- zeros, after a reset). verifications = successes + failures, always.
CREATE VIEW stats_here AS
SELECT coalesce(provider, '(none)') AS provider, verifications, cache_hits, successes, failures,
       failures_by_code, last_failure_code, verifications = successes + failures AS consistent
  FROM idp.stats
 WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND verifications + cache_hits > 0;

-- A reset zeroes this database's rows (and only this database's: the count is of its rows).
SELECT idp.reset_stats() = (SELECT count(*) FROM idp.stats WHERE datname = current_database()) AS reset_all;
SELECT count(*) AS counted_after_reset FROM stats_here;

-- One backend: a verification, then a cache hit; rejections by code, per provider; a token no
-- provider was found for is counted without one.
SELECT idp.verify_jwt(:'clerk_alice')->>'valid' AS first;
SELECT idp.verify_jwt(:'clerk_alice')->>'valid' AS cached;
SELECT idp.verify_jwt(:'tampered_payload')->>'error' AS tampered;
SELECT idp.verify_jwt(:'clerk_expired')->>'error' AS expired;
SELECT idp.verify_jwt(:'insforge_bob')->>'valid' AS insforge;
SELECT idp.verify_jwt(:'wrong_audience')->>'error' AS wrong_audience;
SELECT idp.verify_jwt(:'wrong_issuer')->>'error' AS wrong_issuer;
SELECT idp.verify_jwt('not a token')->>'error' AS garbage;
-- A request token, read by a per-row policy call: one lookup per request, not one per row.
BEGIN;
SET LOCAL request.jwt = :'clerk_bob';
SELECT count(*) FILTER (WHERE idp.requesting_user_id() = 'user_2bob') AS rows_as_bob FROM generate_series(1, 1000);
SELECT count(*) FILTER (WHERE idp.requesting_user_id() = 'user_2bob') AS again_as_bob FROM generate_series(1, 1000);
COMMIT;
SELECT * FROM stats_here ORDER BY provider;
SELECT provider, last_success IS NOT NULL AS succeeded, last_failure IS NOT NULL AS failed,
       stats_reset <= now() AS reset_before_now
  FROM idp.stats WHERE datname = current_database() AND provider IN ('clerk', 'insforge') ORDER BY provider;

-- Three backends at once (dblink), each verifying Alice's token 100 times (one verification,
-- then its own cache) and a tampered token 100 times (never cached: each is a verification);
-- they disconnect, and what they counted stays.
SELECT idp.reset_stats('clerk') AS reset_clerk;
SELECT dblink_connect('s1', :'conninfo'), dblink_connect('s2', :'conninfo'), dblink_connect('s3', :'conninfo');
SELECT dblink_send_query(s, format(
         'SELECT count(*) FILTER (WHERE (idp.verify_jwt(CASE WHEN g %% 2 = 0 THEN %L ELSE %L END)->>''valid'')::boolean)::text FROM generate_series(1, 200) g',
         :'clerk_alice', :'tampered_payload'))
  FROM unnest(ARRAY['s1', 's2', 's3']) s;
SELECT s, r FROM unnest(ARRAY['s1', 's2', 's3']) s, LATERAL dblink_get_result(s) AS t(r text) ORDER BY s;
SELECT dblink_disconnect('s1'), dblink_disconnect('s2'), dblink_disconnect('s3');
SELECT * FROM stats_here WHERE provider = 'clerk';

-- Parallel workers count what they verify: a fresh backend runs a parallel scan whose workers
-- (the leader does not scan) each verify the token once and answer the other rows from their
-- cache; every row is counted once, whichever worker did it, after the workers have exited.
CREATE TABLE stats_rows AS SELECT g FROM generate_series(1, 20000) g;
ANALYZE stats_rows;
SELECT idp.reset_stats('insforge') AS reset_insforge;
-- (CASE WHEN g > 0: a call with a column of the row, or the planner makes it a one-time filter.)
SELECT * FROM dblink(:'conninfo', format($q$
  SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
  SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
  SELECT count(*)::text FROM stats_rows WHERE (idp.verify_jwt(CASE WHEN g > 0 THEN %L END)->>'valid')::boolean
$q$, :'insforge_alice')) AS t(valid_rows text);
SELECT verifications + cache_hits AS rows_counted, successes BETWEEN 1 AND 2 AS one_verification_per_worker,
       failures, consistent
  FROM stats_here WHERE provider = 'insforge';
-- (The same query's plan, run once more: it did run in two workers.)
SELECT * FROM dblink(:'conninfo', format($q$
  SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
  SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
  EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT count(*) FROM stats_rows WHERE (idp.verify_jwt(CASE WHEN g > 0 THEN %L END)->>'valid')::boolean
$q$, :'insforge_alice')) AS t(line text) WHERE line ~ 'Workers Launched';

-- reset_stats(provider) resets that provider's row only, and says when.
SELECT idp.reset_stats('clerk') AS reset_clerk_again;
SELECT provider, verifications, cache_hits, failures_by_code FROM idp.stats
 WHERE datname = current_database() AND provider IN ('clerk', 'insforge') ORDER BY provider;
SELECT (SELECT stats_reset FROM idp.stats WHERE datname = current_database() AND provider = 'clerk')
     > (SELECT stats_reset FROM idp.stats WHERE datname = current_database() AND provider = 'insforge') AS clerk_reset_later;
SELECT idp.reset_stats('no_such_provider') AS reset_unknown;
SELECT idp.verify_jwt(:'clerk_alice')->>'valid' AS cached_still;
SELECT provider, verifications, cache_hits FROM stats_here WHERE provider = 'clerk';

-- idp.track_stats = off: nothing is counted (the counters keep their values); a superuser's
-- setting, as the audit log's are.
SET idp.track_stats = off;
SELECT idp.verify_jwt(:'clerk_bob')->>'valid' AS uncounted;
SELECT idp.verify_jwt(:'tampered_signature')->>'error' AS uncounted_failure;
RESET idp.track_stats;
SELECT provider, verifications, cache_hits FROM stats_here WHERE provider = 'clerk';

-- Provider health: where each provider's keys come from, how many, their ids, and the
-- refreshes this server saw (since it started: earlier specs' providers of the same names may
-- have some, so they are shown for the providers registered below).
SELECT provider, key_source, key_count, key_ids, has_secret, key_set_age >= interval '0' AS aged
  FROM idp.provider_health ORDER BY provider;
-- Auth0's guide body fetches its keys from its jwks_uri (the fixture's HTTPS server); Clerk's
-- issuer found by OpenID discovery; a provider whose jwks_uri does not answer.
SELECT idp.register_provider('{"provider": "auth0", "domain": "acme.us.auth0.com", "client_id": "yOUrAuTh0cLiEnTiD",
  "audience": "https://api.example.com", "jwks_uri": "https://acme.us.auth0.com/.well-known/jwks.json",
  "issuer": "https://acme.us.auth0.com/"}');
SELECT idp.discover('https://acme.us.auth0.com/', 'auth0_discovered', '{"audience": "https://api.example.com"}') AS discovered_keys;
SELECT idp.register_provider('{"provider": "down", "issuer": "https://down.example.com",
  "jwks_uri": "https://127.0.0.1:9/jwks.json"}', fetch_keys => false);
SELECT last_refresh_attempt, last_refresh_success, last_refresh_error_code, last_refresh_error, next_refresh
  FROM idp.provider_health WHERE provider = 'down';
SELECT regress.try($$SELECT idp.refresh_jwks('down')::text$$) ~ '^08000' AS down_refresh_fails;
SELECT provider, key_source, key_count, cardinality(key_ids) AS ids,
       last_refresh_attempt IS NOT NULL AS attempted, last_refresh_success IS NOT NULL AS succeeded,
       last_refresh_error_code, last_refresh_error ~ '^JWKS at https://127\.0\.0\.1:9/jwks\.json ' AS error_names_url,
       last_refresh_error_at >= last_refresh_attempt AS error_after_attempt
  FROM idp.provider_health WHERE provider IN ('auth0', 'auth0_discovered', 'down') ORDER BY provider;
-- A later successful refresh keeps the last error (and when it was) beside the new success:
-- the provider that was down, registered again with a jwks_uri that answers.
SELECT idp.register_provider('{"provider": "down", "issuer": "https://down.example.com",
  "jwks_uri": "https://acme.us.auth0.com/.well-known/jwks.json"}');
SELECT key_count, last_refresh_success > last_refresh_error_at AS success_after_error, last_refresh_error_code
  FROM idp.provider_health WHERE provider = 'down';
-- Nothing of a key or a secret in the view: no column holds one.
SELECT count(*) AS secret_looking_values FROM idp.provider_health h
 WHERE strpos(row_to_json(h)::text, :'insforge_secret') > 0 OR row_to_json(h)::text ~ '"(n|e|d|k|x|y)":';

-- Who may read and reset: an application role with USAGE on idp reads provider_health, not
-- idp.stats (every database's counters: pg_monitor's, through pg_read_all_stats), and may not
-- reset; a monitoring role reads idp.stats.
CREATE ROLE regress_stats_app NOLOGIN;
GRANT USAGE ON SCHEMA idp TO regress_stats_app;
CREATE ROLE regress_stats_monitor NOLOGIN IN ROLE pg_monitor;
GRANT USAGE ON SCHEMA idp TO regress_stats_monitor;
SET ROLE regress_stats_app;
SELECT count(*) AS health_rows FROM idp.provider_health;
SELECT regress.try($$SELECT count(*)::text FROM idp.stats$$) AS app_reads_stats;
SELECT regress.try($$SELECT idp.reset_stats()::text$$) AS app_resets;
RESET ROLE;
SET ROLE regress_stats_monitor;
SELECT count(*) > 0 AS monitor_reads_stats FROM idp.stats;
SELECT regress.try($$SELECT idp.reset_stats()::text$$) AS monitor_resets;
RESET ROLE;

-- The settings are a superuser's: an application role cannot silence its own audit lines.
SET ROLE regress_stats_app;
SELECT regress.try($$SELECT set_config('idp.log_failures', 'off', false)$$) AS app_silences_log;
SELECT regress.try($$SELECT set_config('idp.track_stats', 'off', false)$$) AS app_stops_counting;
RESET ROLE;
SELECT name, setting, context FROM pg_settings
 WHERE name IN ('idp.track_stats', 'idp.log_failures', 'idp.log_failures_window', 'idp.log_success') ORDER BY name;
SELECT regress.try($$SELECT set_config('idp.log_failures', 'sometimes', false)$$) AS bad_value;

-- An unregistered provider's refresh history goes with it: registered again, it has none.
SELECT idp.unregister_provider('down');
SELECT idp.register_provider('{"provider": "down", "issuer": "https://down.example.com",
  "jwks_uri": "https://127.0.0.1:9/jwks.json"}', fetch_keys => false);
SELECT last_refresh_attempt, last_refresh_success, last_refresh_error_code FROM idp.provider_health WHERE provider = 'down';

DROP TABLE stats_rows;
DROP VIEW stats_here;
REVOKE USAGE ON SCHEMA idp FROM regress_stats_app, regress_stats_monitor;
DROP ROLE regress_stats_app, regress_stats_monitor;
SELECT idp.unregister_provider(p) FROM unnest(ARRAY['auth0', 'auth0_discovered', 'down']) p;

-- One database's registry owner cannot take every slot: 520 providers here get
-- idp.stats_providers_per_database (64) provider slots of the 512, and another database still
-- gets its own. A database that is dropped, or that drops pg_idp, frees its slots (at commit),
-- and another database takes them. (flood_register registers providers flood_FIRST..LAST;
-- flood_verify verifies a token of each with a bad signature: one rejection, one slot each.)
SELECT $f$
CREATE FUNCTION pg_temp.flood_register(first int, last int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(idp.register_provider(jsonb_build_object('provider', 'flood_' || n,
           'issuer', 'https://flood-' || n || '.example.com', 'secret', 'flood-secret-0123456789abcdef-0123456789')))
    FROM generate_series(first, last) n
$$;
CREATE FUNCTION pg_temp.flood_verify(first int, last int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FILTER (WHERE idp.verify_jwt(
           translate(encode(convert_to('{"alg":"HS256","typ":"JWT"}', 'UTF8'), 'base64'), E'+/=\n', '-_') || '.' ||
           translate(encode(convert_to(json_build_object('iss', 'https://flood-' || n || '.example.com', 'sub', 'x',
                                                         'exp', 4102444800)::text, 'UTF8'), 'base64'), E'+/=\n', '-_')
           || '.c2lnbmF0dXJlLW5vdC1tYWRlLXdpdGgtdGhlLXNlY3JldA') ->> 'error' = 'invalid_signature')
    FROM generate_series(first, last) n
$$;
$f$ AS flood_functions \gset
SELECT current_setting('idp.stats_providers_per_database') AS providers_per_database;
:flood_functions
SELECT pg_temp.flood_register(1, 520) AS registered;
SET client_min_messages = error;
SELECT pg_temp.flood_verify(1, 520) AS rejected;
RESET client_min_messages;
SELECT count(*) FILTER (WHERE provider IS NOT NULL) AS provider_slots_here,
       count(*) FILTER (WHERE provider LIKE 'flood\_%') > 0 AS flood_counted
  FROM idp.stats WHERE datname = current_database();
SELECT count(*) < 512 AS slots_left FROM idp.stats;
-- A second database gets slots for its providers.
CREATE DATABASE regress_stats_b;
SELECT dblink_connect('b', format('dbname=regress_stats_b host=%s port=%s',
         split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT dblink_exec('b', 'CREATE EXTENSION pg_idp');
SELECT dblink_exec('b', :'flood_functions');
SELECT * FROM dblink('b', 'SELECT pg_temp.flood_register(1, 2), pg_temp.flood_verify(1, 2)') AS t(registered bigint, rejected bigint);
SELECT provider, failures FROM idp.stats WHERE datname = 'regress_stats_b' ORDER BY provider;
-- A third database that a superuser lets take up to 512 takes every slot left: then a new
-- provider of the second one gets none.
CREATE DATABASE regress_stats_c;
SELECT dblink_connect('c', format('dbname=regress_stats_c host=%s port=%s options=''-c idp.stats_providers_per_database=512''',
         split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT dblink_exec('c', 'CREATE EXTENSION pg_idp');
SELECT dblink_exec('c', :'flood_functions');
SELECT * FROM dblink('c', 'SELECT pg_temp.flood_register(1, 520)') AS t(registered bigint);
SELECT * FROM dblink('c', 'SET client_min_messages = error; SELECT pg_temp.flood_verify(1, 520)') AS t(rejected bigint);
SELECT count(*) AS slots_in_use FROM idp.stats;
SELECT * FROM dblink('b', 'SET client_min_messages = error; SELECT pg_temp.flood_register(3, 3), pg_temp.flood_verify(3, 3)') AS t(registered bigint, rejected bigint);
SELECT provider, failures FROM idp.stats WHERE datname = 'regress_stats_b' ORDER BY provider;
-- Dropping the third database frees its slots: its rows are gone, and the second database's
-- new provider is counted now (in the same session, which had got no slot for it).
SELECT dblink_disconnect('c');
DROP DATABASE regress_stats_c;
SELECT count(*) FILTER (WHERE datname IS NULL) AS rows_of_dropped_databases, count(*) < 512 AS slots_freed FROM idp.stats;
SELECT * FROM dblink('b', 'SELECT pg_temp.flood_verify(3, 3)') AS t(rejected bigint);
SELECT provider, failures FROM idp.stats WHERE datname = 'regress_stats_b' ORDER BY provider;
-- DROP EXTENSION pg_idp frees the slots of its database (a rolled-back one does not).
SELECT dblink_exec('b', 'BEGIN; DROP EXTENSION pg_idp; ROLLBACK');
SELECT count(*) AS rows_after_rollback FROM idp.stats WHERE datname = 'regress_stats_b';
SELECT dblink_exec('b', 'DROP EXTENSION pg_idp');
SELECT count(*) AS rows_after_drop_extension FROM idp.stats WHERE datname = 'regress_stats_b';
SELECT dblink_disconnect('b');
DROP DATABASE regress_stats_b;
SELECT count(idp.unregister_provider('flood_' || n)) AS unregistered FROM generate_series(1, 520) n;
