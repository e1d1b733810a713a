//! A slow key server costs its own database only. The endpoint: it answers in 3 s (over
//! half of idp.http_timeout) with Cache-Control: max-age=1, registered in three databases; beside
//! it in each, a fast one with max-age=1 and one that fails (503). A key server's max-age cannot
//! bring a refresh nearer than a minute (the floor), and after a failed or slow refresh the
//! provider backs off (a minute, doubling up to 30, less up to a quarter at random): neither its
//! schedule nor an unknown kid fetches it sooner. Checked in idp.provider_health and in the key
//! server's own request log (scripts/http_fixture.py logs every GET); the controls: a healthy
//! provider's unknown kid is refreshed early at the same moment, and under an
//! idp.refresh_interval below the floor (the superuser's) the fast server is fetched every 2 s.
//!
//! Its own primary, with pg_idp preloaded, idp.refresh_interval and idp.http_timeout at their
//! defaults (10 minutes, 5 s), and its own plain HTTP key server.

use std::time::Duration;

use pg_idp_itests::{lit, run, wait_for, Alg, Cluster, HttpServer, Key};
use postgres::SimpleQueryMessage;
use serde_json::json;

/// The three databases, each with the three providers.
const DBS: [&str; 3] = ["ks_1", "ks_2", "ks_3"];
/// The key server's paths: answering in 3 s with max-age=1; at once with max-age=1; 503.
const SLOW: &str = "/slow/maxage/1/ks.json";
const FAST: &str = "/maxage/1/ks.json";
const DOWN: &str = "/status/503";

/// Requests for `path` from database `db` among `requests` (the database is the query string
/// of its providers' URLs): lines ending in ` PATH?DB`.
fn ks_requests(requests: &[String], path: &str, db: &str) -> usize {
    let tail = format!(" {path}?{db}");
    requests.iter().filter(|l| l.ends_with(&tail)).count()
}

/// The requests of each database for `path` since `mark` (the request log's length then),
/// joined by spaces.
fn ks_each(server: &HttpServer, mark: usize, path: &str) -> String {
    let requests = server.requests();
    let since = requests.get(mark..).unwrap_or(&[]);
    DBS.iter().map(|db| ks_requests(since, path, db).to_string()).collect::<Vec<_>>().join(" ")
}

/// A query's answer in each database (columns joined by spaces, as `psql -At -F ' '`), joined
/// by `|`.
fn ks_ask(pg: &Cluster, sql: &str) -> String {
    DBS.iter()
        .map(|db| {
            let mut c = pg.conn(db);
            let messages = c.client().simple_query(sql).unwrap_or_else(|e| panic!("{db}: {e}\n  in: {sql}"));
            let mut rows = Vec::new();
            for m in messages {
                if let SimpleQueryMessage::Row(row) = m {
                    rows.push((0..row.len()).map(|i| row.get(i).unwrap_or("")).collect::<Vec<_>>().join(" "));
                }
            }
            rows.join("\n")
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Wait until each database's three providers have ended a refresh since the server started.
fn ks_first_round(pg: &Cluster) {
    let done = wait_for(Duration::from_secs(120), Duration::from_millis(200), || {
        let n = ks_ask(pg, "SELECT count(*) FROM idp.provider_health WHERE last_refresh_duration IS NOT NULL");
        (n == "3|3|3").then_some(())
    });
    if done.is_none() {
        println!("# keyserver: the jobs' first refreshes did not all end within 120 s");
    }
}

#[test]
fn suite() {
    run("keyserver", |s| {
        s.say("a slow key server: a floor under max-age, a backoff after slow and failed refreshes");
        let rot1 = Key::generate(s, "rot1", Alg::RS256, Some("rot-1"));
        let rot2 = Key::generate(s, "rot2", Alg::RS256, Some("rot-2"));
        let keys = HttpServer::start(s, "keys", None);
        keys.put("ks.json", rot1.jwks());
        let plain = keys.url();

        // idp.refresh_interval at its default (10 minutes), idp.http_timeout too (5 s).
        let mut pg = Cluster::start(
            s,
            "primary",
            &[("shared_preload_libraries", "pg_idp"), ("idp.check_interval", "1"), ("idp.max_workers", "4")],
        );
        let mark = keys.requests().len();
        for db in DBS {
            pg.createdb(db);
            let mut c = pg.conn(db);
            c.batch("CREATE EXTENSION pg_idp");
            c.q(&format!(
                "SELECT idp.register_provider(jsonb_build_object('provider', p, 'issuer', 'https://' || p || '.example.com',
                   'jwks_uri', {} || path || {}), fetch_keys => false)
                 FROM (VALUES ('ks_slow', {}), ('ks_fast', {}), ('ks_down', {})) v(p, path)",
                lit(&plain),
                lit(&format!("?{db}")),
                lit(SLOW),
                lit(FAST),
                lit(DOWN)
            ));
        }
        ks_first_round(&pg);
        // 31 s after the last first fetch of the fast server (an early refresh is never made
        // within 30 s of the last fetch), while the slow and the failing ones still back off.
        wait_for(Duration::from_secs(120), Duration::from_millis(100), || {
            let past = ks_ask(
                &pg,
                "SELECT now() - last_refresh_attempt > interval '31 seconds' FROM idp.provider_health WHERE provider = 'ks_fast'",
            );
            (past == "t|t|t").then_some(())
        });
        s.check(
            "keyserver: max-age=1 from a fast key server: fetched once per database in over 30 s, the next refresh a minute after the last (the floor)",
            "1 1 1 t|t|t",
            format!(
                "{} {}",
                ks_each(&keys, mark, FAST),
                ks_ask(
                    &pg,
                    "SELECT next_refresh - last_refresh_attempt BETWEEN interval '60 seconds' AND interval '65 seconds'
                       FROM idp.provider_health WHERE provider = 'ks_fast'"
                )
            ),
        );
        s.check(
            "keyserver: max-age=1 from a key server answering in 3 s: keys stored, fetched once per database, one slow refresh, backing off 45 to 60 s, next refresh a minute on",
            "1 1 1 1 1 t t t|1 1 t t t|1 1 t t t",
            format!(
                "{} {}",
                ks_each(&keys, mark, SLOW),
                ks_ask(
                    &pg,
                    "SELECT key_count, consecutive_refresh_failures, last_refresh_duration >= interval '3 seconds',
                            refresh_backoff_until - (last_refresh_attempt + last_refresh_duration) BETWEEN interval '45 seconds' AND interval '60.1 seconds',
                            next_refresh - last_refresh_attempt >= interval '60 seconds'
                       FROM idp.provider_health WHERE provider = 'ks_slow'"
                )
            ),
        );
        s.check(
            "keyserver: a failing key server (503): fetched once per database, one failure in a row, next attempt at idp.refresh_interval (10 min)",
            "1 1 1 1 fetch_failed t|1 fetch_failed t|1 fetch_failed t",
            format!(
                "{} {}",
                ks_each(&keys, mark, DOWN),
                ks_ask(
                    &pg,
                    "SELECT consecutive_refresh_failures, last_refresh_error_code,
                            next_refresh - last_refresh_attempt >= interval '599 seconds'
                       FROM idp.provider_health WHERE provider = 'ks_down'"
                )
            ),
        );

        // Unknown kids (tokens signed with a key none of them has) for each provider, in each
        // database.
        let before = ks_ask(
            &pg,
            "SELECT count(*) FROM idp.provider_health WHERE refresh_backoff_until > now() + interval '5 seconds'",
        );
        for p in ["ks_fast", "ks_slow", "ks_down"] {
            let t = rot2
                .token(json!({"iss": format!("https://{p}.example.com"), "sub": "ks_user"}))
                .named(&format!("an unknown kid of {p}"))
                .mint();
            for db in DBS {
                pg.conn(db).q(&format!("SELECT idp.verify_jwt({})->>'error'", lit(&t)));
            }
        }
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            (ks_each(&keys, mark, FAST) == "2 2 2").then_some(())
        });
        // Jobs that would refresh the others early have run by now: what must NOT happen cannot
        // be polled for, so this is a window of 2 s in which a job would have fetched them (the
        // fast ones' early refreshes, made in the same rounds, are in already).
        std::thread::sleep(Duration::from_secs(2));
        s.check(
            "keyserver: an unknown kid: refreshed early where the provider is healthy (control), not where it backs off (slow, failing)",
            "2|2|2 2 2 2 1 1 1 1 1 1",
            format!(
                "{before} {} {} {}",
                ks_each(&keys, mark, FAST),
                ks_each(&keys, mark, SLOW),
                ks_each(&keys, mark, DOWN)
            ),
        );

        // The control of the floor: idp.refresh_interval below it is the superuser's, and kept;
        // the request log then shows the fast server fetched every 2 s, while the slow and the
        // failing ones back off.
        let mark = keys.requests().len(); // before the restart: its first jobs fetch at once
        pg.restart(&[("idp.refresh_interval", "2")]);
        ks_first_round(&pg);
        // The window the check names: how often each server is fetched in 15 s.
        std::thread::sleep(Duration::from_secs(15));
        let fast = ks_each(&keys, mark, FAST);
        s.check(
            "keyserver: control: under idp.refresh_interval = 2 s, max-age=1 from a fast server is fetched every 2 s (at least 4 times in 15 s per database)",
            "t t t",
            fast.split(' ')
                .map(|c| {
                    let n: usize = c.parse().unwrap_or(0);
                    if n >= 4 {
                        "t".to_string()
                    } else {
                        format!("f({c})")
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        );
        s.check(
            "keyserver: ... while the slow and the failing ones are fetched once per database, backing off",
            "1 1 1 1 1 1 1|1|1",
            format!(
                "{} {} {}",
                ks_each(&keys, mark, SLOW),
                ks_each(&keys, mark, DOWN),
                ks_ask(&pg, "SELECT min(consecutive_refresh_failures) FROM idp.provider_health WHERE provider IN ('ks_slow', 'ks_down')")
            ),
        );
    });
}
