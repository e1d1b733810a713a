//! JWK / JWKS (RFC 7517, 7518, 8037) to verification keys. Every key is validated when it is
//! registered, so that a key set that cannot be used fails loudly then, never at verification.

use serde_json::{Map, Value};

use crate::alg::{Alg, Family};
use crate::b64;
use crate::error::ConfigError;
use crate::verifier::Verifier;

/// HMAC secrets shorter than this are refused (RFC 7518 §3.2: a key of the same size as the
/// hash output, 256 bits for HS256, or larger).
pub const MIN_SECRET_BYTES: usize = 32;
/// RSA moduli shorter than this are refused (RFC 7518 §3.3).
pub const MIN_RSA_BITS: usize = 2048;

/// One verification key of a provider.
#[derive(Clone)]
pub struct Key {
    /// The key id, when it has one.
    pub kid: Option<String>,
    /// The kind of key.
    pub family: Family,
    /// The JWK's own `alg`, when it has one: then it serves only that algorithm.
    pub alg: Option<Alg>,
    /// True for the provider's `secret`, false for keys from a JWKS.
    pub is_provider_secret: bool,
    /// The key, prepared for verification.
    pub(crate) verifier: Verifier,
}

impl std::fmt::Debug for Key {
    // Never print key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Whether this key may verify `alg` (its family and its own `alg`, if any).
    pub fn serves(&self, alg: Alg) -> bool {
        alg.family() == self.family && self.alg.is_none_or(|a| a == alg)
    }

    /// The provider's shared secret as a key.
    pub fn from_secret(secret: &[u8]) -> Key {
        Key { kid: None, family: Family::Hmac, alg: None, is_provider_secret: true, verifier: Verifier::hmac(secret) }
    }

    /// Human-readable name for messages: `key "kid"` or `the provider secret`.
    pub fn describe(&self) -> String {
        match (&self.kid, self.is_provider_secret) {
            (_, true) => "the provider secret".to_string(),
            (Some(k), false) => format!("key \"{}\"", k.escape_default()),
            (None, false) => "a key without kid".to_string(),
        }
    }
}

/// Parse a JWKS object `{"keys": [...]}`. `field` is the config field name used in errors.
pub fn parse_jwks(v: &Value, field: &str) -> Result<Vec<Key>, ConfigError> {
    let obj = v.as_object().ok_or_else(|| ConfigError::new(field, "must be a JWKS object {\"keys\": [...]}"))?;
    let keys = obj
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| ConfigError::new(field, "must have a \"keys\" array"))?;
    if keys.is_empty() {
        return Err(ConfigError::new(field, "has no keys"));
    }
    let mut out: Vec<Key> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let key = parse_jwk(k, &format!("{field}.keys[{i}]"))?;
        if let Some(kid) = &key.kid {
            if out.iter().any(|o| o.kid.as_deref() == Some(kid)) {
                return Err(ConfigError::new(
                    format!("{field}.keys[{i}]"),
                    format!("duplicate kid \"{}\"", kid.escape_default()),
                ));
            }
        }
        out.push(key);
    }
    Ok(out)
}

fn get_str<'a>(o: &'a Map<String, Value>, name: &str, field: &str) -> Result<Option<&'a str>, ConfigError> {
    match o.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ConfigError::new(field, format!("\"{name}\" must be a string"))),
    }
}

fn get_b64(o: &Map<String, Value>, name: &str, field: &str) -> Result<Vec<u8>, ConfigError> {
    let s = get_str(o, name, field)?.ok_or_else(|| ConfigError::new(field, format!("missing \"{name}\"")))?;
    b64::decode(s)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ConfigError::new(field, format!("\"{name}\" is not valid base64url")))
}

/// Parse one public JWK.
pub fn parse_jwk(v: &Value, field: &str) -> Result<Key, ConfigError> {
    let o = v.as_object().ok_or_else(|| ConfigError::new(field, "must be a JWK object"))?;
    let kid = get_str(o, "kid", field)?.map(str::to_string);
    // Name the key in every message once we know its kid.
    let field = match &kid {
        Some(k) => format!("{field} (kid \"{}\")", k.escape_default()),
        None => field.to_string(),
    };
    let field = field.as_str();
    if let Some(u) = get_str(o, "use", field)? {
        if u != "sig" {
            return Err(ConfigError::new(field, format!("has \"use\": \"{}\", not \"sig\"", u.escape_default())));
        }
    }
    if let Some(ops) = o.get("key_ops") {
        let ok = ops.as_array().is_some_and(|a| a.iter().any(|x| x == "verify"));
        if !ok {
            return Err(ConfigError::new(field, "has \"key_ops\" without \"verify\""));
        }
    }
    let kty = get_str(o, "kty", field)?.ok_or_else(|| ConfigError::new(field, "missing \"kty\""))?;
    if kty != "oct" && ["d", "p", "q", "dp", "dq", "qi"].iter().any(|m| o.contains_key(*m)) {
        return Err(ConfigError::new(field, "contains private key material; register the public key only"));
    }
    let (family, verifier) = match kty {
        "RSA" => {
            let n = get_b64(o, "n", field)?;
            let e = get_b64(o, "e", field)?;
            let bits = significant_bits(&n);
            if bits < MIN_RSA_BITS {
                return Err(ConfigError::new(field, format!("RSA modulus is {bits} bits, fewer than {MIN_RSA_BITS}")));
            }
            // The public exponent must be odd and at least 3 (e = 1 makes every "signature" valid).
            if significant_bits(&e) < 2 || e.last().is_none_or(|b| b & 1 == 0) || e.len() > 8 {
                return Err(ConfigError::new(field, "RSA public exponent must be an odd number of at least 3"));
            }
            (Family::Rsa, Verifier::rsa(&n, &e).map_err(|m| ConfigError::new(field, m))?)
        }
        "EC" => {
            let crv = get_str(o, "crv", field)?.ok_or_else(|| ConfigError::new(field, "missing \"crv\""))?;
            let (family, len) = match crv {
                "P-256" => (Family::EcP256, 32),
                "P-384" => (Family::EcP384, 48),
                other => {
                    return Err(ConfigError::new(
                        field,
                        format!("unsupported EC curve \"{}\" (P-256 and P-384 are supported)", other.escape_default()),
                    ))
                }
            };
            let x = get_b64(o, "x", field)?;
            let y = get_b64(o, "y", field)?;
            if x.len() != len || y.len() != len {
                return Err(ConfigError::new(field, format!("{crv} coordinates must be {len} bytes")));
            }
            let mut point = Vec::with_capacity(1 + 2 * len);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let alg = if len == 32 { Alg::ES256 } else { Alg::ES384 };
            let verifier = Verifier::single(alg, &point).map_err(|_| {
                ConfigError::new(field, format!("is not a valid {crv} public key (point not on the curve)"))
            })?;
            (family, verifier)
        }
        "OKP" => {
            let crv = get_str(o, "crv", field)?.ok_or_else(|| ConfigError::new(field, "missing \"crv\""))?;
            if crv != "Ed25519" {
                return Err(ConfigError::new(
                    field,
                    format!("unsupported OKP curve \"{}\" (Ed25519 is supported)", crv.escape_default()),
                ));
            }
            let x = get_b64(o, "x", field)?;
            if x.len() != 32 {
                return Err(ConfigError::new(field, "Ed25519 public key must be 32 bytes"));
            }
            (Family::Ed25519, Verifier::single(Alg::EdDSA, &x).map_err(|m| ConfigError::new(field, m))?)
        }
        "oct" => {
            let k = get_b64(o, "k", field)?;
            if k.len() < MIN_SECRET_BYTES {
                return Err(ConfigError::new(
                    field,
                    format!("HMAC key is {} bytes, fewer than {MIN_SECRET_BYTES}", k.len()),
                ));
            }
            (Family::Hmac, Verifier::hmac(&k))
        }
        other => {
            return Err(ConfigError::new(
                field,
                format!("unsupported \"kty\": \"{}\" (RSA, EC, OKP and oct are supported)", other.escape_default()),
            ))
        }
    };
    let alg = match get_str(o, "alg", field)? {
        None => None,
        Some(name) => {
            let a = Alg::parse(name).ok_or_else(|| {
                ConfigError::new(field, format!("unsupported \"alg\": \"{}\"", name.escape_default()))
            })?;
            if a.family() != family {
                return Err(ConfigError::new(field, format!("\"alg\" {} does not match its \"kty\" {kty}", a.name())));
            }
            Some(a)
        }
    };
    Ok(Key { kid, family, alg, is_provider_secret: false, verifier })
}

fn significant_bits(be: &[u8]) -> usize {
    match be.iter().position(|&b| b != 0) {
        None => 0,
        Some(i) => (be.len() - i - 1) * 8 + (8 - be[i].leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_unusable_keys_naming_them() {
        let cases = [
            (json!({"keys":[{"kty":"RSA","kid":"a","use":"enc","n":"AQAB","e":"AQAB"}]}), "not \"sig\""),
            (json!({"keys":[{"kty":"XYZ","kid":"b"}]}), "unsupported \"kty\""),
            (json!({"keys":[{"kty":"RSA","kid":"c","n":"***","e":"AQAB"}]}), "not valid base64url"),
            (json!({"keys":[{"kty":"RSA","kid":"d","n":"AQAB","e":"AQAB"}]}), "fewer than 2048"),
            (
                json!({"keys":[{"kty":"RSA","kid":"d1","n":format!("{}", crate::b64::encode(&[0xffu8; 256])),"e":"AQ"}]}),
                "exponent",
            ),
            (
                json!({"keys":[{"kty":"EC","kid":"g","crv":"P-256","x":crate::b64::encode(&[1u8; 32]),"y":crate::b64::encode(&[2u8; 32])}]}),
                "not on the curve",
            ),
            (json!({"keys":[{"kty":"oct","kid":"e","k":"c2hvcnQ"}]}), "fewer than 32"),
            (json!({"keys":[{"kty":"EC","kid":"f","crv":"P-521","x":"AA","y":"AA"}]}), "unsupported EC curve"),
            (json!({"keys":[]}), "has no keys"),
            (json!([]), "JWKS object"),
        ];
        for (jwks, want) in cases {
            let e = parse_jwks(&jwks, "jwks").unwrap_err();
            assert!(e.to_string().contains(want), "{e}");
            if let Some(kid) = jwks["keys"][0]["kid"].as_str() {
                assert!(e.field.contains(kid), "{e}");
            }
        }
    }

    #[test]
    fn bits() {
        assert_eq!(significant_bits(&[0, 0x80, 0]), 16);
        assert_eq!(significant_bits(&[1]), 1);
        assert_eq!(significant_bits(&[0]), 0);
    }
}
