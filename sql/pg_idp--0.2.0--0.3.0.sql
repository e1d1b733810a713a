-- pg_idp 0.2.0 -> 0.3.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (docs/operations.md, "What 0.3.0 changes for you"):
--   * register_provider(config, fetch_keys DEFAULT true): a body with only a jwks_uri fetches its keys;
--   * directory users matched by a stable id (directory_match), email only when verified, with the
--     one email folding idp._email_key; looked up per identity through new indexes;
--   * apply_directory_event is SQL over idp._verify_webhook_signature, raising its errors itself,
--     and takes events without id or created_at (ordered by the signature's time);
--   * enable_rls protects partitions and inheritance children (later ones through an event
--     trigger), keeps its record in idp.rls_tables instead of policy comments, and has a per-row
--     form for Citus; rls_status gains form and open_partitions, and lists hand-written policies;
--     this update protects the partitions that 0.2.0 left open;
--   * Citus: idp.sync_nodes(), idp.node_registry_status(), idp.registry_fingerprint().
-- This script freezes what 0.3.0 changed: it repeats sql/rls.sql, sql/directory.sql and
-- sql/citus.sql as released (generated from them, then reviewed).

-- The trigger function of every cached table, named for what it does.
ALTER FUNCTION idp.registry_changed() RENAME TO _invalidate_caches;

-- register_provider gains fetch_keys (0.2.0's one-argument entry point stays in the library).
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

-- Citus.
-- requires:
--   schema
--   revocation

-- Citus: every node (the coordinator and each worker) verifies tokens against its own registry,
-- since a query's shards run on the workers. idp.sync_nodes() copies the coordinator's registry
-- (providers with their keys, and revocations) to every worker; with pg_idp preloaded, the
-- coordinator's refresh worker calls it whenever the registry changed (a registration, a
-- rotation, a revocation, its own JWKS refresh), and refreshes keys only on the coordinator.
-- idp.node_registry_status() shows, in SQL, any node whose registry differs. Citus is found by
-- its catalog (pg_catalog.pg_dist_node), never required: without it these functions say so.

CREATE FUNCTION idp._citus_present() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NOT NULL $$;

-- This node's part in a Citus cluster: none, coordinator or worker.
CREATE FUNCTION idp._citus_role() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT idp._citus_present() THEN
        RETURN 'none';
    END IF;
    IF pg_catalog.to_regprocedure('pg_catalog.citus_is_coordinator()') IS NULL THEN
        RETURN 'coordinator';
    END IF;
    RETURN CASE WHEN pg_catalog.citus_is_coordinator() THEN 'coordinator' ELSE 'worker' END;
END $$;

-- Whether `tbl` is a Citus distributed (or reference) table.
CREATE FUNCTION idp._citus_distributed(tbl regclass) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid OPERATOR(pg_catalog.=) $1)'
       INTO found USING tbl;
    RETURN found;
END $$;

CREATE FUNCTION idp._require_citus() RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT idp._citus_present() THEN
        RAISE EXCEPTION 'pg_idp: Citus is not installed in this database' USING ERRCODE = 'feature_not_supported',
              HINT = 'idp.sync_nodes() and idp.node_registry_status() are for a Citus coordinator.';
    END IF;
END $$;

-- What this node's registry holds, as one value: providers (name and config, keys included) and
-- revocations. Equal on two nodes when they verify and revoke alike.
CREATE FUNCTION idp.registry_fingerprint() RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT md5(
        coalesce((SELECT string_agg(r.name || '=' || r.config::text, ',' ORDER BY r.name) FROM idp.provider_registry r), '')
        || '|' ||
        coalesce((SELECT string_agg(v.provider || '/' || v.kind || '/' || v.subject || '/'
                                    || coalesce(extract(epoch FROM v.issued_before)::text, ''), ','
                                    ORDER BY v.provider, v.kind, v.subject)
                    FROM idp.revocation_list v), ''))
$$;

-- The registry as one JSON value, for idp._load_registry_snapshot on the workers.
CREATE FUNCTION idp._registry_snapshot() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
        'providers', coalesce((SELECT jsonb_agg(r.config ORDER BY r.name) FROM idp.provider_registry r), '[]'),
        'revocations', coalesce((SELECT jsonb_agg(jsonb_build_object('provider', v.provider, 'kind', v.kind,
                                        'subject', v.subject, 'issued_before', v.issued_before, 'created_at', v.created_at)
                                        ORDER BY v.provider, v.kind, v.subject)
                                   FROM idp.revocation_list v), '[]'))
$$;

-- On a worker: make this node's registry exactly the snapshot (in one transaction: providers
-- validated as register_provider does, without fetching; others removed; revocations replaced).
-- Returns the node's fingerprint afterwards.
CREATE FUNCTION idp._load_registry_snapshot(snapshot jsonb) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg jsonb;
BEGIN
    IF jsonb_typeof(snapshot->'providers') IS DISTINCT FROM 'array'
       OR jsonb_typeof(snapshot->'revocations') IS DISTINCT FROM 'array' THEN
        RAISE EXCEPTION 'pg_idp: not a registry snapshot' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR cfg IN SELECT * FROM jsonb_array_elements(snapshot->'providers') LOOP
        PERFORM idp.register_provider(cfg, fetch_keys => false);
    END LOOP;
    DELETE FROM idp.provider_registry r
     WHERE r.name NOT IN (SELECT c->>'provider' FROM jsonb_array_elements(snapshot->'providers') c);
    DELETE FROM idp.revocation_list;
    INSERT INTO idp.revocation_list (provider, kind, subject, issued_before, created_at)
    SELECT v->>'provider', v->>'kind', v->>'subject', (v->>'issued_before')::timestamptz, (v->>'created_at')::timestamptz
      FROM jsonb_array_elements(snapshot->'revocations') v;
    RETURN idp.registry_fingerprint();
END $$;

-- On the coordinator: every node's registry fingerprint next to the coordinator's. A node that
-- cannot be reached is listed with its error, never skipped.
CREATE FUNCTION idp.node_registry_status()
RETURNS TABLE (node text, fingerprint text, in_sync boolean, error text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mine text := idp.registry_fingerprint();
BEGIN
    PERFORM idp._require_citus();
    RETURN QUERY
        SELECT 'coordinator'::text, mine, true, NULL::text
        UNION ALL
        SELECT w.nodename || ':' || w.nodeport,
               CASE WHEN w.success THEN w.result END,
               w.success AND w.result = mine,
               CASE WHEN NOT w.success THEN w.result END
          FROM pg_catalog.run_command_on_workers('SELECT idp.registry_fingerprint()') w
         ORDER BY 1;
END $$;

-- On the coordinator: copy this node's registry to every worker; answers node_registry_status()
-- afterwards. Not one transaction across nodes (Citus runs the command on each worker on its
-- own): a worker that failed shows in_sync = false with its error, and the next call retries it.
CREATE FUNCTION idp.sync_nodes()
RETURNS TABLE (node text, fingerprint text, in_sync boolean, error text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM idp._require_citus();
    PERFORM 1 FROM pg_catalog.run_command_on_workers(
        format('SELECT idp._load_registry_snapshot(%L::jsonb)', idp._registry_snapshot()::text));
    RETURN QUERY SELECT * FROM idp.node_registry_status();
END $$;

REVOKE EXECUTE ON FUNCTION idp.registry_fingerprint() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._registry_snapshot() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._load_registry_snapshot(jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.node_registry_status() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.sync_nodes() FROM PUBLIC;

-- Row-level security: the record in idp.rls_tables, forms, partitions.
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

-- 0.2.0 kept its record in comments on the policies: move it into idp.rls_tables.
INSERT INTO idp.rls_tables (tbl, kind, form, user_attnum, tenant_attnum, prior)
SELECT pol.polrelid::regclass, m[1], 'subselect', nullif(m[2], '')::int2, nullif(m[3], '')::int2, m[4]
  FROM pg_catalog.pg_policy pol
  CROSS JOIN LATERAL pg_catalog.regexp_match(pg_catalog.obj_description(pol.oid, 'pg_policy'),
        '^pg_idp policy=(\w+) user_attnum=(\d*) tenant_attnum=(\d*) prior=([01]{2})$') AS m
 WHERE pol.polname OPERATOR(pg_catalog.=) 'pg_idp_select' AND m IS NOT NULL;
DO $$
DECLARE p record;
BEGIN
    FOR p IN SELECT pol.polname, pol.polrelid::regclass AS t FROM pg_catalog.pg_policy pol
              WHERE pg_catalog.obj_description(pol.oid, 'pg_policy') LIKE 'pg_idp policy=%'
    LOOP
        EXECUTE pg_catalog.format('COMMENT ON POLICY %I ON %s IS NULL', p.polname, p.t);
    END LOOP;
END $$;

-- The expression a policy compares an id column with. `subselect`: `(SELECT idp.requesting_user_id())`,
-- evaluated once per statement as an InitPlan; `per_row`: `idp.requesting_user_id()`. For uuid
-- columns, ids that are not a canonical uuid match nothing (rather than failing with a cast error).
DROP FUNCTION idp._rls_id_expr(text, regtype);
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
CREATE OR REPLACE FUNCTION idp._rls_id_column(tbl regclass, col name, what text, OUT attnum int2, OUT basetype regtype)
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

DROP FUNCTION idp.enable_rls(regclass, name, name, text, boolean);
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
CREATE OR REPLACE FUNCTION idp._rls_drop_policies(tbl regclass) RETURNS int
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
DROP FUNCTION idp.rls_status();
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

-- 0.2.0 left the partitions (and inheritance children) of tables under enable_rls open: give
-- them their parent's policies now.
DO $$
DECLARE
    r record;
    d regclass;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS t, x.kind, x.form, x.user_attnum, x.tenant_attnum, c.relforcerowsecurity AS force
          FROM pg_catalog.pg_class c CROSS JOIN LATERAL idp._rls_meta(c.oid::regclass) x
         WHERE c.relkind IN ('r', 'p')
    LOOP
        FOR d IN SELECT * FROM idp._rls_descendants(r.t) LOOP
            CONTINUE WHEN EXISTS (SELECT 1 FROM idp._rls_meta(d));
            PERFORM idp._rls_apply(d,
                (SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = r.t AND attnum = r.user_attnum),
                (SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = r.t AND attnum = r.tenant_attnum),
                r.kind, r.force, r.form);
        END LOOP;
    END LOOP;
END $$;
