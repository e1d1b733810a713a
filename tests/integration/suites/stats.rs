//! idp.stats under concurrent pgbench clients, and idp.provider_health as the launcher's jobs
//! fill it, on a primary restarted with pg_idp preloaded and a key server on loopback.

use std::time::Duration;

use pg_idp_itests::{lit, run, todos_app, wait_for, write_file, Alg, Cluster, Fixtures, HttpServer, Key};
use serde_json::json;

#[test]
fn suite() {
    run("stats", |s| {
        let f = Fixtures::new(s);
        let mut pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        // What the bash suites had done before this one: a key server (the jwks suite's plain
        // HTTP one), the primary restarted with pg_idp preloaded and a 2 s refresh interval, and
        // provider 'auto' whose keys the jobs refresh from it (the worker suite).
        let plain = HttpServer::start(s, "keys", None);
        let auto1 = Key::generate(s, "auto1", Alg::RS256, Some("auto-1"));
        plain.put("auto.json", auto1.jwks());
        pg.restart(&[
            ("shared_preload_libraries", "pg_idp"),
            ("idp.worker_database", "app"),
            ("idp.refresh_interval", "2"),
        ]);
        let mut c = pg.conn("app");
        c.q(&format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'auto', 'issuer', 'https://auto.example.com',
               'jwks_uri', {}, 'jwks', {}::jsonb))",
            lit(&format!("{}/auto.json", plain.url())),
            lit(&auto1.jwks())
        ));
        s.say("counters under 4 concurrent clients; provider health from the jobs");

        let tokens = f
            .clerk
            .token(json!({"iss": "https://acme.clerk.accounts.dev", "sub": "stats_user_{n}"}))
            .named("a stats token")
            .mint_many(200);
        c.batch("CREATE TABLE stats_tokens (uid int PRIMARY KEY, tok text NOT NULL); GRANT SELECT ON stats_tokens TO app_user;");
        {
            use std::io::Write;
            let mut w = c.client().copy_in("COPY stats_tokens FROM STDIN").expect("COPY stats_tokens");
            for (i, t) in tokens.iter().enumerate() {
                writeln!(w, "{}\t{t}", i + 1).expect("a token row");
            }
            w.finish().expect("COPY stats_tokens");
        }
        let script = s.dir().join("stats.pgb");
        write_file(
            &script,
            "\\set uid random(1, 200)
BEGIN;
SELECT set_config('request.jwt', tok, true) IS NOT NULL FROM stats_tokens WHERE uid = :uid;
SELECT idp.requesting_user_id();
COMMIT;
",
        );
        // Its answer and any NOTICE, as psql's output with stderr: one line "0", nothing else.
        let out = c.q("SELECT count(*) FROM idp.stats WHERE datname = 'app' AND verifications < 0");
        let mut lines: Vec<String> = c.take_notices();
        lines.extend(out.lines().map(str::to_string));
        s.check(
            "stats: with pg_idp preloaded, idp.stats answers without a NOTICE",
            "0",
            lines.iter().filter(|l| l.as_str() != "0").count().to_string(),
        );
        c.q("SELECT idp.reset_stats('clerk')");
        // 4 clients, 250 transactions each: each transaction resolves its request token once, by
        // a verification (a token new to that backend) or from the backend's cache; the clients
        // have exited when the counters are read.
        let (rc, out) = pg.pgbench(&[
            "-n",
            "-c",
            "4",
            "-j",
            "2",
            "-t",
            "250",
            "-U",
            "app_user",
            "-f",
            &script.display().to_string(),
            "app",
        ]);
        let processed = out
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("");
        s.check("stats: pgbench, 4 clients x 250 transactions", "0 1000/1000", format!("{rc} {processed}"));
        s.check(
            "stats: every transaction counted once: successes + cache hits = 1000, no failures, at most 200 verifications per client",
            "1000|0|t",
            c.q("SELECT successes + cache_hits, failures, successes BETWEEN 1 AND 800 FROM idp.stats WHERE datname = 'app' AND provider = 'clerk'"),
        );

        // The jobs' work in provider_health: 'auto' (refreshed by them all along, every 2 s: its
        // next refresh may be due already, for the moment until a job takes it up) and a
        // provider whose jwks_uri answers 404, registered with its keys inline so that only the
        // jobs fetch.
        let missing = format!("{}/missing.json", plain.url());
        c.q(&format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'flaky', 'issuer', 'https://flaky.example.com',
               'jwks_uri', {}, 'jwks', {}::jsonb))",
            lit(&missing),
            lit(&auto1.jwks())
        ));
        wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
            let code = c.q("SELECT last_refresh_error_code FROM idp.provider_health WHERE provider = 'flaky'");
            (!code.is_empty()).then_some(())
        });
        s.check(
            "stats: a failed refresh by the worker: its code, the URL in the message, keys kept, next attempt scheduled",
            "fetch_failed|t|1|f|t",
            c.q(&format!(
                "SELECT last_refresh_error_code, last_refresh_error LIKE {}, key_count,
                        last_refresh_success IS NOT NULL, next_refresh > last_refresh_attempt
                   FROM idp.provider_health WHERE provider = 'flaky'",
                lit(&format!("JWKS at {missing} %"))
            )),
        );
        // (The worker suite's checks saw 'auto' refreshed before this one ran; here, the first
        // refresh is waited for.)
        wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
            let done = c.q("SELECT last_refresh_success IS NOT NULL FROM idp.provider_health WHERE provider = 'auto'");
            (done == "t").then_some(())
        });
        s.check(
            "stats: the worker's refreshes of auto: source, keys, last success, next refresh",
            "jwks_uri|1|t|t",
            c.q("SELECT key_source, key_count, last_refresh_success IS NOT NULL, next_refresh > last_refresh_success
                   FROM idp.provider_health WHERE provider = 'auto'"),
        );
        s.check(
            "stats: provider health is readable by an application role (USAGE on idp)",
            "t",
            pg.conn_as("app", "app_user").q("SELECT count(*) >= 2 FROM idp.provider_health"),
        );
    });
}
