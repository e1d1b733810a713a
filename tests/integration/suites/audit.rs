//! The audit log (idp.log_failures, idp.log_success) as written to the server log, and
//! idp.stats on a server that does not preload pg_idp. (That no server log holds a token or a
//! key is checked as every cluster stops.)

use pg_idp_itests::{lit, run, todos_app, Cluster, Conn, Fixtures};

#[test]
fn suite() {
    run("audit", |s| {
        let f = Fixtures::new(s);
        let pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        s.say("rejected tokens logged once per backend, never the token; idp.stats without preloading");
        let log = pg.log();
        // Lines of the server log written by sessions with this application_name (every audit
        // line names it).
        let lines = |app: &str| log.count(&format!("application_name=\"{app}\"")).to_string();
        // A session on app as app_user with an application_name; as postgres.
        let aq = |app: &str| -> Conn { pg.target().db("app").user("app_user").app(app).connect() };
        let pq = |app: &str| -> Conn { pg.target().db("app").app(app).connect() };
        let tampered = lit(&f.tampered_payload);

        // Without preloading, idp.stats says so (a NOTICE) and answers no rows: a monitoring
        // query keeps working.
        let mut c = pg.conn("app");
        let count = c.q("SELECT count(*) FROM idp.stats");
        let notice = c
            .take_notices()
            .iter()
            .any(|n| n.contains("NOTICE:  pg_idp: idp.stats needs shared_preload_libraries = 'pg_idp'"));
        s.check(
            "audit: idp.stats without shared_preload_libraries: a NOTICE naming it, and no rows",
            "yes 0",
            format!("{} {count}", if notice { "yes" } else { "no" }),
        );
        s.check(
            "audit: idp.reset_stats() without it is 55000, code not_preloaded",
            "55000",
            pg.conn("app").sqlstate(&["SELECT idp.reset_stats()"]),
        );

        // A burst of 10,000 rejections of the same token by one backend (idp.log_failures =
        // first, the default): one line. A request token rejected in three transactions of
        // another backend: one.
        aq("audit_burst").q(&format!(
            "SELECT count(*) FROM generate_series(1, 10000) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN {tampered} END) ? 'error'"
        ));
        let mut c = aq("audit_request");
        for _ in 0..3 {
            // Each statement on its own (the failing SELECT is logged with its text, which
            // holds no token).
            c.each(&["BEGIN", &format!("SET LOCAL request.jwt = {tampered}"), "SELECT idp.requesting_user_id()"]);
            c.batch("ROLLBACK");
        }
        drop(c);
        s.check("audit: 10,000 rejections of one token write one line (first)", "1", lines("audit_burst"));
        s.check(
            "audit: a request token rejected in three transactions of one backend, one line",
            "1",
            lines("audit_request"),
        );
        // Three backends, one line each; a second token in the same backend gets its own line.
        for _ in 0..3 {
            aq("audit_backends").q(&format!("SELECT idp.verify_jwt({tampered}) ? 'error'"));
        }
        let mut c = aq("audit_two_tokens");
        c.q(&format!("SELECT idp.verify_jwt({tampered}) ? 'error'"));
        c.q(&format!("SELECT idp.verify_jwt({}) ? 'error'", lit(&f.wrong_issuer)));
        c.q(&format!("SELECT idp.verify_jwt({tampered}) ? 'error'"));
        drop(c);
        s.check(
            "audit: one line per backend, and per distinct token",
            "3 2",
            format!("{} {}", lines("audit_backends"), lines("audit_two_tokens")),
        );
        // Distinct tokens are bounded too (first): 5,000 distinct bad tokens in one statement of
        // an application role write at most idp.log_failures_max (100) rejection lines, and one
        // saying the limit was reached (this server does not preload pg_idp: the bound is per
        // backend).
        aq("audit_flood")
            .q("SELECT count(*) FROM generate_series(1, 5000) g WHERE idp.verify_jwt('not-a-jwt-' || g) ? 'error'");
        s.check(
            "audit: 5,000 distinct rejected tokens in one statement: 100 lines (idp.log_failures_max) and 1 saying the limit was reached",
            "100 1",
            format!(
                "{} {}",
                lines("audit_flood"),
                log.count("pg_idp: idp.log_failures_max = 100 rejection lines written in this idp.log_failures_window (in this backend)")
            ),
        );
        // When the window ends, the first line of the next one comes after the count of those
        // not logged.
        pq("audit_window").each(&[
            "SET idp.log_failures_max = 3",
            "SET idp.log_failures_window = 1",
            "SELECT count(*) FROM generate_series(1, 50) g WHERE idp.verify_jwt('not-a-jwt-w' || g) ? 'error'",
            "SELECT pg_sleep(1.2)",
            "SELECT idp.verify_jwt('not-a-jwt-after') ? 'error'",
        ]);
        s.check(
            "audit: the next window says how many were not logged (47 of 50), then logs",
            "4 1",
            format!(
                "{} {}",
                lines("audit_window"),
                log.count(
                    "pg_idp: 47 rejections were not logged in the previous idp.log_failures_window (in this backend)"
                )
            ),
        );
        s.check(
            "audit: an application role cannot raise idp.log_failures_max (42501)",
            "42501",
            aq("audit_try_max").sqlstate(&["SELECT idp.verify_jwt('x') IS NULL", "SET idp.log_failures_max = 100000"]),
        );
        // What a line says: the provider (or unknown), the kid, the code, the sub the token
        // claims, the application_name; the reason.
        s.check(
            "audit: a line names provider, kid, code, sub and application_name",
            "1",
            log.count("pg_idp: token rejected: provider=clerk kid=\"clerk-key-1\" code=invalid_signature sub=\"user_2bob\" application_name=\"audit_burst\": ").to_string(),
        );
        s.check(
            "audit: a token no provider was found for is logged as provider=unknown",
            "1",
            log.count("pg_idp: token rejected: provider=unknown kid=\"clerk-key-1\" code=unknown_issuer sub=\"user_2alice\" application_name=\"audit_two_tokens\"").to_string(),
        );
        aq("audit_garbage").q("SELECT idp.verify_jwt('not-a-jwt') ? 'error'");
        s.check(
            "audit: a token that is not a JWT is logged without kid or sub",
            "1",
            log.count("provider=unknown kid=- code=malformed sub=- application_name=\"audit_garbage\"").to_string(),
        );

        // idp.log_failures = all logs every rejection; off, none; idp.log_success each new
        // identity of a backend, not its cache hits (a superuser's settings).
        let burst = |setting: &str, app: &str| {
            pq(app).each(&[
                setting,
                &format!("SELECT count(*) FROM generate_series(1, 200) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN {tampered} END) ? 'error'"),
            ]);
        };
        burst("SET idp.log_failures = 'all'", "audit_all");
        burst("SET idp.log_failures = 'off'", "audit_off");
        s.check(
            "audit: idp.log_failures = all logs each of 200 rejections; off logs none",
            "200 0",
            format!("{} {}", lines("audit_all"), lines("audit_off")),
        );
        pq("audit_success").each(&[
            "SET idp.log_success = on",
            &format!("SELECT count(*) FROM generate_series(1, 50) g WHERE idp.verify_jwt(CASE WHEN g > 0 THEN {} END) ? 'user_id'", lit(&f.clerk_alice)),
            &format!("SELECT idp.verify_jwt({}) ? 'user_id'", lit(&f.clerk_bob)),
        ]);
        s.check("audit: idp.log_success logs each new identity once (not cache hits)", "2", lines("audit_success"));
        s.check(
            "audit: a success line names provider, kid, sub, user id and application_name",
            "1",
            log.count("pg_idp: token verified: provider=clerk kid=\"clerk-key-1\" sub=\"user_2alice\" user_id=\"user_2alice\" application_name=\"audit_success\"").to_string(),
        );
        // An application role cannot turn its audit lines off: with pg_idp loaded SET is
        // refused (42501; the stats spec checks it on the preloaded regress server); set before
        // pg_idp is loaded in the session, the value is dropped when it loads (a WARNING) and the
        // rejection is logged.
        let out = aq("audit_try").each(&[
            "SET idp.log_failures = off",
            &format!("SELECT idp.verify_jwt({tampered}) ? 'error'"),
            "SHOW idp.log_failures",
        ]);
        s.check(
            "audit: an application role cannot turn its audit lines off",
            "first 1",
            format!("{} {}", out.last().cloned().unwrap_or_default(), lines("audit_try")),
        );
    });
}
