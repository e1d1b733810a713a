-- Issue 28, the launcher's part (items 2 to 4): to be folded into pg_idp--0.5.0--0.6.0.sql.

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

-- 0.6.0: the launcher serves only the databases where pg_idp is recorded as installed (pg_idp's
-- security label on the database, which only a superuser can write). 0.5.0 recorded nothing:
-- idp._launcher_notify(), run here by the superuser updating, writes the record (the upgrade
-- script must run it, last, as every upgrade script does).
SELECT idp._launcher_notify();
