-- pg_idp 0.5.0 -> 0.6.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (docs/operations.md, "What 0.6.0 changes for you"), one section per change below.

-- 0.6.0: a login is authorized, not only authenticated. A provider whose tokens log in must name
-- the audience of its login tokens (login.audience, or the provider's audience); registering one
-- without is refused. A provider 0.5.0 stored without either keeps its config (its request
-- tokens verify as before), but its logins are refused, each with a log line naming it and what
-- to set. The update says which ones, so they can be fixed before anyone is turned away.
DO $$
DECLARE
    names text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.name), ', ' ORDER BY r.name)
      INTO names
      FROM idp.provider_registry r
     WHERE pg_catalog.jsonb_typeof(r.config OPERATOR(pg_catalog.->) 'login') OPERATOR(pg_catalog.=) ANY (ARRAY['object', 'boolean'])
       AND (r.config OPERATOR(pg_catalog.->) 'login') OPERATOR(pg_catalog.<>) 'false'::jsonb
       AND pg_catalog.jsonb_typeof(r.config OPERATOR(pg_catalog.#>) '{login,audience}') IS NULL
       AND pg_catalog.jsonb_typeof(r.config OPERATOR(pg_catalog.->) 'audience') IS NULL;
    IF names IS NOT NULL THEN
        RAISE WARNING 'pg_idp: providers whose tokens log in but that name no audience: %', names
            USING DETAIL = 'pg_idp 0.6.0 refuses their logins (pg_idp error code: invalid_audience) until their config names the audience their login tokens are issued for. Their request tokens verify as before.',
                  HINT = 'Register each again with "login": {"audience": "<the API your provider issues database tokens for>", ...}.';
    END IF;
END
$$;

-- 0.6.0: idp.stats counts the logins of PostgreSQL 18's OAuth validator, accepted and refused by
-- reason (sql/stats.sql as it is). idp._stats() gains three columns, over a new C symbol (the old
-- one keeps answering 0.5.0's ten columns to a database not updated yet: src/api/legacy.rs).
DROP VIEW idp.stats;
DROP FUNCTION idp._stats();
CREATE FUNCTION idp."_stats"() RETURNS TABLE (
	"dbid" oid,  /* pg_sys :: Oid */
	"provider" TEXT,  /* Option < String > */
	"cache_hits" bigint,  /* i64 */
	"successes" bigint,  /* i64 */
	"failures" bigint,  /* i64 */
	"failures_by_code" jsonb,  /* JsonB */
	"last_success" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_failure" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_failure_code" TEXT,  /* Option < String > */
	"stats_reset" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"logins" bigint,  /* i64 */
	"logins_refused" bigint,  /* i64 */
	"login_refusals_by_code" jsonb  /* JsonB */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_stats_logins_wrapper';
CREATE VIEW idp.stats AS
SELECT s.dbid AS datid, d.datname, s.provider,
       s.successes OPERATOR(pg_catalog.+) s.failures AS verifications,
       s.cache_hits, s.successes, s.failures, s.failures_by_code,
       s.last_success, s.last_failure, s.last_failure_code, s.stats_reset,
       s.logins, s.logins_refused, s.login_refusals_by_code
  FROM idp._stats() s
  LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) s.dbid;
REVOKE ALL ON idp.stats FROM PUBLIC;
GRANT SELECT ON idp.stats TO pg_read_all_stats;
REVOKE EXECUTE ON FUNCTION idp._stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION idp._stats() TO pg_read_all_stats;

-- 0.6.0: idp.served_databases() says how each database's last job ended and why a database
-- waits (last_job, failures, retry_at, reason). A function's result columns cannot change in
-- place: dropped and created again, as a fresh install has it, over a new C symbol (the old one
-- keeps answering 0.5.0's six columns to a database not updated yet: src/api/legacy.rs).
DROP FUNCTION idp.served_databases();
CREATE FUNCTION idp."served_databases"() RETURNS TABLE (
	"datid" oid,  /* pg_sys :: Oid */
	"state" TEXT,  /* String */
	"confirmed_seconds_ago" double precision,  /* Option < f64 > */
	"job_pid" INT,  /* Option < i32 > */
	"jobs" bigint,  /* i64 */
	"next_refresh" timestamp with time zone,  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
	"last_job" TEXT,  /* Option < String > */
	"failures" INT,  /* i32 */
	"retry_at" timestamp with time zone,  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
	"reason" TEXT  /* Option < String > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'served_databases_jobs_wrapper';
REVOKE EXECUTE ON FUNCTION idp.served_databases() FROM PUBLIC;

-- Last: the launcher serves only the databases where pg_idp is recorded as installed (pg_idp's
-- security label on the database, which only a superuser can write); 0.5.0 recorded nothing.
-- idp._launcher_notify(), run here by the superuser updating, writes the record, and the
-- launcher looks at this database once the update commits.
SELECT idp._launcher_notify();
