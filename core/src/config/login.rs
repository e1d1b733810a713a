//! A provider config's `login` (see [`crate::login`], which checks a login against it): its
//! fields, read and validated with the rest of the config.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Provider;
use crate::claims::ClaimPath;
use crate::error::ConfigError;
use crate::token::Members;

const LOGIN_FIELDS: &[&str] =
    &["roles", "role_claim", "audience", "scope_claim", "scope_prefix", "groups_claim", "group_roles"];

/// The groups claim used by `login.group_roles` when `login.groups_claim` is not given.
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";

/// At most this many groups are read from a token, and named in a refusal.
const MAX_GROUPS: usize = 256;

/// A provider's `login`: for which audience its login tokens are, and as which database roles
/// they may log in.
#[derive(Clone, Debug, Default)]
pub struct LoginPolicy {
    /// The roles its users may log in as (exact names).
    pub roles: Vec<String>,
    /// The claim that must name the role asked for (a string), or contain it (an array).
    pub role_claim: Option<ClaimPath>,
    /// The audiences of which a login token's `aud` must contain one (`login.audience`); empty:
    /// the provider's `audience`.
    pub audience: Vec<String>,
    /// Where the token's scopes are, when not in `scope`/`scp`.
    pub scope_claim: Option<ClaimPath>,
    /// A prefix the line's scopes carry and the token's may not (Entra ID: the client asks for
    /// `api://APP_ID/db.login`, the token's `scp` says `db.login`): a line's scope that has it is
    /// found in the token with it or without it.
    pub scope_prefix: Option<String>,
    /// Where the token's groups are (`login.groups_claim`; with `group_roles` and no
    /// `groups_claim`: `groups`).
    pub groups_claim: Option<ClaimPath>,
    /// Each group, and the roles its members may log in as.
    pub group_roles: BTreeMap<String, Vec<String>>,
}

impl LoginPolicy {
    /// The audiences a login token of `provider` must name one of: `login.audience`, else the
    /// provider's `audience` (empty: none was configured, and no login is accepted).
    pub fn audience_of<'a>(&'a self, provider: &'a Provider) -> &'a [String] {
        if self.audience.is_empty() {
            &provider.audience
        } else {
            &self.audience
        }
    }

    /// The groups a verified payload carries in `groups_claim` (none configured: none): an array
    /// of strings, or one string; other values are ignored.
    pub(crate) fn groups_in(&self, claims: &Members<'_>) -> Vec<String> {
        match &self.groups_claim {
            Some(path) => groups_of(path.lookup_members(claims).as_ref()),
            None => Vec::new(),
        }
    }
}

pub(crate) fn groups_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(a)) => {
            let mut out: Vec<String> = Vec::new();
            for g in a.iter().filter_map(Value::as_str).filter(|g| !g.is_empty()).take(MAX_GROUPS) {
                if !out.iter().any(|x| x == g) {
                    out.push(g.to_string());
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// Parse `login` (absent or null: the provider's tokens never log in; `true`: `{}`).
pub(super) fn parse_login(v: Option<&Value>) -> Result<Option<LoginPolicy>, ConfigError> {
    let o = match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Bool(true)) => return Ok(Some(LoginPolicy::default())),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(ConfigError::new(
                "login",
                "must be an object ({\"audience\": ..., \"roles\": [...], \"role_claim\": ...})",
            ))
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
        Some(v) => role_names(v, "login.roles")?,
    };
    let claim = |field: &str| -> Result<Option<ClaimPath>, ConfigError> {
        let name = format!("login.{field}");
        match o.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(ClaimPath::parse(s, &name)?)),
            Some(_) => Err(ConfigError::new(name, "must be a claim name or a JSONPath")),
        }
    };
    let role_claim = claim("role_claim")?;
    let scope_claim = claim("scope_claim")?;
    let scope_prefix = match o.get("scope_prefix") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && !s.contains(' ') => Some(s.clone()),
        Some(_) => return Err(ConfigError::new("login.scope_prefix", "must be a non-empty string without spaces")),
    };
    let mut groups_claim = claim("groups_claim")?;
    let audience = super::audiences(o.get("audience"), "login.audience")?;
    let group_roles = match o.get("group_roles") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => {
            let mut out = BTreeMap::new();
            for (group, roles) in m {
                if group.is_empty() || group.len() > 256 {
                    return Err(ConfigError::new("login.group_roles", "group names must be 1 to 256 bytes"));
                }
                out.insert(group.clone(), role_names(roles, "login.group_roles")?);
            }
            out
        }
        Some(_) => {
            return Err(ConfigError::new(
                "login.group_roles",
                "must be an object mapping each group to the roles its members may log in as",
            ))
        }
    };
    if !group_roles.is_empty() && groups_claim.is_none() {
        groups_claim = Some(ClaimPath::parse(DEFAULT_GROUPS_CLAIM, "login.groups_claim")?);
    }
    Ok(Some(LoginPolicy { roles, role_claim, audience, scope_claim, scope_prefix, groups_claim, group_roles }))
}

fn role_names(v: &Value, field: &str) -> Result<Vec<String>, ConfigError> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(|r| match r {
                Value::String(s) if !s.is_empty() && s.len() <= 63 && !s.contains('\0') => Ok(s.clone()),
                _ => Err(ConfigError::new(field, "must be an array of role names (1 to 63 bytes)")),
            })
            .collect(),
        _ => Err(ConfigError::new(field, "must be an array of role names")),
    }
}
