//! End-to-end verification tests: real keys, real signed tokens, the public API only.
//!
//! Every rejection goes through `reject`, which checks the error code and that the message
//! leaks neither the token, any of its segments, nor the shared secret.

use std::sync::OnceLock;

use pg_idp_core::sign::{mint, SigningKey};
use pg_idp_core::{
    b64, parse_provider, Alg, Directory, ErrorCode, Identity, Provider, Registry, Revocations, VerifyError,
    VerifyOptions,
};
use serde_json::{json, Map, Value};

const ISS: &str = "https://acme.clerk.accounts.dev";
/// The HS256 secret of the `insforge` provider (more than 32 bytes).
const SECRET: &str = "insforge-jwt-secret-3f9a1c7e5b2d4a6f8e0c";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Current time, whole seconds since the epoch.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn opts(now: i64) -> VerifyOptions {
    VerifyOptions::at(now as f64)
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("a JSON object").clone()
}

/// A typical payload: issued now, valid for an hour, with every claim the mappings use.
fn claims(now: i64) -> Map<String, Value> {
    obj(json!({
        "iss": ISS,
        "sub": "user_2abc",
        "email": "ada@acme.test",
        "emails": ["ada@acme.test", "ada.lovelace@acme.test"],
        "org_id": "org_flat",
        "org": {"id": "org_nested", "role": "admin"},
        "iat": now,
        "exp": now + 3600,
    }))
}

/// `claims(now)` with some members replaced; a `null` override removes the member.
fn claims_with(now: i64, overrides: Value) -> Map<String, Value> {
    let mut c = claims(now);
    for (k, v) in obj(overrides) {
        if v.is_null() {
            c.remove(&k);
        } else {
            c.insert(k, v);
        }
    }
    c
}

fn provider(cfg: Value) -> Provider {
    parse_provider(&cfg).unwrap_or_else(|e| panic!("provider config rejected: {e}"))
}

fn registry(providers: Vec<Provider>) -> Registry {
    Registry::new(providers)
}

fn public_jwk(key: &SigningKey) -> Value {
    key.public_jwk().expect("an asymmetric key")
}

/// A JWKS provider named `clerk` for `ISS`, no audience, mapping email and tenant.
fn jwks_provider(keys: &[&SigningKey]) -> Provider {
    let keys: Vec<Value> = keys.iter().map(|k| public_jwk(k)).collect();
    provider(json!({
        "provider": "clerk",
        "issuer": ISS,
        "jwks": {"keys": keys},
        "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "org_id"},
    }))
}

/// An HS256 `secret` provider named `insforge` for `ISS`, with audience `insforge-api`.
fn secret_provider() -> Provider {
    provider(json!({
        "provider": "insforge",
        "issuer": ISS,
        "secret": SECRET,
        "audience": "insforge-api",
    }))
}

/// A freshly generated RSA key (RS256, kid as given).
fn new_rs_key(kid: &str) -> SigningKey {
    SigningKey::generate(Alg::RS256, Some(kid.to_string())).unwrap()
}

/// The shared RS256 key with kid `rsa-1` (generated once: RSA generation is slow).
fn rs_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| new_rs_key("rsa-1"))
}

fn hs_key() -> SigningKey {
    SigningKey::from_secret(Alg::HS256, SECRET.as_bytes(), None).unwrap()
}

/// Mint with the key's own algorithm and default header.
fn sign(key: &SigningKey, claims: &Map<String, Value>) -> String {
    mint(key, key.alg, claims, &Map::new()).unwrap()
}

/// Mint with `alg` and `header` merged into the default header (null removes a member).
fn sign_with(key: &SigningKey, alg: Alg, claims: &Map<String, Value>, header: Value) -> String {
    mint(key, alg, claims, &obj(header)).unwrap()
}

/// A token from raw header and payload text, correctly signed by `key` with its algorithm.
fn sign_raw(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64::encode(header.as_bytes()), b64::encode(payload.as_bytes()));
    let sig = key.sign(key.alg, input.as_bytes()).unwrap();
    format!("{input}.{}", b64::encode(&sig))
}

/// The token with its payload replaced by `claims`, keeping the original header and signature.
fn with_payload(token: &str, claims: &Map<String, Value>) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let p = b64::encode(serde_json::to_string(claims).unwrap().as_bytes());
    format!("{}.{p}.{}", parts[0], parts[2])
}

/// `s` with the (ASCII) character at byte `i` replaced by `c`.
fn replace_at(s: &str, i: usize, c: char) -> String {
    format!("{}{c}{}", &s[..i], &s[i + 1..])
}

fn accept(reg: &Registry, token: &str, now: i64) -> Identity {
    reg.verify(token, &opts(now)).unwrap_or_else(|e| panic!("token rejected: {e}"))
}

/// Verify, expect `code`, and check the message leaks nothing of the token or the secret.
fn reject_with(reg: &Registry, token: &str, opts: &VerifyOptions, code: ErrorCode) -> VerifyError {
    let e = match reg.verify(token, opts) {
        Ok(id) => panic!("expected {code}, but the token verified as {id:?}"),
        Err(e) => e,
    };
    assert_eq!(e.code, code, "wrong code; message: {}", e.message);
    assert_no_leak(&e, token, &[SECRET]);
    e
}

fn reject(reg: &Registry, token: &str, now: i64, code: ErrorCode) -> VerifyError {
    reject_with(reg, token, &opts(now), code)
}

fn assert_no_leak(e: &VerifyError, token: &str, secrets: &[&str]) {
    let shown = e.to_string();
    assert!(!shown.is_empty());
    if !token.is_empty() {
        assert!(!shown.contains(token), "message contains the token: {shown}");
    }
    // Segments shorter than 8 characters would match ordinary words by chance.
    for seg in token.split('.').filter(|s| s.len() >= 8) {
        assert!(!shown.contains(seg), "message contains token segment {seg:?}: {shown}");
    }
    for s in secrets {
        assert!(!shown.contains(s), "message contains a secret: {shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Every error code
// ---------------------------------------------------------------------------------------------

/// One realistic rejected token per code. The match is exhaustive, so a new code fails to
/// compile until it gets a case here.
fn case_for(code: ErrorCode, now: i64) -> (Registry, String, VerifyOptions) {
    let rs = rs_key();
    let jwks = || registry(vec![jwks_provider(&[rs])]);
    let hs = || registry(vec![secret_provider()]);
    let o = opts(now);
    match code {
        ErrorCode::Malformed => (jwks(), "garbage".into(), o),
        ErrorCode::TokenTooLarge => {
            let t = sign(rs, &claims(now));
            (jwks(), t, VerifyOptions { max_token_bytes: 64, ..o })
        }
        ErrorCode::UnsupportedAlgorithm => (jwks(), sign_with(rs, Alg::RS256, &claims(now), json!({"alg": "none"})), o),
        ErrorCode::AlgorithmNotAllowed => (hs(), sign(rs, &claims_with(now, json!({"aud": "insforge-api"}))), o),
        ErrorCode::UnknownIssuer => (jwks(), sign(rs, &claims_with(now, json!({"iss": "https://evil.example"}))), o),
        ErrorCode::UnknownKey => (jwks(), sign_with(rs, Alg::RS256, &claims(now), json!({"kid": "rotated-away"})), o),
        ErrorCode::InvalidSignature => {
            let t = sign(rs, &claims(now));
            (jwks(), with_payload(&t, &claims_with(now, json!({"sub": "admin"}))), o)
        }
        ErrorCode::Expired => (jwks(), sign(rs, &claims_with(now, json!({"iat": now - 7200, "exp": now - 3600}))), o),
        ErrorCode::NotYetValid => (jwks(), sign(rs, &claims_with(now, json!({"nbf": now + 3600}))), o),
        ErrorCode::IssuedInFuture => (jwks(), sign(rs, &claims_with(now, json!({"iat": now + 3600}))), o),
        ErrorCode::InvalidAudience => (hs(), sign(&hs_key(), &claims_with(now, json!({"aud": "other-api"}))), o),
        ErrorCode::InvalidClaim => (jwks(), sign(rs, &claims_with(now, json!({"exp": "tomorrow"}))), o),
        ErrorCode::MissingClaim => (jwks(), sign(rs, &claims_with(now, json!({"sub": null}))), o),
        ErrorCode::UnsupportedCriticalHeader => {
            (jwks(), sign_with(rs, Alg::RS256, &claims(now), json!({"crit": ["b64"], "b64": false})), o)
        }
        ErrorCode::Revoked => {
            let mut r = Revocations::default();
            r.revoke_user(ISS, "user_2abc", now as f64 + 1.0);
            (jwks().with_revocations(r), sign(rs, &claims(now)), o)
        }
        ErrorCode::NoKeys => {
            // Registered from a guide's body (jwks_uri, no inline keys) without fetching yet.
            let keyless = provider(json!({"provider": "clerk", "issuer": ISS,
                                          "jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json"}));
            (registry(vec![keyless]), sign(rs, &claims(now)), o)
        }
        ErrorCode::Deprovisioned => {
            let mut d = Directory::default();
            d.add_user("clerk", "user_2abc", None, Some("Ada@Acme.test"), false);
            (jwks().with_directory(d), sign(rs, &claims(now)), o)
        }
        ErrorCode::RoleNotAllowed
        | ErrorCode::RegistryUnavailable
        | ErrorCode::IssuerMismatch
        | ErrorCode::InsufficientScope => {
            unreachable!("login-only codes (ErrorCode::LOGIN) are not in ErrorCode::ALL")
        }
    }
}

// --- directory -------------------------------------------------------------------------------

#[test]
fn directory_deprovisioning_and_groups() {
    let now = now();
    let rs = rs_key();
    let token = sign(rs, &claims(now));
    let base = || registry(vec![jwks_provider(&[rs])]);
    // Matched by default on the directory user id, which here is the token's sub: an active user
    // verifies and has its groups.
    let mut d = Directory::default();
    d.add_user("clerk", "user_2abc", None, Some("ADA@acme.test"), true);
    d.add_membership("clerk", "user_2abc", "group_b");
    d.add_membership("clerk", "user_2abc", "group_a");
    let id = accept(&base().with_directory(d), &token, now);
    assert_eq!(id.groups, vec!["group_a".to_string(), "group_b".to_string()]);
    // A user the directory does not know is not affected, and has no groups.
    let mut d = Directory::default();
    d.add_user("clerk", "directory_user_02", None, Some("ada@acme.test"), false);
    assert!(accept(&base().with_directory(d), &token, now).groups.is_empty());
    // Deprovisioned: refused, naming the user.
    let mut d = Directory::default();
    d.add_user("clerk", "user_2abc", None, None, false);
    let e = reject(&base().with_directory(d), &token, now, ErrorCode::Deprovisioned);
    assert!(e.message.contains("user_2abc"), "{}", e.message);
}

/// A provider matching directory users by `directory_match` / `directory_claim`.
fn directory_provider(rs: &SigningKey, extra: Value) -> Registry {
    let mut cfg = json!({
        "provider": "clerk",
        "issuer": ISS,
        "jwks": {"keys": [public_jwk(rs)]},
        "claim_mapping": {"user_id": "sub", "email": "email"},
    });
    for (k, v) in obj(extra) {
        cfg[k] = v;
    }
    registry(vec![provider(cfg)])
}

#[test]
fn directory_matches_stable_ids_and_only_verified_emails() {
    let now = now();
    let rs = rs_key();
    let mut d = Directory::default();
    d.add_user("clerk", "directory_user_01VICTIM", Some("00u_victim"), Some("Victim@Corp.com"), true);
    d.add_membership("clerk", "directory_user_01VICTIM", "admins");
    // The review's attack: someone else's token claiming the victim's email, unverified, gets
    // nothing of hers, whatever the matching.
    let attacker = |verified: Value| {
        sign(
            rs,
            &claims_with(now, json!({"sub": "user_attacker", "email": "victim@corp.com", "email_verified": verified})),
        )
    };
    for cfg in [json!({}), json!({"directory_match": "idp_id"}), json!({"directory_match": "email"})] {
        let reg = directory_provider(rs, cfg.clone()).with_directory(d.clone());
        for verified in [json!(false), json!("true"), json!(null)] {
            assert!(accept(&reg, &attacker(verified.clone()), now).groups.is_empty(), "{cfg} {verified}");
        }
    }
    // A directory-user id claim (a JWT template's), by default against the directory user id.
    let reg = directory_provider(rs, json!({"directory_claim": "directory_user_id"})).with_directory(d.clone());
    let victim =
        sign(rs, &claims_with(now, json!({"sub": "user_2victim", "directory_user_id": "directory_user_01VICTIM"})));
    assert_eq!(accept(&reg, &victim, now).groups, vec!["admins".to_string()]);
    // sub against idp_id.
    let reg = directory_provider(rs, json!({"directory_match": "idp_id"})).with_directory(d.clone());
    assert_eq!(
        accept(&reg, &sign(rs, &claims_with(now, json!({"sub": "00u_victim"}))), now).groups,
        vec!["admins".to_string()]
    );
    // Email matching needs email_verified: true, and folds case one way.
    let reg = directory_provider(rs, json!({"directory_match": "email"})).with_directory(d.clone());
    let verified =
        sign(rs, &claims_with(now, json!({"sub": "user_2victim", "email": "VICTIM@corp.com", "email_verified": true})));
    assert_eq!(accept(&reg, &verified, now).groups, vec!["admins".to_string()]);
    // A victim deprovisioned cannot escape by changing her email when matched by id.
    let mut gone = Directory::default();
    gone.add_user("clerk", "directory_user_01VICTIM", None, Some("victim@corp.com"), false);
    let reg = directory_provider(rs, json!({"directory_claim": "directory_user_id"})).with_directory(gone);
    let renamed = sign(
        rs,
        &claims_with(
            now,
            json!({"sub": "user_2victim", "email": "new@elsewhere.com", "directory_user_id": "directory_user_01VICTIM"}),
        ),
    );
    reject(&reg, &renamed, now, ErrorCode::Deprovisioned);
    // directory_claim makes no sense with email matching.
    let e = parse_provider(&json!({"provider": "p", "issuer": ISS, "jwks": {"keys": [public_jwk(rs)]},
                                   "directory_match": "email", "directory_claim": "x"}))
    .unwrap_err();
    assert_eq!(e.field, "directory_claim");
    let e = parse_provider(&json!({"provider": "p", "issuer": ISS, "jwks": {"keys": [public_jwk(rs)]},
                                   "directory_match": "name"}))
    .unwrap_err();
    assert_eq!(e.field, "directory_match");
}

#[test]
fn directory_deprovisioning_covers_the_person_across_entries_of_one_issuer() {
    let now = now();
    let rs = rs_key();
    // Clerk's RS256 session tokens and its HS256 JWT template: one issuer, one sub.
    let session = sign(rs, &claims(now));
    let template = sign(&hs_key(), &claims_with(now, json!({"aud": "insforge-api"})));
    let both = || registry(vec![jwks_provider(&[rs]), secret_provider()]);
    // Deprovisioned in either entry's directory: refused by both, the message naming the
    // directory that said so; the groups of an active user stay those of the verifying entry.
    for (directory_of, other) in [("clerk", "insforge"), ("insforge", "clerk")] {
        let mut d = Directory::default();
        d.add_user(directory_of, "user_2abc", None, None, false);
        let reg = both().with_directory(d);
        for token in [&session, &template] {
            let e = reject(&reg, token, now, ErrorCode::Deprovisioned);
            assert!(e.message.contains(&format!("provider \"{directory_of}\"")), "{}", e.message);
        }
        let mut d = Directory::default();
        d.add_user(directory_of, "user_2abc", None, None, true);
        d.add_membership(directory_of, "user_2abc", "eng");
        let reg = both().with_directory(d);
        let verifying = |t: &str| accept(&reg, t, now);
        let (own, theirs) = if directory_of == "clerk" { (&session, &template) } else { (&template, &session) };
        assert_eq!(verifying(own).groups, vec!["eng".to_string()]);
        let id = verifying(theirs);
        assert_eq!((id.provider.as_str(), id.groups.len()), (other, 0));
    }
    // Control: the same user id at another issuer is unaffected.
    let mut d = Directory::default();
    d.add_user("auth0", "user_2abc", None, None, false);
    let auth0 = provider(json!({"provider": "auth0", "issuer": "https://acme.us.auth0.com/", "secret": SECRET}));
    let reg = registry(vec![jwks_provider(&[rs]), secret_provider(), auth0]).with_directory(d);
    accept(&reg, &session, now);
    accept(&reg, &template, now);
    // Another user of the same issuer is unaffected.
    let mut d = Directory::default();
    d.add_user("clerk", "user_2other", None, None, false);
    accept(&both().with_directory(d), &template, now);

    // "The same person" follows each directory's own matching. clerk matches its users by
    // idp_id (the tokens' sub); the template entry keeps the default (directory user id): its
    // token is still matched in clerk's directory the way clerk matches, by idp_id.
    let idp = provider(json!({"provider": "clerk", "issuer": ISS, "jwks": {"keys": [public_jwk(rs)]},
                              "directory_match": "idp_id"}));
    let mut d = Directory::default();
    d.add_user("clerk", "directory_user_01ADA", Some("user_2abc"), None, false);
    reject(&registry(vec![idp.clone(), secret_provider()]).with_directory(d), &template, now, ErrorCode::Deprovisioned);
    // And by the template's own key: a template carrying the directory user id, matched by its
    // entry's directory_claim, finds the user deprovisioned in clerk's directory by id.
    let claimed = provider(json!({"provider": "insforge", "issuer": ISS, "secret": SECRET, "audience": "insforge-api",
                                  "directory_claim": "directory_user_id"}));
    let carrying = sign(
        &hs_key(),
        &claims_with(
            now,
            json!({"aud": "insforge-api", "sub": "user_2zed", "directory_user_id": "directory_user_01ADA"}),
        ),
    );
    let mut d = Directory::default();
    d.add_user("clerk", "directory_user_01ADA", Some("00u_ada"), None, false);
    reject(&registry(vec![idp.clone(), claimed.clone()]).with_directory(d), &carrying, now, ErrorCode::Deprovisioned);
    // Email matching reaches a sibling only through a verified email.
    let by_email = provider(json!({"provider": "clerk", "issuer": ISS, "jwks": {"keys": [public_jwk(rs)]},
                                   "directory_match": "email", "claim_mapping": {"email": "email"}}));
    let mut d = Directory::default();
    d.add_user("clerk", "directory_user_01ADA", None, Some("ada@acme.test"), false);
    let reg = registry(vec![by_email, secret_provider()]).with_directory(d);
    let unverified = sign(&hs_key(), &claims_with(now, json!({"aud": "insforge-api", "sub": "user_2eve"})));
    accept(&reg, &unverified, now);
    let verified =
        sign(&hs_key(), &claims_with(now, json!({"aud": "insforge-api", "sub": "user_2eve", "email_verified": true})));
    reject(&reg, &verified, now, ErrorCode::Deprovisioned);
}

#[test]
fn a_user_id_must_be_a_non_empty_string_never_an_array() {
    let now = now();
    let rs = rs_key();
    let reg = registry(vec![jwks_provider(&[rs])]);
    for sub in [json!(["user_bob", "x"]), json!(["user_bob"]), json!(42), json!({"id": "user_bob"}), json!(true)] {
        let e = reject(&reg, &sign(rs, &claims_with(now, json!({"sub": sub}))), now, ErrorCode::MissingClaim);
        assert!(e.message.contains("non-empty string"), "{}", e.message);
    }
    reject(&reg, &sign(rs, &claims_with(now, json!({"sub": ""}))), now, ErrorCode::MissingClaim);
}

// --- revoked ---------------------------------------------------------------------------------

#[test]
fn revoked_users_and_sessions() {
    let now = now();
    let rs = rs_key();
    let token = sign(rs, &claims_with(now, json!({"sid": "sess_1"})));
    let other_session = sign(rs, &claims_with(now, json!({"sid": "sess_2"})));
    let no_iat = sign(rs, &claims_with(now, json!({"iat": null})));
    let base = || registry(vec![jwks_provider(&[rs])]);
    // A user revoked after the token was issued: refused, whatever the session.
    let mut r = Revocations::default();
    r.revoke_user(ISS, "user_2abc", now as f64 + 1.0);
    let reg = base().with_revocations(r);
    let e = reject(&reg, &token, now, ErrorCode::Revoked);
    assert!(e.message.contains("user_2abc") && e.message.contains(ISS), "{}", e.message);
    reject(&reg, &no_iat, now, ErrorCode::Revoked);
    // Revoked before the token was issued (the user signed in again): accepted.
    let mut r = Revocations::default();
    r.revoke_user(ISS, "user_2abc", now as f64 - 60.0);
    assert_eq!(accept(&base().with_revocations(r.clone()), &token, now).user_id, "user_2abc");
    // ... but a token without iat cannot show that it is newer.
    reject(&base().with_revocations(r), &no_iat, now, ErrorCode::Revoked);
    // Another issuer's user of the same id is not affected.
    let mut r = Revocations::default();
    r.revoke_user("https://acme.us.auth0.com/", "user_2abc", now as f64 + 1.0);
    accept(&base().with_revocations(r), &token, now);
    // A revocation covers the person (issuer and user id), whichever provider entry of that
    // issuer verifies the token: the HS256 template entry too.
    let mut r = Revocations::default();
    r.revoke_user(ISS, "user_2abc", now as f64 + 1.0);
    let both = registry(vec![jwks_provider(&[rs]), secret_provider()]).with_revocations(r);
    let template = sign(&hs_key(), &claims_with(now, json!({"aud": "insforge-api"})));
    reject(&both, &template, now, ErrorCode::Revoked);
    reject(&both, &token, now, ErrorCode::Revoked);
    // A revoked session: only that session's tokens.
    let mut r = Revocations::default();
    r.revoke_session(ISS, "sess_1");
    let reg = base().with_revocations(r);
    reject(&reg, &token, now, ErrorCode::Revoked);
    assert_eq!(accept(&reg, &other_session, now).session_id.as_deref(), Some("sess_2"));
}

#[test]
fn every_error_code_has_a_realistic_token() {
    let now = now();
    for code in ErrorCode::ALL {
        let (reg, token, o) = case_for(code, now);
        reject_with(&reg, &token, &o, code);
    }
}

#[test]
fn every_failure_past_the_issuer_names_its_provider() {
    // idp.stats counts failures per provider and the audit log names it: every failure once a
    // registered issuer is found is about that provider; before that there is none to name.
    let now = now();
    for code in ErrorCode::ALL {
        let (reg, token, o) = case_for(code, now);
        let e = reject_with(&reg, &token, &o, code);
        let before_issuer = matches!(
            code,
            ErrorCode::Malformed
                | ErrorCode::TokenTooLarge
                | ErrorCode::UnsupportedAlgorithm
                | ErrorCode::UnknownIssuer
                | ErrorCode::UnsupportedCriticalHeader
        );
        let expected = if before_issuer { None } else { Some(reg.providers()[0].name.as_str()) };
        assert_eq!(e.provider.as_deref(), expected, "provider of {code}");
    }
}

#[test]
fn discovery_url_is_recorded_and_checked() {
    let cfg = json!({"provider": "d", "issuer": ISS, "jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json",
                     "discovery_url": "https://acme.clerk.accounts.dev/.well-known/openid-configuration"});
    assert!(parse_provider(&cfg).is_ok());
    let mut bad = cfg.clone();
    bad["discovery_url"] = json!("file:///etc/passwd");
    assert_eq!(parse_provider(&bad).unwrap_err().field, "discovery_url");
    bad["discovery_url"] = json!(42);
    assert_eq!(parse_provider(&bad).unwrap_err().field, "discovery_url");
}

// --- malformed -------------------------------------------------------------------------------

#[test]
fn malformed_garbage() {
    let reg = registry(vec![secret_provider()]);
    for t in ["garbage", "Bearer", "not a jwt at all", "{\"alg\":\"HS256\"}"] {
        reject(&reg, t, now(), ErrorCode::Malformed);
    }
}

#[test]
fn malformed_empty_string() {
    let reg = registry(vec![secret_provider()]);
    reject(&reg, "", now(), ErrorCode::Malformed);
}

#[test]
fn malformed_two_segments() {
    let now = now();
    let t = sign(&hs_key(), &claims(now));
    let two = t.rsplit_once('.').unwrap().0;
    let reg = registry(vec![secret_provider()]);
    let e = reject(&reg, two, now, ErrorCode::Malformed);
    assert!(e.message.contains("found 2"), "{}", e.message);
}

#[test]
fn malformed_jwe_five_segments() {
    let header = b64::encode(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"rsa-1"}"#);
    let jwe = format!(
        "{header}.{}.{}.{}.{}",
        b64::encode(&[7u8; 256]),
        b64::encode(&[1u8; 12]),
        b64::encode(br#"{"sub":"user_2abc","iss":"https://acme.clerk.accounts.dev"}"#),
        b64::encode(&[9u8; 16]),
    );
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let e = reject(&reg, &jwe, now(), ErrorCode::Malformed);
    assert!(e.message.contains("JWE"), "{}", e.message);
}

#[test]
fn malformed_bad_base64() {
    let now = now();
    let t = sign(&hs_key(), &claims(now));
    let (h, rest) = t.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let reg = registry(vec![secret_provider()]);
    let mid = p.len() / 2;
    for bad in [
        format!("{h}.{p}.{s}="),                        // padding
        format!("{h}==.{p}.{s}"),                       // padding on the header
        format!("{h}.{}.{s}", replace_at(p, mid, '+')), // standard base64 alphabet
        format!("{h}.{}.{s}", replace_at(p, mid, '/')),
        format!("{h}.{}.{s}", replace_at(p, mid, '!')), // not base64 at all
        format!("{h}.{}.{s}", replace_at(p, mid, ' ')), // whitespace
    ] {
        reject(&reg, &bad, now, ErrorCode::Malformed);
    }
}

#[test]
fn malformed_non_object_payload() {
    let key = hs_key();
    let reg = registry(vec![secret_provider()]);
    for payload in [r#"["user_2abc"]"#, r#""user_2abc""#, "42", "null", "not json"] {
        let t = sign_raw(&key, r#"{"alg":"HS256","typ":"JWT"}"#, payload);
        reject(&reg, &t, now(), ErrorCode::Malformed);
    }
}

#[test]
fn malformed_duplicate_claim() {
    let now = now();
    let payload =
        format!(r#"{{"iss":"{ISS}","aud":"insforge-api","sub":"user_2abc","sub":"admin","exp":{}}}"#, now + 3600);
    let t = sign_raw(&hs_key(), r#"{"alg":"HS256","typ":"JWT"}"#, &payload);
    let reg = registry(vec![secret_provider()]);
    let e = reject(&reg, &t, now, ErrorCode::Malformed);
    assert!(e.message.contains("duplicate member 'sub'"), "{}", e.message);
}

#[test]
fn unsigned_alg_none_token_is_unsupported_algorithm() {
    // The classic `alg: none` token carries an empty signature: rejected for its algorithm.
    let now = now();
    let h = b64::encode(br#"{"alg":"none","typ":"JWT"}"#);
    let p = b64::encode(serde_json::to_string(&claims(now)).unwrap().as_bytes());
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    reject(&reg, &format!("{h}.{p}."), now, ErrorCode::UnsupportedAlgorithm);
}

// --- token_too_large -------------------------------------------------------------------------

#[test]
fn token_too_large_is_checked_against_max_token_bytes() {
    let now = now();
    let t = sign(rs_key(), &claims(now));
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let at_limit = VerifyOptions { max_token_bytes: t.len(), ..opts(now) };
    assert!(reg.verify(&t, &at_limit).is_ok());
    let below = VerifyOptions { max_token_bytes: t.len() - 1, ..opts(now) };
    reject_with(&reg, &t, &below, ErrorCode::TokenTooLarge);
}

// --- unsupported_algorithm -------------------------------------------------------------------

#[test]
fn unsupported_algorithms() {
    let now = now();
    let rs = rs_key();
    let reg = registry(vec![jwks_provider(&[rs]), secret_provider()]);
    for alg in ["none", "None", "NONE", "HS1", "ES512", "rs256"] {
        let t = sign_with(rs, Alg::RS256, &claims(now), json!({ "alg": alg }));
        let e = reject(&reg, &t, now, ErrorCode::UnsupportedAlgorithm);
        assert!(e.message.contains(alg), "{}", e.message);
    }
}

// --- algorithm_not_allowed -------------------------------------------------------------------

#[test]
fn rs256_token_on_hs_only_provider() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"aud": "insforge-api"})));
    reject(&registry(vec![secret_provider()]), &t, now, ErrorCode::AlgorithmNotAllowed);
}

#[test]
fn key_confusion_hs256_signed_with_rsa_public_jwk_text() {
    let now = now();
    let rs = rs_key();
    let jwk_text = serde_json::to_string(&public_jwk(rs)).unwrap();
    let attacker = SigningKey::from_secret(Alg::HS256, jwk_text.as_bytes(), Some("rsa-1".into())).unwrap();
    let reg = registry(vec![jwks_provider(&[rs])]);
    let with_kid = sign(&attacker, &claims(now));
    let e = reject(&reg, &with_kid, now, ErrorCode::AlgorithmNotAllowed);
    assert_no_leak(&e, &with_kid, &[&jwk_text]);
    let without_kid = sign_with(&attacker, Alg::HS256, &claims(now), json!({"kid": null}));
    reject(&reg, &without_kid, now, ErrorCode::AlgorithmNotAllowed);
}

#[test]
fn key_confusion_hs256_signed_with_rsa_modulus_bytes() {
    let now = now();
    let rs = rs_key();
    let n = b64::decode(public_jwk(rs)["n"].as_str().unwrap()).unwrap();
    let attacker = SigningKey::from_secret(Alg::HS256, &n, None).unwrap();
    let t = sign(&attacker, &claims(now));
    reject(&registry(vec![jwks_provider(&[rs])]), &t, now, ErrorCode::AlgorithmNotAllowed);
}

#[test]
fn hs256_token_whose_kid_names_an_rsa_key() {
    // The provider has both a shared secret and an RSA key: an HS256 token naming the RSA key's
    // kid is refused even though it is signed with the provider's secret.
    let now = now();
    let rs = rs_key();
    let mixed = provider(json!({
        "provider": "mixed",
        "issuer": ISS,
        "secret": SECRET,
        "jwks": {"keys": [public_jwk(rs)]},
    }));
    let reg = registry(vec![mixed]);
    let hs = hs_key();
    assert!(reg.verify(&sign(&hs, &claims(now)), &opts(now)).is_ok(), "control: no kid verifies");
    let t = sign_with(&hs, Alg::HS256, &claims(now), json!({"kid": "rsa-1"}));
    let e = reject(&reg, &t, now, ErrorCode::AlgorithmNotAllowed);
    assert!(e.message.contains("rsa-1"), "{}", e.message);
}

#[test]
fn key_confusion_on_mixed_provider_without_kid_is_invalid_signature() {
    // With a secret registered, a kidless HS256 token is checked against the secret only,
    // never against the RSA key's public material.
    let now = now();
    let rs = rs_key();
    let jwk = public_jwk(rs);
    let mixed = provider(json!({"provider": "mixed", "issuer": ISS, "secret": SECRET, "jwks": {"keys": [jwk]}}));
    let attacker = SigningKey::from_secret(Alg::HS256, jwk.to_string().as_bytes(), None).unwrap();
    let t = sign(&attacker, &claims(now));
    reject(&registry(vec![mixed]), &t, now, ErrorCode::InvalidSignature);
}

// --- unknown_issuer / unknown_key ------------------------------------------------------------

#[test]
fn unknown_issuer() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"iss": "https://acme.clerk.accounts.dev/"})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::UnknownIssuer);
}

#[test]
fn unknown_key() {
    let now = now();
    let t = sign_with(rs_key(), Alg::RS256, &claims(now), json!({"kid": "rotated-away"}));
    let e = reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::UnknownKey);
    assert!(e.message.contains("rotated-away"), "{}", e.message);
}

// --- invalid_signature -----------------------------------------------------------------------

#[test]
fn tampered_payload_keeps_original_signature() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let t = sign(rs_key(), &claims(now));
    assert_eq!(accept(&reg, &t, now).user_id, "user_2abc", "control");
    let forged = with_payload(&t, &claims_with(now, json!({"sub": "user_admin"})));
    reject(&reg, &forged, now, ErrorCode::InvalidSignature);
}

#[test]
fn tampered_signature() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()]), secret_provider()]);
    let rs_token = sign(rs_key(), &claims(now));
    let hs_token = sign(&hs_key(), &claims_with(now, json!({"aud": "insforge-api"})));
    for t in [rs_token, hs_token] {
        assert!(reg.verify(&t, &opts(now)).is_ok(), "control");
        // Change one character in the middle of the signature (no trailing-bit subtleties).
        let dot = t.rfind('.').unwrap();
        let i = dot + (t.len() - dot) / 2;
        let forged = replace_at(&t, i, if &t[i..i + 1] == "A" { 'B' } else { 'A' });
        reject(&reg, &forged, now, ErrorCode::InvalidSignature);
    }
}

#[test]
fn signed_by_a_different_key_with_the_same_kid() {
    let now = now();
    for alg in [Alg::RS256, Alg::PS256, Alg::ES256, Alg::ES384, Alg::EdDSA] {
        let real = SigningKey::generate(alg, Some("shared-kid".into())).unwrap();
        let impostor = SigningKey::generate(alg, Some("shared-kid".into())).unwrap();
        let reg = registry(vec![jwks_provider(&[&real])]);
        assert!(reg.verify(&sign(&real, &claims(now)), &opts(now)).is_ok(), "control {alg:?}");
        reject(&reg, &sign(&impostor, &claims(now)), now, ErrorCode::InvalidSignature);
    }
}

#[test]
fn hs256_signed_with_a_different_secret() {
    let now = now();
    let other = SigningKey::from_secret(Alg::HS256, b"some-other-secret-of-enough-length-0000", None).unwrap();
    let t = sign(&other, &claims_with(now, json!({"aud": "insforge-api"})));
    reject(&registry(vec![secret_provider()]), &t, now, ErrorCode::InvalidSignature);
}

// --- expired / not_yet_valid / issued_in_future ----------------------------------------------

#[test]
fn expired_an_hour_ago() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"iat": now - 7200, "exp": now - 3600})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::Expired);
}

#[test]
fn expired_ten_seconds_ago_is_within_default_leeway() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"iat": now - 3600, "exp": now - 10})));
    let id = accept(&registry(vec![jwks_provider(&[rs_key()])]), &t, now);
    assert_eq!(id.expires_at, (now - 10) as f64);
    // ...but not beyond it.
    let t = sign(rs_key(), &claims_with(now, json!({"iat": now - 3600, "exp": now - 31})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::Expired);
}

#[test]
fn expired_ten_seconds_ago_with_zero_leeway() {
    let now = now();
    let strict = provider(json!({
        "provider": "clerk",
        "issuer": ISS,
        "jwks": {"keys": [public_jwk(rs_key())]},
        "leeway_seconds": 0,
    }));
    let t = sign(rs_key(), &claims_with(now, json!({"iat": now - 3600, "exp": now - 10})));
    reject(&registry(vec![strict]), &t, now, ErrorCode::Expired);
}

#[test]
fn not_yet_valid() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    reject(&reg, &sign(rs_key(), &claims_with(now, json!({"nbf": now + 3600}))), now, ErrorCode::NotYetValid);
    accept(&reg, &sign(rs_key(), &claims_with(now, json!({"nbf": now + 10}))), now);
}

#[test]
fn issued_in_future() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let t = sign(rs_key(), &claims_with(now, json!({"iat": now + 3600, "exp": now + 7200})));
    reject(&reg, &t, now, ErrorCode::IssuedInFuture);
}

// --- invalid_audience ------------------------------------------------------------------------

#[test]
fn audience_must_match() {
    let now = now();
    let reg = registry(vec![secret_provider()]);
    let hs = hs_key();
    accept(&reg, &sign(&hs, &claims_with(now, json!({"aud": "insforge-api"}))), now);
    accept(&reg, &sign(&hs, &claims_with(now, json!({"aud": ["other-api", "insforge-api"]}))), now);
    reject(&reg, &sign(&hs, &claims_with(now, json!({"aud": "other-api"}))), now, ErrorCode::InvalidAudience);
    reject(&reg, &sign(&hs, &claims_with(now, json!({"aud": ["a", "b"]}))), now, ErrorCode::InvalidAudience);
}

#[test]
fn missing_audience_when_provider_requires_one() {
    let now = now();
    let t = sign(&hs_key(), &claims(now));
    reject(&registry(vec![secret_provider()]), &t, now, ErrorCode::InvalidAudience);
}

// --- invalid_claim ---------------------------------------------------------------------------

#[test]
fn exp_as_a_string_is_invalid_claim() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"exp": (now + 3600).to_string()})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::InvalidClaim);
}

#[test]
fn aud_as_a_number_is_invalid_claim() {
    let now = now();
    let reg = registry(vec![secret_provider()]);
    reject(&reg, &sign(&hs_key(), &claims_with(now, json!({"aud": 42}))), now, ErrorCode::InvalidClaim);
    let mixed = claims_with(now, json!({"aud": ["insforge-api", 42]}));
    reject(&reg, &sign(&hs_key(), &mixed), now, ErrorCode::InvalidClaim);
}

#[test]
fn iss_as_a_number_is_invalid_claim() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"iss": 42})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::InvalidClaim);
}

// --- missing_claim ---------------------------------------------------------------------------

#[test]
fn missing_exp() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"exp": null})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::MissingClaim);
}

#[test]
fn missing_iss() {
    let now = now();
    let t = sign(rs_key(), &claims_with(now, json!({"iss": null})));
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::MissingClaim);
}

#[test]
fn missing_or_unusable_sub() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    for sub in [Value::Null, json!(42), json!(""), json!({"id": "user_2abc"})] {
        let t = sign(rs_key(), &claims_with(now, json!({ "sub": sub })));
        let e = reject(&reg, &t, now, ErrorCode::MissingClaim);
        assert!(e.message.contains("\"sub\""), "{}", e.message);
    }
}

// --- unsupported_critical_header -------------------------------------------------------------

#[test]
fn critical_header_is_refused() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let t = sign_with(rs_key(), Alg::RS256, &claims(now), json!({"crit": ["b64"], "b64": false}));
    let e = reject(&reg, &t, now, ErrorCode::UnsupportedCriticalHeader);
    assert!(e.message.contains("b64"), "{}", e.message);
}

// ---------------------------------------------------------------------------------------------
// Happy path, every algorithm
// ---------------------------------------------------------------------------------------------

/// Generate a key for `alg`, register it (secret for HS*, public JWK otherwise) with a mapping
/// that uses an `emails` array and a JSONPath tenant, mint, verify, check the identity.
fn round_trip(alg: Alg) {
    let now = now();
    let key = SigningKey::generate(alg, Some(format!("{}-key", alg.name()))).unwrap();
    let mut cfg = json!({
        "provider": "stytch",
        "issuer": ISS,
        "audience": ["project-live-123"],
        "claim_mapping": {"user_id": "sub", "email": "emails", "tenant": "$.org.id"},
    });
    match key.secret() {
        Some(s) => cfg["secret"] = json!(std::str::from_utf8(s).unwrap()),
        None => cfg["jwks"] = json!({"keys": [public_jwk(&key)]}),
    }
    let reg = registry(vec![provider(cfg)]);
    let c = claims_with(now, json!({"aud": "project-live-123"}));
    let t = sign(&key, &c);
    let header: Value = serde_json::from_slice(&b64::decode(t.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], alg.name());
    let id = accept(&reg, &t, now);
    assert_eq!(id.provider, "stytch");
    assert_eq!(id.user_id, "user_2abc");
    assert_eq!(id.email.as_deref(), Some("ada@acme.test"));
    assert_eq!(id.tenant.as_deref(), Some("org_nested"));
    assert_eq!(id.expires_at, (now + 3600) as f64);
    assert_eq!(id.claims().unwrap(), &c);
}

macro_rules! round_trip_tests {
    ($($name:ident: $alg:ident,)*) => {
        $(#[test] fn $name() { round_trip(Alg::$alg); })*
        const ROUND_TRIP_ALGS: &[Alg] = &[$(Alg::$alg),*];
    };
}

round_trip_tests! {
    happy_path_hs256: HS256,
    happy_path_hs384: HS384,
    happy_path_hs512: HS512,
    happy_path_rs256: RS256,
    happy_path_rs384: RS384,
    happy_path_rs512: RS512,
    happy_path_ps256: PS256,
    happy_path_ps384: PS384,
    happy_path_ps512: PS512,
    happy_path_es256: ES256,
    happy_path_es384: ES384,
    happy_path_eddsa: EdDSA,
}

#[test]
fn happy_path_covers_every_algorithm() {
    // Keep the list above in step with the algorithms the crate supports.
    for alg in Alg::ALL {
        assert!(ROUND_TRIP_ALGS.contains(&alg), "no happy-path test for {alg:?}");
    }
}

#[test]
fn clerk_style_flat_mapping() {
    let now = now();
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let id = accept(&reg, &sign(rs_key(), &claims(now)), now);
    assert_eq!(id.provider, "clerk");
    assert_eq!(id.user_id, "user_2abc");
    assert_eq!(id.email.as_deref(), Some("ada@acme.test"));
    assert_eq!(id.tenant.as_deref(), Some("org_flat"));
    // Optional mappings whose claims are absent yield None, not an error.
    let id = accept(&reg, &sign(rs_key(), &claims_with(now, json!({"email": null, "org_id": null}))), now);
    assert_eq!((id.email, id.tenant), (None, None));
}

// ---------------------------------------------------------------------------------------------
// Routing between providers sharing an issuer
// ---------------------------------------------------------------------------------------------

/// Both orders of [clerk (RS256 JWKS, no audience), insforge (HS256 secret, audience)].
fn shared_issuer_registries() -> [Registry; 2] {
    [
        registry(vec![jwks_provider(&[rs_key()]), secret_provider()]),
        registry(vec![secret_provider(), jwks_provider(&[rs_key()])]),
    ]
}

#[test]
fn routing_rs256_token_goes_to_the_jwks_provider() {
    let now = now();
    let t = sign(rs_key(), &claims(now));
    for reg in shared_issuer_registries() {
        assert_eq!(accept(&reg, &t, now).provider, "clerk");
    }
}

#[test]
fn routing_hs256_token_goes_to_the_secret_provider() {
    let now = now();
    let t = sign(&hs_key(), &claims_with(now, json!({"aud": "insforge-api"})));
    for reg in shared_issuer_registries() {
        let id = accept(&reg, &t, now);
        assert_eq!(id.provider, "insforge");
        assert_eq!(id.user_id, "user_2abc");
    }
}

#[test]
fn routing_reports_the_error_of_the_provider_that_got_furthest() {
    let now = now();
    let t = sign(&hs_key(), &claims_with(now, json!({"aud": "wrong-api"})));
    // Alone, the JWKS provider would say algorithm_not_allowed...
    reject(&registry(vec![jwks_provider(&[rs_key()])]), &t, now, ErrorCode::AlgorithmNotAllowed);
    // ...but the secret provider verified the signature before failing, so its error wins.
    for reg in shared_issuer_registries() {
        let e = reject(&reg, &t, now, ErrorCode::InvalidAudience);
        assert!(e.message.contains("insforge"), "{}", e.message);
    }
}

// ---------------------------------------------------------------------------------------------
// Key selection
// ---------------------------------------------------------------------------------------------

#[test]
fn kidless_token_verifies_against_whichever_key_signed_it() {
    let now = now();
    let a = rs_key();
    let b = new_rs_key("rsa-2");
    let reg = registry(vec![jwks_provider(&[a, &b])]);
    for key in [a, &b] {
        let t = sign_with(key, Alg::RS256, &claims(now), json!({"kid": null}));
        assert_eq!(accept(&reg, &t, now).user_id, "user_2abc");
    }
    let stranger = new_rs_key("rsa-3");
    let t = sign_with(&stranger, Alg::RS256, &claims(now), json!({"kid": null}));
    let e = reject(&reg, &t, now, ErrorCode::InvalidSignature);
    assert!(e.message.contains("any of its 2"), "{}", e.message);
}

#[test]
fn jwk_alg_restricts_the_algorithms_a_key_serves() {
    let now = now();
    let key = rs_key();
    assert_eq!(public_jwk(key)["alg"], "RS256");
    let pinned = registry(vec![jwks_provider(&[key])]);
    let ps = sign_with(key, Alg::PS256, &claims(now), json!({}));
    reject(&pinned, &ps, now, ErrorCode::AlgorithmNotAllowed);
    // The same key without "alg" in its JWK serves every RSA algorithm.
    let mut jwk = public_jwk(key);
    jwk.as_object_mut().unwrap().remove("alg");
    let open = registry(vec![provider(json!({"provider": "clerk", "issuer": ISS, "jwks": {"keys": [jwk]}}))]);
    accept(&open, &ps, now);
}

// ---------------------------------------------------------------------------------------------
// Config errors not covered by the unit tests
// ---------------------------------------------------------------------------------------------

#[test]
fn jwks_key_with_private_member_is_refused() {
    let private = b64::encode(&[0x5a; 256]);
    let mut rsa = public_jwk(rs_key());
    rsa["d"] = json!(private);
    let ec_key = SigningKey::generate(Alg::ES256, Some("ec-1".into())).unwrap();
    let mut ec = public_jwk(&ec_key);
    ec["d"] = json!(b64::encode(&[0x5a; 32]));
    for (jwk, kid) in [(rsa, "rsa-1"), (ec, "ec-1")] {
        let e = parse_provider(&json!({"provider": "clerk", "issuer": ISS, "jwks": {"keys": [jwk]}})).unwrap_err();
        assert!(e.field.starts_with("jwks.keys[0]") && e.field.contains(kid), "{e}");
        assert!(e.message.contains("private"), "{e}");
        assert!(!e.to_string().contains(&b64::encode(&[0x5a; 32])[..16]), "{e}");
    }
}

#[test]
fn duplicate_kids_are_refused() {
    let a = rs_key();
    let b = new_rs_key("rsa-1");
    let e = parse_provider(&json!({
        "provider": "clerk",
        "issuer": ISS,
        "jwks": {"keys": [public_jwk(a), public_jwk(&b)]},
    }))
    .unwrap_err();
    assert!(e.field.starts_with("jwks.keys[1]"), "{e}");
    assert!(e.message.contains("duplicate kid") && e.message.contains("rsa-1"), "{e}");
    // Distinct kids are fine.
    let c = new_rs_key("rsa-2");
    assert!(parse_provider(
        &json!({"provider": "clerk", "issuer": ISS, "jwks": {"keys": [public_jwk(a), public_jwk(&c)]}})
    )
    .is_ok());
}

// --- per-provider policy: allow-list, required claims, role default, base64 secrets ---------

#[test]
fn algorithms_allow_list_narrows_what_keys_serve() {
    let now = now();
    let key = SigningKey::from_secret(Alg::HS256, SECRET.as_bytes(), None).unwrap();
    let p = provider(json!({"provider": "hs", "issuer": ISS, "secret": SECRET, "algorithms": ["HS512"]}));
    let reg = registry(vec![p]);
    reject(&reg, &sign_with(&key, Alg::HS256, &claims(now), json!({})), now, ErrorCode::AlgorithmNotAllowed);
    accept(&reg, &sign_with(&key, Alg::HS512, &claims(now), json!({})), now);
}

#[test]
fn required_claims_are_enforced() {
    let now = now();
    let key = SigningKey::from_secret(Alg::HS256, SECRET.as_bytes(), None).unwrap();
    let p = provider(json!({"provider": "hs", "issuer": ISS, "secret": SECRET, "required_claims": ["sid"]}));
    let reg = registry(vec![p]);
    let e = reject(&reg, &sign(&key, &claims(now)), now, ErrorCode::MissingClaim);
    assert!(e.message.contains("\"sid\""), "{}", e.message);
    accept(&reg, &sign(&key, &claims_with(now, json!({"sid": "sess_1"}))), now);
}

#[test]
fn role_mapping_default_applies_only_when_the_claim_is_absent() {
    let now = now();
    let key = SigningKey::from_secret(Alg::HS256, SECRET.as_bytes(), None).unwrap();
    let p = provider(json!({"provider": "hs", "issuer": ISS, "secret": SECRET,
        "claim_mapping": {"role": {"claim": "role", "default": "authenticated"}, "tenant": {"claim": "$.org.id"}}}));
    let reg = registry(vec![p]);
    let id = accept(&reg, &sign(&key, &claims(now)), now);
    assert_eq!(id.role.as_deref(), Some("authenticated"));
    let id = accept(&reg, &sign(&key, &claims_with(now, json!({"role": "admin", "org": {"id": "org_1"}}))), now);
    assert_eq!(id.role.as_deref(), Some("admin"));
    assert_eq!(id.tenant.as_deref(), Some("org_1"));
    let full = id.to_full_json();
    assert_eq!(full["role"], "admin");
    assert!(full["expires_at"].as_str().unwrap().ends_with('Z'));
    // A role claim of the wrong type is not silently replaced by the default.
    let id = accept(&reg, &sign(&key, &claims_with(now, json!({"role": 42}))), now);
    assert_eq!(id.role, None);
}

#[test]
fn base64_secret_encoding_decodes_the_secret() {
    let now = now();
    let raw = [7u8; 40];
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, raw);
    let key = SigningKey::from_secret(Alg::HS256, &raw, None).unwrap();
    let token = sign(&key, &claims(now));
    let p = provider(json!({"provider": "hs", "issuer": ISS, "secret": b64, "secret_encoding": "base64"}));
    accept(&registry(vec![p]), &token, now);
    // The same text as UTF-8 is another key.
    let p = provider(json!({"provider": "hs", "issuer": ISS, "secret": b64}));
    reject(&registry(vec![p]), &token, now, ErrorCode::InvalidSignature);
}

#[test]
fn iso8601_formats_epoch_seconds() {
    assert_eq!(pg_idp_core::identity::iso8601(0.0), "1970-01-01T00:00:00Z");
    assert_eq!(pg_idp_core::identity::iso8601(1_795_379_185.9), "2026-11-22T20:26:25Z");
    assert_eq!(pg_idp_core::identity::iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
}

#[test]
fn jku_x5u_and_embedded_jwk_headers_are_never_used_to_find_a_key() {
    // The attacker signs with their own key and points the header at it, every way JOSE allows.
    let now = now();
    let attacker = new_rs_key("rsa-1");
    let reg = registry(vec![jwks_provider(&[rs_key()])]);
    let header = json!({
        "jku": "https://attacker.example.com/jwks.json",
        "x5u": "https://attacker.example.com/cert.pem",
        "jwk": public_jwk(&attacker),
    });
    let token = sign_with(&attacker, Alg::RS256, &claims(now), header);
    reject(&reg, &token, now, ErrorCode::InvalidSignature);
    // Without a kid the embedded key is still ignored.
    let token = sign_with(&attacker, Alg::RS256, &claims(now), json!({"kid": null, "jwk": public_jwk(&attacker)}));
    reject(&reg, &token, now, ErrorCode::InvalidSignature);
}

#[test]
fn a_provider_registered_without_keys_refuses_tokens_until_they_arrive() {
    let now = now();
    let rs = rs_key();
    let cfg = json!({"provider": "clerk", "issuer": ISS, "algorithms": ["RS256"],
                     "jwks_uri": "https://acme.clerk.accounts.dev/.well-known/jwks.json"});
    let e = reject(&registry(vec![provider(cfg.clone())]), &sign(rs, &claims(now)), now, ErrorCode::NoKeys);
    assert_eq!(e.provider.as_deref(), Some("clerk"));
    assert!(e.message.contains("jwks_uri"), "{}", e.message);
    // The keys arrive (refresh_jwks or the worker store them in the same config).
    let mut with_keys = cfg.clone();
    with_keys["jwks"] = json!({"keys": [public_jwk(rs)]});
    assert_eq!(accept(&registry(vec![provider(with_keys)]), &sign(rs, &claims(now)), now).user_id, "user_2abc");
    // An allow-list is checked against the keys once they are there.
    let mut wrong = cfg;
    wrong["algorithms"] = json!(["ES256"]);
    wrong["jwks"] = json!({"keys": [public_jwk(rs)]});
    assert_eq!(parse_provider(&wrong).unwrap_err().field, "algorithms[0]");
    // Without a jwks_uri there is nowhere to get keys from.
    assert_eq!(parse_provider(&json!({"provider": "p", "issuer": ISS})).unwrap_err().field, "jwks");
}
