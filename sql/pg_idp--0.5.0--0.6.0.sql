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

-- Citus: the coordinator's commands call pg_idp's part of a copy in a worker's database only
-- through this function, in pg_catalog, where only a superuser can have created it (sql/citus.sql
-- says why). It keeps PostgreSQL's default EXECUTE for PUBLIC: it checks its caller itself.
CREATE FUNCTION pg_catalog.pg_idp_node_call(function text, argument text DEFAULT NULL) RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'pg_idp_node_call_wrapper';
COMMENT ON FUNCTION pg_catalog.pg_idp_node_call(text, text) IS
'pg_idp: run pg_idp''s part of a Citus registry copy in this database, for the coordinator, once its install is verified';

-- install_compat refuses a schema auth that a role other than a superuser or the extension's
-- owner owns or may create objects in (55000), and idp.compat_status reports the schema as well
-- as the functions (sql/compat.sql says why). The same text as sql/compat.sql.
CREATE FUNCTION idp._compat_schema_check(OUT problem text, OUT role_name text)
RETURNS SETOF record
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (SELECT n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n
                WHERE n.nspname OPERATOR(pg_catalog.=) 'auth'),
         fit(r) AS (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolsuper
                    UNION ALL
                    SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_idp')
    SELECT p.problem, p.role_name
      FROM (SELECT 1 AS ord, 'owner' AS problem, pg_catalog.pg_get_userbyid(s.nspowner)::text AS role_name
              FROM s WHERE NOT EXISTS (SELECT 1 FROM fit WHERE fit.r OPERATOR(pg_catalog.=) s.nspowner)
            UNION ALL
            SELECT 2, 'create', CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                     ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END
              FROM s, pg_catalog.aclexplode(s.nspacl) a
             WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND NOT EXISTS (SELECT 1 FROM fit WHERE fit.r OPERATOR(pg_catalog.=) a.grantee)) p
     ORDER BY p.ord, p.role_name
     LIMIT 1
$$;

CREATE FUNCTION idp._compat_schema_state() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.to_regnamespace('auth') IS NULL THEN 'missing'
                WHEN EXISTS (SELECT 1 FROM idp._compat_schema_check()) THEN 'changed'
                ELSE 'installed' END
$$;

CREATE OR REPLACE VIEW idp.compat_status AS
SELECT c.flavor, c.kind, c.name,
       CASE WHEN c.kind OPERATOR(pg_catalog.=) 'schema' THEN idp._compat_schema_state()
            ELSE idp._compat_state(c.name) END AS state,
       c.replaced IS NOT NULL AS replaced_one, c.replaced_owner
  FROM idp.compat_objects c
UNION ALL
SELECT f.flavor, 'schema', 'auth', idp._compat_schema_state(), false, NULL::pg_catalog.regrole
  FROM (SELECT DISTINCT c.flavor FROM idp.compat_objects c) f
 WHERE NOT EXISTS (SELECT 1 FROM idp.compat_objects s
                    WHERE s.kind OPERATOR(pg_catalog.=) 'schema' AND s.flavor OPERATOR(pg_catalog.=) f.flavor);

CREATE OR REPLACE FUNCTION idp.install_compat(flavor text, replace boolean DEFAULT false)
RETURNS TABLE (object text, action text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    sig text;
    fn oid;
    state text;
    recorded boolean;
    previous text;
    previous_owner regrole;
    unfit record;
BEGIN
    PERFORM idp._compat_check_flavor(flavor);
    IF replace IS NULL THEN
        RAISE EXCEPTION 'pg_idp: replace must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The schema: one that another role owns or may create objects in is refused.
    SELECT * INTO unfit FROM idp._compat_schema_check();
    IF unfit.problem OPERATOR(pg_catalog.=) 'owner' THEN
        RAISE EXCEPTION 'pg_idp: schema auth is owned by role %, which is neither a superuser nor the owner of pg_idp',
                quote_ident(unfit.role_name)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Nothing was created. The owner of a schema can drop any function in it and create one that '
                           'reads the forgeable request.jwt.claims in its place.',
                  HINT = format('As a superuser: ALTER SCHEMA auth OWNER TO %I; (and GRANT USAGE ON SCHEMA auth TO %I; '
                                'if that role still uses it), then call idp.install_compat again.',
                                current_user, unfit.role_name);
    ELSIF unfit.problem OPERATOR(pg_catalog.=) 'create' THEN
        RAISE EXCEPTION 'pg_idp: role % may create objects in schema auth, and is neither a superuser nor the owner of pg_idp',
                CASE WHEN unfit.role_name OPERATOR(pg_catalog.=) 'PUBLIC' THEN 'PUBLIC (every role)' ELSE quote_ident(unfit.role_name) END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Nothing was created. A role that may create objects in schema auth can add functions and '
                           'operators next to the ones install_compat creates.',
                  HINT = format('As a superuser: REVOKE CREATE ON SCHEMA auth FROM %s; then call idp.install_compat again.',
                                CASE WHEN unfit.role_name OPERATOR(pg_catalog.=) 'PUBLIC' THEN 'PUBLIC'
                                     ELSE quote_ident(unfit.role_name) END);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'auth') THEN
        IF EXISTS (SELECT 1 FROM idp.compat_objects c WHERE c.kind OPERATOR(pg_catalog.=) 'schema') THEN
            INSERT INTO idp.compat_objects (flavor, kind, name) VALUES (flavor, 'schema', 'auth')
                ON CONFLICT DO NOTHING;
        END IF;
    ELSE
        CREATE SCHEMA auth;
        INSERT INTO idp.compat_objects (flavor, kind, name) VALUES (flavor, 'schema', 'auth');
        object := 'schema auth'; action := 'created';
        RETURN NEXT;
    END IF;
    FOR f IN SELECT * FROM idp._compat_functions(flavor) LOOP
        sig := format('auth.%s()', f.fname);
        fn := to_regprocedure(sig);
        state := idp._compat_state(sig);
        recorded := EXISTS (SELECT 1 FROM idp.compat_objects c
                             WHERE c.kind OPERATOR(pg_catalog.=) 'function' AND c.name OPERATOR(pg_catalog.=) sig);
        object := 'function ' || sig;
        IF recorded AND state OPERATOR(pg_catalog.=) 'installed' THEN
            INSERT INTO idp.compat_objects (flavor, kind, name, replaced, replaced_owner)
                SELECT install_compat.flavor, 'function', sig, c.replaced, c.replaced_owner FROM idp.compat_objects c
                 WHERE c.kind OPERATOR(pg_catalog.=) 'function' AND c.name OPERATOR(pg_catalog.=) sig LIMIT 1
                ON CONFLICT DO NOTHING;
            action := 'already installed';
            RETURN NEXT;
            CONTINUE;
        ELSIF fn IS NOT NULL AND NOT replace THEN
            RAISE EXCEPTION 'pg_idp: function % already exists and %', sig,
                    CASE WHEN recorded THEN 'is no longer what install_compat made (its definition or owner changed)'
                         ELSE 'pg_idp did not create it' END
                USING ERRCODE = 'duplicate_function',
                      DETAIL = 'Nothing was created: install_compat replaces an existing function only when asked.',
                      HINT = format('To answer it from the verified token instead, call idp.install_compat(%L, replace => true); '
                                    'idp.uninstall_compat(%L) puts the current definition back.', flavor, flavor);
        END IF;
        previous := NULL;
        previous_owner := NULL;
        IF fn IS NOT NULL THEN
            previous := pg_get_functiondef(fn);
            SELECT p.proowner::regrole INTO previous_owner FROM pg_proc p WHERE p.oid OPERATOR(pg_catalog.=) fn;
        END IF;
        -- CREATE OR REPLACE keeps a replaced function's oid, so the policies that use it follow;
        -- it also keeps its owner, who is no longer to have it.
        EXECUTE format('CREATE OR REPLACE FUNCTION auth.%I() RETURNS %s LANGUAGE sql STABLE PARALLEL SAFE '
                       'SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS %L',
                       f.fname, f.rettype, f.body);
        EXECUTE format('ALTER FUNCTION auth.%I() OWNER TO CURRENT_USER', f.fname);
        EXECUTE format('COMMENT ON FUNCTION auth.%I() IS %L', f.fname, f.about);
        -- What this call replaced (nothing when it created the function) is what
        -- uninstall_compat puts back, for whichever set removes the function last.
        UPDATE idp.compat_objects c SET replaced = previous, replaced_owner = previous_owner
         WHERE c.kind OPERATOR(pg_catalog.=) 'function' AND c.name OPERATOR(pg_catalog.=) sig;
        INSERT INTO idp.compat_objects (flavor, kind, name, replaced, replaced_owner)
            VALUES (flavor, 'function', sig, previous, previous_owner)
            ON CONFLICT DO NOTHING;
        action := CASE WHEN previous IS NULL THEN 'created' ELSE 'replaced' END;
        RETURN NEXT;
    END LOOP;
END $$;

-- 0.6.0: a slow key server costs its own database only. idp.provider_health shows how long a
-- provider's last refresh took, its failed or slow refreshes in a row, and the backoff they set
-- (src/workers/job.rs: a floor under Cache-Control max-age, a per-provider backoff). The columns come
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

-- Last: the launcher serves only the databases where pg_idp is recorded as installed (pg_idp's
-- security label on the database, which only a superuser can write); 0.5.0 recorded nothing.
-- idp._launcher_notify(), run here by the superuser updating, writes the record, and the
-- launcher looks at this database once the update commits.
SELECT idp._launcher_notify();
