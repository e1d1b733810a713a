-- Pending for the 0.5.0 -> 0.6.0 update (issue 28, Citus workers and install_compat): to be
-- folded into sql/pg_idp--0.5.0--0.6.0.sql.

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
