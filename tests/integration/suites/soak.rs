//! Soak: pgbench through PgBouncer, 2 clients, tokens of 1,000 users switching every
//! transaction, each transaction raising if it sees a row that is not its user's, while a third
//! client keeps changing the registry (same keys re-registered, revocations of other users)
//! underneath.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pg_idp_itests::{env_usize, lit, run, todos_app, write_file, Cluster, Fixtures, PgBouncer};
use serde_json::json;

#[test]
fn suite() {
    run("soak", |s| {
        let txns = env_usize("SOAK_TXNS", 10000);
        let f = Fixtures::new(s);
        let pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        let bouncer = PgBouncer::start(s, &pg, "app", "app_user");
        s.say(&format!("{} pgbench transactions through PgBouncer while the registry changes", txns * 2));
        let tokens = f
            .clerk
            .token(json!({"iss": "https://acme.clerk.accounts.dev", "sub": "soak_user_{n}"}))
            .named("a soak token")
            .mint_many(1000);
        let mut c = pg.conn("app");
        c.batch(
            "CREATE TABLE soak_tokens (uid int PRIMARY KEY, tok text NOT NULL);
             CREATE TABLE soak_todos (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, user_id text NOT NULL, title text NOT NULL);
             INSERT INTO soak_todos (user_id, title) SELECT 'soak_user_' || u, 'todo ' || i FROM generate_series(1, 1000) u, generate_series(1, 2) i;
             CREATE INDEX ON soak_todos (user_id);
             SELECT idp.enable_rls('soak_todos');
             GRANT SELECT ON soak_tokens, soak_todos TO app_user;
             -- Raises on any row of another user, or on a wrong row count, or without an identity.
             CREATE FUNCTION soak_check() RETURNS int LANGUAGE plpgsql AS $$
             DECLARE me text := idp.requesting_user_id(); others int; mine int;
             BEGIN
                 SELECT count(*) FILTER (WHERE user_id IS DISTINCT FROM me), count(*) INTO others, mine FROM soak_todos;
                 IF me IS NULL OR others > 0 OR mine <> 2 THEN
                     RAISE EXCEPTION 'soak: % saw % rows of others and % in all', me, others, mine;
                 END IF;
                 RETURN mine;
             END $$;",
        );
        {
            use std::io::Write;
            let mut w = c.client().copy_in("COPY soak_tokens FROM STDIN").expect("COPY soak_tokens");
            for (i, t) in tokens.iter().enumerate() {
                writeln!(w, "{}\t{t}", i + 1).expect("a token row");
            }
            w.finish().expect("COPY soak_tokens");
        }
        let script = s.dir().join("soak.pgb");
        write_file(
            &script,
            "\\set uid random(1, 1000)
BEGIN;
SELECT set_config('request.jwt', tok, true) IS NOT NULL FROM soak_tokens WHERE uid = :uid;
SELECT soak_check();
COMMIT;
",
        );

        // The registry changer: a new session every 0.1 s (as a psql each time) re-registering
        // Clerk's keys, revoking another user, purging revocations.
        let done = AtomicBool::new(false);
        let (changes, changer_errors, (rc, out)) = std::thread::scope(|t| {
            let changer = t.spawn(|| {
                let (mut changes, mut errors) = (0usize, String::new());
                while !done.load(Ordering::SeqCst) {
                    let out = pg.conn("app").each(&[
                        &format!("SELECT idp.set_jwks('clerk', {}::jsonb)", lit(&f.clerk_jwks)),
                        "SELECT idp.revoke_user('clerk', 'someone_else_' || (random() * 100)::int)",
                        "SELECT idp.purge_revocations(interval '-1 hour')",
                    ]);
                    match out.last() {
                        Some(e) if e.starts_with("ERROR") => errors.push_str(e),
                        _ if out.len() == 3 => changes += 1,
                        _ => errors.push_str(&out.join(" ")),
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                (changes, errors)
            });
            let bench = bouncer.pgbench(&[
                "-n",
                "-c",
                "2",
                "-j",
                "2",
                "-t",
                &txns.to_string(),
                "-U",
                "app_user",
                "-f",
                &script.display().to_string(),
                "app",
            ]);
            done.store(true, Ordering::SeqCst);
            let (changes, errors) = changer.join().expect("the registry changer");
            (changes, errors, bench)
        });
        s.check("soak: pgbench finished without an error (no leaked row, no unexpected error)", "0", rc.to_string());
        let processed = out
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("")
            .to_string();
        s.check("soak: every transaction ran", format!("{0}/{0}", txns * 2), processed);
        s.check(
            "soak: the registry changed underneath it (set_jwks and revocations committed)",
            "yes",
            if changes >= 3 && changer_errors.is_empty() {
                "yes".to_string()
            } else {
                format!("no: {changes} changes, {}", changer_errors.chars().take(300).collect::<String>())
            },
        );
        if rc != 0 {
            let tail: Vec<&str> = out.lines().rev().take(5).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        s.check(
            "soak: control: the check does raise when it can see others' rows (as the owner, RLS bypassed)",
            "P0001",
            pg.conn("app").sqlstate(&[&format!("SET request.jwt = {}", lit(&tokens[0])), "SELECT soak_check()"]),
        );
    });
}
