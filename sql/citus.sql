-- Citus: every node (the coordinator and each worker) verifies tokens against its own registry,
-- since a query's shards run on the workers. idp.sync_nodes() copies the coordinator's registry
-- (providers with their keys and secrets, revocations, and the directory as verification reads
-- it) to every worker; with pg_idp preloaded, the coordinator's refresh worker does it whenever
-- the registry changed, and refreshes keys only on the coordinator. idp.node_registry_status()
-- shows any node whose registry differs. Those functions, idp.registry_fingerprint(), and the
-- workers' side of the copy (idp._sync_begin(), idp._load_registry_sealed()) are Rust
-- (src/citus.rs): Citus is found by its catalogs in pg_catalog, never required.
--
-- The copy travels as the text of a command on each worker (Citus's run_command_on_workers),
-- which the worker logs if the command fails, so it is sealed: each worker makes a one-time
-- X25519 key pair, keeps the private key below, and the coordinator encrypts the registry to the
-- public keys (pg_idp_core::seal). A failed command shows only key ids, public keys and
-- ciphertext.

-- The coordinator's way into a worker's database. Its commands run there as the coordinator's
-- role, a superuser, in a database whose owner may not be one, and who may have made a schema
-- idp of her own with functions named like these (where pg_idp is not installed, or in a schema
-- idp handed to her). So they name only this function, in pg_catalog, where only a superuser can
-- have created it: SELECT pg_catalog.pg_idp_node_call('_sync_begin'), ('_load_registry_sealed',
-- '<sealed copy>'), ('registry_fingerprint'). It runs as the role the connection logged in as,
-- which must be a superuser (RESET ROLE and SET SESSION AUTHORIZATION DEFAULT, refused by
-- PostgreSQL inside a SECURITY DEFINER function), under pinned settings, whatever the database's
-- owner set with ALTER DATABASE ... SET; verifies the install as pg_idp's jobs do, and that every
-- object in schema idp is a superuser's; and calls the function, a member of the extension, by
-- its oid. Otherwise nothing runs and the error says why (55000, node_untrusted). Where pg_idp
-- is not installed the function does not exist, and nothing runs either. It checks the caller
-- itself, so it keeps PostgreSQL's default EXECUTE for PUBLIC: a database owner's
-- ALTER DATABASE ... SET role, in force on the coordinator's connection too, does not stop it.
CREATE FUNCTION pg_catalog.pg_idp_node_call(function text, argument text DEFAULT NULL) RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'pg_idp_node_call_wrapper';
COMMENT ON FUNCTION pg_catalog.pg_idp_node_call(text, text) IS
'pg_idp: run pg_idp''s part of a Citus registry copy in this database, for the coordinator, once its install is verified';

-- Whether Citus's catalog is here (enable_rls writes per-row policies then).
CREATE FUNCTION idp._citus_present() RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NOT NULL $$;

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

-- A worker's one-time keys for the next copy: idp._sync_begin() adds one (and deletes those
-- older than 10 minutes), idp._load_registry_sealed() deletes the one it opens a copy with, so
-- that the same copy cannot be loaded twice (a statement that fails leaves its key until it
-- expires). Unlogged: private keys are never written to the WAL, nor copied to standbys; a crash
-- empties the table, and the next copy begins again. Only the extension owner (and superusers)
-- can read it; it is not dumped.
CREATE UNLOGGED TABLE idp.sync_keys (
    key_id      text PRIMARY KEY,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
REVOKE ALL ON idp.sync_keys FROM PUBLIC;

REVOKE EXECUTE ON FUNCTION idp.registry_fingerprint() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.node_registry_status() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp.sync_nodes() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._citus_role() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._sync_begin() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION idp._load_registry_sealed(text) FROM PUBLIC;
