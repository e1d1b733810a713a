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
