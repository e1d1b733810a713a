//! Logging in with a provider's token (PostgreSQL 18's OAuth validator): which database roles a
//! verified identity may become.
//!
//! A provider's tokens log in only when its config has `login`:
//!
//! ```json
//! "login": {"roles": ["app_user", "analyst"], "role_claim": "db_role"}
//! ```
//!
//! - `roles`: the database roles its users may log in as. Under `delegate_ident_mapping=1` the
//!   role asked for must be one of them (none listed: no login). With a pg_ident.conf map
//!   (`map=`), the map decides, and a non-empty `roles` narrows it further.
//! - `role_claim` (optional): a claim (name or JSONPath) that must name the role asked for.
//! - Whatever the mode, a privileged role is refused unless `roles` names it: one whose session
//!   can read rows past row-level security, directly or through what it reaches. That is a
//!   superuser; a role with BYPASSRLS, REPLICATION (logical decoding returns every row) or
//!   CREATEROLE (it creates roles and changes those it administers); a member, directly or
//!   through other roles, of `pg_read_all_data` or `pg_write_all_data` (every table without a
//!   grant, the registry's secrets among them), `pg_execute_server_program`,
//!   `pg_read_server_files` or `pg_write_server_files` (the server's files); and the owner of a
//!   table with row-level security, or a member of a role that owns one (owners bypass it unless
//!   FORCE, which they can turn off). [`RoleFacts`] carries what the database says; the caller
//!   gathers it.

use serde_json::Value;

use crate::claims::ClaimPath;
use crate::config::Provider;
use crate::error::{quote, ConfigError, ErrorCode, VerifyError};
use crate::identity::Identity;

const LOGIN_FIELDS: &[&str] = &["roles", "role_claim"];

/// A provider's `login`: as which database roles its tokens may log in.
#[derive(Clone, Debug, Default)]
pub struct LoginPolicy {
    /// The roles its users may log in as (exact names).
    pub roles: Vec<String>,
    /// The claim that must name the role asked for, if any.
    pub role_claim: Option<ClaimPath>,
}

/// What the database says about the role a login asks for. Every fact but `exists` makes the
/// role privileged: refused unless `login.roles` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoleFacts {
    /// The role exists.
    pub exists: bool,
    /// It is a superuser.
    pub superuser: bool,
    /// It bypasses row-level security.
    pub bypassrls: bool,
    /// It has REPLICATION: logical decoding (`pg_logical_slot_get_changes`) reads every row.
    pub replication: bool,
    /// It has CREATEROLE: it creates roles and changes those it administers.
    pub createrole: bool,
    /// It is a member (directly or through other roles) of `pg_read_all_data`.
    pub read_all_data: bool,
    /// It is a member of `pg_write_all_data`.
    pub write_all_data: bool,
    /// It is a member of `pg_execute_server_program`.
    pub execute_server_program: bool,
    /// It is a member of `pg_read_server_files` (the data files hold every row).
    pub read_server_files: bool,
    /// It is a member of `pg_write_server_files`.
    pub write_server_files: bool,
    /// It owns a table with row-level security, or is a member of a role that owns one.
    pub owns_rls_table: bool,
}

impl RoleFacts {
    /// What makes the role privileged, in words (empty: nothing).
    pub fn privileges(&self) -> Vec<&'static str> {
        [
            (self.superuser, "a superuser"),
            (self.bypassrls, "BYPASSRLS"),
            (self.replication, "REPLICATION"),
            (self.createrole, "CREATEROLE"),
            (self.read_all_data, "a member of pg_read_all_data"),
            (self.write_all_data, "a member of pg_write_all_data"),
            (self.execute_server_program, "a member of pg_execute_server_program"),
            (self.read_server_files, "a member of pg_read_server_files"),
            (self.write_server_files, "a member of pg_write_server_files"),
            (self.owns_rls_table, "the owner of a table with row-level security (or a member of its owner)"),
        ]
        .into_iter()
        .filter_map(|(has, what)| has.then_some(what))
        .collect()
    }
}

/// Parse `login` (absent or null: the provider's tokens never log in; `true`: `{}`).
pub(crate) fn parse_login(v: Option<&Value>) -> Result<Option<LoginPolicy>, ConfigError> {
    let o = match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Bool(true)) => return Ok(Some(LoginPolicy::default())),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ConfigError::new("login", "must be an object ({\"roles\": [...], \"role_claim\": ...})"))
        }
    };
    for k in o.keys() {
        if !LOGIN_FIELDS.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).collect();
            return Err(ConfigError::new(
                format!("login.{}", shown.escape_default()),
                format!("unknown field (known fields: {})", LOGIN_FIELDS.join(", ")),
            ));
        }
    }
    let roles = match o.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| match r {
                Value::String(s) if !s.is_empty() && s.len() <= 63 && !s.contains('\0') => Ok(s.clone()),
                _ => Err(ConfigError::new("login.roles", "must be an array of role names (1 to 63 bytes)")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ConfigError::new("login.roles", "must be an array of role names")),
    };
    let role_claim = match o.get("role_claim") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(ClaimPath::parse(s, "login.role_claim")?),
        Some(_) => return Err(ConfigError::new("login.role_claim", "must be a claim name or a JSONPath")),
    };
    Ok(Some(LoginPolicy { roles, role_claim }))
}

/// The authenticated identity PostgreSQL records for a login (`system_user` shows it as
/// `oauth:<this>`, and a pg_ident.conf map matches it): `provider:user_id`.
pub fn authn_id(identity: &Identity) -> String {
    format!("{}:{}", identity.provider, identity.user_id)
}

fn refuse(message: String) -> VerifyError {
    VerifyError::new(ErrorCode::RoleNotAllowed, message)
}

/// Whether `identity`, verified by `provider`, may log in as `role`. `delegated`: the pg_hba.conf
/// line has `delegate_ident_mapping=1`, so this is the only check (no pg_ident.conf map).
pub fn authorize(
    provider: &Provider,
    identity: &Identity,
    role: &str,
    facts: RoleFacts,
    delegated: bool,
) -> Result<(), VerifyError> {
    let shown = quote(role);
    let Some(policy) = &provider.login else {
        return Err(refuse(format!(
            "provider \"{}\" does not allow logins (its config has no \"login\")",
            provider.name
        )));
    };
    if !facts.exists {
        return Err(refuse(format!("role {shown} does not exist")));
    }
    let listed = policy.roles.iter().any(|r| r == role);
    let privileges = facts.privileges();
    if !privileges.is_empty() && !listed {
        return Err(refuse(format!(
            "role {shown} is privileged ({}) and provider \"{}\" does not name it in login.roles",
            privileges.join(", "),
            provider.name
        )));
    }
    if delegated && policy.roles.is_empty() {
        return Err(refuse(format!(
            "provider \"{}\" names no login.roles (delegate_ident_mapping=1 needs them)",
            provider.name
        )));
    }
    if !policy.roles.is_empty() && !listed {
        return Err(refuse(format!("role {shown} is not in login.roles of provider \"{}\"", provider.name)));
    }
    if let Some(path) = &policy.role_claim {
        let claims = identity.claims()?;
        match path.lookup(claims) {
            Some(Value::String(s)) if s == role => {}
            Some(Value::String(_)) => {
                return Err(refuse(format!("the token's role claim names another role than {shown}")))
            }
            Some(_) => return Err(refuse("the token's role claim is not a string".into())),
            None => return Err(refuse("the token has no role claim".into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_provider;
    use crate::registry::Registry;
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn provider(login: Value) -> Provider {
        parse_provider(&json!({"provider": "p", "issuer": "https://i", "secret": SECRET, "login": login})).unwrap()
    }

    fn identity(p: &Provider, claims: Value) -> Identity {
        // A token signed with the provider's secret, verified through a registry.
        let header = crate::b64::encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let mut c = claims;
        c["iss"] = json!("https://i");
        c["exp"] = json!(4_000_000_000i64);
        let payload = crate::b64::encode(c.to_string().as_bytes());
        let input = format!("{header}.{payload}");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
        let sig = crate::b64::encode(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref());
        let reg = Registry::new(vec![p.clone()]);
        reg.verify(&format!("{input}.{sig}"), &crate::options::VerifyOptions::now()).unwrap()
    }

    const PLAIN: RoleFacts = RoleFacts {
        exists: true,
        superuser: false,
        bypassrls: false,
        replication: false,
        createrole: false,
        read_all_data: false,
        write_all_data: false,
        execute_server_program: false,
        read_server_files: false,
        write_server_files: false,
        owns_rls_table: false,
    };
    const SUPER: RoleFacts = RoleFacts { superuser: true, ..PLAIN };
    const BYPASS: RoleFacts = RoleFacts { bypassrls: true, ..PLAIN };
    /// Every privileged fact but superuser and BYPASSRLS, and the words its refusal names.
    const PRIVILEGED: [(RoleFacts, &str); 8] = [
        (RoleFacts { replication: true, ..PLAIN }, "REPLICATION"),
        (RoleFacts { createrole: true, ..PLAIN }, "CREATEROLE"),
        (RoleFacts { read_all_data: true, ..PLAIN }, "a member of pg_read_all_data"),
        (RoleFacts { write_all_data: true, ..PLAIN }, "a member of pg_write_all_data"),
        (RoleFacts { execute_server_program: true, ..PLAIN }, "a member of pg_execute_server_program"),
        (RoleFacts { read_server_files: true, ..PLAIN }, "a member of pg_read_server_files"),
        (RoleFacts { write_server_files: true, ..PLAIN }, "a member of pg_write_server_files"),
        (RoleFacts { owns_rls_table: true, ..PLAIN }, "the owner of a table with row-level security"),
    ];

    fn code(r: Result<(), VerifyError>) -> Option<&'static str> {
        r.err().map(|e| e.code.as_str())
    }

    #[test]
    fn no_login_config_never_logs_in() {
        let p = parse_provider(&json!({"provider": "p", "issuer": "https://i", "secret": SECRET})).unwrap();
        let id = identity(&p, json!({"sub": "u"}));
        assert_eq!(code(authorize(&p, &id, "app", PLAIN, false)), Some("role_not_allowed"));
        assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), Some("role_not_allowed"));
    }

    #[test]
    fn map_mode_leaves_the_role_to_pg_ident_unless_roles_narrow_it() {
        let p = provider(json!({}));
        let id = identity(&p, json!({"sub": "u"}));
        assert_eq!(code(authorize(&p, &id, "app", PLAIN, false)), None);
        assert_eq!(authn_id(&id), "p:u");
        let p = provider(json!({"roles": ["app"]}));
        assert_eq!(code(authorize(&p, &id, "app", PLAIN, false)), None);
        assert_eq!(code(authorize(&p, &id, "other", PLAIN, false)), Some("role_not_allowed"));
    }

    #[test]
    fn delegated_mode_needs_the_role_listed() {
        let p = provider(json!(true));
        let id = identity(&p, json!({"sub": "u"}));
        assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), Some("role_not_allowed"));
        let p = provider(json!({"roles": ["app", "analyst"]}));
        assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), None);
        assert_eq!(code(authorize(&p, &id, "postgres", PLAIN, true)), Some("role_not_allowed"));
    }

    #[test]
    fn privileged_roles_only_when_named() {
        let p = provider(json!({}));
        let id = identity(&p, json!({"sub": "u"}));
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
        let id = identity(&provider(json!({})), json!({"sub": "u"}));
        for (facts, words) in PRIVILEGED {
            // Map mode (pg_ident.conf decides) and delegated mode with other roles listed.
            for (login, delegated) in
                [(json!({}), false), (json!({"roles": ["app"]}), false), (json!({"roles": ["app"]}), true)]
            {
                let p = provider(login);
                let e = authorize(&p, &id, "etl", facts, delegated).unwrap_err();
                assert_eq!(e.code, ErrorCode::RoleNotAllowed, "{words}");
                assert!(e.message.contains(words), "{words}: {}", e.message);
                assert!(e.message.contains("\"etl\"") && e.message.contains("login.roles"), "{}", e.message);
            }
            // Named in login.roles: allowed, in both modes.
            let p = provider(json!({"roles": ["app", "etl"]}));
            assert_eq!(code(authorize(&p, &id, "etl", facts, false)), None, "{words}");
            assert_eq!(code(authorize(&p, &id, "etl", facts, true)), None, "{words}");
        }
    }

    #[test]
    fn a_refusal_names_every_privilege_the_role_has() {
        let p = provider(json!({}));
        let id = identity(&p, json!({"sub": "u"}));
        let facts = RoleFacts { replication: true, read_all_data: true, owns_rls_table: true, ..PLAIN };
        let e = authorize(&p, &id, "etl", facts, false).unwrap_err();
        assert!(
            e.message.starts_with(
                "role \"etl\" is privileged (REPLICATION, a member of pg_read_all_data, the owner of a table"
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
        let id = identity(&p, json!({"sub": "u", "db_role": "analyst"}));
        assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), None);
        assert_eq!(code(authorize(&p, &id, "app", PLAIN, true)), Some("role_not_allowed"));
        let id = identity(&p, json!({"sub": "u"}));
        assert_eq!(code(authorize(&p, &id, "analyst", PLAIN, true)), Some("role_not_allowed"));
        let nested = provider(json!({"roles": ["app"], "role_claim": "$.meta.role"}));
        let id = identity(&nested, json!({"sub": "u", "meta": {"role": "app"}}));
        assert_eq!(code(authorize(&nested, &id, "app", PLAIN, true)), None);
    }

    #[test]
    fn bad_login_configs_name_their_field() {
        for (login, field) in [
            (json!("app"), "login"),
            (json!({"roles": "app"}), "login.roles"),
            (json!({"roles": [""]}), "login.roles"),
            (json!({"role_claim": 3}), "login.role_claim"),
            (json!({"users": []}), "login.users"),
        ] {
            let e = parse_provider(&json!({"provider": "p", "issuer": "https://i", "secret": SECRET, "login": login}))
                .unwrap_err();
            assert_eq!(e.field, field);
        }
    }
}
