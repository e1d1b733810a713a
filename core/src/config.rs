//! Provider configuration: the body of the guides' `POST /api/v1/auth/providers`, plus inline
//! key material. Parsed by hand (not serde derive) so that every error names its field and no
//! error ever echoes a value, which could be a secret.

use serde_json::{Map, Value};

use crate::alg::Alg;
use crate::b64;
use crate::claims::ClaimPath;
use crate::directory::DirectoryField;
use crate::error::ConfigError;
use crate::jwk::{self, Key, MIN_SECRET_BYTES};
use crate::token::Members;

pub(crate) mod login;

/// The clock skew allowed on `exp`, `nbf` and `iat` unless a provider says otherwise.
pub const DEFAULT_LEEWAY_SECONDS: i64 = 30;
/// The largest `leeway_seconds` a provider may ask for.
pub const MAX_LEEWAY_SECONDS: i64 = 3600;

const FIELDS: &[&str] = &[
    "provider",
    "domain",
    "client_id",
    "audience",
    "issuer",
    "jwks_uri",
    "claim_mapping",
    "jwks",
    "secret",
    "leeway_seconds",
    "algorithms",
    "secret_encoding",
    "required_claims",
    "webhook_secret",
    "directory_claim",
    "directory_match",
    "login",
    "discovery_url",
];
const MAPPING_FIELDS: &[&str] = &["user_id", "email", "tenant", "role"];

/// Where one identity field comes from: a claim (name or JSONPath), with an optional default
/// used when the token lacks it (`{"claim": "role", "default": "authenticated"}`).
#[derive(Clone, Debug)]
pub struct MappedClaim {
    /// Where the claim is.
    pub path: ClaimPath,
    /// The value when the token lacks the claim.
    pub default: Option<String>,
}

impl MappedClaim {
    /// The claim as text; the default only when the claim is absent (or JSON null), never in
    /// place of a claim of the wrong type.
    pub fn lookup(&self, claims: &Members<'_>) -> Option<String> {
        match self.path.lookup_members(claims) {
            None | Some(Value::Null) => self.default.clone(),
            Some(Value::String(s)) => Some(s),
            Some(Value::Array(a)) => a.iter().find_map(Value::as_str).map(str::to_string),
            Some(_) => None,
        }
    }
}

/// Where a provider's tokens keep the identity's fields (`claim_mapping`).
#[derive(Clone, Debug)]
pub struct ClaimMapping {
    /// The user id (default `sub`).
    pub user_id: ClaimPath,
    /// The email, if mapped.
    pub email: Option<MappedClaim>,
    /// The tenant (an organization id), if mapped.
    pub tenant: Option<MappedClaim>,
    /// The role, if mapped.
    pub role: Option<MappedClaim>,
}

/// A validated provider, ready to verify tokens.
#[derive(Clone, Debug)]
pub struct Provider {
    /// The provider's name (`provider`).
    pub name: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Audiences of which a token's `aud` must contain one (none: not checked).
    pub audience: Vec<String>,
    /// As registered, for reference.
    pub domain: Option<String>,
    /// As registered, for reference.
    pub client_id: Option<String>,
    /// Where its key set is fetched from.
    pub jwks_uri: Option<String>,
    /// Where the identity's fields are.
    pub claim_mapping: ClaimMapping,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway_seconds: i64,
    /// The algorithms this provider accepts: its `algorithms` allow-list, or by default every
    /// algorithm its keys can serve. Never `none`.
    pub algorithms: Vec<Alg>,
    /// Claims every token must carry (besides `exp` and `iss`, which are always required).
    pub required_claims: Vec<String>,
    /// JWKS keys first, then the shared secret if there is one.
    pub keys: Vec<Key>,
    /// The secret WorkOS signs directory-sync webhooks with.
    pub webhook_secret: Option<String>,
    /// The token claim matched against the directory (`directory_match`); without it, the mapped
    /// user id.
    pub directory_claim: Option<String>,
    /// Which directory-user field tokens are matched against: `id` (the default), `idp_id`, or
    /// `email` (only tokens with `email_verified: true`).
    pub directory_match: DirectoryField,
    /// Whether and as which database roles its tokens may log in (PostgreSQL 18's OAuth
    /// validator); `None`: its tokens never log in.
    pub login: Option<login::LoginPolicy>,
}

impl Provider {
    /// Whether it has a shared secret (`secret`).
    pub fn has_secret(&self) -> bool {
        self.keys.iter().any(|k| k.is_provider_secret)
    }

    /// The `kid`s of its JWKS keys.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref()).collect()
    }
}

fn opt_string(o: &Map<String, Value>, name: &str) -> Result<Option<String>, ConfigError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Err(ConfigError::new(name, "must not be empty")),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ConfigError::new(name, "must be a string")),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// Parse and validate a provider config.
pub fn parse_provider(v: &Value) -> Result<Provider, ConfigError> {
    let o = v.as_object().ok_or_else(|| ConfigError::new("config", "must be a JSON object"))?;
    for k in o.keys() {
        if !FIELDS.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).collect();
            return Err(ConfigError::new(
                shown.escape_default().to_string(),
                format!("unknown field (known fields: {})", FIELDS.join(", ")),
            ));
        }
    }
    let name =
        opt_string(o, "provider")?.ok_or_else(|| ConfigError::new("provider", "is required (the provider's name)"))?;
    if !valid_name(&name) {
        return Err(ConfigError::new("provider", "must be 1 to 63 characters of letters, digits, '_', '-' or '.'"));
    }
    let issuer = opt_string(o, "issuer")?
        .ok_or_else(|| ConfigError::new("issuer", "is required (the exact \"iss\" of the provider's tokens)"))?;
    let audience = audiences(o.get("audience"), "audience")?;
    let domain = opt_string(o, "domain")?;
    let client_id = opt_string(o, "client_id")?;
    let jwks_uri = opt_string(o, "jwks_uri")?;
    if let Some(u) = &jwks_uri {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(ConfigError::new("jwks_uri", "must be an http(s) URL"));
        }
    }
    // Where idp.discover() found the jwks_uri (its OpenID configuration): recorded for the
    // provider's health (keys from discovery), not used to verify.
    if let Some(u) = opt_string(o, "discovery_url")? {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(ConfigError::new("discovery_url", "must be an http(s) URL"));
        }
    }
    let claim_mapping = parse_mapping(o.get("claim_mapping"))?;
    let leeway_seconds = match o.get("leeway_seconds") {
        None | Some(Value::Null) => DEFAULT_LEEWAY_SECONDS,
        Some(v) => match v.as_i64() {
            Some(n) if (0..=MAX_LEEWAY_SECONDS).contains(&n) => n,
            _ => {
                return Err(ConfigError::new(
                    "leeway_seconds",
                    format!("must be an integer from 0 to {MAX_LEEWAY_SECONDS}"),
                ))
            }
        },
    };
    let mut keys = match o.get("jwks") {
        None | Some(Value::Null) => Vec::new(),
        Some(j) => jwk::parse_jwks(j, "jwks")?,
    };
    let base64_secret = match o.get("secret_encoding") {
        None | Some(Value::Null) => false,
        Some(Value::String(e)) if e == "utf8" => false,
        Some(Value::String(e)) if e == "base64" => true,
        Some(_) => return Err(ConfigError::new("secret_encoding", "must be \"utf8\" or \"base64\"")),
    };
    match o.get("secret") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            let bytes = if base64_secret {
                decode_base64_secret(s)
                    .ok_or_else(|| ConfigError::new("secret", "is not valid base64 (secret_encoding is \"base64\")"))?
            } else {
                s.as_bytes().to_vec()
            };
            if bytes.len() < MIN_SECRET_BYTES {
                return Err(ConfigError::new(
                    "secret",
                    format!(
                        "is {} bytes, fewer than {MIN_SECRET_BYTES}: HS256 needs a secret of at least 256 bits",
                        bytes.len()
                    ),
                ));
            }
            keys.push(Key::from_secret(&bytes));
        }
        Some(_) => return Err(ConfigError::new("secret", "must be a string")),
    }
    // Without key material a provider needs a jwks_uri to get its keys from later (registered
    // without fetching): its tokens fail `no_keys` until then.
    if keys.is_empty() && jwks_uri.is_none() {
        return Err(ConfigError::new(
            "jwks",
            "no key material: give \"jwks\" (an inline JWKS), \"secret\" (an HS256 shared secret) or \"jwks_uri\" (where to fetch the keys)",
        ));
    }
    let servable: Vec<Alg> = Alg::ALL.iter().copied().filter(|a| keys.iter().any(|k| k.serves(*a))).collect();
    let algorithms = match o.get("algorithms") {
        None | Some(Value::Null) => servable,
        Some(Value::Array(list)) if !list.is_empty() => {
            let mut out = Vec::new();
            for (i, a) in list.iter().enumerate() {
                let field = format!("algorithms[{i}]");
                let name = a.as_str().ok_or_else(|| ConfigError::new(field.as_str(), "must be a string"))?;
                let alg = Alg::parse(name).ok_or_else(|| {
                    let shown: String = name.chars().take(32).collect();
                    ConfigError::new(field.as_str(), format!("unsupported algorithm \"{}\"", shown.escape_default()))
                })?;
                // Keys fetched later are checked against the list when they arrive.
                if !keys.is_empty() && !servable.contains(&alg) {
                    return Err(ConfigError::new(
                        field.as_str(),
                        format!(
                            "{} needs {}, and the provider has none that can serve it",
                            alg.name(),
                            alg.family().describe()
                        ),
                    ));
                }
                if !out.contains(&alg) {
                    out.push(alg);
                }
            }
            out
        }
        Some(_) => return Err(ConfigError::new("algorithms", "must be a non-empty array of algorithm names")),
    };
    let required_claims = match o.get("required_claims") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|c| match c {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(ConfigError::new("required_claims", "must be an array of claim names")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ConfigError::new("required_claims", "must be an array of claim names")),
    };
    let webhook_secret = opt_string(o, "webhook_secret")?;
    if webhook_secret.as_ref().is_some_and(|w| w.len() < 16) {
        return Err(ConfigError::new("webhook_secret", "must be at least 16 bytes"));
    }
    let directory_claim = opt_string(o, "directory_claim")?;
    let directory_match = match o.get("directory_match") {
        None | Some(Value::Null) => DirectoryField::Id,
        Some(Value::String(m)) => DirectoryField::parse(m)
            .ok_or_else(|| ConfigError::new("directory_match", "must be \"id\", \"idp_id\" or \"email\""))?,
        Some(_) => return Err(ConfigError::new("directory_match", "must be \"id\", \"idp_id\" or \"email\"")),
    };
    if directory_match == DirectoryField::Email && directory_claim.is_some() {
        return Err(ConfigError::new(
            "directory_claim",
            "does not apply to directory_match \"email\", which matches the mapped email (claim_mapping.email)",
        ));
    }
    let login = login::parse_login(o.get("login"))?;
    Ok(Provider {
        name,
        issuer,
        audience,
        domain,
        client_id,
        jwks_uri,
        claim_mapping,
        leeway_seconds,
        algorithms,
        required_claims,
        keys,
        webhook_secret,
        directory_claim,
        directory_match,
        login,
    })
}

/// Standard or URL-safe base64, with or without padding.
fn decode_base64_secret(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    use base64::Engine;
    let t = s.trim_end_matches('=');
    b64::decode(t).or_else(|| STANDARD_NO_PAD.decode(t).ok()).or_else(|| STANDARD.decode(s).ok())
}

fn parse_mapping(v: Option<&Value>) -> Result<ClaimMapping, ConfigError> {
    let empty = Map::new();
    let o = match v {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ConfigError::new("claim_mapping", "must be an object")),
    };
    for k in o.keys() {
        if !MAPPING_FIELDS.contains(&k.as_str()) {
            let shown: String = k.chars().take(64).collect();
            return Err(ConfigError::new(
                format!("claim_mapping.{}", shown.escape_default()),
                format!("unknown field (known fields: {})", MAPPING_FIELDS.join(", ")),
            ));
        }
    }
    let mapped = |name: &str| -> Result<Option<MappedClaim>, ConfigError> {
        let field = format!("claim_mapping.{name}");
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(MappedClaim { path: ClaimPath::parse(s, &field)?, default: None })),
            Some(Value::Object(m)) => {
                for k in m.keys() {
                    if k != "claim" && k != "default" {
                        return Err(ConfigError::new(
                            format!("{field}.{}", k.chars().take(64).collect::<String>().escape_default()),
                            "unknown field (known fields: claim, default)",
                        ));
                    }
                }
                let claim = m.get("claim").and_then(Value::as_str).ok_or_else(|| {
                    ConfigError::new(format!("{field}.claim"), "is required (a claim name or JSONPath)")
                })?;
                let default = match m.get("default") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(d)) => Some(d.clone()),
                    Some(_) => return Err(ConfigError::new(format!("{field}.default"), "must be a string")),
                };
                Ok(Some(MappedClaim { path: ClaimPath::parse(claim, &format!("{field}.claim"))?, default }))
            }
            Some(_) => {
                Err(ConfigError::new(field, "must be a claim name, a JSONPath, or {\"claim\": ..., \"default\": ...}"))
            }
        }
    };
    let user_id = match mapped("user_id")? {
        None => ClaimPath::parse("sub", "claim_mapping.user_id")?,
        Some(MappedClaim { default: Some(_), .. }) => {
            return Err(ConfigError::new(
                "claim_mapping.user_id",
                "cannot have a default: the user id must come from the token",
            ))
        }
        Some(m) => m.path,
    };
    Ok(ClaimMapping { user_id, email: mapped("email")?, tenant: mapped("tenant")?, role: mapped("role")? })
}

/// An `audience` member (the provider's, or `login.audience`): absent or null is none; a
/// non-empty string, or a non-empty array of non-empty strings. `field` names it in errors.
pub(crate) fn audiences(v: Option<&Value>, field: &'static str) -> Result<Vec<String>, ConfigError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if !s.is_empty() => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(ConfigError::new(field, "array elements must be non-empty strings")),
            })
            .collect(),
        Some(_) => Err(ConfigError::new(field, "must be a non-empty string or a non-empty array of strings")),
    }
}

#[cfg(test)]
mod tests;
