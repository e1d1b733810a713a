//! Citus, simulated as in the `citus` pg_regress spec (Citus's extension row and catalogs, and a
//! run_command_on_workers() that runs each command through dblink in a database playing a
//! worker): a registry copy whose load fails on a worker is written to the server log with its
//! statement (log_min_error_statement = error, the default), and that line holds no secret or
//! key of the registry, because the copy travels sealed. (Every cluster's log is also searched
//! for every fixture secret as it stops.)

use pg_idp_itests::citus::{fake_citus_sql, FAKE_RUN_COMMAND_SQL};
use pg_idp_itests::cluster::count_lines;
use pg_idp_itests::{lit, run, Cluster, Fixtures};

#[test]
fn suite() {
    run("citus", |s| {
        let f = Fixtures::new(s);
        let pg = Cluster::start(s, "primary", &[]);
        s.say("a registry copy that fails on a worker logs no secret");
        let log = pg.log();
        pg.createdb("citus_coordinator");
        pg.createdb("citus_worker");
        // The worker: pg_idp, and a trigger that refuses every change of its providers (the load
        // fails there, as it would on a read-only worker or one on another version).
        pg.conn("citus_worker").batch(
            "ALTER DATABASE citus_worker SET log_min_error_statement = error;
             CREATE EXTENSION pg_idp;
             CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''citus worker refuses the copy''; END';
             CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON idp.provider_registry FOR EACH ROW EXECUTE FUNCTION public.refuse();",
        );
        let before = log.offset();
        let conninfo = format!("dbname=%s host={} port={} user=postgres", pg.socket_dir().display(), pg.port());
        pg.conn("citus_coordinator").batch(&format!(
            "CREATE EXTENSION pg_idp;
             CREATE EXTENSION dblink;
             {}
             INSERT INTO pg_catalog.pg_dist_node VALUES (1, 1, 'citus_worker', 5432, 'primary', true);
             {FAKE_RUN_COMMAND_SQL}
             ALTER DATABASE citus_coordinator SET regress.conninfo = {};",
            fake_citus_sql(0, 4000000000),
            lit(&conninfo)
        ));
        // A new session (psql's \c), which has regress.conninfo.
        let mut c = pg.conn("citus_coordinator");
        c.q(&format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'insforge', 'issuer', 'https://insforge.example.com',
               'secret', {}))",
            lit(&f.insforge_secret)
        ));
        c.q(&format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'clerk', 'issuer', 'https://acme.clerk.accounts.dev',
               'jwks', {}::jsonb))",
            lit(&f.clerk_jwks)
        ));
        // What psql printed, its stderr included: the rows, and any notice or warning.
        let mut out: Vec<String> = c
            .q("SELECT node || ' ' || in_sync || ' ' || coalesce(error, '') FROM idp.sync_nodes() ORDER BY node")
            .lines()
            .map(str::to_string)
            .collect();
        out.extend(c.take_notices());
        drop(c);
        s.check(
            "citus: the worker refused the copy, the coordinator says so",
            "citus_worker:5432 false citus worker refuses the copy|coordinator true ",
            out.join("|"),
        );
        let new_lines = log.since(before);
        s.check(
            "citus: the failed copy's statement is in the worker's log (log_min_error_statement)",
            "1",
            count_lines(
                &new_lines,
                "STATEMENT:  SELECT pg_catalog.pg_idp_node_call('_load_registry_sealed'::pg_catalog.text, ",
            )
            .to_string(),
        );
        let jwks: serde_json::Value = serde_json::from_str(&f.clerk_jwks).expect("Clerk's JWKS");
        let modulus = jwks["keys"][0]["n"].as_str().unwrap_or("").to_string();
        s.check(
            &format!(
                "citus: that log holds no secret and no key of the registry ({}-character modulus searched too)",
                modulus.len()
            ),
            "0 0",
            format!("{} {}", count_lines(&new_lines, &f.insforge_secret), count_lines(&new_lines, &modulus)),
        );
        // The worker still holds the key of the failed copy (its statement rolled back) until it
        // expires or the next copy; once the trigger is gone, the next copy goes through.
        pg.conn("citus_worker").each(&[
            "DROP TRIGGER refuse ON idp.provider_registry",
            "ALTER DATABASE citus_worker RESET log_min_error_statement",
        ]);
        s.check(
            "citus: the next copy reaches the worker",
            "0",
            pg.conn("citus_coordinator").q("SELECT count(*) FROM idp.sync_nodes() WHERE NOT in_sync"),
        );
    });
}
