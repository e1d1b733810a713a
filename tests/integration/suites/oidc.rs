//! A real OpenID Provider: panva's oidc-provider (tests/oidc/provider.mjs, pinned in
//! examples/package-lock.json) on loopback over HTTPS, with a CA made for this run. Nothing here
//! is minted by pg_idp: the provider issues every token (client_credentials grants with a
//! resource indicator; its JWT access tokens, typ at+jwt). Covers: idp.discover of the provider;
//! its access tokens verified for each algorithm family (RS256, PS256, ES256, EdDSA); the
//! audience check and a tampered token as controls; RLS on todos with the tokens of two clients;
//! key rotation by restarting the provider with a new key, of the same family and of another,
//! with the window during which the new tokens fail measured and printed (the kid-miss early
//! refresh, the refresh worker's schedule); idp.refresh_jwks picking a new key up at once; no
//! provider token in the server log. The primary is restarted with pg_idp preloaded (the refresh
//! jobs in `app`, the test CA in idp.tls_ca_file).

use std::time::{Duration, Instant};

use pg_idp_itests::{lit, run, todos_app, wait_for, Cluster, Conn, Fixtures, OpenIdProvider};

/// A token's JOSE header member (typ, alg, kid), as a string ('' when it is missing).
fn jwt_header(token: &str, member: &str) -> String {
    let header = token.split('.').next().unwrap_or("");
    let json: serde_json::Value = pg_idp_core::b64::decode(header)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    match &json[member] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The token's user_id, or its error (in a new session, as each psql of the bash suite was).
fn verify(pg: &Cluster, token: &str) -> String {
    let t = lit(token);
    pg.conn("app").q(&format!("SELECT coalesce(idp.verify_jwt({t})->>'user_id', idp.verify_jwt({t})->>'error')"))
}

/// Verify `token` every 0.1 s until it verifies as svc-rotating (60 s at most): the first answer
/// and the seconds from the first request to the first success (`None`: never).
fn window(pg: &Cluster, token: &str) -> (String, Option<f64>) {
    let start = Instant::now();
    let mut first: Option<String> = None;
    let done = wait_for(Duration::from_secs(60), Duration::from_millis(100), || {
        let got = verify(pg, token);
        if first.is_none() {
            first = Some(got.clone());
        }
        (got == "svc-rotating").then(|| start.elapsed().as_secs_f64())
    });
    (first.unwrap_or_default(), done)
}

/// A client's access token, kept in `tokens` to look for in the server log at the end.
fn otoken(op: &OpenIdProvider, tokens: &mut Vec<String>, client: &str) -> String {
    let t = op.token(client);
    tokens.push(t.clone());
    t
}

fn seconds(w: Option<f64>) -> String {
    w.map(|w| format!("{w:.1}")).unwrap_or_else(|| "never".into())
}

#[test]
fn suite() {
    run("oidc", |s| {
        s.say("a real OpenID Provider (oidc-provider): discovery, its at+jwt access tokens, rotation windows");
        if let Err(why) = OpenIdProvider::available() {
            panic!("{why}");
        }
        let f = Fixtures::new(s);
        let mut pg = Cluster::start(s, "primary", &[]);
        todos_app(&pg, &f);
        let mut op = OpenIdProvider::new(s, "oidc");
        op.start(&[]);
        let ca = op.ca().display().to_string();
        pg.restart(&[("shared_preload_libraries", "pg_idp"), ("idp.worker_database", "app"), ("idp.tls_ca_file", &ca)]);
        let issuer = op.issuer();
        // Every provider token, to look for in the server log at the end.
        let mut tokens: Vec<String> = Vec::new();
        let mut c = pg.conn("app");
        let discover = |c: &mut Conn, audience: &str| {
            c.q(&format!("SELECT idp.discover({}, 'oidc', '{{\"audience\": \"{audience}\"}}')", lit(&issuer)))
        };
        let discovered = format!(
            "{} {}",
            discover(&mut c, "urn:pg-idp:app"),
            c.q("SELECT jwks_uri FROM idp.providers WHERE name = 'oidc'")
        );
        if !s.check(
            "oidc: idp.discover registers the provider with the keys of its jwks_uri (one per family)",
            format!("4 {issuer}/jwks"),
            &discovered,
        ) {
            return; // nothing below can pass
        }

        s.say("oidc: the provider's JWT access tokens (client_credentials, resource urn:pg-idp:app), per family");
        for (alg, client, kid) in [
            ("RS256", "svc-rs256", "rs-1"),
            ("PS256", "svc-ps256", "ps-1"),
            ("ES256", "svc-es256", "es-1"),
            ("EdDSA", "svc-eddsa", "ed-1"),
        ] {
            let t = otoken(&op, &mut tokens, client);
            s.check(
                &format!("oidc: {alg}: the access token is typ at+jwt, alg {alg}, kid {kid}, and verifies as {client}"),
                format!("at+jwt {alg} {kid} {client}"),
                format!(
                    "{} {} {} {}",
                    jwt_header(&t, "typ"),
                    jwt_header(&t, "alg"),
                    jwt_header(&t, "kid"),
                    verify(&pg, &t)
                ),
            );
        }
        let t_rs = otoken(&op, &mut tokens, "svc-rs256");
        let t_ed = otoken(&op, &mut tokens, "svc-eddsa");
        let rs: Vec<&str> = t_rs.split('.').collect();
        let swapped = format!("{}.{}.{}", rs[0], rs[1], t_ed.split('.').nth(2).unwrap_or(""));
        s.check(
            "oidc: control: a provider token with another token's signature is refused (invalid_signature)",
            "invalid_signature",
            verify(&pg, &swapped),
        );
        discover(&mut c, "urn:pg-idp:other");
        s.check(
            "oidc: control: registered with another audience, its tokens are refused (invalid_audience)",
            "invalid_audience",
            verify(&pg, &t_rs),
        );
        discover(&mut c, "urn:pg-idp:app");
        s.check("oidc: ... and accepted again with the provider's audience", "svc-rs256", verify(&pg, &t_rs));

        s.say("oidc: RLS on todos with the tokens of two clients");
        // Statements of app_user in one transaction with request.jwt = token: what psql printed,
        // but for the set_config line (grep -vx f).
        let as_token = |token: &str, sql: &str| -> String {
            let set = format!("SELECT set_config('request.jwt', {}, true) IS NULL", lit(token));
            let out = pg.conn_as("app", "app_user").each(&["BEGIN", &set, sql, "COMMIT"]);
            out.iter().flat_map(|o| o.lines()).filter(|l| *l != "f").collect::<Vec<_>>().join("\n")
        };
        as_token(&t_rs, "INSERT INTO todos (title) VALUES ('svc-rs256 1'), ('svc-rs256 2')");
        as_token(&t_ed, "INSERT INTO todos (title) VALUES ('svc-eddsa 1')");
        s.check(
            "oidc: RLS: svc-rs256's token sees its 2 rows and nobody else's",
            "svc-rs256|2|2",
            as_token(
                &t_rs,
                "SELECT idp.requesting_user_id(), count(*), count(*) FILTER (WHERE user_id = 'svc-rs256') FROM todos",
            ),
        );
        s.check(
            "oidc: RLS: svc-eddsa's token sees its 1 row and nobody else's",
            "svc-eddsa|1|1",
            as_token(
                &t_ed,
                "SELECT idp.requesting_user_id(), count(*), count(*) FILTER (WHERE user_id = 'svc-eddsa') FROM todos",
            ),
        );
        s.check(
            "oidc: RLS: svc-eddsa's token updates none of svc-rs256's rows",
            "0",
            as_token(
                &t_ed,
                "WITH u AS (UPDATE todos SET title = 'taken' WHERE user_id = 'svc-rs256' RETURNING 1) SELECT count(*) FROM u",
            ),
        );
        s.check(
            "oidc: RLS: ... which are as they were",
            "svc-rs256 1,svc-rs256 2",
            c.q("SELECT string_agg(title, ',' ORDER BY title) FROM todos WHERE user_id = 'svc-rs256'"),
        );
        c.q("DELETE FROM todos WHERE user_id LIKE 'svc-%'");

        s.say("oidc: key rotation: the provider restarts with a new key; how long do its new tokens fail?");
        let since_fetch = |c: &mut Conn| {
            c.q("SELECT round(extract(epoch FROM now() - last_refresh_attempt)::numeric, 1) FROM idp.provider_health WHERE provider = 'oidc'")
        };
        let log = pg.log();
        let early = "refreshed JWKS of provider \"oidc\": 4 keys (early: unknown kid)";
        let t_old = otoken(&op, &mut tokens, "svc-rotating");
        s.check(
            "oidc: before the rotation, svc-rotating's token (RS256, rs-1) verifies",
            "rs-1 svc-rotating",
            format!("{} {}", jwt_header(&t_old, "kid"), verify(&pg, &t_old)),
        );
        // Later fetches are scheduled 3 s apart (the refresh worker's own schedule, for the
        // second window); each job reads the setting when it starts.
        c.batch("ALTER SYSTEM SET idp.refresh_interval = '3s'");
        c.q("SELECT pg_reload_conf()");
        // 1. Same family: RS256 rs-1 -> rs-2. pg_idp fetched the keys a few seconds ago
        // (discover); an unknown kid asks the worker for an early refresh, made at most once per
        // 30 s per provider.
        op.start(&["--keys", "RS256:rs-2,PS256:ps-1,ES256:es-1,EdDSA:ed-1"]);
        let early0 = log.count(early);
        let t1 = otoken(&op, &mut tokens, "svc-rotating");
        let s1 = since_fetch(&mut c);
        let (first1, w1) = window(&pg, &t1);
        let s1f: f64 = s1.parse().unwrap_or(0.0);
        println!(
            "# oidc: rotation window, same family (RS256 rs-1 -> rs-2), the kid-miss early refresh: {} s (the last fetch was {s1} s before the first request, and early refreshes come at most every 30 s: {} s after the 30 s were up)",
            seconds(w1),
            w1.map(|w| format!("{:.1}", w - (30.0 - s1f))).unwrap_or_else(|| "never".into())
        );
        let within1 = match w1 {
            Some(w) if w <= 30.0 - s1f + 3.0 => "yes".to_string(),
            _ => format!("no ({} s)", seconds(w1)),
        };
        s.check(
            "oidc: same family: the new kid fails unknown_key, then the kid-miss early refresh lets it in (within 30 s of the last fetch + 3 s)",
            "unknown_key yes 1",
            format!("{first1} {within1} {}", log.count(early) as i64 - early0 as i64),
        );
        // 2. Another family: svc-rotating now signs with ES256 es-2. The last fetch was the early
        // refresh just now, so the kid miss is not refreshed early: the worker's next scheduled
        // fetch (3 s after the last) picks the key up.
        op.start(&["--keys", "RS256:rs-2,PS256:ps-1,ES256:es-2,EdDSA:ed-1", "--alg", "svc-rotating=ES256"]);
        let t2 = otoken(&op, &mut tokens, "svc-rotating");
        let s2 = since_fetch(&mut c);
        let (first2, w2) = window(&pg, &t2);
        println!(
            "# oidc: rotation window, another family (RS256 -> ES256 es-2), the refresh worker's schedule (idp.refresh_interval = 3s): {} s (first answer: {first2}; the last fetch was {s2} s before the first request)",
            seconds(w2)
        );
        // (The first request may already succeed, when a scheduled fetch came between the
        // restart and it.)
        let within2 = match w2 {
            Some(w) if w <= 5.0 => "yes".to_string(),
            _ => format!("no ({} s)", seconds(w2)),
        };
        s.check(
            "oidc: another family: the worker's scheduled refresh lets the ES256 kid in (within 3 s + 2 s)",
            "ES256 yes",
            format!("{} {within2}", jwt_header(&t2, "alg")),
        );
        s.check("oidc: the retired key's tokens are refused (unknown_key)", "unknown_key", verify(&pg, &t_old));
        c.batch("ALTER SYSTEM RESET idp.refresh_interval");
        c.q("SELECT pg_reload_conf()");
        // Wait for one more scheduled fetch, which schedules the next at the default 10 minutes.
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            let far = c.q(
                "SELECT next_refresh > now() + interval '5 minutes' FROM idp.provider_health WHERE provider = 'oidc'",
            );
            (far == "t").then_some(())
        });
        // 3. idp.refresh_jwks: EdDSA ed-2, fetched by hand at once.
        op.start(&["--keys", "RS256:rs-2,PS256:ps-1,ES256:es-2,EdDSA:ed-2", "--alg", "svc-rotating=EdDSA"]);
        let t3 = otoken(&op, &mut tokens, "svc-rotating");
        s.check(
            "oidc: refresh_jwks: before it, the new EdDSA kid is unknown (no refresh is due for 5 minutes)",
            "ed-2 unknown_key",
            format!("{} {}", jwt_header(&t3, "kid"), verify(&pg, &t3)),
        );
        s.check(
            "oidc: refresh_jwks picks the new key up at once: the very next request verifies",
            "4 svc-rotating",
            format!("{} {}", c.q("SELECT idp.refresh_jwks('oidc')"), verify(&pg, &t3)),
        );

        // Lines holding a token or its signature (grep -cF -e TOKEN -e SIGNATURE), summed.
        let text = log.text();
        let leaked: usize = tokens
            .iter()
            .map(|t| {
                let sig = t.rsplit('.').next().unwrap_or(t);
                text.lines().filter(|l| l.contains(t.as_str()) || l.contains(sig)).count()
            })
            .sum();
        s.check("oidc: no provider token (nor its signature) in the server log", "0", leaked.to_string());
        c.q("SELECT idp.unregister_provider('oidc')");
        op.stop();
    });
}
