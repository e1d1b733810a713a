-- Existing policies, verified: idp.install_compat('supabase') and idp.install_compat('pg_session_jwt')
-- create the functions those policies call (auth.uid(), auth.jwt(), auth.role(), auth.email();
-- auth.user_id(), auth.session(), auth.jwt()), with the originals' names, argument and return
-- types, answered from pg_idp's verified identity instead of the forgeable request.jwt.claims.
-- idp.uninstall_compat removes exactly what install_compat created, by the record it keeps in
-- idp.compat_objects, and puts back a function it replaced (replace => true), definition and
-- owner. idp.compat_status says, from the catalog rather than the record, whether each function
-- still is pg_idp's.
--
-- The functions are SECURITY INVOKER, STABLE and PARALLEL SAFE, pin search_path and qualify
-- every name and operator, like pg_idp's own. install_compat and uninstall_compat run as their
-- caller (the extension owner or a superuser: EXECUTE is revoked from PUBLIC in grants.sql), who
-- owns every function install_compat leaves behind, a replaced one included: the role that owned
-- it before could otherwise CREATE OR REPLACE it back to reading request.jwt.claims.
--
-- install_compat refuses (55000) a schema auth that a role other than a superuser or the
-- extension's owner owns, or may create objects in: the owner of a schema can drop any function
-- in it and create one reading request.jwt.claims in its place, which policies calling it by name
-- (through a helper function, say) then run; a role that may create there can add functions and
-- operators next to pg_idp's. It never changes a schema's owner or privileges itself: the hint
-- says what a superuser can run. idp.compat_status reports the schema as well as the functions.

CREATE TABLE idp.compat_objects (
    flavor   text NOT NULL CHECK (flavor IN ('supabase', 'pg_session_jwt')),
    kind     text NOT NULL CHECK (kind IN ('schema', 'function')),
    -- The schema, or the function's signature as regprocedure prints it ('auth.uid()').
    name     text NOT NULL,
    -- The definition of the function install_compat replaced (pg_get_functiondef), which
    -- uninstall_compat restores; NULL when install_compat created it.
    replaced text,
    -- The owner of the function install_compat replaced, given it back by uninstall_compat.
    replaced_owner regrole,
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

-- Why schema auth cannot hold pg_idp's functions, if it cannot: a role that is neither a
-- superuser nor the extension's owner owns it ('owner', that role) or may create objects in it
-- ('create', that role, or PUBLIC). No row when it is missing or fit.
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

-- Schema auth's state, as a function's (_compat_state): 'installed' (it exists, and no role but
-- a superuser or the extension's owner owns it or may create objects in it), 'changed' (another
-- role owns it or may create in it: see _compat_schema_check), 'missing'.
CREATE FUNCTION idp._compat_schema_state() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.to_regnamespace('auth') IS NULL THEN 'missing'
                WHEN EXISTS (SELECT 1 FROM idp._compat_schema_check()) THEN 'changed'
                ELSE 'installed' END
$$;

-- What install_compat installed, and whether each object still is pg_idp's (state, from the
-- catalog: see _compat_state and _compat_schema_state). The schema auth is reported for every
-- set installed, whether install_compat created it (recorded in idp.compat_objects, and dropped
-- by uninstall_compat when empty) or found it. For the extension owner and superusers, as
-- idp.compat_objects.
CREATE VIEW idp.compat_status AS
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

-- Create the functions of `flavor` in schema auth (created too when missing). A schema auth that
-- a role other than a superuser or the extension's owner owns or may create objects in is an
-- error (55000), replace or not, and nothing is created: see _compat_schema_check. A function that
-- exists and that is not pg_idp's (install_compat did not make it, or it changed since: see
-- _compat_state) is an error, unless replace => true: then it is replaced, its definition and
-- owner kept for uninstall_compat, and it becomes the caller's, as a created function is.
-- Returns one row per object: created, replaced, or already installed (by pg_idp, for this set
-- or the other one).
CREATE FUNCTION idp.install_compat(flavor text, replace boolean DEFAULT false)
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

-- Remove what install_compat(flavor) created: functions it created are dropped, functions it
-- replaced get their previous owner and definition back, the schema auth is dropped if it
-- created it and it is empty. What the other set also installed stays. A function still used
-- by a policy (or any other object) cannot be dropped: the error says so and nothing is removed.
CREATE FUNCTION idp.uninstall_compat(flavor text)
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
