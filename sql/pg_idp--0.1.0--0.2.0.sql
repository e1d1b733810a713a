-- pg_idp 0.1.0 -> 0.2.0, run by ALTER EXTENSION pg_idp UPDATE (search_path: idp). Registered
-- providers and their keys are kept; the new tables start empty. The update test
-- (tests/pg_regress/sql/upgrade.sql) checks that the result equals a fresh 0.2.0 install.

-- The registry is invalidated through relcache messages now, not by a version number.
DROP TABLE idp.registry_state;
DROP SEQUENCE idp.registry_version_seq;

CREATE OR REPLACE FUNCTION idp.registry_changed() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM idp._registry_changed(TG_RELID);
    RETURN NULL;
END
$$;


-- New functions of the library.

CREATE FUNCTION "_registry_changed"(
	"relid" oid /* pg_sys :: Oid */
) RETURNS void
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', '_registry_changed_wrapper';

CREATE FUNCTION "apply_directory_event"(
	"provider" TEXT, /* & str */
	"body" TEXT, /* & str */
	"signature" TEXT /* & str */
) RETURNS TEXT /* String */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apply_directory_event_wrapper';

CREATE FUNCTION "cache_stats"() RETURNS jsonb /* JsonB */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'cache_stats_wrapper';

CREATE FUNCTION "discover"(
	"issuer" TEXT, /* & str */
	"provider" TEXT, /* & str */
	"extra" jsonb DEFAULT '{}' /* JsonB */
) RETURNS INT /* i32 */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'discover_wrapper';

CREATE FUNCTION "groups"() RETURNS TEXT[] /* :: std :: option :: Option < Vec < String > > */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'groups_wrapper';

CREATE FUNCTION "refresh_jwks"(
	"provider" TEXT /* & str */
) RETURNS INT /* i32 */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'refresh_jwks_wrapper';


-- The identity functions and verify_jwt are parallel safe now.
ALTER FUNCTION idp.requesting_user_id() PARALLEL SAFE;
ALTER FUNCTION idp.email() PARALLEL SAFE;
ALTER FUNCTION idp.tenant_id() PARALLEL SAFE;
ALTER FUNCTION idp.role() PARALLEL SAFE;
ALTER FUNCTION idp.provider() PARALLEL SAFE;
ALTER FUNCTION idp.claims() PARALLEL SAFE;
ALTER FUNCTION idp.claim(text) PARALLEL SAFE;
ALTER FUNCTION idp.identity() PARALLEL SAFE;
ALTER FUNCTION idp.verify_jwt(text) PARALLEL SAFE;

-- New in 0.2.0: sql/revocation.sql, sql/directory.sql and sql/rls.sql as they were released.

-- Revocation: a user's tokens issued before a time, or every token of one session, fail with
-- the code `revoked`. Like the registry, the list is read by every backend into its cache and
-- re-read after a change (the same trigger queues a relcache invalidation), so a revocation is
-- seen from each backend's next transaction, cached identities included.

CREATE TABLE idp.revocation_list (
    provider      text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('user', 'session')),
    subject       text NOT NULL,
    -- For a user: tokens issued (iat) before this fail. NULL for a session.
    issued_before timestamptz,
    created_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (provider, kind, subject),
    CHECK ((kind = 'user') = (issued_before IS NOT NULL))
);
REVOKE ALL ON idp.revocation_list FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('idp.revocation_list', '');

CREATE TRIGGER revocation_list_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.revocation_list
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();

-- What is revoked, for the extension owner (it names users and sessions).
CREATE VIEW idp.revocations AS
SELECT provider, kind, subject, issued_before, created_at FROM idp.revocation_list;
REVOKE ALL ON idp.revocations FROM PUBLIC;

CREATE FUNCTION idp._check_revocation_args(provider text, subject text, what text) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF provider IS NULL OR subject IS NULL OR subject = '' THEN
        RAISE EXCEPTION 'pg_idp: provider and % must be given', what USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM idp.provider_registry r WHERE r.name = provider) THEN
        RAISE EXCEPTION 'provider "%" is not registered', provider USING ERRCODE = 'undefined_object';
    END IF;
END $$;

-- Tokens of `user_id` (the mapped user id) issued before `before` fail `revoked`; a token without
-- `iat` cannot show it is newer and fails too. Revoking again moves the time.
CREATE FUNCTION idp.revoke_user(provider text, user_id text, before timestamptz DEFAULT pg_catalog.now())
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM idp._check_revocation_args(provider, user_id, 'user_id');
    IF before IS NULL THEN
        RAISE EXCEPTION 'pg_idp: before must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO idp.revocation_list (provider, kind, subject, issued_before)
    VALUES (provider, 'user', user_id, before)
    ON CONFLICT ON CONSTRAINT revocation_list_pkey
    DO UPDATE SET issued_before = EXCLUDED.issued_before, created_at = pg_catalog.now();
END $$;

-- Every token carrying this `sid` (Clerk, WorkOS sessions) fails `revoked`.
CREATE FUNCTION idp.revoke_session(provider text, sid text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM idp._check_revocation_args(provider, sid, 'sid');
    INSERT INTO idp.revocation_list (provider, kind, subject) VALUES (provider, 'session', sid)
    ON CONFLICT ON CONSTRAINT revocation_list_pkey DO NOTHING;
END $$;

CREATE FUNCTION idp.unrevoke_user(provider text, user_id text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM idp.revocation_list r
               WHERE r.provider = unrevoke_user.provider AND r.kind = 'user' AND r.subject = unrevoke_user.user_id
               RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;

CREATE FUNCTION idp.unrevoke_session(provider text, sid text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM idp.revocation_list r
               WHERE r.provider = unrevoke_session.provider AND r.kind = 'session' AND r.subject = unrevoke_session.sid
               RETURNING 1)
    SELECT count(*) > 0 FROM d
$$;

-- Drop revocations older than `older_than` (once every token they could match has expired, they
-- only cost memory); returns how many were dropped.
CREATE FUNCTION idp.purge_revocations(older_than interval) RETURNS bigint
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH d AS (DELETE FROM idp.revocation_list r WHERE r.created_at < pg_catalog.now() - older_than RETURNING 1)
    SELECT count(*) FROM d
$$;

REVOKE EXECUTE ON FUNCTION idp._check_revocation_args(text, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.revoke_user(text, text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.revoke_session(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.unrevoke_user(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.unrevoke_session(text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.purge_revocations(interval) FROM PUBLIC;

-- Directory sync (WorkOS SCIM events, applied by idp.apply_directory_event after its signature
-- is verified). Every row keeps the time of the event that last set it (`event_at`), so an older
-- event arriving late never overwrites a newer state; deletions are kept as tombstones for the
-- same reason. Event ids are remembered, so a replayed event changes nothing.

CREATE TABLE idp.directory_users (
    provider   text NOT NULL,
    id         text NOT NULL,
    email      text,
    first_name text,
    last_name  text,
    state      text NOT NULL,
    raw        jsonb NOT NULL,
    event_at   timestamptz NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE idp.directory_groups (
    provider text NOT NULL,
    id       text NOT NULL,
    name     text,
    deleted  boolean NOT NULL DEFAULT false,
    raw      jsonb NOT NULL,
    event_at timestamptz NOT NULL,
    PRIMARY KEY (provider, id)
);
CREATE TABLE idp.directory_memberships (
    provider text NOT NULL,
    group_id text NOT NULL,
    user_id  text NOT NULL,
    member   boolean NOT NULL,
    event_at timestamptz NOT NULL,
    PRIMARY KEY (provider, group_id, user_id)
);
CREATE TABLE idp.directory_events (
    provider    text NOT NULL,
    id          text NOT NULL,
    event       text NOT NULL,
    created_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (provider, id)
);
REVOKE ALL ON idp.directory_users, idp.directory_groups, idp.directory_memberships, idp.directory_events FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('idp.directory_users', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_groups', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_memberships', '');
SELECT pg_catalog.pg_extension_config_dump('idp.directory_events', '');

-- Every backend re-reads who is deprovisioned and who is in which group after a change.
CREATE TRIGGER directory_users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_users
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();
CREATE TRIGGER directory_groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_groups
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();
CREATE TRIGGER directory_memberships_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON idp.directory_memberships
    FOR EACH STATEMENT EXECUTE FUNCTION idp.registry_changed();

-- Apply one verified event; answers applied, duplicate (a replay), stale (older than what is
-- stored) or ignored (an event type pg_idp does not keep), or 'invalid: <why>' for an event
-- that lacks what it needs (raised as 22023 by the caller, and nothing is recorded).
CREATE FUNCTION idp._apply_directory_event(p_provider text, ev jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ev_id text := ev->>'id';
    kind  text := ev->>'event';
    d     jsonb := ev->'data';
    at    timestamptz;
    n     int;
BEGIN
    BEGIN
        at := (ev->>'created_at')::timestamptz;
    EXCEPTION WHEN others THEN
        at := NULL;
    END;
    IF ev_id IS NULL OR kind IS NULL OR at IS NULL OR jsonb_typeof(d) IS DISTINCT FROM 'object' THEN
        RETURN 'invalid: a directory event needs "id", "event", "created_at" (a timestamp) and a "data" object';
    END IF;
    IF kind LIKE 'dsync.user.%' OR kind IN ('dsync.group.created', 'dsync.group.updated', 'dsync.group.deleted') THEN
        IF d->>'id' IS NULL THEN
            RETURN format('invalid: %s has no data.id', kind);
        END IF;
    ELSIF kind IN ('dsync.group.user_added', 'dsync.group.user_removed') THEN
        IF d->'user'->>'id' IS NULL OR d->'group'->>'id' IS NULL THEN
            RETURN format('invalid: %s needs data.user.id and data.group.id', kind);
        END IF;
    END IF;
    INSERT INTO idp.directory_events (provider, id, event, created_at) VALUES (p_provider, ev_id, kind, at)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    IF kind IN ('dsync.user.created', 'dsync.user.updated', 'dsync.user.deleted') THEN
        INSERT INTO idp.directory_users AS u (provider, id, email, first_name, last_name, state, raw, event_at)
        VALUES (p_provider, d->>'id',
                lower(coalesce(d->>'email',
                               (SELECT e->>'value' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(d->'emails') = 'array' THEN d->'emails' ELSE '[]' END) AS e
                                ORDER BY (e->>'primary') = 'true' DESC LIMIT 1))),
                d->>'first_name', d->>'last_name',
                CASE WHEN kind = 'dsync.user.deleted' THEN 'deleted' ELSE coalesce(d->>'state', 'active') END,
                d, at)
        ON CONFLICT (provider, id) DO UPDATE
            SET email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
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
REVOKE EXECUTE ON FUNCTION idp._apply_directory_event(text, jsonb) FROM PUBLIC;

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


-- Who may call the new registry-changing functions (as in sql/grants.sql).
REVOKE EXECUTE ON FUNCTION idp._registry_changed(oid) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.refresh_jwks(text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.discover(text, text, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.apply_directory_event(text, text, text) FROM PUBLIC;
