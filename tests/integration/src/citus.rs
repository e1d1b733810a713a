//! Citus, simulated as the `citus` pg_regress spec and the bash suites do: pg_idp recognises
//! Citus from its catalogs alone.

/// SQL that makes a database look like a Citus node to pg_idp: pg_dist_node,
/// pg_dist_local_group saying `group` (0: the coordinator), and the citus extension's row (owned
/// by a superuser, with OID `extension_oid`). Run it as a superuser, in one batch.
pub fn fake_citus_sql(group: u32, extension_oid: u32) -> String {
    format!(
        "SET allow_system_table_mods = on;
CREATE TABLE pg_catalog.pg_dist_node (nodeid int, groupid int, nodename text, nodeport int, noderole text, isactive boolean);
CREATE TABLE pg_catalog.pg_dist_local_group (groupid int);
RESET allow_system_table_mods;
INSERT INTO pg_catalog.pg_dist_local_group VALUES ({group});
INSERT INTO pg_catalog.pg_extension (oid, extname, extowner, extnamespace, extrelocatable, extversion)
VALUES ({extension_oid}, 'citus', 'postgres'::regrole, 'pg_catalog'::regnamespace, false, '13.2');"
    )
}

/// Citus's run_command_on_workers(), simulated: each command runs through dblink (a connection
/// of its own, as Citus's, and as the role that calls it) in the database named by each row of
/// pg_dist_node, found with the conninfo template in the setting `regress.conninfo` (`%s`: the
/// database). A failed command gives its error (without Citus's "ERROR:  " prefix). Needs
/// dblink.
pub const FAKE_RUN_COMMAND_SQL: &str = r#"CREATE FUNCTION pg_catalog.run_command_on_workers(command text, parallel boolean DEFAULT true,
    OUT nodename text, OUT nodeport int, OUT success boolean, OUT result text)
RETURNS SETOF record LANGUAGE plpgsql AS $fn$
DECLARE n record;
BEGIN
    FOR n IN SELECT d.nodename, d.nodeport FROM pg_catalog.pg_dist_node d ORDER BY d.nodeid LOOP
        nodename := n.nodename; nodeport := n.nodeport;
        BEGIN
            SELECT r INTO result FROM public.dblink(format(current_setting('regress.conninfo'), n.nodename), command) AS t(r text);
            success := true;
        EXCEPTION WHEN others THEN
            success := false; result := SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END $fn$;"#;
