-- pg_idp 0.3.0 -> 0.4.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (docs/operations.md, "What 0.4.0 changes for you"), one section per feature below.

-- 0.4.0: install_compat (Supabase and pg_session_jwt function names)
-- (sql/compat.sql as it is, and its two grants from sql/grants.sql)
CREATE TABLE idp.compat_objects (
    flavor   text NOT NULL CHECK (flavor IN ('supabase', 'pg_session_jwt')),
    kind     text NOT NULL CHECK (kind IN ('schema', 'function')),
    -- The schema, or the function's signature as regprocedure prints it ('auth.uid()').
    name     text NOT NULL,
    -- The definition of the function install_compat replaced (pg_get_functiondef), which
    -- uninstall_compat restores; NULL when install_compat created it.
    replaced text,
    PRIMARY KEY (flavor, kind, name)
);
SELECT pg_catalog.pg_extension_config_dump('idp.compat_objects', '');

-- The functions of each flavor: name, return type, body. The bodies answer from the verified
-- identity: NULL for an anonymous request, SQLSTATE 28000 for a bad token (as every identity
-- function of pg_idp).
CREATE FUNCTION idp._compat_functions(flavor text, OUT fname text, OUT rettype text, OUT body text, OUT about text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT f.fname, f.rettype, f.body, f.about
      FROM (VALUES
        ('supabase', 1, 'uid', 'uuid',
         -- Supabase casts sub to uuid; a user id that is not a uuid (Clerk's user_..., Auth0's
         -- auth0|...) gives NULL here, so a policy comparing it matches nothing.
         $b$SELECT CASE WHEN v.id OPERATOR(pg_catalog.~*) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN v.id::pg_catalog.uuid END
  FROM idp.requesting_user_id() AS v(id)$b$,
         'pg_idp: the verified user id as a uuid (NULL when it is not one); Supabase''s auth.uid()'),
        ('supabase', 2, 'jwt', 'jsonb', 'SELECT idp.claims()',
         'pg_idp: the verified token''s claims; Supabase''s auth.jwt()'),
        ('supabase', 3, 'role', 'text', 'SELECT idp.role()',
         'pg_idp: the verified role (claim_mapping.role); Supabase''s auth.role()'),
        ('supabase', 4, 'email', 'text', 'SELECT idp.email()',
         'pg_idp: the verified email (claim_mapping.email); Supabase''s auth.email()'),
        ('pg_session_jwt', 1, 'user_id', 'text', 'SELECT idp.requesting_user_id()',
         'pg_idp: the verified user id; pg_session_jwt''s auth.user_id()'),
        ('pg_session_jwt', 2, 'session', 'jsonb', 'SELECT idp.claims()',
         'pg_idp: the verified token''s claims; pg_session_jwt''s auth.session()'),
        ('pg_session_jwt', 3, 'jwt', 'jsonb', 'SELECT idp.claims()',
         'pg_idp: the verified token''s claims; pg_session_jwt''s auth.jwt()')
      ) AS f(flavor, ord, fname, rettype, body, about)
     WHERE f.flavor OPERATOR(pg_catalog.=) _compat_functions.flavor
     ORDER BY f.ord
$$;

CREATE FUNCTION idp._compat_check_flavor(flavor text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF flavor IS NULL OR flavor NOT IN ('supabase', 'pg_session_jwt') THEN
        RAISE EXCEPTION 'pg_idp: unknown compatibility set %', coalesce(quote_literal(flavor), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The sets are ''supabase'' (auth.uid, auth.jwt, auth.role, auth.email) and '
                         '''pg_session_jwt'' (auth.user_id, auth.session, auth.jwt).';
    END IF;
END $$;

-- Create the functions of `flavor` in schema auth (created too when missing). A function that
-- exists and that pg_idp did not create is an error, unless replace => true: then it is
-- replaced and its definition kept for uninstall_compat. Returns one row per object: created,
-- replaced, or already installed (by pg_idp, for this set or the other one).
CREATE FUNCTION idp.install_compat(flavor text, replace boolean DEFAULT false)
RETURNS TABLE (object text, action text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f record;
    sig text;
    fn oid;
    ours boolean;
    previous text;
BEGIN
    PERFORM idp._compat_check_flavor(flavor);
    IF replace IS NULL THEN
        RAISE EXCEPTION 'pg_idp: replace must be true or false' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The schema.
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
        ours := EXISTS (SELECT 1 FROM idp.compat_objects c
                         WHERE c.kind OPERATOR(pg_catalog.=) 'function' AND c.name OPERATOR(pg_catalog.=) sig);
        previous := NULL;
        object := 'function ' || sig;
        IF fn IS NOT NULL AND ours THEN
            INSERT INTO idp.compat_objects (flavor, kind, name) VALUES (flavor, 'function', sig)
                ON CONFLICT DO NOTHING;
            action := 'already installed';
            RETURN NEXT;
            CONTINUE;
        ELSIF fn IS NOT NULL AND NOT replace THEN
            RAISE EXCEPTION 'pg_idp: function % already exists and pg_idp did not create it', sig
                USING ERRCODE = 'duplicate_function',
                      DETAIL = 'Nothing was created: install_compat replaces an existing function only when asked.',
                      HINT = format('To answer it from the verified token instead, call idp.install_compat(%L, replace => true); '
                                    'idp.uninstall_compat(%L) puts the current definition back.', flavor, flavor);
        ELSIF fn IS NOT NULL THEN
            previous := pg_get_functiondef(fn);
        END IF;
        -- CREATE OR REPLACE keeps a replaced function's oid, so the policies that use it follow.
        EXECUTE format('CREATE OR REPLACE FUNCTION auth.%I() RETURNS %s LANGUAGE sql STABLE PARALLEL SAFE '
                       'SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS %L',
                       f.fname, f.rettype, f.body);
        EXECUTE format('COMMENT ON FUNCTION auth.%I() IS %L', f.fname, f.about);
        DELETE FROM idp.compat_objects c
         WHERE c.kind OPERATOR(pg_catalog.=) 'function' AND c.name OPERATOR(pg_catalog.=) sig;
        INSERT INTO idp.compat_objects (flavor, kind, name, replaced) VALUES (flavor, 'function', sig, previous);
        action := CASE WHEN previous IS NULL THEN 'created' ELSE 'replaced' END;
        RETURN NEXT;
    END LOOP;
END $$;

-- Remove what install_compat(flavor) created: functions it created are dropped, functions it
-- replaced get their previous definition back, the schema auth is dropped if it created it and
-- it is empty. What the other set also installed stays. A function still used by a policy (or
-- any other object) cannot be dropped: the error says so and nothing is removed.
CREATE FUNCTION idp.uninstall_compat(flavor text)
RETURNS TABLE (object text, action text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    other text;
BEGIN
    PERFORM idp._compat_check_flavor(flavor);
    FOR o IN SELECT c.kind, c.name, c.replaced FROM idp.compat_objects c
              WHERE c.flavor OPERATOR(pg_catalog.=) uninstall_compat.flavor
              ORDER BY c.kind OPERATOR(pg_catalog.=) 'schema', c.name LOOP
        object := o.kind || ' ' || o.name;
        SELECT c.flavor INTO other FROM idp.compat_objects c
         WHERE c.kind OPERATOR(pg_catalog.=) o.kind AND c.name OPERATOR(pg_catalog.=) o.name
           AND c.flavor OPERATOR(pg_catalog.<>) uninstall_compat.flavor;
        DELETE FROM idp.compat_objects c
         WHERE c.flavor OPERATOR(pg_catalog.=) uninstall_compat.flavor
           AND c.kind OPERATOR(pg_catalog.=) o.kind AND c.name OPERATOR(pg_catalog.=) o.name;
        IF other IS NOT NULL THEN
            -- Still installed for the other set, which now restores what was replaced.
            UPDATE idp.compat_objects c SET replaced = o.replaced
             WHERE c.flavor OPERATOR(pg_catalog.=) other AND c.kind OPERATOR(pg_catalog.=) o.kind
               AND c.name OPERATOR(pg_catalog.=) o.name AND o.replaced IS NOT NULL;
            action := format('kept (installed for %s too)', other);
        ELSIF o.kind OPERATOR(pg_catalog.=) 'schema' THEN
            IF to_regnamespace('auth') IS NULL THEN
                action := 'already gone';
            ELSE
                BEGIN
                    DROP SCHEMA auth;
                    action := 'dropped';
                EXCEPTION WHEN dependent_objects_still_exist THEN
                    action := 'kept (not empty)';
                END;
            END IF;
        ELSIF to_regprocedure(o.name) IS NULL THEN
            action := 'already gone';
        ELSIF o.replaced IS NOT NULL THEN
            EXECUTE o.replaced;
            action := 'restored';
        ELSE
            BEGIN
                EXECUTE format('DROP FUNCTION %s', o.name);
            EXCEPTION WHEN dependent_objects_still_exist THEN
                RAISE EXCEPTION 'pg_idp: cannot remove %: other objects use it', o.name
                    USING ERRCODE = 'dependent_objects_still_exist',
                          DETAIL = 'Nothing was removed.',
                          HINT = 'Drop or rewrite the policies (and other objects) that call it first, '
                                 'e.g. with idp.requesting_user_id() or idp.claims().';
            END;
            action := 'dropped';
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
-- Creating and removing the auth.* compatibility functions (DDL in schema auth).
REVOKE EXECUTE ON FUNCTION idp.install_compat(text, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.uninstall_compat(text) FROM PUBLIC;
-- 0.4.0: login with a provider token (PostgreSQL 18)
-- Providers may carry "login" in their config (no SQL change); idp.login_snapshot() reports the
-- snapshot the OAuth validator reads (NULL before PostgreSQL 18).
CREATE FUNCTION idp."login_snapshot"() RETURNS jsonb /* Option < JsonB > */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'login_snapshot_wrapper';
COMMENT ON FUNCTION idp.login_snapshot() IS
  'The login snapshot of this database (PostgreSQL 18 OAuth validator): path, providers, age. NULL before 18.';
REVOKE EXECUTE ON FUNCTION idp.login_snapshot() FROM PUBLIC;

-- 0.4.0: counters, provider health and the audit log
-- (sql/stats.sql: the views idp.stats and idp.provider_health over the library's shared memory,
-- and idp.reset_stats. The audit log is settings only.)
CREATE  FUNCTION "_stats"() RETURNS TABLE (
	"dbid" oid,  /* pg_sys :: Oid */
	"provider" TEXT,  /* Option < String > */
	"cache_hits" bigint,  /* i64 */
	"successes" bigint,  /* i64 */
	"failures" bigint,  /* i64 */
	"failures_by_code" jsonb,  /* JsonB */
	"last_success" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_failure" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_failure_code" TEXT,  /* Option < String > */
	"stats_reset" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_stats_wrapper';
CREATE  FUNCTION "_provider_health"() RETURNS TABLE (
	"provider" TEXT,  /* String */
	"last_refresh_attempt" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_refresh_success" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_refresh_error_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_refresh_error_code" TEXT,  /* Option < String > */
	"last_refresh_error" TEXT,  /* Option < String > */
	"next_refresh" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_provider_health_wrapper';
CREATE  FUNCTION "reset_stats"(
	"provider" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS bigint /* i64 */
VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'reset_stats_wrapper';
CREATE VIEW idp.stats AS
SELECT s.dbid AS datid, d.datname, s.provider,
       s.successes OPERATOR(pg_catalog.+) s.failures AS verifications,
       s.cache_hits, s.successes, s.failures, s.failures_by_code,
       s.last_success, s.last_failure, s.last_failure_code, s.stats_reset
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
-- standby, which never fetches, and without preloading); next_refresh only where the refresh
-- worker runs (idp.worker_database).
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
       h.last_refresh_error_code, h.last_refresh_error, h.next_refresh
  FROM idp.provider_registry r
  LEFT JOIN idp._provider_health() h ON h.provider OPERATOR(pg_catalog.=) r.name;
GRANT SELECT ON idp.provider_health TO PUBLIC;
