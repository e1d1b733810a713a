-- pg_idp 0.4.0 -> 0.5.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (docs/operations.md, "What 0.5.0 changes for you"), one section per change below.

-- 0.5.0: the cluster's trust boundary. pg_idp's jobs run as the bootstrap superuser and serve a
-- database only where nothing they read can be changed by a role that is not a superuser; an
-- update would otherwise complete into a schema that is not served. So the update stops here
-- when schema idp is owned by a role that is not a superuser, or another role may create objects
-- in it (as when 0.4.0 installed into a schema a database owner had made beforehand): a
-- superuser hands it over first (ALTER SCHEMA idp OWNER TO <superuser>, REVOKE CREATE ...), and
-- removes whatever that role put there.
DO $$
DECLARE
    owner_is_superuser boolean;
    others_may_create boolean;
BEGIN
    SELECT COALESCE(r.rolsuper, false),
           EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a
                    WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                      AND NOT COALESCE((SELECT g.rolsuper FROM pg_catalog.pg_authid g
                                         WHERE g.oid OPERATOR(pg_catalog.=) a.grantee), false))
      INTO owner_is_superuser, others_may_create
      FROM pg_catalog.pg_namespace n
      LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'idp';
    IF NOT owner_is_superuser OR others_may_create THEN
        RAISE EXCEPTION 'pg_idp: schema idp can be changed by a role that is not a superuser'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'pg_idp 0.5.0 serves a database only when its schema idp is a superuser''s and no other role may create objects in it.',
                  HINT = 'As a superuser: ALTER SCHEMA idp OWNER TO <superuser>; REVOKE CREATE ON SCHEMA idp FROM <role>; then remove any object of that role in schema idp, and update again.';
    END IF;
END
$$;

-- 0.5.0: the launcher (with pg_idp preloaded) serves every database where a superuser installed
-- pg_idp. _launcher_notify() tells it of CREATE EXTENSION and of this update; served_databases()
-- shows what it serves.
CREATE FUNCTION idp."_launcher_notify"() RETURNS void
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_launcher_notify_wrapper';
REVOKE EXECUTE ON FUNCTION idp._launcher_notify() FROM PUBLIC;
CREATE FUNCTION idp."served_databases"() RETURNS TABLE (
	"datid" oid,  /* pg_sys :: Oid */
	"state" TEXT,  /* String */
	"confirmed_seconds_ago" double precision,  /* Option < f64 > */
	"job_pid" INT,  /* Option < i32 > */
	"jobs" bigint,  /* i64 */
	"next_refresh" timestamp with time zone  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'served_databases_wrapper';
REVOKE EXECUTE ON FUNCTION idp.served_databases() FROM PUBLIC;

-- 0.5.0: install_compat takes a replaced function from its previous owner
-- (sql/compat.sql as it is: the column replaced_owner, _compat_state, the view compat_status,
-- install_compat and uninstall_compat). Before 0.5.0 a function replaced by
-- install_compat(..., replace => true) kept its owner, who could CREATE OR REPLACE it back to
-- reading request.jwt.claims. Such a function that still has pg_idp's definition becomes the
-- extension owner's now; its previous owner is recorded, and uninstall_compat gives it back.
ALTER TABLE idp.compat_objects ADD COLUMN replaced_owner regrole;

-- Whether auth.<name>() (sig: 'auth.uid()') is pg_idp's, read from the catalog, never from the
-- record: 'installed' (the body, return type, language, volatility, SECURITY INVOKER and pinned
-- search_path install_compat gives it, and owned by a superuser or the extension's owner, so
-- that no other role can replace or alter it), 'changed' (it exists but differs in one of
-- those), 'missing' (no such function).
CREATE FUNCTION idp._compat_state(sig text) RETURNS text
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p.oid IS NULL THEN 'missing'
        WHEN EXISTS (SELECT 1
                       FROM (SELECT * FROM idp._compat_functions('supabase')
                             UNION ALL SELECT * FROM idp._compat_functions('pg_session_jwt')) f
                      WHERE pg_catalog.format('auth.%s()', f.fname) OPERATOR(pg_catalog.=) _compat_state.sig
                        AND f.body OPERATOR(pg_catalog.=) p.prosrc
                        AND pg_catalog.to_regtype(f.rettype) OPERATOR(pg_catalog.=) p.prorettype)
         AND p.prokind OPERATOR(pg_catalog.=) 'f' AND NOT p.proretset AND NOT p.prosecdef
         AND p.provolatile OPERATOR(pg_catalog.=) 's'
         AND p.prolang OPERATOR(pg_catalog.=) (SELECT l.oid FROM pg_catalog.pg_language l
                                                 WHERE l.lanname OPERATOR(pg_catalog.=) 'sql')
         AND p.proconfig OPERATOR(pg_catalog.=) ARRAY['search_path=pg_catalog, pg_temp']::text[]
         AND (EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                       WHERE r.oid OPERATOR(pg_catalog.=) p.proowner AND r.rolsuper)
              OR p.proowner OPERATOR(pg_catalog.=) (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                      WHERE e.extname OPERATOR(pg_catalog.=) 'pg_idp'))
        THEN 'installed'
        ELSE 'changed' END
      FROM (SELECT pg_catalog.to_regprocedure(sig) AS fn) s
      LEFT JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) s.fn
$$;

-- What install_compat installed, and whether each object still is pg_idp's (state, from the
-- catalog: see _compat_state; a schema is 'installed' while it exists). For the extension owner
-- and superusers, as idp.compat_objects.
CREATE VIEW idp.compat_status AS
SELECT c.flavor, c.kind, c.name,
       CASE WHEN c.kind OPERATOR(pg_catalog.=) 'schema'
            THEN CASE WHEN pg_catalog.to_regnamespace(c.name) IS NULL THEN 'missing' ELSE 'installed' END
            ELSE idp._compat_state(c.name) END AS state,
       c.replaced IS NOT NULL AS replaced_one, c.replaced_owner
  FROM idp.compat_objects c;

-- Create the functions of `flavor` in schema auth (created too when missing). A function that
-- exists and that is not pg_idp's (install_compat did not make it, or it changed since: see
-- _compat_state) is an error, unless replace => true: then it is replaced, its definition and
-- owner kept for uninstall_compat, and it becomes the caller's, as a created function is.
-- Returns one row per object: created, replaced, or already installed (by pg_idp, for this set
-- or the other one).
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

-- Remove what install_compat(flavor) created: functions it created are dropped, functions it
-- replaced get their previous owner and definition back, the schema auth is dropped if it
-- created it and it is empty. What the other set also installed stays. A function still used
-- by a policy (or any other object) cannot be dropped: the error says so and nothing is removed.
CREATE OR REPLACE FUNCTION idp.uninstall_compat(flavor text)
RETURNS TABLE (object text, action text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
    other text;
    owner_name name;
BEGIN
    PERFORM idp._compat_check_flavor(flavor);
    FOR o IN SELECT c.kind, c.name, c.replaced, c.replaced_owner FROM idp.compat_objects c
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
            UPDATE idp.compat_objects c SET replaced = o.replaced, replaced_owner = o.replaced_owner
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
            -- The owner first, then the definition (CREATE OR REPLACE keeps the owner): the
            -- previous definition is never, even within this transaction, the caller's.
            IF o.replaced_owner IS NOT NULL THEN
                SELECT r.rolname INTO owner_name FROM pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) o.replaced_owner;
                IF owner_name IS NULL THEN
                    RAISE EXCEPTION 'pg_idp: cannot restore %: the role that owned it no longer exists', o.name
                        USING ERRCODE = 'undefined_object',
                              DETAIL = 'Nothing was removed or restored.',
                              HINT = 'Keep pg_idp''s function (delete its rows from idp.compat_objects), or drop it yourself.';
                END IF;
                EXECUTE format('ALTER FUNCTION %s OWNER TO %I', o.name, owner_name);
            END IF;
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

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT DISTINCT o.name, p.proowner, e.extowner, r.rolsuper
               FROM idp.compat_objects o
               JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(o.name)
               JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) p.proowner
               JOIN pg_catalog.pg_extension e ON e.extname OPERATOR(pg_catalog.=) 'pg_idp'
              WHERE o.kind OPERATOR(pg_catalog.=) 'function' AND o.replaced IS NOT NULL LOOP
        UPDATE idp.compat_objects o SET replaced_owner = c.proowner::regrole
         WHERE o.kind OPERATOR(pg_catalog.=) 'function' AND o.name OPERATOR(pg_catalog.=) c.name;
        IF NOT c.rolsuper AND c.proowner OPERATOR(pg_catalog.<>) c.extowner THEN
            EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO %I', c.name, pg_catalog.pg_get_userbyid(c.extowner));
            -- Only a function that still has pg_idp's definition: one its previous owner has
            -- already replaced stays theirs, and idp.compat_status shows it as 'changed'.
            IF idp._compat_state(c.name) OPERATOR(pg_catalog.<>) 'installed' THEN
                EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO %I', c.name, pg_catalog.pg_get_userbyid(c.proowner));
            END IF;
        END IF;
    END LOOP;
END $$;

-- 0.5.0: Citus, the registry copied sealed, with the directory
-- (sql/citus.sql. The copy moves to Rust, src/citus.rs: the coordinator asks each worker for a
-- one-time public key, idp._sync_begin(), whose private key the worker keeps in idp.sync_keys,
-- and sends the registry encrypted to those keys, idp._load_registry_sealed(), instead of as the
-- literal text of idp._load_registry_snapshot(jsonb), which a failing worker wrote to its log.
-- The copy now includes the directory; registry_fingerprint() is a SHA-256 that covers it. This
-- node's part in the cluster, idp._citus_role(), is read from Citus's catalogs by Rust.)
DROP FUNCTION idp.sync_nodes();
DROP FUNCTION idp.node_registry_status();
DROP FUNCTION idp._load_registry_snapshot(jsonb);
DROP FUNCTION idp._registry_snapshot();
DROP FUNCTION idp.registry_fingerprint();
DROP FUNCTION idp._require_citus();
DROP FUNCTION idp._citus_role();
CREATE UNLOGGED TABLE idp.sync_keys (
    key_id      text PRIMARY KEY,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON idp.sync_keys FROM PUBLIC;
CREATE FUNCTION idp."registry_fingerprint"() RETURNS TEXT /* String */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'registry_fingerprint_wrapper';
CREATE FUNCTION idp."node_registry_status"() RETURNS TABLE (
	"node" TEXT,  /* String */
	"fingerprint" TEXT,  /* Option < String > */
	"in_sync" bool,  /* bool */
	"error" TEXT  /* Option < String > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'node_registry_status_wrapper';
CREATE FUNCTION idp."sync_nodes"() RETURNS TABLE (
	"node" TEXT,  /* String */
	"fingerprint" TEXT,  /* Option < String > */
	"in_sync" bool,  /* bool */
	"error" TEXT  /* Option < String > */
)
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'sync_nodes_wrapper';
CREATE FUNCTION idp."_citus_role"() RETURNS TEXT /* String */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_citus_role_wrapper';
CREATE FUNCTION idp."_sync_begin"() RETURNS TEXT /* String */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_sync_begin_wrapper';
CREATE FUNCTION idp."_load_registry_sealed"(
	"sealed" TEXT /* & str */
) RETURNS TEXT /* String */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_load_registry_sealed_wrapper';
REVOKE EXECUTE ON FUNCTION idp.registry_fingerprint() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.node_registry_status() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.sync_nodes() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._citus_role() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._sync_begin() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._load_registry_sealed(text) FROM PUBLIC;

-- Last: the launcher looks at this database once the update commits.
SELECT idp._launcher_notify();
