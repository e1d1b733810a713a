-- Row-level security in one call: idp.enable_rls, idp.disable_rls, idp.rls_status.
-- (Over 400 lines: enable_rls, its partition event triggers and rls_status share the one record
-- in idp.rls_tables and its helpers; they are read together.)
--
-- pg_idp's policies are named pg_idp_select, pg_idp_insert, pg_idp_update and pg_idp_delete, and
-- each table that has them has a row in idp.rls_tables (the kind, the form, the columns compared,
-- and whether RLS and FORCE were on before the first enable_rls, for disable_rls), by which they
-- are told apart from the table owner's own policies (which are never touched). Not policy
-- comments: Citus does not propagate them. The functions are SECURITY INVOKER: only the table's
-- owner (or a superuser) can change its policies, and row-level security on idp.rls_tables lets
-- each role write the rows of its own tables only.
--
-- Two forms: `subselect` compares with `(SELECT idp.requesting_user_id())`, evaluated once per
-- statement (an InitPlan); `per_row` with `idp.requesting_user_id()` itself, which Citus accepts
-- in policies on distributed tables (it refuses sub-selects there) and which pg_idp's cache
-- answers in a few nanoseconds per row. The default is per_row where Citus is installed.
--
-- A partition (or inheritance child) is a table of its own: a query on it directly uses its own
-- policies, not its parent's. So enable_rls puts the same policies on every partition, and an
-- event trigger puts them on every partition created or attached later (or refuses that DDL when
-- it cannot); rls_status names any partition left open.

CREATE TABLE idp.rls_tables (
    tbl           regclass PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('strict', 'tenant', 'owner_in_tenant', 'tenant_read_owner_write')),
    form          text NOT NULL CHECK (form IN ('subselect', 'per_row')),
    user_attnum   int2,
    tenant_attnum int2,
    -- RLS and FORCE before the first enable_rls, as two characters ('10': RLS on, FORCE off).
    prior         text NOT NULL CHECK (prior ~ '^[01]{2}$')
);
SELECT pg_catalog.pg_extension_config_dump('idp.rls_tables', '');
-- Anyone may read it (table and column names, as pg_policy shows); each role writes only the rows
-- of the tables it owns (enable_rls runs as its caller).
ALTER TABLE idp.rls_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON idp.rls_tables FOR SELECT USING (true);
CREATE POLICY own_tables ON idp.rls_tables
    USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl), 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON idp.rls_tables TO PUBLIC;

-- The expression a policy compares an id column with. `subselect`: `(SELECT idp.requesting_user_id())`,
-- evaluated once per statement as an InitPlan; `per_row`: `idp.requesting_user_id()`. For uuid
-- columns, ids that are not a canonical uuid match nothing (rather than failing with a cast error).
CREATE FUNCTION idp._rls_id_expr(fn text, coltype regtype, form text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN coltype = 'uuid'::regtype AND form = 'per_row' THEN
            format('(CASE WHEN idp.%1$s() OPERATOR(pg_catalog.~*) %2$L THEN idp.%1$s()::pg_catalog.uuid END)',
                   fn, '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
        WHEN coltype = 'uuid'::regtype THEN
            format('(SELECT CASE WHEN v.id OPERATOR(pg_catalog.~*) %L THEN v.id::pg_catalog.uuid END FROM idp.%s() AS v(id))',
                   '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', fn)
        WHEN form = 'per_row' THEN format('idp.%s()', fn)
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

-- pg_idp's record of a table's policies: its row in idp.rls_tables, while the table still has
-- pg_idp's policies. The one reader of that record.
CREATE FUNCTION idp._rls_meta(tbl regclass, OUT kind text, OUT form text, OUT user_attnum int2,
                              OUT tenant_attnum int2, OUT prior text)
RETURNS SETOF record
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.kind, r.form, r.user_attnum, r.tenant_attnum, r.prior
      FROM idp.rls_tables r
     WHERE r.tbl = _rls_meta.tbl
       AND EXISTS (SELECT 1 FROM pg_policy pol WHERE pol.polrelid = _rls_meta.tbl AND pol.polname = 'pg_idp_select')
$$;

-- Every partition and inheritance child of a table, at any depth (parents before children).
CREATE FUNCTION idp._rls_descendants(tbl regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE d(relid, depth) AS (
        SELECT i.inhrelid, 1 FROM pg_inherits i WHERE i.inhparent = tbl
        UNION
        SELECT i.inhrelid, d.depth + 1 FROM pg_inherits i JOIN d ON i.inhparent = d.relid
    )
    SELECT relid::regclass FROM d GROUP BY relid ORDER BY max(depth), relid
$$;

-- Put pg_idp's policies of `kind` on one table (no recursion): checks the columns, keeps the RLS
-- state from before the first enable_rls, replaces pg_idp's earlier policies in one go.
CREATE FUNCTION idp._rls_apply(tbl regclass, user_column name, tenant_column name, kind text, force boolean, form text)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    u_attnum int2;
    u_type regtype;
    t_attnum int2;
    t_type regtype;
    owner_expr text;
    tenant_expr text;
    read_expr text;
    write_expr text;
    prior text;
    p record;
BEGIN
    IF kind <> 'tenant' THEN
        SELECT c.attnum, c.basetype INTO u_attnum, u_type FROM idp._rls_id_column(tbl, user_column, 'user') c;
        owner_expr := format('%I = %s', user_column, idp._rls_id_expr('requesting_user_id', u_type, form));
    END IF;
    IF kind <> 'strict' THEN
        SELECT c.attnum, c.basetype INTO t_attnum, t_type FROM idp._rls_id_column(tbl, tenant_column, 'tenant') c;
        tenant_expr := format('%I = %s', tenant_column, idp._rls_id_expr('tenant_id', t_type, form));
    END IF;

    -- Policy names of our own that belong to someone else are an error, not something to drop.
    FOR p IN
        SELECT pol.polname FROM pg_policy pol
         WHERE pol.polrelid = tbl
           AND pol.polname IN ('pg_idp_select', 'pg_idp_insert', 'pg_idp_update', 'pg_idp_delete')
           AND NOT EXISTS (SELECT 1 FROM idp.rls_tables r WHERE r.tbl = _rls_apply.tbl)
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
    SELECT m.prior INTO prior FROM idp._rls_meta(tbl) m;
    IF prior IS NULL THEN
        SELECT (CASE WHEN c.relrowsecurity THEN '1' ELSE '0' END) || (CASE WHEN c.relforcerowsecurity THEN '1' ELSE '0' END)
          INTO prior FROM pg_class c WHERE c.oid = tbl;
    END IF;
    PERFORM idp._rls_drop_policies(tbl);
    INSERT INTO idp.rls_tables AS r (tbl, kind, form, user_attnum, tenant_attnum, prior)
    VALUES (tbl, kind, form, u_attnum, t_attnum, prior)
    ON CONFLICT ON CONSTRAINT rls_tables_pkey DO UPDATE
        SET kind = EXCLUDED.kind, form = EXCLUDED.form, user_attnum = EXCLUDED.user_attnum,
            tenant_attnum = EXCLUDED.tenant_attnum, prior = EXCLUDED.prior;
    EXECUTE format('CREATE POLICY pg_idp_select ON %s FOR SELECT USING (%s)', tbl, read_expr);
    EXECUTE format('CREATE POLICY pg_idp_insert ON %s FOR INSERT WITH CHECK (%s)', tbl, write_expr);
    EXECUTE format('CREATE POLICY pg_idp_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)', tbl, write_expr, write_expr);
    EXECUTE format('CREATE POLICY pg_idp_delete ON %s FOR DELETE USING (%s)', tbl, write_expr);
    -- Last: ALTER TABLE fires idp._rls_on_ddl(), which then finds this table already protected.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    IF force THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    END IF;
END $$;

CREATE FUNCTION idp.enable_rls(
    tbl regclass,
    user_column name DEFAULT 'user_id',
    tenant_column name DEFAULT NULL,
    policy text DEFAULT 'strict',
    force boolean DEFAULT false,
    form text DEFAULT NULL
) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kind text := lower(policy);
    how text := lower(coalesce(form, CASE WHEN idp._citus_present() THEN 'per_row' ELSE 'subselect' END));
    relkind "char";
    part regclass;
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
    IF how NOT IN ('subselect', 'per_row') THEN
        RAISE EXCEPTION 'pg_idp: unknown form "%"', form
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use subselect (one evaluation per statement) or per_row (what Citus accepts on distributed tables).';
    END IF;
    IF how = 'subselect' AND idp._citus_distributed(tbl) THEN
        RAISE EXCEPTION 'pg_idp: % is a Citus distributed table, whose policies cannot hold sub-selects', tbl
            USING ERRCODE = 'feature_not_supported', HINT = 'Use form => ''per_row'' (the default where Citus is installed).';
    END IF;
    IF kind <> 'tenant' AND user_column IS NULL THEN
        RAISE EXCEPTION 'pg_idp: policy % needs a user column', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind <> 'strict' AND tenant_column IS NULL THEN
        RAISE EXCEPTION 'pg_idp: policy % needs a tenant column', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass tenant_column => ''org_id'' (the column compared with idp.tenant_id()).';
    END IF;
    PERFORM idp._rls_apply(tbl, user_column, tenant_column, kind, force, how);
    -- Every partition (and inheritance child) is queried on its own with its own policies: give
    -- each the same. Partitions created or attached later get them from idp._rls_on_ddl().
    FOR part IN SELECT * FROM idp._rls_descendants(tbl) LOOP
        PERFORM idp._rls_apply(part, user_column, tenant_column, kind, force, how);
    END LOOP;
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
         WHERE pol.polrelid = tbl
           AND pol.polname IN ('pg_idp_select', 'pg_idp_insert', 'pg_idp_update', 'pg_idp_delete')
           AND EXISTS (SELECT 1 FROM idp.rls_tables r WHERE r.tbl = _rls_drop_policies.tbl)
    LOOP
        EXECUTE format('DROP POLICY %I ON %s', p.polname, tbl);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

-- Remove pg_idp's policies from one table and put its RLS state back (see disable_rls).
CREATE FUNCTION idp._rls_remove(tbl regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
    prior text;
BEGIN
    SELECT m.prior INTO prior FROM idp._rls_meta(tbl) m;
    n := idp._rls_drop_policies(tbl);
    DELETE FROM idp.rls_tables r WHERE r.tbl = _rls_remove.tbl;
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

-- Remove pg_idp's policies from a table (and from its partitions, which enable_rls gave them),
-- leaving the owner's own policies alone, and put row-level security back the way it was before
-- the first enable_rls: RLS that was on stays on (a table that was locked down is never opened);
-- RLS that pg_idp turned on is turned off again, unless other policies remain (then it stays on
-- for them); FORCE goes back to what it was. Returns the number of policies removed from the
-- table itself.
CREATE FUNCTION idp.disable_rls(tbl regclass) RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int;
    part regclass;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'pg_idp: table must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    n := idp._rls_remove(tbl);
    IF n > 0 THEN
        FOR part IN SELECT * FROM idp._rls_descendants(tbl) LOOP
            PERFORM idp._rls_remove(part);
        END LOOP;
    END IF;
    RETURN n;
END $$;

-- The event trigger behind partitions created or attached later: after CREATE TABLE or ALTER
-- TABLE, every table it touched that descends from a table under pg_idp's policies gets them too
-- (the same kind and columns, found by name), and every unprotected descendant of a protected
-- table touched (ATTACH PARTITION, INHERIT) as well. If that fails (a partition without the
-- column, say) the DDL fails with it: a partition is never left open. It returns at once when no
-- table in the database has pg_idp's policies.
--
-- SECURITY DEFINER (the extension owner, a superuser): event triggers run as whoever issues the
-- DDL, and that role may not have USAGE on schema idp; without it, every CREATE TABLE in the
-- database would fail. It reads only the catalogs and the commands' own table oids.
CREATE FUNCTION idp._rls_on_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cmd record;
    t regclass;
    src regclass;
    m record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polname = 'pg_idp_select') THEN
        RETURN;
    END IF;
    FOR cmd IN SELECT DISTINCT c.objid FROM pg_event_trigger_ddl_commands() c
                WHERE c.classid = 'pg_class'::regclass AND c.object_type IN ('table', 'table column')
    LOOP
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = cmd.objid AND relkind IN ('r', 'p'));
        -- The table itself and its descendants, each protected like its nearest protected ancestor.
        FOR t IN SELECT cmd.objid::regclass UNION ALL SELECT * FROM idp._rls_descendants(cmd.objid::regclass) LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM idp._rls_meta(t));
            WITH RECURSIVE a(relid, depth) AS (
                SELECT i.inhparent, 1 FROM pg_inherits i WHERE i.inhrelid = t
                UNION
                SELECT i.inhparent, a.depth + 1 FROM pg_inherits i JOIN a ON i.inhrelid = a.relid
            )
            SELECT a.relid::regclass INTO src FROM a
             WHERE EXISTS (SELECT 1 FROM idp._rls_meta(a.relid::regclass))
             ORDER BY a.depth LIMIT 1;
            CONTINUE WHEN src IS NULL;
            SELECT * INTO m FROM idp._rls_meta(src);
            PERFORM idp._rls_apply(t,
                (SELECT attname FROM pg_attribute WHERE attrelid = src AND attnum = m.user_attnum),
                (SELECT attname FROM pg_attribute WHERE attrelid = src AND attnum = m.tenant_attnum),
                m.kind,
                (SELECT relforcerowsecurity FROM pg_class WHERE oid = src),
                m.form);
        END LOOP;
    END LOOP;
END $$;

REVOKE EXECUTE ON FUNCTION idp._rls_on_ddl() FROM PUBLIC;

CREATE EVENT TRIGGER pg_idp_protect_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION idp._rls_on_ddl();

-- Every table whose row-level security uses pg_idp: the kind of policy and its form, the
-- columns compared (by their current names), whether RLS is enabled and forced, every policy on
-- the table (pg_idp's and others'), and its partitions (or inheritance children) that pg_idp's
-- policies do not protect: those without them, or with row-level security off. A table is
-- protected only when that is empty. Tables with policies of their own that call pg_idp's
-- functions (written by hand, say `user_id = idp.requesting_user_id()`) are listed too, with
-- policy `custom`.
CREATE FUNCTION idp.rls_status()
RETURNS TABLE (tbl regclass, policy text, form text, user_column name, tenant_column name,
               rls_enabled boolean, rls_forced boolean, policies name[], open_partitions regclass[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass,
           coalesce(m.kind, 'custom'),
           m.form,
           (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = m.user_attnum),
           (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = m.tenant_attnum),
           c.relrowsecurity,
           c.relforcerowsecurity,
           ARRAY(SELECT polname FROM pg_policy WHERE polrelid = c.oid ORDER BY polname),
           CASE WHEN m.kind IS NOT NULL THEN
               ARRAY(SELECT d FROM idp._rls_descendants(c.oid::regclass) d
                      WHERE NOT EXISTS (SELECT 1 FROM idp._rls_meta(d))
                         OR NOT (SELECT relrowsecurity FROM pg_class WHERE oid = d)
                      ORDER BY d::text)
           END
      FROM pg_class c
      LEFT JOIN LATERAL idp._rls_meta(c.oid::regclass) m ON true
     WHERE c.relkind IN ('r', 'p')
       AND (m.kind IS NOT NULL
            OR EXISTS (SELECT 1 FROM pg_policy pol
                        WHERE pol.polrelid = c.oid
                          AND (coalesce(pg_get_expr(pol.polqual, pol.polrelid), '') ~ '\midp\.'
                               OR coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '') ~ '\midp\.')))
     ORDER BY c.oid::regclass::text
$$;

-- A dropped table's record goes with it (so that a later table given the same oid starts clean).
CREATE FUNCTION idp._rls_on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM idp.rls_tables r
     WHERE r.tbl::oid IN (SELECT o.objid FROM pg_event_trigger_dropped_objects() o
                           WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0);
END $$;
REVOKE EXECUTE ON FUNCTION idp._rls_on_drop() FROM PUBLIC;
CREATE EVENT TRIGGER pg_idp_forget_dropped_tables ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION idp._rls_on_drop();
