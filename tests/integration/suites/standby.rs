//! A pg_basebackup hot standby verifies tokens and enforces the policies read-only, including
//! changes made on the primary after the backup, and counts its own verifications (pg_idp
//! preloaded there, not on the primary).

use std::time::Duration;

use pg_idp_itests::{lit, run, todos_app, wait_for, Cluster, Fixtures};

/// Wait until `standby` has replayed everything `primary` has written so far.
fn wait_replay(primary: &Cluster, standby: &Cluster) -> bool {
    let target = primary.conn("app").q("SELECT pg_current_wal_lsn()");
    let mut sq = standby.conn("app");
    wait_for(Duration::from_secs(10), Duration::from_millis(100), || {
        let ok = sq.try_q(&format!("SELECT coalesce(pg_last_wal_replay_lsn() >= {}, false)", lit(&target)));
        (ok.as_deref() == Ok("t")).then_some(())
    })
    .is_some()
}

#[test]
fn suite() {
    run("standby", |s| {
        let f = Fixtures::new(s);
        let primary = Cluster::start(s, "primary", &[]);
        todos_app(&primary, &f);
        let standby = Cluster::standby_of(s, "standby", &primary, &[("shared_preload_libraries", "pg_idp")]);

        // Changes made on the primary after the backup reach the standby by streaming: a row,
        // and a provider registered only now (the standby's backends must see the new registry).
        let mut p = primary.conn("app");
        p.q(&format!(
            "SELECT idp.register_provider(jsonb_build_object(
               'provider', 'auth0', 'issuer', 'https://acme.us.auth0.com/', 'audience', 'https://api.example.com',
               'jwks', {}::jsonb))",
            lit(&f.auth0_jwks)
        ));
        p.batch("SET ROLE app_user");
        p.batch("BEGIN");
        p.batch(&format!("SELECT set_config('request.jwt', {}, true)", lit(&f.auth0_user)));
        p.batch("INSERT INTO todos (title) VALUES ('auth0 user 1')");
        p.batch("COMMIT");
        drop(p);
        let replayed = if wait_replay(&primary, &standby) { "t" } else { "f" };
        s.check(
            "standby: in recovery and caught up with the primary",
            "t t",
            format!("{} {replayed}", standby.conn("app").q("SELECT pg_is_in_recovery()")),
        );

        // A query as app_user with a token set for its transaction: the query's answer.
        let as_user = |token: &str, query: &str| -> String {
            let out = standby.conn_as("app", "app_user").each(&[
                "BEGIN",
                &format!("SELECT set_config('request.jwt', {}, true) IS NOT NULL", lit(token)),
                query,
                "COMMIT",
            ]);
            out.get(2).cloned().unwrap_or_else(|| out.join(" "))
        };
        s.check(
            "standby: Alice sees only her rows",
            "user_2alice|2|0",
            as_user(&f.clerk_alice, "SELECT idp.requesting_user_id(), count(*) FILTER (WHERE user_id = 'user_2alice'), count(*) FILTER (WHERE user_id <> 'user_2alice') FROM todos"),
        );
        s.check(
            "standby: Bob sees only his rows",
            "user_2bob|3|0",
            as_user(&f.clerk_bob, "SELECT idp.requesting_user_id(), count(*) FILTER (WHERE user_id = 'user_2bob'), count(*) FILTER (WHERE user_id <> 'user_2bob') FROM todos"),
        );
        s.check(
            "standby: a provider registered on the primary after the backup verifies here",
            "auth0|abc123|auth0 user 1",
            as_user(&f.auth0_user, "SELECT idp.requesting_user_id(), string_agg(title, ',') FROM todos"),
        );
        let out = standby.conn_as("app", "app_user").each(&[
            "BEGIN",
            &format!("SELECT idp.authenticate({}) IS NOT NULL", lit(&f.clerk_bob)),
            "SELECT idp.requesting_user_id(), count(*) FROM todos",
            "COMMIT",
        ]);
        s.check(
            "standby: idp.authenticate() sets the identity for the transaction",
            "user_2bob|3",
            out.get(2).cloned().unwrap_or_else(|| out.join(" ")),
        );
        s.check("standby: no token, no rows", "0", standby.conn_as("app", "app_user").q("SELECT count(*) FROM todos"));
        s.check(
            "standby: verify_jwt answers read-only",
            "clerk user_2bob",
            standby
                .conn_as("app", "app_user")
                .q(&format!("SELECT v->>'provider', v->>'user_id' FROM idp.verify_jwt({}) v", lit(&f.clerk_bob)))
                .replace('|', " "),
        );
        s.check(
            "standby: a tampered token is refused with 28000",
            "28000",
            standby.conn_as("app", "app_user").sqlstate(&[
                "BEGIN",
                &format!("SET LOCAL request.jwt = {}", lit(&f.tampered_payload)),
                "SELECT count(*) FROM todos",
            ]),
        );
        s.check(
            "standby: writes are refused as read-only (25006)",
            "25006",
            standby.conn_as("app", "app_user").sqlstate(&[
                "BEGIN",
                &format!("SET LOCAL request.jwt = {}", lit(&f.clerk_alice)),
                "INSERT INTO todos (title) VALUES ('on the standby')",
            ]),
        );
        s.check(
            "standby: registering a provider is refused as read-only (25006)",
            "25006",
            standby.conn("app").sqlstate(&["SELECT idp.unregister_provider('clerk')"]),
        );

        // One long-lived session on the standby keeps its cached registry until the primary
        // changes it: the change reaches that same session through the WAL's invalidation
        // messages.
        let mut session = standby.conn_as("app", "app_user");
        let before = session.q(&format!("SELECT 'before', idp.verify_jwt({})->>'valid'", lit(&f.auth0_user)));
        primary.conn("app").q("SELECT idp.unregister_provider('auth0')");
        wait_replay(&primary, &standby);
        let after = session.q(&format!("SELECT 'after', idp.verify_jwt({})->>'error'", lit(&f.auth0_user)));
        drop(session);
        s.check(
            "standby: a long-lived session sees a provider removed on the primary",
            "before|true after|unknown_issuer",
            format!("{before} {after}"),
        );

        // The standby counts the verifications made on it, in its own shared memory (read-only:
        // nothing is written), and resets them; the primary, which does not preload pg_idp,
        // counts nothing.
        standby.conn("app").q("SELECT idp.reset_stats()");
        let mut c = standby.conn_as("app", "app_user");
        c.q(&format!("SELECT idp.verify_jwt({})->>'valid'", lit(&f.clerk_alice)));
        c.q(&format!("SELECT idp.verify_jwt({})->>'valid'", lit(&f.clerk_alice)));
        c.q(&format!("SELECT idp.verify_jwt({})->>'error'", lit(&f.tampered_payload)));
        drop(c);
        s.check(
            "standby: idp.stats counts the verifications made here (2 verifications, 1 cache hit, 1 success, 1 invalid_signature)",
            "clerk|2|1|1|1|invalid_signature",
            standby.conn("app").q("SELECT provider, verifications, cache_hits, successes, failures_by_code->'invalid_signature', last_failure_code FROM idp.stats WHERE datname = 'app' AND provider = 'clerk'"),
        );
        s.check(
            "standby: provider health from the replayed registry, no refreshes (the standby never fetches)",
            "clerk|inline|1|||",
            standby.conn_as("app", "app_user").q("SELECT provider, key_source, key_count, last_refresh_attempt, last_refresh_error_code, next_refresh FROM idp.provider_health WHERE provider = 'clerk'"),
        );
    });
}
