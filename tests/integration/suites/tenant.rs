//! The cluster's trust boundary. A database owner who is not a superuser (a tenant, in a cluster
//! with one database per tenant) attacks what pg_idp does with the cluster's authority: its
//! launcher and jobs (they run as the bootstrap superuser in every database), the install, and on
//! PostgreSQL 18 the login snapshot the OAuth validator trusts. Every attack must fail, and each
//! has a control showing that the same check sees the attack when it works. Then what the
//! boundary comes with: every database where a superuser installed pg_idp is served, with no
//! list and no restart.

use std::time::Duration;

use pg_idp_itests::{
    grep_c, grep_o, grep_o1, lit, run, todos_app, wait_for, Alg, Cluster, Fixtures, HttpServer, Key, OAuthClient, Pg,
};
use serde_json::json;

/// How long a wait for what the server does on its own may last (a bound, not an expectation:
/// the machines are shared and slow).
const BOUND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// The settings of every restart: pg_idp preloaded, the launcher looking every second, and on
/// 18 pg_idp as the OAuth validator; the allow-lists of the second section dropped (a setting
/// with an empty value is dropped by `Cluster::restart`).
fn tenant_settings(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut s = vec![
        ("shared_preload_libraries", "pg_idp"),
        ("idp.check_interval", "1"),
        ("idp.worker_database", ""),
        ("idp.login_databases", ""),
    ];
    if Pg::get().version >= 18 {
        s.push(("oauth_validator_libraries", "pg_idp"));
    }
    for (k, v) in extra {
        s.retain(|(name, _)| name != k);
        s.push((k, v));
    }
    s
}

fn oid_of(pg: &Cluster, db: &str) -> String {
    pg.conn("postgres").q(&format!("SELECT oid FROM pg_database WHERE datname = {}", lit(db)))
}

/// What pg_idp's launcher says of database `db`, once it is `state` (waited for); `none` when
/// it keeps no entry.
fn wait_state(pg: &Cluster, db: &str, state: &str) -> String {
    let mut s = String::new();
    wait_for(BOUND, POLL, || {
        s = pg.served("app", db, "state");
        (s == state).then_some(())
    });
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

/// Wait until the launcher keeps no entry for database `db`: pg_idp is not recorded there (or no
/// longer).
fn wait_gone(pg: &Cluster, db: &str) -> String {
    let mut s = String::new();
    wait_for(BOUND, POLL, || {
        s = pg.served("app", db, "state");
        s.is_empty().then_some(())
    });
    if s.is_empty() {
        "no entry".into()
    } else {
        s
    }
}

fn is_super(pg: &Cluster, role: &str) -> String {
    pg.conn("postgres").q(&format!("SELECT rolsuper FROM pg_roles WHERE rolname = {}", lit(role)))
}

/// Rows the trap wrote from pg_idp's own processes (jobs, launcher), and from client backends.
fn hijacks(pg: &Cluster, db: &str) -> String {
    pg.conn(db).q("SELECT count(*) FILTER (WHERE backend LIKE 'pg_idp%') || ' ' || count(*) FILTER (WHERE backend = 'client backend') FROM public.hijacks")
}

/// Whether the login snapshot of database `db` exists (PostgreSQL 18).
fn snapshot(pg: &Cluster, db: &str) -> &'static str {
    if pg.data().join("pg_idp").join(format!("{}.json", oid_of(pg, db))).exists() {
        "yes"
    } else {
        "no"
    }
}

/// The attacker's trap: a function that records who ran it (and from which kind of process) and,
/// run by a superuser, makes its owner a superuser.
fn trap_sql(owner: &str) -> String {
    format!(
        r#"CREATE TABLE public.hijacks (who text, backend text);
GRANT INSERT ON public.hijacks TO PUBLIC;
CREATE SCHEMA IF NOT EXISTS idp;
CREATE FUNCTION idp.escalate() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.hijacks SELECT current_user, backend_type FROM pg_stat_activity WHERE pid = pg_backend_pid();
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {owner} SUPERUSER';
    END IF;
    RETURN 'none';
END $$;
CREATE FUNCTION idp._citus_role() RETURNS text LANGUAGE sql AS $$ SELECT idp.escalate() $$;
CREATE FUNCTION idp.registry_fingerprint() RETURNS text LANGUAGE sql AS $$ SELECT idp.escalate() $$;
CREATE FUNCTION idp.sync_nodes() RETURNS TABLE (in_sync boolean) LANGUAGE sql AS $$ SELECT idp.escalate() IS NULL $$;
-- The registry as a view: reading it runs the trap.
CREATE VIEW idp.provider_registry AS
    SELECT 'trap'::text AS name, idp.escalate() AS issuer, '{{}}'::jsonb AS config;
CREATE VIEW idp.revocation_list AS
    SELECT 'trap'::text AS provider, idp.escalate() AS kind, 'x'::text AS subject, now() AS issued_before;
"#
    )
}

/// `ok` when every statement succeeds, one by one in one session, as `psql -c A -c B` with
/// ON_ERROR_STOP (stopping at the first failure); `failed` otherwise.
fn ok_or_failed(pg: &Cluster, db: &str, statements: &[&str]) -> &'static str {
    let mut c = pg.conn(db);
    if statements.iter().all(|s| c.try_q(s).is_ok()) {
        "ok"
    } else {
        "failed"
    }
}

/// The PostgreSQL 18 logins of this suite: the hook client, and the log to read refusals from.
struct Logins<'a> {
    pg: &'a Cluster,
    client: &'a OAuthClient,
}

impl Logins<'_> {
    /// Log in to `db` as `role` with `token` and run `sql`. Each role's pg_hba.conf line names the
    /// issuer of its tokens (below); the client is told it.
    fn login(&self, db: &str, role: &str, token: &str, sql: &str) -> String {
        let iss = if role == "victim_super" { "https://mine.test" } else { "https://fresh.test" };
        self.client.login(self.pg, db, role, iss, token, &[sql])
    }

    /// Log in until it answers `want` (waited for); what it answered last.
    fn poll(&self, want: &str, db: &str, role: &str, token: &str, sql: &str) -> String {
        let mut got = String::new();
        wait_for(BOUND, POLL, || {
            got = self.login(db, role, token, sql);
            (got == want).then_some(())
        });
        got
    }

    /// The pg_idp error code of the log line the refusal of this login wrote.
    fn refused_code(&self, db: &str, role: &str, token: &str) -> String {
        let log = self.pg.log();
        let off = log.offset();
        self.login(db, role, token, "SELECT 1");
        let line = log.wait_for_line(off, "pg_idp: login refused", Duration::from_secs(15)).unwrap_or_default();
        grep_o(&line, "pg_idp error code: [a-z_]+").replace("pg_idp error code: ", "")
    }
}

#[test]
fn suite() {
    run("tenant", |s| {
        s.say("tenant owner: a database owner never gains what the superuser has");
        let v18 = Pg::get().version >= 18;
        let f = Fixtures::new(s);
        let mut pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        let log = pg.log();

        s.say("tenant owner: a trap where pg_idp is not installed (launcher serving every database)");
        pg.conn("postgres").q("CREATE ROLE mallory LOGIN");
        pg.conn("postgres").q("CREATE DATABASE tenant OWNER mallory");
        pg.conn_as("tenant", "mallory").batch(&trap_sql("mallory"));
        pg.restart(&tenant_settings(&[]));
        s.check(
            "tenant: the launcher keeps no entry for the tenant's database (nothing records pg_idp there)",
            "no entry",
            wait_gone(&pg, "tenant"),
        );
        // More rounds of the launcher, and of any job it would start: the time the attack is
        // given to work (what must not happen cannot be waited for).
        std::thread::sleep(Duration::from_secs(2));
        s.check(
            "tenant: nothing of the tenant's schema idp ran in pg_idp's processes; the owner is no superuser",
            "0 0 f",
            format!("{} {}", hijacks(&pg, "tenant"), is_super(&pg, "mallory")),
        );

        s.say("tenant owner: the same trap in a database the allow-lists name");
        let mut allow = vec![("idp.worker_database", "tenant")];
        if v18 {
            allow.push(("idp.login_databases", "tenant,app"));
        }
        let off = log.offset();
        pg.restart(&tenant_settings(&allow));
        log.wait_for_line(off, "pg_idp: launcher started", BOUND);
        // Rounds of the launcher with the allow-lists naming the tenant (as above: time given).
        std::thread::sleep(Duration::from_secs(3));
        s.check(
            "tenant: named by idp.worker_database (and idp.login_databases): still nothing ran; the owner is no superuser",
            "0 0 f",
            format!("{} {}", hijacks(&pg, "tenant"), is_super(&pg, "mallory")),
        );
        if v18 {
            s.check("tenant: and no login snapshot was written for it", "no", snapshot(&pg, "tenant"));
        }
        pg.restart(&tenant_settings(&[]));
        // The control: the trap works, and these checks see it, when a superuser session calls it.
        pg.conn("tenant").q("SELECT idp._citus_role()");
        s.check(
            "tenant: control: called by a superuser, the trap runs and makes its owner a superuser",
            "0 1 t",
            format!("{} {}", hijacks(&pg, "tenant"), is_super(&pg, "mallory")),
        );
        pg.conn("tenant").batch_each(&["ALTER ROLE mallory NOSUPERUSER", "TRUNCATE public.hijacks"]);

        s.say("tenant owner: a schema idp made before CREATE EXTENSION");
        let _ = pg.conn_as("tenant", "mallory").try_q("DROP SCHEMA idp CASCADE");
        let mut m = pg.conn_as("tenant", "mallory");
        m.batch("CREATE SCHEMA idp");
        m.batch("CREATE FUNCTION idp.escalate() RETURNS text LANGUAGE sql AS 'SELECT 1::text'");
        drop(m);
        s.check(
            "tenant: CREATE EXTENSION pg_idp refuses a schema idp it did not create (42P06)",
            "42P06",
            grep_o1(&pg.conn("tenant").verbose(&["CREATE EXTENSION pg_idp"]), "42P06"),
        );
        s.check(
            "tenant: ... and installed nothing",
            "0",
            pg.conn("tenant").q("SELECT count(*) FROM pg_extension WHERE extname = 'pg_idp'"),
        );
        let _ = pg.conn_as("tenant", "mallory").try_q("DROP SCHEMA idp CASCADE");
        s.check(
            "tenant: control: without that schema, CREATE EXTENSION works",
            "ok",
            ok_or_failed(&pg, "tenant", &["CREATE EXTENSION pg_idp"]),
        );
        let codes: Vec<String> = [
            "ALTER SCHEMA idp RENAME TO x",
            "DROP SCHEMA idp CASCADE",
            "CREATE FUNCTION idp.requesting_user_id(int) RETURNS text LANGUAGE sql AS 'SELECT 1::text'",
        ]
        .iter()
        .map(|st| grep_o1(&pg.conn_as("tenant", "mallory").verbose(&[st]), "42501"))
        .filter(|c| !c.is_empty())
        .collect();
        s.check(
            "tenant: the owner cannot rename, drop, or add to pg_idp's schema (42501 each)",
            "42501 42501 42501",
            codes.join(" "),
        );
        s.check(
            "tenant: ... nor drop the extension (42501)",
            "42501",
            grep_o1(&pg.conn_as("tenant", "mallory").verbose(&["DROP EXTENSION pg_idp"]), "42501"),
        );
        s.check(
            "tenant: the launcher serves the database once the superuser installed pg_idp",
            "serving",
            wait_state(&pg, "tenant", "serving"),
        );
        s.check(
            "tenant: control: DROP EXTENSION and CREATE EXTENSION again reuse the empty schema left behind",
            "ok",
            ok_or_failed(&pg, "tenant", &["DROP EXTENSION pg_idp", "CREATE EXTENSION pg_idp"]),
        );

        s.say("tenant owner: a schema idp handed to the owner (as a 0.4.0 install into the owner's schema was)");
        pg.conn("postgres").q("CREATE ROLE mallory3 LOGIN");
        pg.conn("postgres").q("CREATE DATABASE legacy OWNER mallory3");
        pg.conn("legacy").q("CREATE EXTENSION pg_idp");
        s.check(
            "tenant: served while pg_idp's schema is the superuser's",
            "serving",
            wait_state(&pg, "legacy", "serving"),
        );
        let off = log.offset();
        pg.conn("legacy").batch_each(&["ALTER SCHEMA idp OWNER TO mallory3", "SELECT idp._launcher_notify()"]);
        s.check(
            "tenant: once a non-superuser owns schema idp the database is not served (untrusted)",
            "untrusted",
            wait_state(&pg, "legacy", "untrusted"),
        );
        s.check(
            "tenant: ... and the log says why",
            "1",
            log.count_since(
                off,
                "pg_idp: database \"legacy\" is not served: schema idp is owned by a role that is not a superuser",
            )
            .to_string(),
        );
        pg.conn("legacy").batch_each(&["ALTER SCHEMA idp OWNER TO postgres", "SELECT idp._launcher_notify()"]);
        s.check(
            "tenant: control: given back to the superuser, it is served again",
            "serving",
            wait_state(&pg, "legacy", "serving"),
        );

        s.say("tenant owner: every database with pg_idp is served, with no list and no restart");
        let fresh = Key::generate(s, "fresh", Alg::ES256, Some("fresh-1"));
        let keys = HttpServer::start(s, "keys", None);
        keys.put("fresh.json", fresh.jwks());
        pg.conn("postgres").q("CREATE DATABASE newdb");
        let mut c = pg.conn("newdb");
        c.batch("CREATE EXTENSION pg_idp");
        c.q(&format!(
            "SELECT idp.register_provider({}, fetch_keys => false)",
            lit(&json!({"provider": "fresh", "issuer": "https://fresh.test",
                "jwks_uri": format!("{}/fresh.json", keys.url()),
                "login": {"roles": ["fresh_user"], "audience": "urn:tenant:db"}})
            .to_string())
        ));
        drop(c);
        let fresh_token = fresh
            .token(json!({"iss": "https://fresh.test", "sub": "user_fresh", "aud": "urn:tenant:db"}))
            .named("the fresh token")
            .mint();
        let mut got = String::new();
        wait_for(BOUND, Duration::from_millis(200), || {
            got = pg
                .conn("newdb")
                .try_q(&format!("SELECT idp.verify_jwt({})->>'valid'", lit(&fresh_token)))
                .unwrap_or_default();
            (got == "true").then_some(())
        });
        s.check(
            "tenant: a database created now, with pg_idp and a provider registered without keys, gets its keys",
            "true",
            got,
        );
        if v18 {
            let client = OAuthClient::build(s);
            let logins = Logins { pg: &pg, client: &client };
            let saved_hba = pg.hba();
            pg.set_hba(
                r#"local all postgres trust
local replication postgres trust
local all fresh_user,app_user oauth issuer="https://fresh.test" scope="openid" delegate_ident_mapping=1
local all victim_super oauth issuer="https://mine.test" scope="openid" delegate_ident_mapping=1
local all all trust
"#,
            );
            pg.conn("postgres").batch_each(&[
                "CREATE ROLE fresh_user LOGIN",
                "CREATE ROLE victim_super LOGIN SUPERUSER",
                "SELECT pg_reload_conf()",
            ]);
            pg.conn("newdb").q("GRANT USAGE ON SCHEMA idp TO fresh_user");
            s.check(
                "tenant: ... and logs in there (OAuth), with no restart",
                "user_fresh|fresh_user",
                logins.poll(
                    "user_fresh|fresh_user",
                    "newdb",
                    "fresh_user",
                    &fresh_token,
                    "SELECT idp.requesting_user_id(), current_user",
                ),
            );

            s.say("tenant owner: a forged login snapshot (PostgreSQL 18)");
            pg.conn("postgres").q("CREATE ROLE mallory2 LOGIN");
            pg.conn("postgres").q("CREATE DATABASE tenant2 OWNER mallory2");
            let forge_secret = format!("forged-by-the-tenant-{}", random_hex(12));
            let forged_body = json!({"provider": "mine", "issuer": "https://mine.test", "secret": forge_secret,
                "login": {"roles": ["victim_super"], "audience": "urn:tenant:db"}})
            .to_string();
            pg.conn_as("tenant2", "mallory2").batch(&format!(
                "CREATE SCHEMA idp;
                 CREATE TABLE idp.provider_registry (name text PRIMARY KEY, config jsonb);
                 INSERT INTO idp.provider_registry VALUES ('mine', {});",
                lit(&forged_body)
            ));
            let mine = Key::from_secret(s, "the tenant's forged", Alg::HS256, &forge_secret)
                .token(json!({"iss": "https://mine.test", "sub": "mallory2", "aud": "urn:tenant:db"}))
                .no_kid()
                .named("the tenant's forged token")
                .mint();
            // Rounds of the launcher with the forged registry in place (time given).
            std::thread::sleep(Duration::from_secs(2));
            s.check(
                "tenant: no snapshot is written from the tenant's own idp.provider_registry (no entry for her database)",
                "no no entry",
                format!("{} {}", snapshot(&pg, "tenant2"), wait_gone(&pg, "tenant2")),
            );
            s.check(
                "tenant: her token does not log in as a superuser (registry_unavailable)",
                "registry_unavailable",
                logins.refused_code("tenant2", "victim_super", &mine),
            );
            // Control: the same body registered by the superuser where pg_idp is installed does
            // let the same token in: the refusal above is the boundary, not a broken login.
            pg.conn("postgres").q("CREATE DATABASE legit");
            let mut c = pg.conn("legit");
            c.batch("CREATE EXTENSION pg_idp");
            c.q(&format!("SELECT idp.register_provider({})", lit(&forged_body)));
            drop(c);
            s.check(
                "tenant: control: registered by the superuser, the same token logs in as victim_super",
                "victim_super|t",
                logins.poll(
                    "victim_super|t",
                    "legit",
                    "victim_super",
                    &mine,
                    "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
                ),
            );
            pg.conn("legit").q("SELECT idp.unregister_provider('mine')");

            s.say("tenant owner: snapshots follow the database's state (PostgreSQL 18)");
            pg.conn("legit").batch_each(&[
                &format!(
                    "SELECT idp.register_provider(jsonb_build_object('provider', 'fresh', 'issuer', 'https://fresh.test', 'jwks', {}::jsonb, 'login', '{{\"roles\": [\"app_user\"], \"audience\": \"urn:tenant:db\"}}'::jsonb))",
                    lit(&fresh.jwks())
                ),
                "GRANT USAGE ON SCHEMA idp TO app_user",
            ]);
            s.check(
                "tenant: control: a login to legit works",
                "user_fresh",
                logins.poll("user_fresh", "legit", "app_user", &fresh_token, "SELECT idp.requesting_user_id()"),
            );
            pg.conn("postgres")
                .batch_each(&["ALTER SYSTEM SET idp.worker_database = 'app'", "SELECT pg_reload_conf()"]);
            let legit_oid = oid_of(&pg, "legit");
            let snapshot_file = pg.data().join("pg_idp").join(format!("{legit_oid}.json"));
            s.check(
                "tenant: a database no longer allowed loses its snapshot at once",
                "not_served",
                wait_for(BOUND, POLL, || (!snapshot_file.exists()).then_some("not_served")).unwrap_or(""),
            );
            s.check(
                "tenant: ... and its logins are refused (registry_unavailable)",
                "registry_unavailable",
                logins.refused_code("legit", "app_user", &fresh_token),
            );
            pg.conn("postgres").batch_each(&["ALTER SYSTEM RESET idp.worker_database", "SELECT pg_reload_conf()"]);
            s.check(
                "tenant: allowed again, it is served again",
                "user_fresh",
                logins.poll("user_fresh", "legit", "app_user", &fresh_token, "SELECT idp.requesting_user_id()"),
            );
            pg.conn("legit").q("SELECT idp.revoke_user('fresh', 'user_fresh')");
            let mut code = String::new();
            wait_for(BOUND, POLL, || {
                code = logins.refused_code("legit", "app_user", &fresh_token);
                (code == "revoked").then_some(())
            });
            s.check("tenant: a revocation reaches logins", "revoked", code);
            pg.conn("legit").q("SELECT idp.unrevoke_user('fresh', 'user_fresh')");
            pg.conn("postgres").q("ALTER DATABASE legit OWNER TO mallory3");

            s.say("tenant owner: the database's own settings (ALTER DATABASE ... SET by its owner)");
            // M2: revocation times must not be read as text under the owner's extra_float_digits.
            pg.conn_as("legit", "mallory3").batch_each(&[
                "ALTER DATABASE legit SET extra_float_digits = -11",
                "ALTER DATABASE legit SET DateStyle = 'SQL, DMY'",
                "ALTER DATABASE legit SET role = mallory3",
                "ALTER DATABASE legit SET session_authorization = mallory3",
                "ALTER DATABASE legit SET search_path = public, idp",
            ]);
            s.check(
                "tenant: control: the owner's settings are in force in a session (epoch as text, current_user)",
                "e+09 mallory3",
                format!(
                    "{} {}",
                    grep_o(&pg.conn("legit").q("SELECT date_part('epoch', now())::text"), r"e\+09"),
                    pg.conn("legit").q("SELECT current_user")
                ),
            );
            pg.restart(&tenant_settings(&[]));
            let logins = Logins { pg: &pg, client: &client };
            s.check(
                "tenant: after a restart under those settings, legit is served",
                "serving",
                wait_state(&pg, "legit", "serving"),
            );
            let early = fresh
                .token(json!({"iss": "https://fresh.test", "sub": "user_early", "aud": "urn:tenant:db"}))
                .iat(-600)
                .named("the early token")
                .mint();
            s.check(
                "tenant: control: a token issued 10 minutes ago logs in",
                "user_early",
                logins.poll("user_early", "legit", "app_user", &early, "SELECT idp.requesting_user_id()"),
            );
            pg.conn("legit").batch_each(&["SET ROLE NONE", "SELECT idp.revoke_user('fresh', 'user_early')"]);
            let mut code = String::new();
            wait_for(BOUND, POLL, || {
                code = logins.refused_code("legit", "app_user", &early);
                (code == "revoked").then_some(())
            });
            s.check(
                "tenant: revoked now, a token issued 10 minutes before is refused (the time is read typed)",
                "revoked",
                code,
            );
            s.check(
                "tenant: the jobs ran as the superuser, not as the role the owner set (none failed)",
                "0",
                grep_c(&log.text(), r#"pg_idp: (job in database "legit" failed|database "legit" is not served)"#)
                    .to_string(),
            );
            pg.conn_as("legit", "mallory3").q("ALTER DATABASE legit RESET ALL");

            s.say("tenant owner: a snapshot no launcher vouches for is refused (PostgreSQL 18)");
            s.check(
                "tenant: control: a login to legit works",
                "user_fresh",
                logins.poll("user_fresh", "legit", "app_user", &fresh_token, "SELECT idp.requesting_user_id()"),
            );
            pg.conn("postgres")
                .q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pg_idp launcher'");
            s.check(
                "tenant: with the launcher stopped, logins are refused (registry_unavailable)",
                "registry_unavailable",
                logins.refused_code("legit", "app_user", &fresh_token),
            );
            s.check(
                "tenant: the launcher is started again, and logins work again",
                "user_fresh",
                logins.poll("user_fresh", "legit", "app_user", &fresh_token, "SELECT idp.requesting_user_id()"),
            );

            s.say("tenant owner: the snapshot goes with the extension (PostgreSQL 18)");
            pg.conn("newdb").q("DROP EXTENSION pg_idp");
            s.check(
                "tenant: DROP EXTENSION: the database's snapshot is removed at once, and its record and entry with it",
                "no entry no 0",
                format!(
                    "{} {} {}",
                    wait_gone(&pg, "newdb"),
                    snapshot(&pg, "newdb"),
                    pg.conn("postgres").q("SELECT count(*) FROM pg_seclabels WHERE objname = 'newdb'")
                ),
            );
            s.check(
                "tenant: ... and its logins are refused (registry_unavailable)",
                "registry_unavailable",
                logins.refused_code("newdb", "fresh_user", &fresh_token),
            );
            pg.set_hba(&saved_hba);
            pg.conn("postgres").q("SELECT pg_reload_conf()");
        }
        s.check(
            "tenant: DROP DATABASE of a served database is not held up by pg_idp's jobs",
            "ok",
            ok_or_failed(&pg, "postgres", &["DROP DATABASE IF EXISTS newdb", "DROP DATABASE legacy"]),
        );
        let mut left = String::new();
        wait_for(BOUND, POLL, || {
            left = pg.conn("app").q(
                "SELECT count(*) FROM idp.served_databases() s WHERE NOT EXISTS (SELECT 1 FROM pg_database d WHERE d.oid = s.datid)",
            );
            (left == "0").then_some(())
        });
        s.check("tenant: the launcher forgets dropped databases", "0", left);
        // A job reports its own failures (the WARNING); one that exits with code 1 was ended by
        // SIGTERM (a restart, the launcher stopping), as PostgreSQL ends a background worker.
        s.check(
            "tenant: no pg_idp job failed, and no pg_idp process crashed",
            "0",
            grep_c(
                &log.text(),
                r#"pg_idp: job in database .* failed|background worker "pg_idp (job|launcher)" \(PID [0-9]+\) was terminated by signal"#,
            )
            .to_string(),
        );
        drop(keys);
    });
}

/// `n` random bytes as hex (from /dev/urandom).
fn random_hex(n: usize) -> String {
    let mut raw = vec![0u8; n];
    let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    std::io::Read::read_exact(&mut f, &mut raw).expect("random bytes");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
