-- What pg_idp is doing (docs/operations.md, "Watching pg_idp"): cluster-wide counters and the
-- providers' refresh health, both kept in shared memory by the library (pg_idp in
-- shared_preload_libraries), so a hot standby counts its own verifications. The audit log
-- lines are settings (idp.log_failures, idp.log_success), not objects.

-- One row per database and provider (provider NULL: tokens no registered provider was found
-- for). verifications = successes + failures: every full verification (a cache miss) ends in one
-- of them; cache_hits are tokens answered from a backend's cache of verified tokens, once per
-- request (not per row). logins and logins_refused count the logins of PostgreSQL 18's OAuth
-- validator (login_refusals_by_code: each refusal's pg_idp error code), which are not
-- verifications of request tokens. Without preloading: a NOTICE and no rows.
CREATE VIEW idp.stats AS
SELECT s.dbid AS datid, d.datname, s.provider,
       s.successes OPERATOR(pg_catalog.+) s.failures AS verifications,
       s.cache_hits, s.successes, s.failures, s.failures_by_code,
       s.last_success, s.last_failure, s.last_failure_code, s.stats_reset,
       s.logins, s.logins_refused, s.login_refusals_by_code
  FROM idp._stats() s
  LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid;
-- Every database's providers: for monitoring roles (pg_monitor has pg_read_all_stats), as
-- pg_stat_statements is.
REVOKE ALL ON idp.stats FROM PUBLIC;
GRANT SELECT ON idp.stats TO pg_read_all_stats;
REVOKE EXECUTE ON FUNCTION idp._stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idp._stats() TO pg_read_all_stats;
REVOKE EXECUTE ON FUNCTION idp.reset_stats(text) FROM PUBLIC;

-- Each registered provider's key set and its refreshes, without key material or secrets. The
-- key set, its ids and when it was stored come from the registry (so a standby shows what it
-- replayed); the refresh columns from this server's shared memory since it started (NULL on a
-- standby, which never fetches, and without preloading); next_refresh and the backoff only where
-- the jobs refresh keys (a primary, a served database). The last three columns (0.6.0) come from
-- idp._provider_backoff(), so that idp._provider_health() keeps the columns older versions name.
CREATE VIEW idp.provider_health AS
SELECT r.name AS provider,
       CASE WHEN (r.config OPERATOR(pg_catalog.->>) 'discovery_url') IS NOT NULL THEN 'discovery'
            WHEN (r.config OPERATOR(pg_catalog.->>) 'jwks_uri') IS NOT NULL THEN 'jwks_uri'
            ELSE 'inline' END AS key_source,
       CASE WHEN pg_catalog.jsonb_typeof(r.config OPERATOR(pg_catalog.#>) '{jwks,keys}') OPERATOR(pg_catalog.=) 'array'
            THEN pg_catalog.jsonb_array_length(r.config OPERATOR(pg_catalog.#>) '{jwks,keys}') ELSE 0 END AS key_count,
       r.key_ids, r.has_secret,
       r.updated_at AS keys_stored_at,
       pg_catalog.now() OPERATOR(pg_catalog.-) r.updated_at AS key_set_age,
       h.last_refresh_attempt, h.last_refresh_success, h.last_refresh_error_at,
       h.last_refresh_error_code, h.last_refresh_error, h.next_refresh,
       b.last_refresh_duration, b.consecutive_refresh_failures, b.refresh_backoff_until
  FROM idp.provider_registry r
  LEFT JOIN idp._provider_health() h ON h.provider OPERATOR(pg_catalog.=) r.name
  LEFT JOIN idp._provider_backoff() b ON b.provider OPERATOR(pg_catalog.=) r.name;
GRANT SELECT ON idp.provider_health TO PUBLIC;
