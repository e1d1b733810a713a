-- pg_idp 0.4.0 -> 0.5.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (docs/operations.md, "What 0.5.0 changes for you"), one section per change below.

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
