-- pg_idp 0.3.0 -> 0.4.0. Run by ALTER EXTENSION pg_idp UPDATE (as the superuser who owns it).
-- What changes (docs/operations.md, "What 0.4.0 changes for you"), one section per feature below.

-- 0.4.0: login with a provider token (PostgreSQL 18)
-- Providers may carry "login" in their config (no SQL change); idp.login_snapshot() reports the
-- snapshot the OAuth validator reads (NULL before PostgreSQL 18).
CREATE FUNCTION idp."login_snapshot"() RETURNS jsonb /* Option < JsonB > */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'login_snapshot_wrapper';
COMMENT ON FUNCTION idp.login_snapshot() IS
  'The login snapshot of this database (PostgreSQL 18 OAuth validator): path, providers, age. NULL before 18.';
REVOKE EXECUTE ON FUNCTION idp.login_snapshot() FROM PUBLIC;
