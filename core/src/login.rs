//! Logging in with a provider's token (PostgreSQL 18's OAuth validator): whether a verified
//! token may open a session, through this pg_hba.conf line, as this database role.
//!
//! PostgreSQL asks a validator to authenticate the token *and* to authorize the client: check
//! the audience ("who is this token for?") and the scopes the token carries against the line.
//! [`login`] runs every check, in this order (docs/reference.md has the same table):
//!
//! 1. **the line's issuer**: the token's `iss` is the issuer the pg_hba.conf line names (an
//!    issuer identifier, compared byte for byte, or the URL of its discovery document:
//!    [`LineIssuer`]); no provider of another issuer is tried (`issuer_mismatch`);
//! 2. **the token**: verified as a request token is (format, algorithm, key, signature, `exp`,
//!    `nbf`, `iat`, required claims, revocation, directory), except that a provider with `login`
//!    checks its **login audience**: `login.audience`, by default the provider's `audience`
//!    (`invalid_audience`);
//! 3. **the provider allows logins**: its config has `login` (`role_not_allowed`) naming an
//!    audience (a config from before 0.6.0 may not: `invalid_audience`);
//! 4. **the line's scopes**: every scope the line names, other than OpenID Connect's own
//!    ([`OIDC_SCOPES`]), is among the token's (`scope`, space-separated, RFC 8693/9068; `scp`, an
//!    array or a space-separated string; or `login.scope_claim`), compared exactly (after
//!    removing `login.scope_prefix`, for providers whose clients ask for `api://APP/db.login` and
//!    whose tokens say `db.login`)
//!    (`insufficient_scope`);
//! 5. **the role** ([`authorize`], `role_not_allowed`): it exists; a privileged role only when
//!    `login.roles` names it; under `delegate_ident_mapping=1` the role must be named by
//!    `login.roles` or reached through `login.group_roles`; a non-empty `login.roles` must name
//!    it; `login.role_claim` must name it (a string) or contain it (an array); with
//!    `login.group_roles`, one of the token's groups (`login.groups_claim`, by default `groups`)
//!    must map to it.
//!
//! A provider's `login`:
//!
//! ```json
//! "login": {"audience": "https://db.example.com", "roles": ["app_user", "analyst"],
//!           "role_claim": "db_role", "group_roles": {"db-analysts": ["analyst"]}}
//! ```
//!
//! Privileged roles are those whose session can read rows past row-level security, or other
//! sessions' tokens, directly or through what they reach: a superuser; a role with BYPASSRLS,
//! REPLICATION (logical decoding returns every row) or CREATEROLE, or a member, directly or
//! through other roles, of a role that has one of these (`SET ROLE` reaches it); a member of one
//! of the [`Predefined`] roles; and the owner of a table with row-level security, or a member of
//! a role that owns one. [`RoleFacts`] carries what the database says;
//! the caller gathers it.

use serde_json::Value;

use crate::claims::ClaimPath;
use crate::config::login::groups_of;
use crate::config::Provider;
use crate::error::{quote, ConfigError, ErrorCode, VerifyError};
use crate::identity::Identity;
use crate::options::VerifyOptions;
use crate::registry::{DirectoryLookup, Registry};

mod line;
mod roles;

pub use crate::config::login::{LoginPolicy, DEFAULT_GROUPS_CLAIM};
pub use line::{Line, LineIssuer, OIDC_SCOPES};
pub use roles::{Memberships, Predefined, Reached, RoleFacts};

/// What a new registration must have beyond what [`crate::parse_provider`] checks (configs
/// stored by earlier versions are still read without it): a provider whose tokens log in names
/// the audience of its login tokens.
pub fn check_registration(provider: &Provider) -> Result<(), ConfigError> {
    match &provider.login {
        Some(login) if login.audience_of(provider).is_empty() => Err(ConfigError::new(
            "login.audience",
            "a provider whose tokens log in must name the audience its login tokens are issued for: \
             set login.audience (a string or an array), or the provider's audience",
        )),
        _ => Ok(()),
    }
}

/// The authenticated identity PostgreSQL records for a login (`system_user` shows it as
/// `oauth:<this>`, and a pg_ident.conf map matches it): `provider:user_id`.
pub fn authn_id(identity: &Identity) -> String {
    format!("{}:{}", identity.provider, identity.user_id)
}

// --- the checks ----------------------------------------------------------------------------

fn refuse(message: String) -> VerifyError {
    VerifyError::new(ErrorCode::RoleNotAllowed, message)
}

fn claim_name(path: &ClaimPath) -> String {
    quote(&path.source)
}

/// The scopes a verified token carries: those of `login.scope_claim` when the provider names
/// one, else of `scope` (a space-separated string, RFC 8693 and RFC 9068) and `scp` (an array, or
/// a space-separated string, as Okta and Entra ID issue it).
fn token_scopes(policy: &LoginPolicy, claims: &serde_json::Map<String, Value>) -> Result<Vec<String>, VerifyError> {
    fn read(v: Option<&Value>, name: &str, out: &mut Vec<String>) -> Result<(), VerifyError> {
        match v {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => {
                out.extend(s.split(' ').filter(|x| !x.is_empty()).map(str::to_string));
                Ok(())
            }
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                out.extend(a.iter().filter_map(Value::as_str).filter(|x| !x.is_empty()).map(str::to_string));
                Ok(())
            }
            Some(_) => Err(VerifyError::new(
                ErrorCode::InvalidClaim,
                format!("JWT {name} claim must be a space-separated string or an array of strings"),
            )),
        }
    }
    let mut out = Vec::new();
    match &policy.scope_claim {
        Some(path) => read(path.lookup(claims), &claim_name(path), &mut out)?,
        None => {
            read(claims.get("scope"), "scope", &mut out)?;
            read(claims.get("scp"), "scp", &mut out)?;
        }
    }
    Ok(out)
}

/// Whether the token has every scope the line requires.
fn check_scopes(provider: &Provider, identity: &Identity, line: &Line) -> Result<(), VerifyError> {
    if line.required_scopes.is_empty() {
        return Ok(());
    }
    let policy = provider.login.as_ref().expect("checked by the caller");
    let scopes = token_scopes(policy, identity.claims()?)?;
    let in_token = |r: &str| {
        let short = policy.scope_prefix.as_deref().and_then(|p| r.strip_prefix(p)).filter(|r| !r.is_empty());
        scopes.iter().any(|s| s == r || Some(s.as_str()) == short)
    };
    let missing: Vec<&String> = line.required_scopes.iter().filter(|r| !in_token(r)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let whence = match &policy.scope_claim {
        Some(path) => format!("its {} claim (login.scope_claim)", claim_name(path)),
        None => "its scope and scp claims".to_string(),
    };
    let has = if scopes.is_empty() {
        "it has none".to_string()
    } else {
        let shown: Vec<String> = scopes.iter().take(16).map(|s| quote(s)).collect();
        format!("it has {}", shown.join(", "))
    };
    Err(VerifyError::new(
        ErrorCode::InsufficientScope,
        format!(
            "the token lacks scope {} that the pg_hba.conf line requires (scope={}) in {whence}: {has}; the client \
             must ask for it and provider \"{}\" grant it",
            missing.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "),
            quote(&line.scope),
            provider.name
        ),
    ))
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
    if delegated && policy.roles.is_empty() && policy.group_roles.is_empty() {
        return Err(refuse(format!(
            "provider \"{}\" names no login.roles and no login.group_roles (delegate_ident_mapping=1 needs the roles \
             its tokens may become)",
            provider.name
        )));
    }
    if !policy.roles.is_empty() && !listed {
        return Err(refuse(format!("role {shown} is not in login.roles of provider \"{}\"", provider.name)));
    }
    if let Some(path) = &policy.role_claim {
        let name = claim_name(path);
        match path.lookup(identity.claims()?) {
            Some(Value::String(s)) if s == role => {}
            Some(Value::String(_)) => {
                return Err(refuse(format!(
                    "the token's role claim {name} (login.role_claim) names another role than {shown}"
                )))
            }
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                if !a.iter().any(|v| v.as_str() == Some(role)) {
                    return Err(refuse(format!(
                        "the token's role claim {name} (login.role_claim) does not contain {shown}"
                    )));
                }
            }
            Some(_) => {
                return Err(refuse(format!(
                    "the token's role claim {name} (login.role_claim) is not a string or an array of strings"
                )))
            }
            None => return Err(refuse(format!("the token has no role claim {name} (login.role_claim)"))),
        }
    }
    if !policy.group_roles.is_empty() {
        let path = policy.groups_claim.as_ref().expect("group_roles comes with a groups claim");
        let groups = groups_of(path.lookup(identity.claims()?));
        if !groups.iter().any(|g| policy.group_roles.get(g).is_some_and(|roles| roles.iter().any(|r| r == role))) {
            let had = if groups.is_empty() {
                format!("the token has no groups in {}", claim_name(path))
            } else {
                let shown: Vec<String> = groups.iter().take(16).map(|g| quote(g)).collect();
                format!("none of the token's groups ({}) does", shown.join(", "))
            };
            return Err(refuse(format!(
                "login.group_roles of provider \"{}\" maps no group of the token to role {shown}: {had}",
                provider.name
            )));
        }
    }
    Ok(())
}

/// A login that every check allowed.
#[derive(Debug)]
pub struct Login {
    /// What PostgreSQL records as the authenticated identity ([`authn_id`]).
    pub authn_id: String,
    /// The verified identity (its provider, user, and groups).
    pub identity: Identity,
}

/// What a client asks for when it logs in: through which pg_hba.conf line, as which role.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    /// The line that matched the connection.
    pub line: &'a Line,
    /// The role asked for.
    pub role: &'a str,
    /// What the database says about it.
    pub facts: RoleFacts,
    /// The line has `delegate_ident_mapping=1` (no pg_ident.conf map: pg_idp decides the role).
    pub delegated: bool,
}

/// Every check of a login, in the order of the module's table: `token` presented for `attempt`,
/// verified against `registry` (`directory` answers for the providers' directories, as in
/// [`Registry::verify_with_directory`]).
pub fn login(
    registry: &Registry,
    token: &str,
    opts: &VerifyOptions,
    attempt: Attempt<'_>,
    directory: &mut DirectoryLookup<'_>,
) -> Result<Login, VerifyError> {
    let Attempt { line, role, facts, delegated } = attempt;
    let admit = |iss: &str| {
        if line.issuer.admits(iss) {
            Ok(())
        } else {
            Err(VerifyError::new(
                ErrorCode::IssuerMismatch,
                format!(
                    "the token's issuer {} is not the one the pg_hba.conf line names (issuer={}): log in through a line \
                     that names it, or with a token of that issuer",
                    quote(iss),
                    quote(line.issuer.as_str())
                ),
            ))
        }
    };
    let opts = opts.for_login();
    let identity = registry.verify_admitted(token, &opts, &admit, directory).map_err(|mut e| {
        if e.code == ErrorCode::InvalidAudience {
            if let Some(p) = e.provider.as_deref().and_then(|p| registry.provider(p)) {
                if let Some(login) = &p.login {
                    let wanted: Vec<String> = login.audience_of(p).iter().take(8).map(|a| quote(a)).collect();
                    e.message = format!(
                        "{}: a login token must be issued for {} (the client asks its provider for a token for that \
                         audience or resource)",
                        e.message,
                        wanted.join(" or ")
                    );
                }
            }
        }
        e
    })?;
    let provider = registry.provider(&identity.provider).expect("the provider that verified the token");
    let about = |e: VerifyError| e.for_provider(&provider.name);
    let Some(policy) = &provider.login else {
        return Err(about(refuse(format!(
            "provider \"{}\" does not allow logins (its config has no \"login\")",
            provider.name
        ))));
    };
    if policy.audience_of(provider).is_empty() {
        return Err(about(VerifyError::new(
            ErrorCode::InvalidAudience,
            format!(
                "provider \"{}\" allows logins but names no audience for them (a config from before 0.6.0): set \
                 login.audience to the audience its login tokens are issued for",
                provider.name
            ),
        )));
    }
    check_scopes(provider, &identity, line).map_err(about)?;
    authorize(provider, &identity, role, facts, delegated).map_err(about)?;
    Ok(Login { authn_id: authn_id(&identity), identity })
}

#[cfg(test)]
mod tests;
