//! PgBouncer in transaction pooling with one server connection: interleaved clients never see
//! each other's rows; a session-level SET does leak (the control); a tampered token is refused;
//! verifying a token assigns no transaction id.

use std::collections::BTreeMap;

use pg_idp_itests::{env_usize, lit, run, todos_app, Cluster, Fixtures, PgBouncer};

/// One transaction's answer: backend pid, who, own rows, others' rows, when (HH24MISSUS).
struct Answer {
    pid: String,
    who_own_others: String,
    at: u64,
}

/// Run `n` transactions through `bouncer`, each one round trip (the statements in one query
/// string, as psql sends `A \; B \; C`), the token set with set_config(..., true) as a driver
/// would. `token`: None for a client that never sets one. Returns the answers or the error.
fn client(bouncer: &PgBouncer, token: Option<&str>, user: &str, n: usize) -> Result<Vec<Answer>, String> {
    let mut c = bouncer.target().try_connect()?;
    let query = match token {
        Some(t) => format!(
            "BEGIN; SELECT set_config('request.jwt', {}, true) IS NOT NULL AS token_set; \
             SELECT pg_backend_pid(), idp.requesting_user_id(), count(*) FILTER (WHERE user_id = '{user}'), \
             count(*) FILTER (WHERE user_id <> '{user}'), to_char(clock_timestamp(), 'HH24MISSUS') FROM todos; COMMIT;",
            lit(t)
        ),
        None => "BEGIN; SELECT pg_backend_pid(), coalesce(idp.requesting_user_id(), 'anonymous'), count(*), 0, \
                 to_char(clock_timestamp(), 'HH24MISSUS') FROM todos; COMMIT;"
            .to_string(),
    };
    let mut answers = Vec::with_capacity(n);
    for _ in 0..n {
        let out = c.try_q(&query)?;
        for line in out.lines() {
            let f: Vec<&str> = line.split('|').collect();
            if f.len() == 5 {
                answers.push(Answer {
                    pid: f[0].into(),
                    who_own_others: f[1..4].join("|"),
                    at: f[4].parse().unwrap_or(0),
                });
            }
        }
    }
    Ok(answers)
}

/// "COUNT who|own|others" per distinct answer, as `sort | uniq -c`.
fn summary(answers: &[Answer]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in answers {
        *counts.entry(a.who_own_others.as_str()).or_default() += 1;
    }
    counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(" ")
}

#[test]
fn suite() {
    run("pgbouncer", |s| {
        let per_user = env_usize("TXNS_PER_USER", 800);
        let anon = env_usize("TXNS_ANON", 400);
        let f = Fixtures::new(s);
        let pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        let bouncer = PgBouncer::start(s, &pg, "app", "app_user");
        s.say(&format!("{} transactions of three clients through one server connection", 2 * per_user + anon));

        let (alice, bob, nobody) = std::thread::scope(|t| {
            let a = t.spawn(|| client(&bouncer, Some(&f.clerk_alice), "user_2alice", per_user));
            let b = t.spawn(|| client(&bouncer, Some(&f.clerk_bob), "user_2bob", per_user));
            let c = t.spawn(|| client(&bouncer, None, "", anon));
            (
                a.join().expect("alice's client"),
                b.join().expect("bob's client"),
                c.join().expect("the anonymous client"),
            )
        });
        let code = |r: &Result<Vec<Answer>, String>| if r.is_ok() { 0 } else { 1 };
        let errors: String = [&alice, &bob, &nobody].iter().filter_map(|r| r.as_ref().err().cloned()).collect();
        if !errors.is_empty() {
            eprintln!("{errors}");
        }
        s.check(
            "pgbouncer: three clients ran without errors",
            "0 0 0 / 0 bytes",
            format!("{} {} {} / {} bytes", code(&alice), code(&bob), code(&nobody), errors.len()),
        );
        let (alice, bob, nobody) = (alice.unwrap_or_default(), bob.unwrap_or_default(), nobody.unwrap_or_default());
        s.check(
            &format!("pgbouncer: Alice saw only her 2 rows in each of her {per_user} transactions"),
            format!("{per_user} user_2alice|2|0"),
            summary(&alice),
        );
        s.check(
            &format!("pgbouncer: Bob saw only his 3 rows in each of his {per_user} transactions"),
            format!("{per_user} user_2bob|3|0"),
            summary(&bob),
        );
        s.check(
            &format!("pgbouncer: a client that never sets a token saw nothing in {anon} transactions"),
            format!("{anon} anonymous|0|0"),
            summary(&nobody),
        );
        let mut pids: Vec<&str> = alice.iter().chain(&bob).chain(&nobody).map(|a| a.pid.as_str()).collect();
        pids.sort();
        pids.dedup();
        s.check(
            &format!("pgbouncer: all {} transactions ran on one server connection", 2 * per_user + anon),
            "1",
            pids.len().to_string(),
        );
        // The clients really took turns: each one's transactions started before another's ended.
        let span =
            |a: &[Answer]| (a.iter().map(|x| x.at).min().unwrap_or(1), a.iter().map(|x| x.at).max().unwrap_or(0));
        let ((a_first, a_last), (b_first, b_last)) = (span(&alice), span(&bob));
        s.check(
            "pgbouncer: Alice's and Bob's transactions were interleaved on the connection",
            "yes",
            if a_first < b_last && b_first < a_last {
                "yes".to_string()
            } else {
                format!("no: alice {a_first}..{a_last} bob {b_first}..{b_last}")
            },
        );

        // Control: the pooled connection really is shared, so a session-level SET (the mistake
        // the README warns about) does leak to the next client; SET LOCAL and
        // set_config(..., true) do not. Each call is a new client, as each psql was.
        bouncer.conn().batch(&format!("SET request.jwt = {}", lit(&f.clerk_alice)));
        s.check(
            "pgbouncer: control: a session-level SET request.jwt leaks to the next pooled client",
            "user_2alice",
            bouncer.conn().q("SELECT idp.requesting_user_id()"),
        );
        bouncer.conn().batch("RESET request.jwt");
        bouncer.conn().batch(&format!("BEGIN; SET LOCAL request.jwt = {}; COMMIT;", lit(&f.clerk_alice)));
        s.check(
            "pgbouncer: SET LOCAL does not outlive its transaction on the pooled connection",
            "anonymous",
            bouncer.conn().q("SELECT coalesce(idp.requesting_user_id(), 'anonymous')"),
        );
        s.check(
            "pgbouncer: a tampered token is refused with 28000 through the pooler",
            "28000",
            bouncer.conn().sqlstate(&[
                "BEGIN",
                &format!("SET LOCAL request.jwt = {}", lit(&f.tampered_payload)),
                "SELECT count(*) FROM todos",
            ]),
        );

        let out = pg.conn_as("app", "app_user").each(&[
            "BEGIN",
            &format!("SELECT set_config('request.jwt', {}, true) IS NOT NULL", lit(&f.clerk_alice)),
            "SELECT idp.requesting_user_id(), count(*), pg_current_xact_id_if_assigned() IS NULL FROM todos",
            "COMMIT",
        ]);
        s.check(
            "primary: verifying a request's token assigns no transaction id (no xid burn, no WAL)",
            "user_2alice|2|t",
            out.get(2).cloned().unwrap_or_else(|| out.join(" ")),
        );
    });
}
