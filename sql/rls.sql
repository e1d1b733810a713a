-- Row-level security in one call: idp.enable_rls, idp.disable_rls, idp.rls_status.
--
-- pg_idp's policies are named pg_idp_select, pg_idp_insert, pg_idp_update and pg_idp_delete and
-- carry a comment "pg_idp policy=<kind> user_attnum=<n> tenant_attnum=<n> prior=<rls><force>",
-- by which they are told apart from the table owner's own policies (which are never touched);
-- prior records whether RLS and FORCE were on before the first enable_rls, for disable_rls. The functions are
-- SECURITY INVOKER: only the table's owner (or a superuser) can change its policies.

-- The expression a policy compares an id column with, evaluated once per statement as an
-- InitPlan: `(SELECT idp.requesting_user_id())` for text columns; for uuid columns, ids that are
-- not a canonical uuid match nothing (rather than failing the query with a cast error).
CREATE FUNCTION idp._rls_id_expr(fn text, coltype regtype) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN coltype = 'uuid'::regtype THEN
            format('(SELECT CASE WHEN v.id OPERATOR(pg_catalog.~*) %L THEN v.id::pg_catalog.uuid END FROM idp.%s() AS v(id))',
                   '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', fn)
        ELSE format('(SELECT idp.%s())', fn)
    END
$$;

-- The column `col` of `tbl` that will be compared with an id: it must exist and hold text
-- (text, varchar or a domain over them) or a uuid. Returns its attnum and base type.
CREATE FUNCTION idp._rls_id_column(tbl regclass, col name, what text, OUT attnum int2, OUT basetype regtype)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t oid;
BEGIN
    SELECT a.attnum, a.atttypid INTO attnum, t
      FROM pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'pg_idp: % column "%" does not exist in table %', what, col, tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Pass the column that holds the %s id, e.g. %s => ''owner_id''.', what, what || '_column');
    END IF;
    -- Look through domains to the base type.
    WHILE (SELECT typtype FROM pg_type WHERE oid = t) = 'd' LOOP
        SELECT typbasetype INTO t FROM pg_type WHERE oid = t;
    END LOOP;
    basetype := t::regtype;
    IF basetype NOT IN ('text'::regtype, 'character varying'::regtype, 'uuid'::regtype) THEN
        RAISE EXCEPTION 'pg_idp: % column "%" of table % is of type %, which cannot hold a % id',
                what, col, tbl, format_type(t, NULL), what
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use a text column (ids such as "user_2abc" or "auth0|123" are strings), or uuid.';
    END IF;
END $$;

CREATE FUNCTION idp.enable_rls(
    tbl regclass,
    user_column name DEFAULT 'user_id',
    tenant_column name DEFAULT NULL,
    policy text DEFAULT 'strict',
    force boolean DEFAULT false
) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text := lower(policy);
    relkind "char";
    u_attnum int2;
    u_type regtype;
    t_attnum int2;
    t_type regtype;
    owner_expr text;
    tenant_expr text;
    read_expr text;
    write_expr text;
    cmt text;
    prior text;
    p record;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'pg_idp: table must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind IS NULL OR kind NOT IN ('strict', 'tenant', 'owner_in_tenant', 'tenant_read_owner_write') THEN
        RAISE EXCEPTION 'pg_idp: unknown policy "%"', policy
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use strict, tenant, owner_in_tenant or tenant_read_owner_write.';
    END IF;
    SELECT c.relkind INTO relkind FROM pg_class c WHERE c.oid = tbl;
    IF relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'pg_idp: % is not a table', tbl
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Row-level security applies to tables; enable it on the tables behind a view.';
    END IF;
    IF kind <> 'tenant' THEN
        IF user_column IS NULL THEN
            RAISE EXCEPTION 'pg_idp: policy % needs a user column', kind USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT c.attnum, c.basetype INTO u_attnum, u_type FROM idp._rls_id_column(tbl, user_column, 'user') c;
        owner_expr := format('%I = %s', user_column, idp._rls_id_expr('requesting_user_id', u_type));
    END IF;
    IF kind <> 'strict' THEN
        IF tenant_column IS NULL THEN
            RAISE EXCEPTION 'pg_idp: policy % needs a tenant column', kind
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Pass tenant_column => ''org_id'' (the column compared with idp.tenant_id()).';
        END IF;
        SELECT c.attnum, c.basetype INTO t_attnum, t_type FROM idp._rls_id_column(tbl, tenant_column, 'tenant') c;
        tenant_expr := format('%I = %s', tenant_column, idp._rls_id_expr('tenant_id', t_type));
    END IF;

    -- Policy names of our own that belong to someone else are an error, not something to drop.
    FOR p IN
        SELECT pol.polname FROM pg_policy pol
         WHERE pol.polrelid = tbl
           AND pol.polname IN ('pg_idp_select', 'pg_idp_insert', 'pg_idp_update', 'pg_idp_delete')
           AND coalesce(obj_description(pol.oid, 'pg_policy'), '') NOT LIKE 'pg_idp policy=%'
    LOOP
        RAISE EXCEPTION 'pg_idp: table % already has a policy named % that pg_idp did not create', tbl, p.polname
            USING ERRCODE = 'duplicate_object', HINT = 'Rename or drop that policy first.';
    END LOOP;

    read_expr := CASE kind
        WHEN 'strict' THEN owner_expr
        WHEN 'tenant' THEN tenant_expr
        WHEN 'owner_in_tenant' THEN format('%s AND %s', tenant_expr, owner_expr)
        WHEN 'tenant_read_owner_write' THEN tenant_expr
    END;
    write_expr := CASE kind
        WHEN 'strict' THEN owner_expr
        WHEN 'tenant' THEN tenant_expr
        ELSE format('%s AND %s', tenant_expr, owner_expr)
    END;
    -- The table's RLS state before pg_idp first touched it: kept from our existing policies when
    -- this is a re-run, read from pg_class otherwise.
    SELECT substring(obj_description(pol.oid, 'pg_policy') FROM ' prior=([01]{2})$') INTO prior
      FROM pg_policy pol
     WHERE pol.polrelid = tbl AND pol.polname = 'pg_idp_select'
       AND obj_description(pol.oid, 'pg_policy') LIKE 'pg_idp policy=%';
    IF prior IS NULL THEN
        SELECT (CASE WHEN c.relrowsecurity THEN '1' ELSE '0' END) || (CASE WHEN c.relforcerowsecurity THEN '1' ELSE '0' END)
          INTO prior FROM pg_class c WHERE c.oid = tbl;
    END IF;
    cmt := format('pg_idp policy=%s user_attnum=%s tenant_attnum=%s prior=%s', kind,
                  coalesce(u_attnum::text, ''), coalesce(t_attnum::text, ''), prior);

    PERFORM idp._rls_drop_policies(tbl);
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    IF force THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    END IF;
    EXECUTE format('CREATE POLICY pg_idp_select ON %s FOR SELECT USING (%s)', tbl, read_expr);
    EXECUTE format('CREATE POLICY pg_idp_insert ON %s FOR INSERT WITH CHECK (%s)', tbl, write_expr);
    EXECUTE format('CREATE POLICY pg_idp_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)', tbl, write_expr, write_expr);
    EXECUTE format('CREATE POLICY pg_idp_delete ON %s FOR DELETE USING (%s)', tbl, write_expr);
    EXECUTE format('COMMENT ON POLICY pg_idp_select ON %s IS %L', tbl, cmt);
    EXECUTE format('COMMENT ON POLICY pg_idp_insert ON %s IS %L', tbl, cmt);
    EXECUTE format('COMMENT ON POLICY pg_idp_update ON %s IS %L', tbl, cmt);
    EXECUTE format('COMMENT ON POLICY pg_idp_delete ON %s IS %L', tbl, cmt);
    RETURN ARRAY['pg_idp_select', 'pg_idp_insert', 'pg_idp_update', 'pg_idp_delete'];
END $$;

-- Drop pg_idp's policies on a table; returns how many there were.
CREATE FUNCTION idp._rls_drop_policies(tbl regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    p record;
    n int := 0;
BEGIN
    FOR p IN
        SELECT pol.polname FROM pg_policy pol
         WHERE pol.polrelid = tbl AND obj_description(pol.oid, 'pg_policy') LIKE 'pg_idp policy=%'
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', p.polname, tbl);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Remove pg_idp's policies from a table, leaving the owner's own policies alone, and put row-level
-- security back the way it was before the first enable_rls: RLS that was on stays on (a table that
-- was locked down is never opened); RLS that pg_idp turned on is turned off again, unless other
-- policies remain (then it stays on for them); FORCE goes back to what it was. Returns the number
-- of policies removed.
CREATE FUNCTION idp.disable_rls(tbl regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
    prior text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'pg_idp: table must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT substring(obj_description(pol.oid, 'pg_policy') FROM ' prior=([01]{2})$') INTO prior
      FROM pg_policy pol
     WHERE pol.polrelid = tbl AND pol.polname = 'pg_idp_select'
       AND obj_description(pol.oid, 'pg_policy') LIKE 'pg_idp policy=%';
    n := idp._rls_drop_policies(tbl);
    IF n = 0 OR prior IS NULL THEN
        RETURN n;
    END IF;
    IF substr(prior, 2, 1) = '0' THEN
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', tbl);
    END IF;
    IF substr(prior, 1, 1) = '0' AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl) THEN
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', tbl);
    END IF;
    RETURN n;
END $$;

-- Every table with pg_idp policies: the kind of policy, the columns compared (by their current
-- names), whether RLS is enabled and forced, and every policy on the table (pg_idp's and others').
CREATE FUNCTION idp.rls_status()
RETURNS TABLE (tbl regclass, policy text, user_column name, tenant_column name,
               rls_enabled boolean, rls_forced boolean, policies name[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass,
           m[1],
           (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = nullif(m[2], '')::int2),
           (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = nullif(m[3], '')::int2),
           c.relrowsecurity,
           c.relforcerowsecurity,
           ARRAY(SELECT polname FROM pg_policy WHERE polrelid = c.oid ORDER BY polname)
      FROM pg_class c
      CROSS JOIN LATERAL (
          SELECT regexp_match(obj_description(pol.oid, 'pg_policy'),
                              '^pg_idp policy=(\w+) user_attnum=(\d*) tenant_attnum=(\d*) prior=[01]{2}$') AS m
            FROM pg_policy pol
           WHERE pol.polrelid = c.oid AND pol.polname = 'pg_idp_select'
      ) s
     WHERE m IS NOT NULL
     ORDER BY c.oid::regclass::text
$$;
