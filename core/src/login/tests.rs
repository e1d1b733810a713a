use super::*;
use crate::config::parse_provider;
use crate::registry::Registry;
use serde_json::json;

const SECRET: &str = "0123456789abcdef0123456789abcdef";
const ISS: &str = "https://i";

fn provider_with(extra: Value) -> Provider {
    let mut config = json!({"provider": "p", "issuer": ISS, "secret": SECRET});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    parse_provider(&config).unwrap()
}

/// A provider whose login names an audience (as every registration must), plus `login`'s fields.
fn provider(login: Value) -> Provider {
    let mut login = if login == json!(true) { json!({}) } else { login };
    if login.get("audience").is_none() {
        login["audience"] = json!("db");
    }
    provider_with(json!({ "login": login }))
}

/// A token signed with the provider's secret (`iss` and `exp` added unless given).
fn token(claims: Value) -> String {
    let header = crate::b64::encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let mut c = claims;
    if c.get("iss").is_none() {
        c["iss"] = json!(ISS);
    }
    c["exp"] = json!(4_000_000_000i64);
    let payload = crate::b64::encode(c.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let sig = crate::b64::encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref());
    format!("{input}.{sig}")
}

fn identity(p: &Provider, claims: Value) -> Identity {
    let reg = Registry::new(vec![p.clone()]);
    reg.verify(&token(claims), &VerifyOptions::now().for_login()).unwrap()
}

const PLAIN: RoleFacts = RoleFacts {
    exists: true,
    superuser: false,
    bypassrls: false,
    replication: false,
    createrole: false,
    member_of: Memberships::NONE,
    reaches: Reached { superuser: false, bypassrls: false, replication: false, createrole: false },
    owns_rls_table: false,
};
const SUPER: RoleFacts = RoleFacts { superuser: true, ..PLAIN };
const BYPASS: RoleFacts = RoleFacts { bypassrls: true, ..PLAIN };

/// Every privileged fact but superuser and BYPASSRLS, and the words its refusal names.
fn privileged() -> Vec<(RoleFacts, String)> {
    let mut out = vec![
        (RoleFacts { replication: true, ..PLAIN }, "REPLICATION".to_string()),
        (RoleFacts { createrole: true, ..PLAIN }, "CREATEROLE".to_string()),
        (RoleFacts { owns_rls_table: true, ..PLAIN }, "the owner of a table with row-level security".to_string()),
    ];
    for p in Predefined::ALL {
        out.push((
            RoleFacts { member_of: Memberships::default().with(p), ..PLAIN },
            format!("a member of {}", p.name()),
        ));
    }
    out
}

fn code(r: Result<(), VerifyError>) -> Option<&'static str> {
    r.err().map(|e| e.code.as_str())
}

#[test]
fn no_login_config_never_logs_in() {
    let p = parse_provider(&json!({"provider": "p", "issuer": ISS, "secret": SECRET})).unwrap();
    let id = identity(&p, json!({"sub": "u"}));
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, false)), Some("role_not_allowed"));
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), Some("role_not_allowed"));
}

#[test]
fn map_mode_leaves_the_role_to_pg_ident_unless_roles_narrow_it() {
    let p = provider(json!({}));
    let id = identity(&p, json!({"sub": "u", "aud": "db"}));
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, false)), None);
    assert_eq!(authn_id(&id), "p:u");
    let p = provider(json!({"roles": ["app"]}));
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, false)), None);
    assert_eq!(code(authorize(&p, &id, "other", PLAIN, false)), Some("role_not_allowed"));
}

#[test]
fn delegated_mode_needs_the_role_listed() {
    let p = provider(json!(true));
    let id = identity(&p, json!({"sub": "u", "aud": "db"}));
    let e = authorize(&p, &id, "app", PLAIN, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::RoleNotAllowed);
    assert!(e.message.contains("names no login.roles and no login.group_roles"), "{}", e.message);
    let p = provider(json!({"roles": ["app", "analyst"]}));
    assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), None);
    assert_eq!(code(authorize(&p, &id, "postgres", PLAIN, true)), Some("role_not_allowed"));
}

#[test]
fn privileged_roles_only_when_named() {
    let p = provider(json!({}));
    let id = identity(&p, json!({"sub": "u", "aud": "db"}));
    assert_eq!(code(authorize(&p, &id, "postgres", SUPER, false)), Some("role_not_allowed"));
    assert_eq!(code(authorize(&p, &id, "etl", BYPASS, false)), Some("role_not_allowed"));
    let p = provider(json!({"roles": ["postgres", "etl"]}));
    assert_eq!(code(authorize(&p, &id, "postgres", SUPER, true)), None);
    assert_eq!(code(authorize(&p, &id, "etl", BYPASS, false)), None);
    let missing = RoleFacts::default();
    assert_eq!(code(authorize(&p, &id, "postgres", missing, false)), Some("role_not_allowed"));
}

#[test]
fn every_privilege_is_refused_unless_named_and_the_refusal_names_it() {
    let id = identity(&provider(json!({})), json!({"sub": "u", "aud": "db"}));
    for (facts, words) in privileged() {
        // Map mode (pg_ident.conf decides) and delegated mode with other roles listed, or
        // reached through a group.
        for (login, delegated) in [
            (json!({}), false),
            (json!({"roles": ["app"]}), false),
            (json!({"roles": ["app"]}), true),
            (json!({"group_roles": {"admins": ["etl"]}}), true),
        ] {
            let p = provider(login);
            let id = if p.login.as_ref().unwrap().group_roles.is_empty() {
                id.clone()
            } else {
                identity(&p, json!({"sub": "u", "aud": "db", "groups": ["admins"]}))
            };
            let e = authorize(&p, &id, "etl", facts, delegated).unwrap_err();
            assert_eq!(e.code, ErrorCode::RoleNotAllowed, "{words}");
            assert!(e.message.contains(&words), "{words}: {}", e.message);
            assert!(e.message.contains("\"etl\"") && e.message.contains("login.roles"), "{}", e.message);
        }
        // Named in login.roles: allowed, in both modes.
        let p = provider(json!({"roles": ["app", "etl"]}));
        assert_eq!(code(authorize(&p, &id, "etl", facts, false)), None, "{words}");
        assert_eq!(code(authorize(&p, &id, "etl", facts, true)), None, "{words}");
    }
}

#[test]
fn the_new_privileged_roles_are_named() {
    let names: Vec<&str> = Predefined::ALL.iter().map(|p| p.name()).collect();
    for n in [
        "pg_monitor",
        "pg_read_all_stats",
        "pg_read_all_settings",
        "pg_signal_backend",
        "pg_maintain",
        "pg_create_subscription",
        "pg_read_all_data",
    ] {
        assert!(names.contains(&n), "{n}");
    }
}

#[test]
fn a_refusal_names_every_privilege_the_role_has() {
    let p = provider(json!({}));
    let id = identity(&p, json!({"sub": "u", "aud": "db"}));
    let facts = RoleFacts {
        replication: true,
        member_of: Memberships::default().with(Predefined::ReadAllData).with(Predefined::Monitor),
        owns_rls_table: true,
        ..PLAIN
    };
    let e = authorize(&p, &id, "etl", facts, false).unwrap_err();
    assert!(
        e.message.starts_with(
            "role \"etl\" is privileged (REPLICATION, a member of pg_read_all_data, a member of pg_monitor, the owner of a table"
        ),
        "{}",
        e.message
    );
    assert!(PLAIN.privileges().is_empty());
    assert_eq!(SUPER.privileges(), ["a superuser"]);
}

#[test]
fn role_claim_must_name_the_role() {
    let p = provider(json!({"roles": ["app", "analyst"], "role_claim": "db_role"}));
    let id = identity(&p, json!({"sub": "u", "aud": "db", "db_role": "analyst"}));
    assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), None);
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), Some("role_not_allowed"));
    let id = identity(&p, json!({"sub": "u", "aud": "db"}));
    assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), Some("role_not_allowed"));
    let nested = provider(json!({"roles": ["app"], "role_claim": "$.meta.role"}));
    let id = identity(&nested, json!({"sub": "u", "aud": "db", "meta": {"role": "app"}}));
    assert_eq!(code(authorize(&nested, &id, "app", PLAIN, true)), None);
}

#[test]
fn role_claim_may_be_an_array_that_contains_the_role() {
    let p = provider(json!({"roles": ["app", "analyst", "admin"], "role_claim": "roles"}));
    let id = identity(&p, json!({"sub": "u", "aud": "db", "roles": ["app", "analyst"]}));
    assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), None);
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), None);
    let e = authorize(&p, &id, "admin", PLAIN, true).unwrap_err();
    assert!(e.message.contains("does not contain \"admin\""), "{}", e.message);
    for bad in [json!([1, "admin"]), json!({"admin": true}), json!(3)] {
        let id = identity(&p, json!({"sub": "u", "aud": "db", "roles": bad}));
        let e = authorize(&p, &id, "admin", PLAIN, true).unwrap_err();
        assert!(e.message.contains("is not a string or an array of strings"), "{}", e.message);
    }
}

#[test]
fn group_roles_map_groups_to_roles_and_deny_by_default() {
    let p = provider(json!({"group_roles": {"db-analysts": ["analyst"], "db-admins": ["analyst", "admin"]}}));
    let analyst = identity(&p, json!({"sub": "u", "aud": "db", "groups": ["staff", "db-analysts"]}));
    // Delegated mode: group_roles is enough.
    assert_eq!(code(authorize(&p, &analyst, "analyst", PLAIN, true)), None);
    let e = authorize(&p, &analyst, "admin", PLAIN, true).unwrap_err();
    assert!(
        e.message.contains("maps no group of the token to role \"admin\": none of the token's groups (\"staff\", \"db-analysts\") does"),
        "{}",
        e.message
    );
    let admin = identity(&p, json!({"sub": "u", "aud": "db", "groups": ["db-admins"]}));
    assert_eq!(code(authorize(&p, &admin, "admin", PLAIN, true)), None);
    // No groups, groups of the wrong shape, a single string.
    let none = identity(&p, json!({"sub": "u", "aud": "db"}));
    let e = authorize(&p, &none, "analyst", PLAIN, true).unwrap_err();
    assert!(e.message.contains("the token has no groups in \"groups\""), "{}", e.message);
    let one = identity(&p, json!({"sub": "u", "aud": "db", "groups": "db-analysts"}));
    assert_eq!(code(authorize(&p, &one, "analyst", PLAIN, true)), None);
    let odd = identity(&p, json!({"sub": "u", "aud": "db", "groups": {"db-analysts": 1}}));
    assert_eq!(code(authorize(&p, &odd, "analyst", PLAIN, true)), Some("role_not_allowed"));
    // Map mode: group_roles narrows what pg_ident.conf allows too.
    assert_eq!(code(authorize(&p, &analyst, "admin", PLAIN, false)), Some("role_not_allowed"));
    // The privileged-role guard still applies: a group mapped to a superuser is not enough.
    let e = authorize(&p, &admin, "admin", SUPER, true).unwrap_err();
    assert!(e.message.contains("is privileged (a superuser)"), "{}", e.message);
    // login.roles narrows group_roles (and names privileged roles).
    let both = provider(json!({"roles": ["analyst"], "group_roles": {"db-admins": ["analyst", "admin"]}}));
    let admin = identity(&both, json!({"sub": "u", "aud": "db", "groups": ["db-admins"]}));
    assert_eq!(code(authorize(&both, &admin, "admin", PLAIN, true)), Some("role_not_allowed"));
    assert_eq!(code(authorize(&both, &admin, "analyst", PLAIN, true)), None);
}

#[test]
fn groups_claim_elsewhere_and_the_groups_join_the_login_identity() {
    let p = provider(json!({"groups_claim": "$.realm_access.roles", "group_roles": {"db": ["app"]}}));
    let id = identity(&p, json!({"sub": "u", "aud": "db", "realm_access": {"roles": ["db", "offline"]}}));
    assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), None);
    assert_eq!(id.groups, ["db", "offline"]);
    // A request token of the same provider: no token groups (its groups are the directory's).
    let reg = Registry::new(vec![p.clone()]);
    let t = token(json!({"sub": "u", "aud": "db", "realm_access": {"roles": ["db"]}}));
    assert!(reg.verify(&t, &VerifyOptions::now()).unwrap().groups.is_empty());
}

#[test]
fn bad_login_configs_name_their_field() {
    for (login, field) in [
        (json!("app"), "login"),
        (json!({"roles": "app"}), "login.roles"),
        (json!({"roles": [""]}), "login.roles"),
        (json!({"role_claim": 3}), "login.role_claim"),
        (json!({"users": []}), "login.users"),
        (json!({"audience": ""}), "login.audience"),
        (json!({"audience": []}), "login.audience"),
        (json!({"audience": ["a", 3]}), "login.audience"),
        (json!({"scope_claim": ""}), "login.scope_claim"),
        (json!({"scope_prefix": "a b"}), "login.scope_prefix"),
        (json!({"scope_prefix": 1}), "login.scope_prefix"),
        (json!({"groups_claim": ["g"]}), "login.groups_claim"),
        (json!({"group_roles": ["a"]}), "login.group_roles"),
        (json!({"group_roles": {"g": "analyst"}}), "login.group_roles"),
        (json!({"group_roles": {"": ["analyst"]}}), "login.group_roles"),
    ] {
        let e = parse_provider(&json!({"provider": "p", "issuer": ISS, "secret": SECRET, "login": login})).unwrap_err();
        assert_eq!(e.field, field, "{login}");
    }
}

#[test]
fn a_new_registration_with_login_must_name_an_audience() {
    // Stored configs from 0.5.0 are still read...
    let old = provider_with(json!({"login": {"roles": ["app"]}}));
    assert!(old.login.is_some());
    // ...but no new one is registered without an audience.
    let e = check_registration(&old).unwrap_err();
    assert_eq!(e.field, "login.audience");
    assert!(e.message.contains("set login.audience"), "{}", e.message);
    assert!(check_registration(&provider_with(json!({"login": {"audience": ["db", "db2"]}}))).is_ok());
    assert!(check_registration(&provider_with(json!({"audience": "api", "login": {}}))).is_ok());
    assert!(check_registration(&provider_with(json!({}))).is_ok());
    let both = provider_with(json!({"audience": "api", "login": {"audience": "db"}}));
    assert_eq!(both.login.as_ref().unwrap().audience_of(&both), ["db"]);
    let inherited = provider_with(json!({"audience": "api", "login": {}}));
    assert_eq!(inherited.login.as_ref().unwrap().audience_of(&inherited), ["api"]);
}

// --- the pg_hba.conf line ------------------------------------------------------------------

#[test]
fn line_issuer_identifiers_are_compared_exactly() {
    let l = LineIssuer::parse("https://acme.auth0.com/").unwrap();
    assert!(l.admits("https://acme.auth0.com/"));
    for other in
        ["https://acme.auth0.com", "https://ACME.auth0.com/", "https://acme.auth0.com//", "http://acme.auth0.com/"]
    {
        assert!(!l.admits(other), "{other}");
    }
    // Not a URL: an identifier all the same.
    assert!(LineIssuer::parse("urn:acme").unwrap().admits("urn:acme"));
    assert!(LineIssuer::parse("").is_err());
}

#[test]
fn line_issuer_discovery_urls_of_both_kinds() {
    // OpenID Connect Discovery: the suffix appended to the issuer (one terminating / removed).
    let l = LineIssuer::parse("https://login.example.com/tenant/.well-known/openid-configuration").unwrap();
    assert!(l.admits("https://login.example.com/tenant"));
    assert!(l.admits("https://login.example.com/tenant/"));
    assert!(!l.admits("https://login.example.com"));
    assert!(!l.admits("https://login.example.com/tenant2"));
    assert!(!l.admits("https://login.example.com/tenant//"));
    // The host only: Auth0's issuer ends in /, which the URL drops.
    let l = LineIssuer::parse("https://acme.auth0.com/.well-known/openid-configuration").unwrap();
    assert!(l.admits("https://acme.auth0.com/"));
    assert!(l.admits("https://acme.auth0.com"));
    assert!(!l.admits("https://acme.auth0.com.evil/"));
    // RFC 8414: the suffix between the host and the path.
    let l = LineIssuer::parse("https://as.example.com/.well-known/oauth-authorization-server/tenant1").unwrap();
    assert!(l.admits("https://as.example.com/tenant1"));
    assert!(l.admits("https://as.example.com/tenant1/"));
    assert!(!l.admits("https://as.example.com"));
    let l = LineIssuer::parse("https://as.example.com/.well-known/openid-configuration/tenant1").unwrap();
    assert!(l.admits("https://as.example.com/tenant1"));
    // What PostgreSQL itself sends libpq for an issuer ending in / (it appends the suffix).
    let l = LineIssuer::parse("https://acme.auth0.com//.well-known/openid-configuration").unwrap();
    assert!(l.admits("https://acme.auth0.com//"));
    assert!(!l.admits("https://acme.auth0.com"));
}

#[test]
fn bad_discovery_urls_are_refused() {
    for bad in [
        "https://a.test/.well-known/openid-configuration?x=1",
        "https://a.test/.well-known/openid-configuration#f",
        "https://a.test/.well-known/jwks.json",
        "https://a.test/.well-known/openid-configuration-bad",
        "https://a.test/a/.well-known/openid-configuration/b",
    ] {
        assert!(LineIssuer::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_line_requires_every_scope_but_openid_connects() {
    let l = Line::new(ISS, "openid profile email address phone offline_access").unwrap();
    assert!(l.required_scopes.is_empty());
    let l = Line::new(ISS, "openid db:login  db:login\tdb:read").unwrap();
    assert_eq!(l.required_scopes, ["db:login", "db:read"]);
    assert!(Line::new(ISS, "").unwrap().required_scopes.is_empty());
}

// --- login(): every check, in order --------------------------------------------------------

fn attempt<'a>(line: &'a Line, role: &'a str) -> Attempt<'a> {
    Attempt { line, role, facts: PLAIN, delegated: true }
}

fn try_login(p: &Provider, line: &Line, role: &str, claims: Value) -> Result<Login, VerifyError> {
    let reg = Registry::new(vec![p.clone()]);
    login(&reg, &token(claims), &VerifyOptions::now(), attempt(line, role), &mut |_, _| Ok(None))
}

fn login_code(p: &Provider, line: &Line, role: &str, claims: Value) -> Option<&'static str> {
    try_login(p, line, role, claims).err().map(|e| e.code.as_str())
}

#[test]
fn a_token_minted_for_another_api_is_refused() {
    let p = provider(json!({"roles": ["app"], "audience": "https://db.example"}));
    let line = Line::new(ISS, "openid").unwrap();
    let e = try_login(&p, &line, "app", json!({"sub": "u", "aud": "https://billing-api.example"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidAudience);
    assert!(e.message.contains("login audience (login.audience) of provider \"p\""), "{}", e.message);
    assert!(e.message.contains("must be issued for \"https://db.example\""), "{}", e.message);
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u"})), Some("invalid_audience"));
    // Control.
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": ["x", "https://db.example"]})), None);
}

#[test]
fn the_login_audience_replaces_the_request_audience() {
    // Request tokens are for "api", login tokens for "db".
    let p = provider_with(json!({"audience": "api", "login": {"roles": ["app"], "audience": "db"}}));
    let line = Line::new(ISS, "openid").unwrap();
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "db"})), None);
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "api"})), Some("invalid_audience"));
    let reg = Registry::new(vec![p.clone()]);
    assert!(reg.verify(&token(json!({"sub": "u", "aud": "api"})), &VerifyOptions::now()).is_ok());
    let e = reg.verify(&token(json!({"sub": "u", "aud": "db"})), &VerifyOptions::now()).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidAudience);
    // Without login.audience, the provider's audience is the login audience.
    let p = provider_with(json!({"audience": "api", "login": {"roles": ["app"]}}));
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "api"})), None);
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "db"})), Some("invalid_audience"));
}

#[test]
fn a_0_5_0_login_without_an_audience_is_refused_and_says_what_to_set() {
    let p = provider_with(json!({"login": {"roles": ["app"]}}));
    let line = Line::new(ISS, "openid").unwrap();
    let e = try_login(&p, &line, "app", json!({"sub": "u", "aud": "anything"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidAudience);
    assert_eq!(e.provider.as_deref(), Some("p"));
    assert!(
        e.message.contains("names no audience for them") && e.message.contains("set login.audience"),
        "{}",
        e.message
    );
}

#[test]
fn every_scope_the_line_names_must_be_in_the_token() {
    let p = provider(json!({"roles": ["app"]}));
    let line = Line::new(ISS, "openid db:login").unwrap();
    let refused = [
        json!({"sub": "u", "aud": "db", "scope": "openid profile"}),
        json!({"sub": "u", "aud": "db"}),
        json!({"sub": "u", "aud": "db", "scope": "openid db:login-all"}),
        json!({"sub": "u", "aud": "db", "scope": "openid DB:LOGIN"}),
        json!({"sub": "u", "aud": "db", "scp": ["db:login-all"]}),
    ];
    for claims in refused {
        let e = try_login(&p, &line, "app", claims.clone()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InsufficientScope, "{claims}");
        assert!(
            e.message.contains("lacks scope \"db:login\"") && e.message.contains("scope=\"openid db:login\""),
            "{}",
            e.message
        );
    }
    let e = try_login(&p, &line, "app", json!({"sub": "u", "aud": "db", "scope": "openid profile"})).unwrap_err();
    assert!(e.message.contains("it has \"openid\", \"profile\""), "{}", e.message);
    // Controls: scope (RFC 9068), scp as an array (Okta) or a string (Entra ID).
    for claims in [
        json!({"sub": "u", "aud": "db", "scope": "openid db:login"}),
        json!({"sub": "u", "aud": "db", "scope": "db:login"}),
        json!({"sub": "u", "aud": "db", "scp": ["openid", "db:login"]}),
        json!({"sub": "u", "aud": "db", "scp": "db:read db:login"}),
        json!({"sub": "u", "aud": "db", "scope": "openid", "scp": ["db:login"]}),
    ] {
        assert_eq!(login_code(&p, &line, "app", claims.clone()), None, "{claims}");
    }
    // A scope claim of the wrong type is an invalid claim, not a missing scope.
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "db", "scope": 3})), Some("invalid_claim"));
    // A line with only OpenID Connect's scopes requires none.
    let oidc = Line::new(ISS, "openid profile email").unwrap();
    assert_eq!(login_code(&p, &oidc, "app", json!({"sub": "u", "aud": "db"})), None);
}

#[test]
fn scope_claim_names_another_claim() {
    let p = provider(json!({"roles": ["app"], "scope_claim": "permissions"}));
    let line = Line::new(ISS, "openid db:login").unwrap();
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "db", "permissions": ["db:login"]})), None);
    // Only that claim counts then.
    let e = try_login(&p, &line, "app", json!({"sub": "u", "aud": "db", "scope": "db:login"})).unwrap_err();
    assert_eq!(e.code, ErrorCode::InsufficientScope);
    assert!(e.message.contains("\"permissions\" claim (login.scope_claim)"), "{}", e.message);
}

#[test]
fn scope_prefix_matches_entra_ids_short_scopes() {
    // Entra ID: the client asks for api://APP/db.login; the token's scp says db.login.
    let p = provider(json!({"roles": ["app"], "scope_prefix": "api://APP/"}));
    let line = Line::new(ISS, "openid api://APP/db.login").unwrap();
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "db", "scp": "db.login User.Read"})), None);
    assert_eq!(login_code(&p, &line, "app", json!({"sub": "u", "aud": "db", "scp": "api://APP/db.login"})), None);
    assert_eq!(
        login_code(&p, &line, "app", json!({"sub": "u", "aud": "db", "scp": "db.read"})),
        Some("insufficient_scope")
    );
    // Without the prefix configured, the comparison is exact.
    let exact = provider(json!({"roles": ["app"]}));
    assert_eq!(
        login_code(&exact, &line, "app", json!({"sub": "u", "aud": "db", "scp": "db.login"})),
        Some("insufficient_scope")
    );
}

#[test]
fn another_issuer_through_this_line_is_refused_before_any_key_is_tried() {
    let a = provider(json!({"roles": ["app"]}));
    let mut b = parse_provider(&json!({"provider": "b", "issuer": "https://b", "secret": SECRET,
                                        "login": {"roles": ["app"], "audience": "db"}}))
    .unwrap();
    b.name = "b".into();
    let reg = Registry::new(vec![a, b]);
    let line_a = Line::new(ISS, "openid").unwrap();
    let t = token(json!({"iss": "https://b", "sub": "u", "aud": "db"}));
    let e = login(&reg, &t, &VerifyOptions::now(), attempt(&line_a, "app"), &mut |_, _| Ok(None)).unwrap_err();
    assert_eq!(e.code, ErrorCode::IssuerMismatch);
    assert!(
        e.message.contains("issuer \"https://b\" is not the one the pg_hba.conf line names (issuer=\"https://i\")"),
        "{}",
        e.message
    );
    // Even a token whose signature would not verify: the issuer decides first.
    let other = token(json!({"iss": "https://b", "sub": "someone-else", "aud": "db"}));
    let forged = format!("{}.{}", &t[..t.rfind('.').unwrap()], &other[other.rfind('.').unwrap() + 1..]);
    let e = login(&reg, &forged, &VerifyOptions::now(), attempt(&line_a, "app"), &mut |_, _| Ok(None)).unwrap_err();
    assert_eq!(e.code, ErrorCode::IssuerMismatch);
    // Control: through a line naming b.
    let line_b = Line::new("https://b", "openid").unwrap();
    let ok = login(&reg, &t, &VerifyOptions::now(), attempt(&line_b, "app"), &mut |_, _| Ok(None)).unwrap();
    assert_eq!(ok.authn_id, "b:u");
}

#[test]
fn the_checks_run_in_the_documented_order() {
    // A token failing several checks gets the first one's code.
    let p = provider(json!({"roles": ["app"], "audience": "db"}));
    let line = Line::new(ISS, "openid db:login").unwrap();
    let all_wrong = json!({"sub": "u", "aud": "other", "scope": "openid"});
    assert_eq!(login_code(&p, &line, "nobody", all_wrong.clone()), Some("invalid_audience"));
    let right_aud = json!({"sub": "u", "aud": "db", "scope": "openid"});
    assert_eq!(login_code(&p, &line, "nobody", right_aud), Some("insufficient_scope"));
    let right_scope = json!({"sub": "u", "aud": "db", "scope": "db:login"});
    assert_eq!(login_code(&p, &line, "nobody", right_scope.clone()), Some("role_not_allowed"));
    assert_eq!(login_code(&p, &line, "app", right_scope), None);
    let wrong_iss = Line::new("https://elsewhere", "openid").unwrap();
    assert_eq!(login_code(&p, &wrong_iss, "nobody", all_wrong), Some("issuer_mismatch"));
}

#[test]
fn a_login_through_a_discovery_url_line() {
    let p = parse_provider(&json!({"provider": "auth0", "issuer": "https://acme.auth0.com/", "secret": SECRET,
                                    "login": {"roles": ["app"], "audience": "https://db"}}))
    .unwrap();
    let reg = Registry::new(vec![p]);
    let t = token(json!({"iss": "https://acme.auth0.com/", "sub": "auth0|u", "aud": ["https://db", "x"]}));
    for issuer in ["https://acme.auth0.com/", "https://acme.auth0.com/.well-known/openid-configuration"] {
        let line = Line::new(issuer, "openid").unwrap();
        let ok = login(&reg, &t, &VerifyOptions::now(), attempt(&line, "app"), &mut |_, _| Ok(None)).unwrap();
        assert_eq!(ok.authn_id, "auth0:auth0|u", "{issuer}");
    }
    let line = Line::new("https://acme.auth0.com", "openid").unwrap();
    let e = login(&reg, &t, &VerifyOptions::now(), attempt(&line, "app"), &mut |_, _| Ok(None)).unwrap_err();
    assert_eq!(e.code, ErrorCode::IssuerMismatch);
}
