-- For the 0.5.0 -> 0.6.0 upgrade script (issue 28, items 1 and 5): to be folded into
-- sql/pg_idp--0.5.0--0.6.0.sql by whoever writes it, then this file removed.

-- 0.6.0: a slow key server costs its own database only. idp.provider_health shows how long a
-- provider's last refresh took, its failed or slow refreshes in a row, and the backoff they set
-- (src/job.rs: a floor under Cache-Control max-age, a per-provider backoff). The columns come
-- from a function of their own, so that idp._provider_health() keeps the columns the 0.4.0 and
-- 0.5.0 views name (a database not yet updated keeps working with the new library).
CREATE FUNCTION idp."_provider_backoff"() RETURNS TABLE (
	"provider" TEXT,  /* String */
	"last_refresh_duration" interval,  /* Option < pgrx :: datum :: Interval > */
	"consecutive_refresh_failures" INT,  /* i32 */
	"refresh_backoff_until" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_provider_backoff_wrapper';
-- The same view as sql/stats.sql creates: the 0.5.0 columns, then the three new ones.
CREATE OR REPLACE VIEW idp.provider_health AS
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
