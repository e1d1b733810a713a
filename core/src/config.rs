//! Provider configuration: the body of the guides' `POST /api/v1/auth/providers`, plus inline
//! key material. Parsed by hand (not serde derive) so that every error names its field and no
//! error ever echoes a value, which could be a secret.

use serde_json::{Map, Value};

use crate::claims::ClaimPath;
use crate::error::ConfigError;
use crate::jwk::{self, Key, MIN_SECRET_BYTES};

pub const DEFAULT_LEEWAY_SECONDS: i64 = 30;
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
];
const MAPPING_FIELDS: &[&str] = &["user_id", "email", "tenant"];

#[derive(Clone, Debug)]
pub struct ClaimMapping {
    pub user_id: ClaimPath,
    pub email: Option<ClaimPath>,
    pub tenant: Option<ClaimPath>,
}

/// A validated provider, ready to verify tokens.
#[derive(Clone, Debug)]
pub struct Provider {
    pub name: String,
    pub issuer: String,
    pub audience: Vec<String>,
    pub domain: Option<String>,
    pub client_id: Option<String>,
    pub jwks_uri: Option<String>,
    pub claim_mapping: ClaimMapping,
    pub leeway_seconds: i64,
    /// JWKS keys first, then the shared secret if there is one.
    pub keys: Vec<Key>,
}

impl Provider {
    pub fn has_secret(&self) -> bool {
        self.keys.iter().any(|k| k.is_provider_secret)
    }

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
    let name = opt_string(o, "provider")?
        .ok_or_else(|| ConfigError::new("provider", "is required (the provider's name)"))?;
    if !valid_name(&name) {
        return Err(ConfigError::new(
            "provider",
            "must be 1 to 63 characters of letters, digits, '_', '-' or '.'",
        ));
    }
    let issuer = opt_string(o, "issuer")?
        .ok_or_else(|| ConfigError::new("issuer", "is required (the exact \"iss\" of the provider's tokens)"))?;
    let audience = match o.get("audience") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|x| match x {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(ConfigError::new("audience", "array elements must be non-empty strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ConfigError::new("audience", "must be a non-empty string or a non-empty array of strings"))
        }
    };
    let domain = opt_string(o, "domain")?;
    let client_id = opt_string(o, "client_id")?;
    let jwks_uri = opt_string(o, "jwks_uri")?;
    if let Some(u) = &jwks_uri {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(ConfigError::new("jwks_uri", "must be an http(s) URL"));
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
    match o.get("secret") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            if s.len() < MIN_SECRET_BYTES {
                return Err(ConfigError::new(
                    "secret",
                    format!("is {} bytes, fewer than {MIN_SECRET_BYTES}: HS256 needs a secret of at least 256 bits", s.len()),
                ));
            }
            keys.push(Key::from_secret(s.as_bytes()));
        }
        Some(_) => return Err(ConfigError::new("secret", "must be a string")),
    }
    if keys.is_empty() {
        return Err(ConfigError::new(
            "jwks",
            "no key material: give \"jwks\" (an inline JWKS) or \"secret\" (an HS256 shared secret)",
        ));
    }
    Ok(Provider { name, issuer, audience, domain, client_id, jwks_uri, claim_mapping, leeway_seconds, keys })
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
    let path = |name: &str| -> Result<Option<ClaimPath>, ConfigError> {
        let field = format!("claim_mapping.{name}");
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => ClaimPath::parse(s, &field).map(Some),
            Some(_) => Err(ConfigError::new(field, "must be a claim name or a JSONPath string")),
        }
    };
    Ok(ClaimMapping {
        user_id: match path("user_id")? {
            Some(p) => p,
            None => ClaimPath::parse("sub", "claim_mapping.user_id")?,
        },
        email: path("email")?,
        tenant: path("tenant")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minimal_hs_provider() {
        let p = parse_provider(&json!({"provider":"insforge","issuer":"https://x","secret":SECRET})).unwrap();
        assert_eq!(p.name, "insforge");
        assert_eq!(p.claim_mapping.user_id.source, "sub");
        assert_eq!(p.leeway_seconds, 30);
        assert!(p.has_secret());
    }

    #[test]
    fn errors_name_the_field_and_never_the_secret() {
        let cases = [
            (json!({"provider":"a","secret":SECRET}), "issuer"),
            (json!({"provider":"a","issuer":"https://x"}), "jwks"),
            (json!({"provider":"a","issuer":"https://x","secret":SECRET,"bogus":1}), "bogus"),
            (json!({"issuer":"https://x","secret":SECRET}), "provider"),
            (json!({"provider":"a b","issuer":"https://x","secret":SECRET}), "provider"),
            (json!({"provider":"a","issuer":"https://x","secret":"short-secret-value"}), "secret"),
            (json!({"provider":"a","issuer":"https://x","secret":12345}), "secret"),
            (json!({"provider":"a","issuer":"https://x","secret":SECRET,"audience":7}), "audience"),
            (json!({"provider":"a","issuer":"https://x","secret":SECRET,"claim_mapping":{"uid":"sub"}}), "claim_mapping.uid"),
            (json!({"provider":"a","issuer":"https://x","secret":SECRET,"claim_mapping":{"email":"$["}}), "claim_mapping.email"),
            (json!({"provider":"a","issuer":"https://x","secret":SECRET,"leeway_seconds":-1}), "leeway_seconds"),
            (json!("not an object"), "config"),
        ];
        for (cfg, field) in cases {
            let e = parse_provider(&cfg).unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(!e.to_string().contains("short-secret-value") && !e.to_string().contains("12345"), "{e}");
        }
    }
}
