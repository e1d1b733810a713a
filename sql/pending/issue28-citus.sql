-- Pending for the 0.5.0 -> 0.6.0 update (issue 28, Citus workers and install_compat): to be
-- folded into sql/pg_idp--0.5.0--0.6.0.sql.

-- Citus: the coordinator's commands call pg_idp's part of a copy in a worker's database only
-- through this function, in pg_catalog, where only a superuser can have created it (sql/citus.sql
-- says why). It keeps PostgreSQL's default EXECUTE for PUBLIC: it checks its caller itself.
CREATE FUNCTION pg_catalog.pg_idp_node_call(function text, argument text DEFAULT NULL) RETURNS text
LANGUAGE c VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'pg_idp_node_call_wrapper';
COMMENT ON FUNCTION pg_catalog.pg_idp_node_call(text, text) IS
'pg_idp: run pg_idp''s part of a Citus registry copy in this database, for the coordinator, once its install is verified';
