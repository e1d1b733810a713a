//! The refresh jobs (pg_idp preloaded, the launcher starting them): rotations picked up on
//! their own, keys for a provider registered without them, an early refresh on an unknown kid, a
//! hostile search_path in their database, a registration made while a job fetches; on a Citus
//! worker (simulated) no fetch at all, and a Citus coordinator's job that runs nothing in a
//! worker database where a non-superuser's schema `idp` stands for pg_idp's.

use std::time::Duration;

use pg_idp_itests::citus::{fake_citus_sql, FAKE_RUN_COMMAND_SQL};
use pg_idp_itests::cluster::count_lines;
use pg_idp_itests::{lit, run, todos_app, wait_for, Alg, Cluster, Conn, Fixtures, HttpServer, Key};
use serde_json::json;

/// `idp.verify_jwt(token)->>'valid'` in a new session of `app` every 0.2 s until it is `true`,
/// for `seconds` at most: the last answer.
fn poll_valid(pg: &Cluster, token: &str, seconds: u64) -> String {
    let mut v = String::new();
    wait_for(Duration::from_secs(seconds), Duration::from_millis(200), || {
        v = pg.conn("app").q(&format!("SELECT idp.verify_jwt({})->>'valid'", lit(token)));
        (v == "true").then_some(())
    });
    v
}

/// Whether a server log line says a job failed or a pg_idp process was terminated by a signal
/// (`pg_idp: job in database .* failed|"pg_idp (job|launcher)" \(PID [0-9]+\) was terminated
/// by signal`, as grep -E reads it).
fn job_failed(line: &str) -> bool {
    if let Some(i) = line.find("pg_idp: job in database ") {
        if line[i + "pg_idp: job in database ".len()..].contains(" failed") {
            return true;
        }
    }
    for who in ["\"pg_idp job\" (PID ", "\"pg_idp launcher\" (PID "] {
        let mut rest = line;
        while let Some(i) = rest.find(who) {
            let after = &rest[i + who.len()..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 && after[digits..].starts_with(") was terminated by signal") {
                return true;
            }
            rest = after;
        }
    }
    false
}

#[test]
fn suite() {
    run("worker", |s| {
        let f = Fixtures::new(s);
        let mut pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        s.say("background worker (shared_preload_libraries): refresh on its own, and early on an unknown kid");
        let plain = HttpServer::start(s, "keys", None);
        let url = plain.url();
        let auto: Vec<Key> =
            (1..=3).map(|k| Key::generate(s, &format!("auto{k}"), Alg::RS256, Some(&format!("auto-{k}")))).collect();
        plain.put("auto.json", auto[0].jwks());
        // What the jwks suite left in `app` when this suite was bash, and the registration race
        // below needs: providers whose refreshes from this key server fail (too large, a
        // redirect, not JSON, no keys, a remote plain-http host) or are slow, each backing off
        // on its own schedule, and one that succeeds. Once auto's and later's next refreshes are
        // an hour away, their due attempts keep the jobs running in `app`, and only a job fetches
        // the keys of a provider registered without them (nothing else asks for them there).
        let rot1 = Key::generate(s, "rot1", Alg::RS256, Some("rot-1"));
        plain.put("big.json", format!("{{\"keys\":[],\"padding\":\"{}\"}}", "x".repeat(70000)));
        plain.put("not-json.json", "hello");
        plain.put("empty.json", "{\"keys\":[]}");
        plain.put("jwks.json", rot1.jwks());
        let mut c = pg.conn("app");
        for (name, uri) in [
            ("big", format!("{url}/big.json")),
            ("slow", format!("{url}/slow/jwks.json")),
            ("moved", format!("{url}/redirect/jwks.json")),
            ("garbage", format!("{url}/not-json.json")),
            ("empty", format!("{url}/empty.json")),
            ("remote", "http://example.com/jwks.json".to_string()),
            ("plain", format!("{url}/jwks.json")),
        ] {
            c.q(&format!(
                "SELECT idp.register_provider(jsonb_build_object('provider', '{name}', 'issuer', 'https://{name}.example.com',
                   'jwks_uri', {}, 'jwks', {}::jsonb))",
                lit(&uri),
                lit(&rot1.jwks())
            ));
        }
        drop(c);
        // The review's attack on 0.2.0: the worker (now the launcher's jobs) runs as the
        // bootstrap superuser in the database, whose owner may set its search_path. An operator
        // ?(jsonb, text) first on that path, and an ambiguous ?(jsonb, jsonb) in public (which any
        // role with CREATE there can add), must neither run nor stop the refresh.
        pg.conn("app").batch(
            r"CREATE TABLE public.worker_hijacks (who text, backend text, at timestamptz DEFAULT clock_timestamp());
GRANT INSERT ON public.worker_hijacks TO PUBLIC;
CREATE SCHEMA evil;
CREATE FUNCTION evil.exists_hijack(jsonb, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.worker_hijacks (who, backend)
    SELECT current_user, backend_type FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    RETURN $1 OPERATOR(pg_catalog.?) $2;
END $$;
CREATE OPERATOR evil.? (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.exists_hijack);
CREATE FUNCTION evil.arrow_hijack(jsonb, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.worker_hijacks (who, backend)
    SELECT current_user, backend_type FROM pg_catalog.pg_stat_activity WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    RETURN $1 OPERATOR(pg_catalog.->>) $2;
END $$;
CREATE OPERATOR evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.arrow_hijack);
CREATE FUNCTION public.exists_jsonb(jsonb, jsonb) RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
CREATE OPERATOR public.? (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = public.exists_jsonb);
ALTER DATABASE app SET search_path = evil, pg_catalog, public;",
        );
        // idp.refresh_interval in postgresql.auto.conf, not on the command line (which ALTER
        // SYSTEM cannot override): the suite changes it with a reload below.
        let mut c = pg.conn("postgres");
        c.batch("LOAD 'pg_idp'");
        c.batch("ALTER SYSTEM SET idp.refresh_interval = 2");
        drop(c);
        pg.restart(&[("shared_preload_libraries", "pg_idp"), ("idp.worker_database", "app,citus_w")]);
        let log = pg.log();
        // Each statement its own session, as psql -c; `set_interval` changes the setting with a
        // reload.
        let set_interval = |value: &str| {
            let mut c = pg.conn("app");
            c.batch(&format!("ALTER SYSTEM SET idp.refresh_interval = {value}"));
            c.q("SELECT pg_reload_conf()");
        };
        // Each query in a session of its own, as each psql call of the bash suite was.
        let app = |sql: &str| pg.conn("app").q(sql);
        app(&format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'auto', 'issuer', 'https://auto.example.com',
               'jwks_uri', {}, 'jwks', {}::jsonb))",
            lit(&format!("{url}/auto.json")),
            lit(&auto[0].jwks())
        ));
        let auto_claims = json!({"iss": "https://auto.example.com", "sub": "user_auto"});
        let ta2 = auto[1].mint(auto_claims.clone());
        let ta3 = auto[2].mint(auto_claims);
        plain.put("auto.json", auto[1].jwks());
        s.check(
            "worker: a key rotation at the provider is picked up with no SQL call",
            "true",
            poll_valid(&pg, &ta2, 20),
        );
        // A provider registered without keys (fetch_keys => false, as a database that cannot
        // reach the provider at setup time does): its tokens fail no_keys until the worker has
        // fetched them.
        plain.put("later.json", auto[1].jwks());
        app(&format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'later', 'issuer', 'https://later.example.com',
               'jwks_uri', {}), fetch_keys => false)",
            lit(&format!("{url}/later.json"))
        ));
        let tl = auto[1].mint(json!({"iss": "https://later.example.com", "sub": "user_later"}));
        s.check(
            "worker: a provider registered without keys gets them with no SQL call",
            "true",
            poll_valid(&pg, &tl, 20),
        );
        set_interval("'1h'");
        // Each job reads the settings as it starts: wait until auto's next refresh is an hour
        // away (one more refresh at the old interval), so that only an early refresh can fetch
        // the next key.
        let mut far = String::new();
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            far = app(
                "SELECT next_refresh > now() + interval '30 minutes' FROM idp.provider_health WHERE provider = 'auto'",
            );
            (far == "t").then_some(())
        });
        if far != "t" {
            println!(
                "    auto's health: {}",
                app("SELECT row_to_json(h) FROM idp.provider_health h WHERE provider = 'auto'")
            );
            println!("    now: {}", app("SELECT now()"));
            let text = log.text();
            let lines: Vec<&str> =
                text.lines().filter(|l| l.contains("provider \"auto\"") || l.contains("refresh_interval")).collect();
            for l in &lines[lines.len().saturating_sub(5)..] {
                println!("    {l}");
            }
        }
        s.check("worker: once idp.refresh_interval is an hour, auto's next refresh is an hour away", "t", &far);
        plain.put("auto.json", auto[2].jwks());
        let first = pg.conn("app").q(&format!("SELECT idp.verify_jwt({})->>'error'", lit(&ta3)));
        s.check(
            "worker: an unknown kid fails at once, and an early refresh lets it in",
            "unknown_key true",
            format!("{first} {}", poll_valid(&pg, &ta3, 40)),
        );
        s.check(
            "worker: refreshes are logged with the provider and key count",
            "yes",
            if log.count("refreshed JWKS of provider \"auto\": 1 keys (early: unknown kid)") > 0 {
                "yes"
            } else {
                "no"
            },
        );
        set_interval("2");
        // (This suite's own sessions use ->> under that path too: the operators do work, and run
        // there, as the control shows; only the worker must never run them.)
        s.check(
            "worker: a hostile search_path in its database ran none of its operators in the worker",
            "0 yes",
            app("SELECT count(*) FILTER (WHERE backend LIKE 'pg_idp%') || ' ' || CASE WHEN count(*) FILTER (WHERE backend = 'client backend') > 0 THEN 'yes' ELSE 'no' END FROM public.worker_hijacks"),
        );
        let text = log.text();
        s.check(
            "worker: ... and did not stop it (no ambiguous operator, the launcher started once, no job failed)",
            "0 1 0",
            format!(
                "{} {} {}",
                count_lines(&text, "operator is not unique"),
                count_lines(&text, "pg_idp: launcher started"),
                text.lines().filter(|l| job_failed(l)).count()
            ),
        );
        pg.conn("app").batch("ALTER DATABASE app RESET search_path");

        // A registration committed while a job fetches that provider's keys is never
        // overwritten with the config the job read before it (the job's update finds the row
        // changed and leaves it).
        plain.put("racy.json", auto[1].jwks());
        let racy = |extra: &str| {
            app(&format!(
                "SELECT idp.register_provider(jsonb_build_object('provider', 'racy', 'issuer', 'https://racy.example.com',
                   'jwks_uri', {}{extra}), fetch_keys => false)",
                lit(&format!("{url}/slow/racy.json"))
            ));
        };
        racy("");
        // The job starts fetching (the slow path answers after 3 s): register again meanwhile.
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            let started =
                app("SELECT last_refresh_attempt IS NOT NULL FROM idp.provider_health WHERE provider = 'racy'");
            (started == "t").then_some(())
        });
        racy(", 'claim_mapping', '{\"role\": \"role\"}'::jsonb");
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            (log.count("provider \"racy\" changed while its JWKS was fetched") > 0).then_some(())
        });
        s.check(
            "worker: a registration made while a job fetched its keys is kept, not overwritten",
            "role",
            app("SELECT config->'claim_mapping'->>'role' FROM idp.provider_registry WHERE name = 'racy'"),
        );
        let mut k = String::new();
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            k = app("SELECT key_ids[1] FROM idp.providers WHERE name = 'racy'");
            (!k.is_empty()).then_some(())
        });
        s.check(
            "worker: ... and the next job fetches the keys for it",
            "auto-2 role",
            format!(
                "{k} {}",
                app("SELECT config->'claim_mapping'->>'role' FROM idp.provider_registry WHERE name = 'racy'")
            ),
        );
        app("SELECT idp.unregister_provider('racy')");

        // A Citus worker gets its registry, keys included, from the coordinator
        // (idp.sync_nodes): the jobs never fetch keys there. Citus is simulated by its catalogs
        // (fake_citus_sql), as in the citus suite, with pg_dist_local_group saying group 1.
        pg.createdb("citus_w");
        pg.conn("citus_w").batch(&format!(
            "CREATE EXTENSION pg_idp;
             {}
             SELECT idp.register_provider(jsonb_build_object('provider', 'on_worker', 'issuer', 'https://on-worker.example.com',
               'jwks_uri', {}), fetch_keys => false);",
            fake_citus_sql(1, 4000000001),
            lit(&format!("{url}/auto.json"))
        ));
        let served = "SELECT state FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'citus_w')";
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || (app(served) == "serving").then_some(()));
        // Jobs at the 2 s refresh interval, had it been due. (What is checked is that nothing
        // happens, a fetch: no poll can wait for that, so this one wait is a fixed one.)
        std::thread::sleep(Duration::from_secs(3));
        let worker_db = |sql: &str| pg.conn("citus_w").q(sql);
        s.check(
            "worker: on a Citus worker node, the jobs serve the database but never fetch keys",
            "serving|t",
            format!(
                "{}|{}",
                app(served),
                worker_db("SELECT last_refresh_attempt IS NULL FROM idp.provider_health WHERE provider = 'on_worker'")
            ),
        );
        let mut w = pg.conn("citus_w");
        w.batch("DELETE FROM pg_catalog.pg_extension WHERE extname = 'citus'");
        w.q("SELECT idp._launcher_notify()");
        drop(w);
        let mut v = String::new();
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            v = worker_db("SELECT last_refresh_attempt IS NULL FROM idp.provider_health WHERE provider = 'on_worker'");
            (v == "f").then_some(())
        });
        s.check("worker: control: without Citus, the same provider's keys are fetched", "f", &v);

        pg.conn("postgres").batch("DROP DATABASE citus_w");

        // A Citus coordinator's jobs copy the registry to the workers (simulated as in the citus
        // suite: fake_citus_sql, FAKE_RUN_COMMAND_SQL). A worker's database owned by a role that
        // is not a superuser, where pg_idp is not installed, holds her own schema idp with
        // functions named like pg_idp's that make her a superuser when a superuser runs them:
        // the job runs none of them, and its WARNING names the node and why; the worker where a
        // superuser installed pg_idp gets the copy.
        let mut p = pg.conn("postgres");
        p.batch("CREATE ROLE citus_mallory NOLOGIN");
        p.batch("CREATE DATABASE citus_w");
        p.batch("CREATE DATABASE citus_w_hers OWNER citus_mallory");
        p.batch("CREATE DATABASE citus_w_ok");
        pg.conn("citus_w_ok").batch("CREATE EXTENSION pg_idp");
        pg.conn("citus_w_hers").batch(
            r"SET ROLE citus_mallory;
CREATE TABLE public.loot (fn text, ran_as text);
CREATE FUNCTION public.trap(fn text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.loot VALUES (fn, current_user);
    BEGIN
        EXECUTE 'ALTER ROLE citus_mallory SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN 'mine';
END $$;
CREATE SCHEMA idp;
CREATE FUNCTION idp._sync_begin() RETURNS text LANGUAGE sql AS $$ SELECT public.trap('_sync_begin') $$;
CREATE FUNCTION idp._load_registry_sealed(text) RETURNS text LANGUAGE sql AS $$ SELECT public.trap('_load_registry_sealed') $$;
CREATE FUNCTION idp.registry_fingerprint() RETURNS text LANGUAGE sql AS $$ SELECT public.trap('registry_fingerprint') $$;",
        );
        let before = log.offset();
        let conninfo = format!("dbname=%s host={} port={} user=postgres", pg.socket_dir().display(), pg.port());
        let mut cw = pg.conn("citus_w");
        cw.batch(&format!(
            "CREATE EXTENSION pg_idp;
             CREATE EXTENSION dblink;
             {}
             INSERT INTO pg_catalog.pg_dist_node VALUES (1, 1, 'citus_w_hers', 5432, 'primary', true),
                                                        (2, 2, 'citus_w_ok', 5432, 'primary', true);
             {FAKE_RUN_COMMAND_SQL}
             ALTER DATABASE citus_w SET regress.conninfo = {};
             SELECT idp.register_provider(jsonb_build_object('provider', 'copied', 'issuer', 'https://copied.example.com',
               'jwks', {}::jsonb));",
            fake_citus_sql(0, 4000000002),
            lit(&conninfo),
            lit(&auto[0].jwks())
        ));
        cw.q("SELECT idp._launcher_notify()");
        drop(cw);
        let warning = log
            .wait_for_line(before, "registry copy left 1 Citus node(s) out of sync", Duration::from_secs(90))
            .unwrap_or_default();
        if warning.is_empty() {
            // What the jobs did meanwhile, to debug a miss (a loaded machine once missed 30 s).
            println!(
                "    citus_w: {}",
                pg.conn("app").q("SELECT row_to_json(s) FROM idp.served_databases() s WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'citus_w')")
            );
        }
        let rolsuper = |p: &mut Conn| p.q("SELECT rolsuper FROM pg_roles WHERE rolname = 'citus_mallory'");
        s.check(
            "worker: a coordinator's job runs nothing in a worker database where a non-superuser's schema idp stands for pg_idp's",
            "nothing|f",
            format!(
                "{}|{}",
                pg.conn("citus_w_hers").q("SELECT coalesce(string_agg(fn, ','), 'nothing') FROM public.loot"),
                rolsuper(&mut p)
            ),
        );
        // grep 'WARNING:.*citus_w_hers:5432: nothing was run there: ...' of that line.
        let names_node = warning.find("WARNING:").is_some_and(|i| {
            warning[i..].contains(
                "citus_w_hers:5432: nothing was run there: this version of pg_idp is not installed in that database",
            )
        });
        s.check(
            "worker: ... its WARNING names that node and why",
            "yes",
            if names_node {
                "yes".to_string()
            } else {
                format!("no: {}", if warning.is_empty() { "no such WARNING" } else { &warning })
            },
        );
        s.check(
            "worker: ... and the worker where a superuser installed pg_idp gets the copy",
            pg.conn("citus_w").q("SELECT idp.registry_fingerprint()"),
            pg.conn("citus_w_ok").q("SELECT idp.registry_fingerprint()"),
        );
        pg.conn("citus_w_hers").q("SELECT idp._sync_begin()");
        s.check(
            "worker: control: her trap makes her a superuser when a superuser runs it",
            "_sync_begin|t",
            format!(
                "{}|{}",
                pg.conn("citus_w_hers").q("SELECT string_agg(fn, ',') FROM public.loot"),
                rolsuper(&mut p)
            ),
        );
        // (Cleaning up, as the bash suite did, without counting a failure.)
        for db in ["citus_w", "citus_w_hers", "citus_w_ok"] {
            let _ = p.try_q(&format!("DROP DATABASE {db}"));
        }
        let _ = p.try_q("DROP ROLE citus_mallory");
    });
}
