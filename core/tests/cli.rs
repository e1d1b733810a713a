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
    let provider = format!(
        r#"{{"provider":"clerk","issuer":"https://acme.clerk.accounts.dev","jwks":{}}}"#,
        jwks.trim()
    );
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
    let (_, token, _) = pg_idp(&["mint", "--secret", &secret, "--no-kid", "--claims", claims], &d);
    let provider = format!(
        r#"{{"provider":"insforge","issuer":"https://acme.clerk.accounts.dev","audience":"insforge-api","secret":"{secret}"}}"#
    );
    let (rc, out, _) = pg_idp(&["verify", "--provider", &provider, token.trim()], &d);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("user_2"));
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
