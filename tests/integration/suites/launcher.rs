//! The launcher's limits (issue 28), each attack performed, each with a control:
//! - only a superuser fills the table of served databases: the launcher learns where pg_idp is
//!   installed from a record only a superuser can write (pg_idp's security label on the database),
//!   not by running a job in every database: a database owner cannot write or remove it; a role
//!   with CREATEDB makes more empty databases than the table holds (idp.max_databases, lowered for
//!   the test), and a superuser's new database with pg_idp and a provider is still served, gets
//!   its keys and (18) logs in. Controls: databases the superuser recorded do fill the table (the
//!   next is left out, with a WARNING), and past idp.max_databases_per_owner a WARNING names the
//!   owner;
//! - every job is bounded in time, and no database or owner holds more than its share: a database
//!   owner keeps an idle transaction holding a lock on pg_catalog.pg_namespace, with a VACUUM FULL
//!   queued behind it, in two databases with pg_idp (and a role with only CREATEDB does it in two
//!   new empty databases): their jobs wait for the lock, end at their lock_timeout, and back off
//!   (idp.served_databases() says why); meanwhile another database stays confirmed throughout,
//!   its keys keep being refreshed and (18) its logins keep working. Controls: the same attack
//!   holds a session without lock_timeout (as 0.5.0's jobs ran) for as long as it lasts, and the
//!   jobs were seen waiting for its lock;
//! - a job ends itself at idp.job_timeout; one that cannot (stopped here with SIGSTOP) is ended by
//!   the launcher 5 s later; neither crashes anything.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pg_idp_itests::{
    grep_c, grep_o, grep_o1, lit, run, todos_app, wait_for, Alg, Cluster, Conn, Fixtures, HttpServer, Key, OAuthClient,
    Pg,
};
use serde_json::json;

/// How long a wait for what the server does on its own may last (a bound, not an expectation:
/// the machines are shared and slow).
const BOUND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// A column of idp.served_databases() for database `db` (empty: no entry).
fn ln_row(pg: &Cluster, db: &str, column: &str) -> String {
    pg.served("app", db, column)
}

/// Poll until `column` of `db`'s entry is `want`; what it was (`no entry` when there is none).
fn ln_wait(pg: &Cluster, db: &str, column: &str, want: &str) -> String {
    let mut v = String::new();
    wait_for(BOUND, POLL, || {
        v = ln_row(pg, db, column);
        (v == want).then_some(())
    });
    if v.is_empty() {
        "no entry".into()
    } else {
        v
    }
}

/// Entries of the databases whose names match the LIKE pattern.
fn ln_entries(pg: &Cluster, pattern: &str) -> String {
    pg.conn("app").q(&format!(
        "SELECT count(*) FROM idp.served_databases() s JOIN pg_database d ON d.oid = s.datid WHERE d.datname LIKE {}",
        lit(pattern)
    ))
}

/// `ALTER SYSTEM` each of `settings` (a value, or `None`: RESET), reload, and wait until a new
/// session has them (the server has read its files again).
fn ln_set(pg: &Cluster, settings: &[(&str, Option<&str>)]) {
    let mut c = pg.conn("postgres");
    for (name, value) in settings {
        match value {
            Some(v) => c.batch(&format!("ALTER SYSTEM SET {name} = {v}")),
            None => c.batch(&format!("ALTER SYSTEM RESET {name}")),
        }
    }
    c.q("SELECT pg_reload_conf()");
    drop(c);
    let sql = settings
        .iter()
        .map(|(name, value)| {
            let want = value.map(lit).unwrap_or_else(|| "boot_val".into());
            format!("(SELECT setting = {want} FROM pg_settings WHERE name = {})", lit(name))
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let taken = wait_for(BOUND, Duration::from_millis(100), || {
        (pg.conn("postgres").q(&format!("SELECT {sql}")) == "t").then_some(())
    });
    assert!(taken.is_some(), "the server did not take {settings:?}");
}

/// The attack: in a database, an idle transaction holding a lock on pg_namespace, and a VACUUM
/// FULL of pg_namespace queued behind it.
struct Attack<'a> {
    pg: &'a Cluster,
    holders: Vec<Conn>,
    vacuums: Vec<JoinHandle<()>>,
}

impl Attack<'_> {
    fn hold(&mut self, db: &str, role: &str) {
        let pg = self.pg;
        let mut holder = pg.conn_as(db, role);
        holder.batch_each(&["BEGIN", "LOCK TABLE pg_catalog.pg_namespace IN ACCESS SHARE MODE"]);
        self.holders.push(holder);
        wait_for(BOUND, Duration::from_millis(100), || {
            let n = pg.conn("postgres").q(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = {} AND state = 'idle in transaction'",
                lit(db)
            ));
            (n == "1").then_some(())
        });
        let target = pg.target().db(db).user(role);
        self.vacuums.push(std::thread::spawn(move || {
            if let Ok(mut c) = target.try_connect() {
                let _ = c.try_q("VACUUM FULL pg_catalog.pg_namespace");
            }
        }));
        wait_for(BOUND, Duration::from_millis(100), || {
            let n = pg.conn("postgres").q(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = {} AND query LIKE 'VACUUM FULL%' AND wait_event_type = 'Lock'",
                lit(db)
            ));
            (n == "1").then_some(())
        });
    }

    /// End it: the holders' sessions close (their transactions roll back), the VACUUMs run.
    fn release(&mut self) {
        self.holders.clear();
        let pg = self.pg;
        wait_for(BOUND, Duration::from_millis(100), || {
            let n = pg.conn("postgres").q("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'VACUUM FULL pg_catalog.pg_namespace%' OR (datname LIKE 'ln\\_%' AND state = 'idle in transaction')");
            (n == "0").then_some(())
        });
        for v in self.vacuums.drain(..) {
            let _ = v.join();
        }
    }
}

#[test]
fn suite() {
    run("launcher", |s| {
        s.say("launcher: only a superuser fills the served table; every job is bounded; no database or owner holds more than its share");
        let v18 = Pg::get().version >= 18;
        let f = Fixtures::new(s);
        let mut pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        let mut settings = vec![("shared_preload_libraries", "pg_idp"), ("idp.check_interval", "2")];
        if v18 {
            settings.push(("oauth_validator_libraries", "pg_idp"));
        }
        pg.restart(&settings);
        let pg = pg;
        let log = pg.log();

        let steady_key = Key::generate(s, "steady", Alg::ES256, Some("steady-1"));
        let keys = HttpServer::start(s, "keys", None);
        keys.put("steady.json", steady_key.jwks());
        let steady = steady_key
            .token(json!({"iss": "https://steady.test", "sub": "user_steady", "aud": "urn:launcher:db", "scope": "openid db"}))
            .named("the steady token")
            .mint();
        let provider = json!({"provider": "steady", "issuer": "https://steady.test",
            "jwks_uri": format!("{}/steady.json", keys.url()),
            "login": {"roles": ["ln_user"], "audience": "urn:launcher:db"}})
        .to_string();
        // A superuser's database with pg_idp and a provider registered without keys (the jobs
        // fetch them).
        let ln_newdb = |db: &str| {
            pg.conn("postgres").q(&format!("CREATE DATABASE {db}"));
            pg.conn(db).batch_each(&[
                "CREATE EXTENSION pg_idp",
                &format!("SELECT idp.register_provider({}, fetch_keys => false)", lit(&provider)),
                "GRANT USAGE ON SCHEMA idp TO PUBLIC",
            ]);
        };
        // Poll until the steady token verifies in `db` (its keys were fetched by a job).
        let ln_valid = |db: &str| -> String {
            let mut v = String::new();
            wait_for(BOUND, POLL, || {
                v = pg
                    .conn(db)
                    .try_q(&format!("SELECT idp.verify_jwt({})->>'valid'", lit(&steady)))
                    .unwrap_or_default();
                (v == "true").then_some(())
            });
            v
        };
        pg.conn("postgres").q("CREATE ROLE ln_user LOGIN");
        let client = v18.then(|| OAuthClient::build(s));
        let saved_hba = pg.hba();
        if v18 {
            pg.set_hba(&format!(
                "local all ln_user oauth issuer=\"https://steady.test\" scope=\"openid db\" delegate_ident_mapping=1\n{saved_hba}"
            ));
            pg.conn("postgres").q("SELECT pg_reload_conf()");
        }
        // The steady token logs in to `db` as ln_user: the user id, or the failure.
        let ln_login = |db: &str| -> String {
            let Some(client) = &client else { return String::new() };
            let out =
                client.login(&pg, db, "ln_user", "https://steady.test", &steady, &["SELECT idp.requesting_user_id()"]);
            out.lines().next().unwrap_or("").to_string()
        };
        let ln_poll_login = |db: &str| -> String {
            let mut got = String::new();
            wait_for(BOUND, POLL, || {
                got = ln_login(db);
                (got == "user_steady").then_some(())
            });
            got
        };

        s.say("launcher: the record of where pg_idp is installed (only a superuser writes it)");
        s.check(
            "launcher: CREATE EXTENSION recorded pg_idp in its database (pg_idp's security label), and the database is served",
            "pg_idp installed serving",
            format!(
                "{} {}",
                pg.conn("postgres").q("SELECT provider || ' ' || label FROM pg_seclabels WHERE objtype = 'database' AND objname = 'app'"),
                ln_wait(&pg, "app", "state", "serving")
            ),
        );
        pg.conn("postgres").q("CREATE ROLE ln_filler LOGIN CREATEDB");
        pg.conn_as("postgres", "ln_filler").q("CREATE DATABASE ln_own");
        let with_for =
            pg.conn_as("ln_own", "ln_filler").verbose(&["SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS 'installed'"]);
        let without = pg.conn_as("ln_own", "ln_filler").verbose(&["SECURITY LABEL ON DATABASE ln_own IS 'installed'"]);
        s.check(
            "launcher: a database owner cannot write pg_idp's record on her database (42501, label_not_superuser), with FOR pg_idp or without",
            "42501 label_not_superuser 42501",
            format!(
                "{}{}",
                grep_o(&with_for, "42501|label_not_superuser").lines().map(|l| format!("{l} ")).collect::<String>(),
                grep_o1(&without, "42501")
            ),
        );
        pg.conn("postgres").q("SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS 'installed'");
        s.check(
            "launcher: ... nor remove it (42501)",
            "42501",
            grep_o1(
                &pg.conn_as("ln_own", "ln_filler").verbose(&["SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS NULL"]),
                "42501",
            ),
        );
        let codes: Vec<String> = [
            "SECURITY LABEL FOR pg_idp ON ROLE ln_filler IS 'installed'",
            "SECURITY LABEL FOR pg_idp ON DATABASE ln_own IS 'other'",
        ]
        .iter()
        .map(|st| grep_o1(&pg.conn("postgres").verbose(&[st]), "22023"))
        .filter(|c| !c.is_empty())
        .collect();
        s.check(
            "launcher: pg_idp's label is for databases, and says 'installed' (22023, label_invalid)",
            "22023 22023",
            codes.join(" "),
        );
        let mut labels = String::new();
        wait_for(BOUND, POLL, || {
            labels = pg.conn("postgres").q("SELECT count(*) FROM pg_seclabels WHERE objname = 'ln_own'");
            (labels == "0").then_some(())
        });
        let mut entries = String::new();
        wait_for(BOUND, POLL, || {
            entries = ln_entries(&pg, "ln_own");
            (entries == "0").then_some(())
        });
        s.check(
            "launcher: control: the superuser's record is taken up; the job finds no pg_idp there and removes it (no entry left)",
            "0 0",
            format!("{labels} {entries}"),
        );

        s.say("launcher: a CREATEDB role makes more databases than the served table holds");
        // Room for one more database in the table: the next one pg_idp is installed in.
        let ln_max: usize =
            pg.conn("app").q("SELECT count(*) FROM idp.served_databases()").parse::<usize>().expect("a count") + 1;
        let ln_max_text = ln_max.to_string();
        ln_set(&pg, &[("idp.max_databases", Some(&ln_max_text)), ("idp.max_databases_per_owner", Some("2"))]);
        for i in 1..=ln_max + 2 {
            pg.conn_as("postgres", "ln_filler").q(&format!("CREATE DATABASE ln_fill_{i}"));
        }
        // Rounds of the launcher (the time the attack is given: what must not happen cannot be
        // waited for).
        std::thread::sleep(Duration::from_secs(2));
        s.check(
            &format!(
                "launcher: the CREATEDB role's {} empty databases take no entry (idp.max_databases = {ln_max})",
                ln_max + 2
            ),
            "0",
            ln_entries(&pg, "ln\\_fill\\_%"),
        );
        ln_newdb("ln_late");
        s.check(
            "launcher: ... and a superuser's new database with pg_idp and a provider is served",
            "serving",
            ln_wait(&pg, "ln_late", "state", "serving"),
        );
        s.check("launcher: ... and gets its keys", "true", ln_valid("ln_late"));
        if v18 {
            s.check("launcher: ... and logs in (OAuth)", "user_steady", ln_poll_login("ln_late"));
        }
        // Controls: databases the superuser recorded do take the entries. Past the limit per owner
        // (2), a WARNING names the owner; past the table's size, the next database is not served.
        ln_set(&pg, &[("idp.max_databases", None)]);
        let off = log.offset();
        for i in 1..=3 {
            pg.conn(&format!("ln_fill_{i}")).q("CREATE EXTENSION pg_idp");
        }
        wait_for(BOUND, POLL, || (ln_entries(&pg, "ln\\_fill\\_%") == "2").then_some(()));
        // And no third one (time given).
        std::thread::sleep(Duration::from_secs(1));
        s.check(
            "launcher: control: pg_idp installed in 3 of the CREATEDB role's databases: 2 served (idp.max_databases_per_owner = 2)",
            "2",
            ln_entries(&pg, "ln\\_fill\\_%"),
        );
        log.wait_for_line(off, "idp.max_databases_per_owner", BOUND);
        s.check(
            "launcher: ... and a WARNING names the owner and the database left out",
            "1",
            log.count_since(
                off,
                "pg_idp: role \"ln_filler\" owns more than idp.max_databases_per_owner = 2 databases with pg_idp: 1 of them not served (\"ln_fill_3\")",
            )
            .to_string(),
        );
        let full = pg.conn("app").q("SELECT count(*) FROM idp.served_databases()");
        ln_set(&pg, &[("idp.max_databases", Some(&full))]);
        let off = log.offset();
        ln_newdb("ln_full");
        // Rounds of the launcher (time given).
        std::thread::sleep(Duration::from_secs(2));
        let v = ln_row(&pg, "ln_full", "state");
        s.check(
            "launcher: control: with the table full of the superuser's databases, a new one is not served",
            "no entry",
            if v.is_empty() { "no entry".to_string() } else { v },
        );
        log.wait_for_line(off, "is not served", BOUND);
        s.check(
            "launcher: ... and a WARNING names it",
            "1",
            grep_c(
                &log.since(off),
                "pg_idp: more than idp.max_databases = [0-9]* databases with pg_idp: database \"ln_full\" is not served",
            )
            .to_string(),
        );
        ln_set(&pg, &[("idp.max_databases", None), ("idp.max_databases_per_owner", None)]);
        s.check("launcher: ... and served once there is room", "serving", ln_wait(&pg, "ln_full", "state", "serving"));

        s.say("launcher: a database owner holds a lock on pg_namespace with a VACUUM FULL queued behind it, in two databases (and a CREATEDB role in two empty ones)");
        let mut c = pg.conn("postgres");
        c.q("CREATE ROLE ln_mallory LOGIN");
        c.q("CREATE DATABASE ln_hostile1 OWNER ln_mallory");
        c.q("CREATE DATABASE ln_hostile2 OWNER ln_mallory");
        drop(c);
        for d in ["ln_hostile1", "ln_hostile2"] {
            pg.conn(d).q("CREATE EXTENSION pg_idp");
        }
        pg.conn_as("postgres", "ln_filler").batch_each(&["CREATE DATABASE ln_empty1", "CREATE DATABASE ln_empty2"]);
        // The healthy database: its provider's keys are due every 4 s (a job schedules them as it
        // fetches).
        ln_set(&pg, &[("idp.refresh_interval", Some("4"))]);
        ln_newdb("ln_steady");
        s.check(
            "launcher: the databases are served before the attack",
            "serving serving serving true",
            format!(
                "{} {} {} {}",
                ln_wait(&pg, "ln_hostile1", "state", "serving"),
                ln_wait(&pg, "ln_hostile2", "state", "serving"),
                ln_wait(&pg, "ln_steady", "state", "serving"),
                ln_valid("ln_steady")
            ),
        );
        // The attack: in each database, an idle transaction holding a lock on pg_namespace (its
        // session kept open by this suite), and a VACUUM FULL of pg_namespace queued behind it.
        let mut attack = Attack { pg: &pg, holders: Vec::new(), vacuums: Vec::new() };
        attack.hold("ln_hostile1", "ln_mallory");
        attack.hold("ln_hostile2", "ln_mallory");
        attack.hold("ln_empty1", "ln_filler");
        attack.hold("ln_empty2", "ln_filler");
        s.check(
            "launcher: the attack is in place: 4 idle transactions holding the lock, 4 VACUUM FULL waiting",
            "4 4",
            pg.conn("postgres").q("SELECT count(*) FILTER (WHERE state = 'idle in transaction') || ' ' || count(*) FILTER (WHERE query LIKE 'VACUUM FULL%' AND wait_event_type = 'Lock') FROM pg_stat_activity WHERE datname IN ('ln_hostile1', 'ln_hostile2', 'ln_empty1', 'ln_empty2')"),
        );
        // 30 s of attack (more than 12 check intervals: the periodic looks come due in every
        // database). Watch the healthy database: how long since it was last confirmed (at most),
        // its key refreshes, and (18) a login every round; and whether a job was seen waiting for
        // the attack's lock.
        let (mut worst, mut refreshed, mut seen_waiting, mut logins, mut logins_ok) = (0f64, Vec::new(), 0, 0, 0);
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            let a = ln_row(&pg, "ln_steady", "confirmed_seconds_ago").parse::<f64>().unwrap_or(999.0);
            worst = worst.max(a);
            refreshed.push(pg.conn("ln_steady").q(
                "SELECT extract(epoch FROM last_refresh_success) FROM idp.provider_health WHERE provider = 'steady'",
            ));
            if pg.conn("postgres").q("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_idp job' AND datname IN ('ln_hostile1', 'ln_hostile2') AND wait_event_type = 'Lock'") != "0" {
                seen_waiting += 1;
            }
            if v18 {
                logins += 1;
                if ln_login("ln_steady") == "user_steady" {
                    logins_ok += 1;
                }
            }
            // The pace of the watch (this is an observation for a given time, not a wait).
            std::thread::sleep(Duration::from_millis(500));
        }
        s.check(
            "launcher: control: the hostile databases' jobs were seen waiting for the attack's lock",
            "yes",
            if seen_waiting > 0 { "yes".to_string() } else { format!("no ({seen_waiting})") },
        );
        let timed_out = |db: &str, query: &str| -> String {
            let out = pg.conn(db).each(&["SET lock_timeout = 0", "SET statement_timeout = '3s'", query]);
            grep_o1(&out.join("\n"), "canceling statement due to statement timeout")
        };
        s.check(
            "launcher: control: the same attack holds a session without lock_timeout, as 0.5.0's jobs ran (its query still waiting for the lock after 3 s)",
            "canceling statement due to statement timeout",
            timed_out(
                "ln_hostile1",
                "SELECT count(*) FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace",
            ),
        );
        s.check(
            "launcher: ... the same in the CREATEDB role's empty database",
            "canceling statement due to statement timeout",
            timed_out("ln_empty1", "SELECT count(*) FROM pg_catalog.pg_namespace"),
        );
        let rows: Vec<String> = ["ln_hostile1", "ln_hostile2"]
            .iter()
            .map(|d| {
                ln_row(
                    &pg,
                    d,
                    "last_job || '|' || (failures >= 2) || '|' || (retry_at IS NOT NULL) || '|' || (reason LIKE '%lock_timeout (2000 ms)%')",
                )
            })
            .filter(|r| !r.is_empty())
            .collect();
        s.check(
            "launcher: each hostile database's job ended at its lock_timeout, and the database backs off (idp.served_databases() says why)",
            "lock_timeout|true|true|true lock_timeout|true|true|true",
            rows.join(" "),
        );
        s.check(
            "launcher: ... and the log says so",
            "yes",
            if log.count("pg_idp: job in database \"ln_hostile1\" failed: canceling statement due to lock timeout (it waits at most 2000 ms for a lock)") > 0 { "yes" } else { "no" },
        );
        s.check(
            "launcher: the CREATEDB role's empty databases have no entry: no job ever waits there",
            "0",
            ln_entries(&pg, "ln\\_empty%"),
        );
        s.check(
            "launcher: throughout the attack, the healthy database stayed confirmed within the validator's bound (3 x idp.check_interval = 6 s)",
            "yes",
            if worst <= 6.0 { "yes".to_string() } else { format!("no ({worst} s)") },
        );
        let mut distinct: Vec<&String> = refreshed.iter().filter(|r| !r.is_empty()).collect();
        distinct.sort();
        distinct.dedup();
        s.check(
            "launcher: ... and its keys kept being refreshed (more than 2 refreshes during the attack)",
            "yes",
            if distinct.len() > 2 { "yes".to_string() } else { format!("no ({})", distinct.len()) },
        );
        if v18 {
            s.check(
                &format!("launcher: ... and its logins kept working ({logins_ok} of {logins})"),
                logins.to_string(),
                logins_ok.to_string(),
            );
        }

        s.say("launcher: the attack ends");
        attack.release();
        for d in ["ln_hostile1", "ln_hostile2"] {
            pg.conn(d).q("SELECT idp._launcher_notify()");
        }
        let served_again = |d: &str| -> String {
            let mut v = String::new();
            wait_for(BOUND, POLL, || {
                v = ln_row(&pg, d, "last_job || ' ' || failures");
                (v == "succeeded 0").then_some(())
            });
            v
        };
        s.check(
            "launcher: told (idp._launcher_notify() ends the backoff), the hostile databases are served again",
            "succeeded 0 succeeded 0",
            format!("{} {}", served_again("ln_hostile1"), served_again("ln_hostile2")),
        );

        s.say("launcher: a job that runs past idp.job_timeout");
        pg.conn("postgres").q("CREATE DATABASE ln_stuck OWNER ln_mallory");
        pg.conn("ln_stuck").q("CREATE EXTENSION pg_idp");
        s.check("launcher: served before the attack", "serving", ln_wait(&pg, "ln_stuck", "state", "serving"));
        ln_set(&pg, &[("idp.job_timeout", Some("1"))]);
        let off = log.offset();
        attack.hold("ln_stuck", "ln_mallory");
        // Its next periodic look (within 6 check intervals) waits for the lock: with
        // idp.job_timeout = 1 s (the lock_timeout too, but armed later), the job's own deadline
        // ends it.
        let mut v = String::new();
        wait_for(Duration::from_secs(90), POLL, || {
            v = ln_row(&pg, "ln_stuck", "last_job");
            (v == "timed_out").then_some(())
        });
        s.check(
            "launcher: with idp.job_timeout = 1 s, a job waiting for the lock ends itself at its deadline (timed_out)",
            "timed_out",
            v,
        );
        let said = "pg_idp: job in database \"ln_stuck\" failed: canceling statement due to statement timeout (idp.job_timeout is 1 s)";
        log.wait_for_line(off, said, BOUND);
        s.check("launcher: ... and says so", "yes", if log.count_since(off, said) > 0 { "yes" } else { "no" });
        // A job that cannot look at its interrupts (stopped here) is ended by the launcher 5 s
        // after idp.job_timeout; it ends when it runs again, its transaction rolled back.
        ln_set(&pg, &[("idp.job_timeout", Some("3"))]);
        let off = log.offset();
        let mut job = String::new();
        wait_for(BOUND, Duration::from_millis(100), || {
            job = pg.conn("postgres").q("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_idp job' AND datname = 'ln_stuck' AND wait_event_type = 'Lock'");
            (!job.is_empty()).then_some(())
        });
        let job_pid: Option<i32> = job.lines().next().and_then(|p| p.parse().ok());
        if let Some(pid) = job_pid {
            // SAFETY: kill(2) with a pid read from pg_stat_activity (a job of the test's own
            // server) and a valid signal number; no memory is shared.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        let ended = "pg_idp: job in database \"ln_stuck\" ran past idp.job_timeout (3 s): ended";
        log.wait_for_line(off, "job in database \"ln_stuck\" ran past idp.job_timeout (3 s): ended", BOUND);
        s.check(
            "launcher: a job that cannot end itself is ended by the launcher (idp.job_timeout + 5 s)",
            "1",
            log.count_since(off, ended).to_string(),
        );
        if let Some(pid) = job_pid {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
        wait_for(BOUND, Duration::from_millis(100), || {
            let p = pg
                .conn("postgres")
                .q(&format!("SELECT pid FROM pg_stat_activity WHERE pid = {}", job_pid.unwrap_or(0)));
            p.is_empty().then_some(())
        });
        s.check(
            "launcher: ... it exits once it runs again (timed_out), without crashing anything",
            "timed_out 0 0",
            format!(
                "{} {} {}",
                ln_row(&pg, "ln_stuck", "last_job"),
                log.count("terminated by signal"),
                log.count_since(off, "PANIC")
            ),
        );
        attack.release();
        ln_set(&pg, &[("idp.job_timeout", None), ("idp.refresh_interval", None)]);
        pg.conn("ln_stuck").q("SELECT idp._launcher_notify()");
        s.check(
            "launcher: ... and its database is served again once the lock is gone",
            "succeeded 0",
            served_again("ln_stuck"),
        );

        if v18 {
            pg.set_hba(&saved_hba);
            pg.conn("postgres").q("SELECT pg_reload_conf()");
        }
        drop(keys);
        // The databases go, forced (their jobs with them), before the last check.
        let mut dbs: Vec<String> = [
            "ln_own",
            "ln_late",
            "ln_full",
            "ln_steady",
            "ln_hostile1",
            "ln_hostile2",
            "ln_stuck",
            "ln_empty1",
            "ln_empty2",
        ]
        .iter()
        .map(|d| d.to_string())
        .collect();
        dbs.extend((1..=ln_max + 2).map(|i| format!("ln_fill_{i}")));
        let mut c = pg.conn("postgres");
        for d in &dbs {
            let _ = c.try_q(&format!("DROP DATABASE IF EXISTS {d} WITH (FORCE)"));
        }
        drop(c);
        pg.conn("postgres").batch_each(&[
            "DROP ROLE IF EXISTS ln_mallory",
            "DROP ROLE IF EXISTS ln_filler",
            "DROP ROLE IF EXISTS ln_user",
        ]);
        s.check(
            "launcher: no pg_idp process crashed",
            "0",
            grep_c(&log.text(), r#"background worker "pg_idp (job|launcher)" \(PID [0-9]+\) was terminated by signal"#)
                .to_string(),
        );
    });
}
