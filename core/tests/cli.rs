//! The pg-idp CLI end to end: keygen -> mint -> verify / inspect.

use std::process::Command;

fn pg_idp(args: &[&str], dir: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pg-idp")).args(args).current_dir(dir).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pg_idp_cli_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn keygen_mint_verify_rs256() {
    let d = tempdir("rs");
    let (rc, _, err) = pg_idp(&["keygen", "--alg", "RS256", "--kid", "k1", "--out", "clerk"], &d);
    assert_eq!(rc, 0, "{err}");
    let jwks = std::fs::read_to_string(d.join("clerk.jwks.json")).unwrap();
    assert!(jwks.contains("\"kid\": \"k1\"") && !jwks.contains("\"d\""), "{jwks}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("clerk.key.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "private key file must not be readable by others");
    }
    let claims = r#"{"iss":"https://acme.clerk.accounts.dev","sub":"user_1"}"#;
    let (rc, token, err) = pg_idp(&["mint", "--key", "clerk.key.json", "--claims", claims], &d);
    assert_eq!(rc, 0, "{err}");
    let provider =
        format!(r#"{{"provider":"clerk","issuer":"https://acme.clerk.accounts.dev","jwks":{}}}"#, jwks.trim());
    let (rc, out, _) = pg_idp(&["verify", "--provider", &provider, token.trim()], &d);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("\"user_id\": \"user_1\""), "{out}");

    // Expired and not-yet-valid tokens from relative times.
    let (_, expired, _) = pg_idp(&["mint", "--key", "clerk.key.json", "--claims", claims, "--exp", "-3600"], &d);
    let (rc, out, _) = pg_idp(&["verify", "--provider", &provider, expired.trim()], &d);
    assert_eq!(rc, 1);
    assert!(out.contains("\"error\": \"expired\""), "{out}");
    let (_, early, _) = pg_idp(&["mint", "--key", "clerk.key.json", "--claims", claims, "--nbf", "3600"], &d);
    let (_, out, _) = pg_idp(&["verify", "--provider", &provider, early.trim()], &d);
    assert!(out.contains("not_yet_valid"), "{out}");

    // inspect decodes without verifying, and says so.
    let (rc, out, _) = pg_idp(&["inspect", token.trim()], &d);
    assert_eq!(rc, 0);
    assert!(out.contains("UNVERIFIED") && out.contains("\"verified\": false") && out.contains("user_1"), "{out}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn keygen_hs256_writes_a_secret_that_registers() {
    let d = tempdir("hs");
    let (rc, _, err) = pg_idp(&["keygen", "--alg", "HS256", "--out", "insforge"], &d);
    assert_eq!(rc, 0, "{err}");
    let secret = std::fs::read_to_string(d.join("insforge.secret")).unwrap();
    assert!(secret.len() >= 32);
    let claims = r#"{"iss":"https://acme.clerk.accounts.dev","sub":"user_2","aud":"insforge-api"}"#;
    let (_, token, _) = pg_idp(&["mint", "--secret-file", "insforge.secret", "--no-kid", "--claims", claims], &d);
    let provider = format!(
        r#"{{"provider":"insforge","issuer":"https://acme.clerk.accounts.dev","audience":"insforge-api","secret":"{secret}"}}"#
    );
    let (rc, out, _) = pg_idp(&["verify", "--provider", &provider, token.trim()], &d);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("user_2"));
    let _ = std::fs::remove_dir_all(&d);
}

/// Run pg-idp with `stdin` as its standard input.
fn pg_idp_stdin(args: &[&str], dir: &std::path::Path, stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_pg-idp"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mint_reads_the_secret_from_a_file_or_stdin_never_argv() {
    let d = tempdir("secret_file");
    let secret = "file-secret-0123456789abcdef0123456789";
    let claims = r#"{"iss":"https://acme.clerk.accounts.dev","sub":"user_f","aud":"insforge-api"}"#;
    let provider = |secret: &str| {
        format!(
            r#"{{"provider":"insforge","issuer":"https://acme.clerk.accounts.dev","audience":"insforge-api","secret":"{secret}"}}"#
        )
    };
    let verifies =
        |token: &str, secret: &str| pg_idp(&["verify", "--provider", &provider(secret), token.trim()], &d).0 == 0;
    // A file as `keygen` writes it (no newline) and as an editor or `echo` does (one newline):
    // the same secret. Only one newline is dropped: a second one is part of the secret.
    for (name, content, signed_with) in [
        ("plain.secret", secret.to_string(), secret.to_string()),
        ("newline.secret", format!("{secret}\n"), secret.to_string()),
        ("two.secret", format!("{secret}\n\n"), format!("{secret}\n")),
    ] {
        std::fs::write(d.join(name), &content).unwrap();
        let (rc, token, err) = pg_idp(&["mint", "--secret-file", name, "--no-kid", "--claims", claims], &d);
        assert_eq!(rc, 0, "{name}: {err}");
        assert!(verifies(&token, &signed_with.replace('\n', "\\n")), "{name}");
        assert!(!verifies(&token, "another-secret-0123456789abcdef012345"), "{name}");
    }
    // stdin (`-`), with the trailing newline of `echo`.
    let (rc, token, err) = pg_idp_stdin(
        &["mint", "--secret-file", "-", "--no-kid", "--claims", claims],
        &d,
        format!("{secret}\n").as_bytes(),
    );
    assert_eq!(rc, 0, "{err}");
    assert!(verifies(&token, secret));
    // Both forms at once, or a file and a key: a usage error.
    for args in [
        vec!["mint", "--secret-file", "plain.secret", "--secret", secret, "--claims", claims],
        vec!["mint", "--secret-file", "plain.secret", "--secret-base64", "c2VjcmV0", "--claims", claims],
        vec!["mint", "--secret-file", "plain.secret", "--key", "k.json", "--claims", claims],
        vec!["mint", "--secret", secret, "--secret-base64", "c2VjcmV0", "--claims", claims],
        vec!["mint", "--secret-file"],
    ] {
        let (rc, out, err) = pg_idp(&args, &d);
        assert_eq!((rc, out.as_str()), (2, ""), "{args:?}");
        assert!(err.starts_with("pg-idp: ") && !err.contains("file-secret"), "{args:?}: {err}");
    }
    let (_, _, err) = pg_idp(&["mint", "--secret-file", "plain.secret", "--secret", secret, "--claims", claims], &d);
    assert!(err.contains("exactly one of"), "{err}");
    // A missing file: a clear error naming the path, exit 2, nothing printed of any secret.
    let (rc, out, err) = pg_idp(&["mint", "--secret-file", "missing.secret", "--claims", claims], &d);
    assert_eq!((rc, out.as_str()), (2, ""));
    assert!(err.starts_with("pg-idp: cannot read the secret file missing.secret: "), "{err}");
    // An empty one (or a lone newline), from a file or stdin: refused.
    std::fs::write(d.join("empty.secret"), "\n").unwrap();
    let (rc, _, err) = pg_idp(&["mint", "--secret-file", "empty.secret", "--claims", claims], &d);
    assert_eq!(rc, 2);
    assert!(err.contains("is empty"), "{err}");
    let (rc, _, err) = pg_idp_stdin(&["mint", "--secret-file", "-", "--claims", claims], &d, b"");
    assert_eq!(rc, 2);
    assert!(err.contains("the secret read from stdin is empty"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    let d = tempdir("usage");
    for args in [
        vec!["frobnicate"],
        vec!["keygen"],
        vec!["keygen", "--alg", "XS999"],
        vec!["mint", "--claims", "{}"],
        vec!["mint", "--secret", "s", "--claims", "[1]"],
        vec!["inspect", "not-a-token"],
    ] {
        let (rc, _, err) = pg_idp(&args, &d);
        assert_eq!(rc, 2, "{args:?}");
        assert!(err.starts_with("pg-idp: "), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// The decoded payload of a compact JWS.
fn payload(token: &str) -> serde_json::Value {
    let seg = token.split('.').nth(1).expect("a payload segment");
    serde_json::from_slice(&pg_idp_core::b64::decode(seg).expect("base64url")).expect("JSON")
}

const BENCH_SECRET: &str = "bench-jwt-secret-0123456789abcdef0123456789";
const BENCH_ISS: &str = "https://bench.example.com";

#[test]
fn mint_count_fills_n_and_adds_distinct_jtis() {
    let d = tempdir("count");
    let claims = r#"{"iss":"https://acme.clerk.accounts.dev","sub":"user_{n}","org":{"ids":["org_{n}", 7]}}"#;
    let (rc, out, err) = pg_idp(&["mint", "--secret", BENCH_SECRET, "--claims", claims, "--count", "3"], &d);
    assert_eq!(rc, 0, "{err}");
    let tokens: Vec<&str> = out.lines().collect();
    assert_eq!(tokens.len(), 3, "{out}");
    let mut jtis = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let p = payload(t);
        assert_eq!(p["sub"], format!("user_{}", i + 1), "{p}");
        assert_eq!(p["org"]["ids"], serde_json::json!([format!("org_{}", i + 1), 7]), "{p}");
        assert!(p["exp"].is_i64() && p["iat"].is_i64(), "{p}");
        jtis.push(p["jti"].as_str().expect("a jti").to_string());
    }
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "jtis must be distinct: {jtis:?}");
    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3);

    // Identical claims still give distinct tokens; a jti in the claims is kept.
    let (_, out, _) = pg_idp(&["mint", "--secret", BENCH_SECRET, "--claims", r#"{"sub":"same"}"#, "--count", "2"], &d);
    let same: Vec<&str> = out.lines().collect();
    assert_eq!(same.len(), 2);
    assert_ne!(same[0], same[1]);
    let (_, out, _) = pg_idp(&["mint", "--secret", BENCH_SECRET, "--claims", r#"{"jti":"j-{n}"}"#, "--count", "2"], &d);
    let jtis: Vec<_> = out.lines().map(|t| payload(t)["jti"].clone()).collect();
    assert_eq!(jtis, vec![serde_json::json!("j-1"), serde_json::json!("j-2")]);

    // The default is one token, without a jti.
    let (rc, out, _) = pg_idp(&["mint", "--secret", BENCH_SECRET, "--claims", r#"{"sub":"u{n}"}"#], &d);
    assert_eq!(rc, 0);
    assert_eq!(out.lines().count(), 1);
    let p = payload(out.trim());
    assert_eq!(p["sub"], "u1");
    assert!(p.get("jti").is_none(), "{p}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn mint_bad_count_exits_2() {
    let d = tempdir("badcount");
    for count in ["0", "-1", "many", "1.5", ""] {
        let (rc, out, err) = pg_idp(&["mint", "--secret", BENCH_SECRET, "--count", count], &d);
        assert_eq!(rc, 2, "--count {count:?}: {out}");
        assert!(out.is_empty(), "--count {count:?}: {out}");
        assert!(err.starts_with("pg-idp: ") && err.contains("--count"), "--count {count:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Five HS256 tokens in `tokens.txt` and their provider in `provider.json`.
fn bench_fixture(d: &std::path::Path) -> Vec<String> {
    let claims = format!(r#"{{"iss":"{BENCH_ISS}","sub":"user_{{n}}","aud":"api"}}"#);
    let (rc, out, err) = pg_idp(&["mint", "--secret", BENCH_SECRET, "--claims", &claims, "--count", "5"], d);
    assert_eq!(rc, 0, "{err}");
    let provider =
        format!(r#"{{"provider":"bench","issuer":"{BENCH_ISS}","audience":"api","secret":"{BENCH_SECRET}"}}"#);
    std::fs::write(d.join("provider.json"), provider).unwrap();
    out.lines().map(str::to_string).collect()
}

#[test]
fn bench_verify_reports_json() {
    let d = tempdir("bench");
    let tokens = bench_fixture(&d);
    // Empty lines are skipped.
    std::fs::write(d.join("tokens.txt"), format!("{}\n\n", tokens.join("\n"))).unwrap();
    let (rc, out, err) =
        pg_idp(&["bench-verify", "--provider", "provider.json", "--tokens", "tokens.txt", "--repeats", "3"], &d);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON line");
    assert_eq!(v["tokens"], 5, "{v}");
    assert_eq!(v["repeats"], 3, "{v}");
    for k in ["median_seconds", "tokens_per_second", "ns_per_token"] {
        assert!(v[k].as_f64().is_some_and(|x| x > 0.0), "{k}: {v}");
    }
    // Default repeats.
    let (rc, out, _) = pg_idp(&["bench-verify", "--provider", "provider.json", "--tokens", "tokens.txt"], &d);
    assert_eq!(rc, 0);
    assert!(out.contains("\"repeats\": 5"), "{out}");
    for args in [
        vec!["bench-verify", "--tokens", "tokens.txt"],
        vec!["bench-verify", "--provider", "provider.json"],
        vec!["bench-verify", "--provider", "provider.json", "--tokens", "tokens.txt", "--repeats", "0"],
        vec!["bench-verify", "--provider", "provider.json", "--tokens", "missing.txt"],
    ] {
        let (rc, _, err) = pg_idp(&args, &d);
        assert_eq!(rc, 2, "{args:?}");
        assert!(err.starts_with("pg-idp: "), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bench_verify_fails_on_a_bad_token_without_printing_it() {
    let d = tempdir("benchbad");
    let mut tokens = bench_fixture(&d);
    // Flip the first character of the third token's signature.
    let t = &tokens[2];
    let sig_at = t.rfind('.').unwrap() + 1;
    let flipped = if t.as_bytes()[sig_at] == b'A' { "B" } else { "A" };
    tokens[2] = format!("{}{flipped}{}", &t[..sig_at], &t[sig_at + 1..]);
    std::fs::write(d.join("tokens.txt"), tokens.join("\n")).unwrap();
    let (rc, out, err) = pg_idp(&["bench-verify", "--provider", "provider.json", "--tokens", "tokens.txt"], &d);
    assert_eq!(rc, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("token 3") && err.contains("invalid_signature"), "{err}");
    for t in &tokens {
        for seg in t.split('.') {
            assert!(!err.contains(seg), "stderr leaks a token segment: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&d);
}
