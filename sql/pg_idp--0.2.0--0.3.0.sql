-- pg_idp 0.2.0 -> 0.3.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (the release notes are in docs/operations.md, "Upgrading"):
--   * register_provider(config, fetch_keys DEFAULT true): a body with only a jwks_uri fetches its keys;
--   * directory users matched by a stable id (directory_match), email only when verified, with the
--     one email folding idp._email_key; looked up per identity through new indexes;
--   * apply_directory_event is SQL over idp._verify_webhook_signature, raising its errors itself,
--     and takes events without id or created_at (ordered by the signature's time);
--   * enable_rls protects partitions and inheritance children, later ones through an event
--     trigger; rls_status gains open_partitions; existing protected tables' partitions are
--     protected by this update.
-- This script freezes what 0.3.0 changed: it repeats sql/rls.sql and sql/directory.sql as released.

-- register_provider gains fetch_keys.
DROP FUNCTION idp.register_provider(jsonb);
CREATE  FUNCTION "register_provider"(
	"config" jsonb, /* JsonB */
	"fetch_keys" bool DEFAULT true /* bool */
) RETURNS TEXT /* String */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'register_provider_fetch_wrapper';
REVOKE EXECUTE ON FUNCTION idp.register_provider(jsonb, boolean) FROM PUBLIC;

-- The one email folding, and the webhook signature check for the SQL apply_directory_event.
CREATE  FUNCTION "_email_key"(
	"email" TEXT /* & str */
) RETURNS TEXT /* String */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_email_key_wrapper';
CREATE  FUNCTION "_verify_webhook_signature"(
	"secret" TEXT, /* & str */
	"body" TEXT, /* & str */
	"signature" TEXT /* & str */
) RETURNS timestamp with time zone /* pgrx :: datum :: TimestampWithTimeZone */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_verify_webhook_signature_wrapper';
REVOKE EXECUTE ON FUNCTION idp._verify_webhook_signature(text, text, text) FROM PUBLIC;

-- Directory users: idp_id and the folded email, and indexes for per-identity lookups.
ALTER TABLE idp.directory_users ADD COLUMN idp_id text, ADD COLUMN email_key text;
UPDATE idp.directory_users SET idp_id = raw->>'idp_id', email_key = idp._email_key(email);
CREATE INDEX directory_users_idp_id ON idp.directory_users (provider, idp_id);
CREATE INDEX directory_users_email_key ON idp.directory_users (provider, email_key);
CREATE INDEX directory_memberships_user ON idp.directory_memberships (provider, user_id);

DROP FUNCTION idp._apply_directory_event(text, jsonb);
-- Apply one verified event; answers applied, duplicate (a replayed event id), stale (older than
-- what is stored) or ignored (an event type pg_idp does not keep). An event is ordered by its
-- created_at, or without one by the time its signature was made (signed_at). An event that lacks
-- what it needs raises 22023 and records nothing.
CREATE FUNCTION idp._apply_directory_event(p_provider text, ev jsonb, signed_at timestamptz) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ev_id text := ev->>'id';
    kind  text := ev->>'event';
    d     jsonb := ev->'data';
    at    timestamptz := signed_at;
    email text;
    n     int;
BEGIN
    IF jsonb_typeof(ev) IS DISTINCT FROM 'object' OR kind IS NULL OR jsonb_typeof(d) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'directory event refused: a directory event needs "event" and a "data" object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ev ? 'id' AND (jsonb_typeof(ev->'id') IS DISTINCT FROM 'string' OR ev_id = '') THEN
        RAISE EXCEPTION 'directory event refused: "id" must be a non-empty string' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ev ? 'created_at' THEN
        BEGIN
            at := (ev->>'created_at')::timestamptz;
        EXCEPTION WHEN others THEN
            at := NULL;
        END;
        IF at IS NULL THEN
            RAISE EXCEPTION 'directory event refused: "created_at" is not a timestamp' USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF kind LIKE 'dsync.user.%' OR kind IN ('dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted') THEN
        IF d->>'id' IS NULL THEN
            RAISE EXCEPTION 'directory event refused: % has no data.id', kind USING ERRCODE = 'invalid_parameter_value';
        END IF;
    ELSIF kind IN ('dsync.group.user_added', 'dsync.group.user_removed') THEN
        IF d->'user'->>'id' IS NULL OR d->'group'->>'id' IS NULL THEN
            RAISE EXCEPTION 'directory event refused: % needs data.user.id and data.group.id', kind
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    -- A replayed event id changes nothing (events without an id are ordered by time only).
    IF ev_id IS NOT NULL THEN
        INSERT INTO idp.directory_events (provider, id, event, created_at) VALUES (p_provider, ev_id, kind, at)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RETURN 'duplicate';
        END IF;
    END IF;
    IF kind IN ('dsync.user.created', 'dsync.user.updated', 'dsync.user.deleted') THEN
        email := coalesce(d->>'email',
                          (SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d->'emails') = 'array' THEN d->'emails' ELSE '[]' END) AS e
                            ORDER BY (e->>'primary') = 'true' DESC LIMIT 1));
        INSERT INTO idp.directory_users AS u (provider, id, idp_id, email, email_key, first_name, last_name, state, raw, event_at)
        VALUES (p_provider, d->>'id', d->>'idp_id', email, idp._email_key(email),
                d->>'first_name', d->>'last_name',
                CASE WHEN kind = 'dsync.user.deleted' THEN 'deleted' ELSE coalesce(d->>'state', 'active') END,
                d, at)
        ON CONFLICT (provider, id) DO UPDATE
            SET idp_id = EXCLUDED.idp_id, email = EXCLUDED.email, email_key = EXCLUDED.email_key,
                first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
                state = EXCLUDED.state, raw = EXCLUDED.raw, event_at = EXCLUDED.event_at
            WHERE u.event_at <= EXCLUDED.event_at AND u.state IS DISTINCT FROM 'deleted';
    ELSIF kind IN ('dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted') THEN
        INSERT INTO idp.directory_groups AS g (provider, id, name, deleted, raw, event_at)
        VALUES (p_provider, d->>'id', d->>'name', kind = 'dsync.group.deleted', d, at)
        ON CONFLICT (provider, id) DO UPDATE
            SET name = EXCLUDED.name, deleted = EXCLUDED.deleted, raw = EXCLUDED.raw, event_at = EXCLUDED.event_at
            WHERE g.event_at <= EXCLUDED.event_at AND NOT g.deleted;
    ELSIF kind IN ('dsync.group.user_added', 'dsync.group.user_removed') THEN
        INSERT INTO idp.directory_memberships AS m (provider, group_id, user_id, member, event_at)
        VALUES (p_provider, d->'group'->>'id', d->'user'->>'id', kind = 'dsync.group.user_added', at)
        ON CONFLICT (provider, group_id, user_id) DO UPDATE
            SET member = EXCLUDED.member, event_at = EXCLUDED.event_at
            WHERE m.event_at <= EXCLUDED.event_at;
    ELSE
        RETURN 'ignored';
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN CASE WHEN n > 0 THEN 'applied' ELSE 'stale' END;
END $$;
REVOKE EXECUTE ON FUNCTION idp._apply_directory_event(text, jsonb, timestamptz) FROM PUBLIC;

DROP FUNCTION idp.apply_directory_event(text, text, text);
-- Apply one WorkOS directory-sync webhook: the raw body and its `WorkOS-Signature` header, checked
-- with the provider's webhook_secret (5 minutes tolerance) before anything is read from the body.
-- Answers applied, duplicate, stale or ignored (see idp._apply_directory_event). A bad or stale
-- signature changes nothing and raises 28000 (invalid_webhook_signature); a body that is not a
-- usable event, 22023.
CREATE FUNCTION idp.apply_directory_event(provider text, body text, signature text) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb;
    signed_at timestamptz;
    ev jsonb;
BEGIN
    SELECT r.config INTO cfg FROM idp.provider_registry r WHERE r.name = apply_directory_event.provider;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'provider "%" is not registered', provider USING ERRCODE = 'undefined_object';
    END IF;
    IF cfg->>'webhook_secret' IS NULL THEN
        RAISE EXCEPTION 'provider "%" has no webhook_secret', provider USING ERRCODE = 'invalid_parameter_value';
    END IF;
    signed_at := idp._verify_webhook_signature(cfg->>'webhook_secret', coalesce(body, ''), coalesce(signature, ''));
    BEGIN
        ev := body::jsonb;
    EXCEPTION WHEN others THEN
        RAISE EXCEPTION 'directory event refused: the body is not JSON' USING ERRCODE = 'invalid_parameter_value';
    END;
    RETURN idp._apply_directory_event(provider, ev, signed_at);
END $$;
REVOKE EXECUTE ON FUNCTION idp.apply_directory_event(text, text, text) FROM PUBLIC;

-- Row-level security: partitions.
-- pg_idp's record of a table's policies, from the comment of its pg_idp_select policy: the kind,
-- the attnums of the columns compared, and the RLS/FORCE state before the first enable_rls. No
-- row when pg_idp has no policies on the table. The one reader of that comment.
CREATE FUNCTION idp._rls_meta(tbl regclass, OUT kind text, OUT user_attnum int2, OUT tenant_attnum int2, OUT prior text)
RETURNS SETOF record
LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m[1], nullif(m[2], '')::int2, nullif(m[3], '')::int2, m[4]
      FROM pg_policy pol
      CROSS JOIN LATERAL regexp_match(obj_description(pol.oid, 'pg_policy'),
                                      '^pg_idp policy=(\w+) user_attnum=(\d*) tenant_attnum=(\d*) prior=([01]{2})$') AS m
     WHERE pol.polrelid = tbl AND pol.polname = 'pg_idp_select' AND m IS NOT NULL
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
CREATE FUNCTION idp._rls_apply(tbl regclass, user_column name, tenant_column name, kind text, force boolean)
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
    cmt text;
    prior text;
    p record;
BEGIN
    IF kind <> 'tenant' THEN
        SELECT c.attnum, c.basetype INTO u_attnum, u_type FROM idp._rls_id_column(tbl, user_column, 'user') c;
        owner_expr := format('%I = %s', user_column, idp._rls_id_expr('requesting_user_id', u_type));
    END IF;
    IF kind <> 'strict' THEN
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
    SELECT m.prior INTO prior FROM idp._rls_meta(tbl) m;
    IF prior IS NULL THEN
        SELECT (CASE WHEN c.relrowsecurity THEN '1' ELSE '0' END) || (CASE WHEN c.relforcerowsecurity THEN '1' ELSE '0' END)
          INTO prior FROM pg_class c WHERE c.oid = tbl;
    END IF;
    cmt := format('pg_idp policy=%s user_attnum=%s tenant_attnum=%s prior=%s', kind,
                  coalesce(u_attnum::text, ''), coalesce(t_attnum::text, ''), prior);

    PERFORM idp._rls_drop_policies(tbl);
    EXECUTE format('CREATE POLICY pg_idp_select ON %s FOR SELECT USING (%s)', tbl, read_expr);
    EXECUTE format('CREATE POLICY pg_idp_insert ON %s FOR INSERT WITH CHECK (%s)', tbl, write_expr);
    EXECUTE format('CREATE POLICY pg_idp_update ON %s FOR UPDATE USING (%s) WITH CHECK (%s)', tbl, write_expr, write_expr);
    EXECUTE format('CREATE POLICY pg_idp_delete ON %s FOR DELETE USING (%s)', tbl, write_expr);
    EXECUTE format('COMMENT ON POLICY pg_idp_select ON %s IS %L', tbl, cmt);
    EXECUTE format('COMMENT ON POLICY pg_idp_insert ON %s IS %L', tbl, cmt);
    EXECUTE format('COMMENT ON POLICY pg_idp_update ON %s IS %L', tbl, cmt);
    EXECUTE format('COMMENT ON POLICY pg_idp_delete ON %s IS %L', tbl, cmt);
    -- Last: ALTER TABLE fires idp._rls_on_ddl(), which then finds this table already protected.
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    IF force THEN
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION idp.enable_rls(
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
    IF kind <> 'tenant' AND user_column IS NULL THEN
        RAISE EXCEPTION 'pg_idp: policy % needs a user column', kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF kind <> 'strict' AND tenant_column IS NULL THEN
        RAISE EXCEPTION 'pg_idp: policy % needs a tenant column', kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass tenant_column => ''org_id'' (the column compared with idp.tenant_id()).';
    END IF;
    PERFORM idp._rls_apply(tbl, user_column, tenant_column, kind, force);
    -- Every partition (and inheritance child) is queried on its own with its own policies: give
    -- each the same. Partitions created or attached later get them from idp._rls_on_ddl().
    FOR part IN SELECT * FROM idp._rls_descendants(tbl) LOOP
        PERFORM idp._rls_apply(part, user_column, tenant_column, kind, force);
    END LOOP;
    RETURN ARRAY['pg_idp_select', 'pg_idp_insert', 'pg_idp_update', 'pg_idp_delete'];
END $$;

-- Drop pg_idp's policies on a table; returns how many there were.
CREATE OR REPLACE FUNCTION idp._rls_drop_policies(tbl regclass) RETURNS int
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
CREATE OR REPLACE FUNCTION idp.disable_rls(tbl regclass) RETURNS int
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
                (SELECT relforcerowsecurity FROM pg_class WHERE oid = src));
        END LOOP;
    END LOOP;
END $$;

REVOKE EXECUTE ON FUNCTION idp._rls_on_ddl() FROM PUBLIC;

CREATE EVENT TRIGGER pg_idp_protect_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION idp._rls_on_ddl();

DROP FUNCTION idp.rls_status();
-- Every table with pg_idp policies: the kind of policy, the columns compared (by their current
-- names), whether RLS is enabled and forced, every policy on the table (pg_idp's and others'),
-- and its partitions (or inheritance children) that pg_idp's policies do not protect: those
-- without them, or with row-level security off. A table is protected only when that is empty.
CREATE FUNCTION idp.rls_status()
RETURNS TABLE (tbl regclass, policy text, user_column name, tenant_column name,
               rls_enabled boolean, rls_forced boolean, policies name[], open_partitions regclass[])
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass,
           m.kind,
           (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = m.user_attnum),
           (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = m.tenant_attnum),
           c.relrowsecurity,
           c.relforcerowsecurity,
           ARRAY(SELECT polname FROM pg_policy WHERE polrelid = c.oid ORDER BY polname),
           ARRAY(SELECT d FROM idp._rls_descendants(c.oid::regclass) d
                  WHERE NOT EXISTS (SELECT 1 FROM idp._rls_meta(d))
                     OR NOT (SELECT relrowsecurity FROM pg_class WHERE oid = d)
                  ORDER BY d::text)
      FROM pg_class c
      CROSS JOIN LATERAL idp._rls_meta(c.oid::regclass) m
     WHERE c.relkind IN ('r', 'p')
       AND c.oid IN (SELECT polrelid FROM pg_policy WHERE polname = 'pg_idp_select')
     ORDER BY c.oid::regclass::text
$$;

-- 0.2.0 left the partitions (and inheritance children) of tables under enable_rls open: give
-- them their parent's policies now.
DO $$
DECLARE
    r record;
    d regclass;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS t, x.kind, x.user_attnum, x.tenant_attnum, c.relforcerowsecurity AS force
          FROM pg_catalog.pg_class c CROSS JOIN LATERAL idp._rls_meta(c.oid::regclass) x
         WHERE c.relkind IN ('r', 'p')
           AND c.oid IN (SELECT polrelid FROM pg_catalog.pg_policy WHERE polname = 'pg_idp_select')
    LOOP
        FOR d IN SELECT * FROM idp._rls_descendants(r.t) LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM idp._rls_meta(d));
            PERFORM idp._rls_apply(d,
                (SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = r.t AND attnum = r.user_attnum),
                (SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = r.t AND attnum = r.tenant_attnum),
                r.kind, r.force);
        END LOOP;
    END LOOP;
END $$;
