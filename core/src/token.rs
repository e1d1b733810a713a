//! Compact JWS parsing (RFC 7515 §7.1): three base64url segments, a JSON-object header and a
//! JSON-object payload. Nothing here trusts the token: it only splits and decodes it.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

use crate::b64;
use crate::error::{ErrorCode, VerifyError};

/// A decoded but unverified token. Borrows the segments from the input string.
#[derive(Debug)]
pub struct Token<'a> {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The third segment, still base64url.
    pub signature: &'a str,
    /// The third segment, decoded.
    pub signature_bytes: Vec<u8>,
}

impl<'a> Token<'a> {
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

fn malformed(msg: impl Into<String>) -> VerifyError {
    VerifyError::new(ErrorCode::Malformed, msg)
}

/// `token_too_large` when the token is longer than `max_bytes`.
pub fn check_size(token: &str, max_bytes: usize) -> Result<(), VerifyError> {
    if token.len() > max_bytes {
        return Err(VerifyError::new(
            ErrorCode::TokenTooLarge,
            format!("JWT is {} bytes, more than the limit of {} bytes", token.len(), max_bytes),
        ));
    }
    Ok(())
}

/// Split and decode a compact JWS. `max_bytes` is checked before anything else is looked at.
pub fn parse(token: &str, max_bytes: usize) -> Result<Token<'_>, VerifyError> {
    check_size(token, max_bytes)?;
    if token.is_empty() {
        return Err(malformed("JWT is empty"));
    }
    let mut parts = token.split(|c: char| c == '.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => {
            let n = token.split('.').count();
            let what = if n == 5 { " (an encrypted JWE is not supported)" } else { "" };
            return Err(malformed(format!(
                "JWT must have 3 dot-separated segments, found {n}{what}"
            )));
        }
    };
    if h.is_empty() || p.is_empty() {
        return Err(malformed("JWT has an empty header or payload segment"));
    }
    // An empty signature segment is well-formed (it is what `alg: none` tokens carry); the
    // algorithm check rejects those, and signature verification any other.
    let header_bytes =
        b64::decode(h).ok_or_else(|| malformed("JWT header is not valid base64url"))?;
    let payload_bytes =
        b64::decode(p).ok_or_else(|| malformed("JWT payload is not valid base64url"))?;
    let signature_bytes =
        b64::decode(s).ok_or_else(|| malformed("JWT signature is not valid base64url"))?;
    let header = parse_object(&header_bytes, "header")?;
    let claims = parse_object(&payload_bytes, "payload")?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Token { header, claims, signing_input, signature: s, signature_bytes })
}

/// Parse a JSON object, rejecting duplicate member names at the top level (RFC 7515 §5.2 lets a
/// verifier reject them, and accepting them would let two parsers disagree on a claim).
fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, VerifyError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| malformed(format!("JWT {what} is not valid UTF-8")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    // serde_json limits nesting to 128 levels, so hostile depth fails here, not on the stack.
    let obj = match NoDupObject::deserialize(&mut de) {
        Ok(o) => o,
        Err(e) => {
            let msg = e.to_string();
            return Err(if let Some(name) = msg.strip_prefix(DUP_PREFIX) {
                let name: String = name.chars().take(64).collect();
                malformed(format!("JWT {what} has a duplicate member {name}"))
            } else if msg.starts_with(NOT_OBJECT) {
                malformed(format!("JWT {what} is not a JSON object"))
            } else {
                malformed(format!("JWT {what} is not valid JSON"))
            });
        }
    };
    if de.end().is_err() {
        return Err(malformed(format!("JWT {what} has trailing data after the JSON object")));
    }
    Ok(obj.0)
}

const DUP_PREFIX: &str = "pg_idp duplicate member: ";
const NOT_OBJECT: &str = "pg_idp not an object";

struct NoDupObject(Map<String, Value>);

impl<'de> Deserialize<'de> for NoDupObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoDupObject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<NoDupObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    let value: Value = access.next_value()?;
                    match map.entry(key) {
                        serde_json::map::Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                        serde_json::map::Entry::Occupied(slot) => {
                            return Err(serde::de::Error::custom(format!(
                                "{DUP_PREFIX}'{}'",
                                slot.key().escape_default()
                            )));
                        }
                    }
                }
                Ok(NoDupObject(map))
            }
            // Any non-object top-level value.
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<NoDupObject, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<NoDupObject, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<NoDupObject, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<NoDupObject, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<NoDupObject, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<NoDupObject, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<NoDupObject, A::Error> {
                Err(serde::de::Error::custom(NOT_OBJECT))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        b64::encode(json.as_bytes())
    }

    #[test]
    fn splits_three_segments() {
        let t = format!("{}.{}.c2ln", seg(r#"{"alg":"HS256"}"#), seg(r#"{"sub":"u"}"#));
        let tok = parse(&t, 16384).unwrap();
        assert_eq!(tok.alg(), Some("HS256"));
        assert_eq!(tok.claims["sub"], "u");
        assert_eq!(tok.signature, "c2ln");
        assert!(t.starts_with(tok.signing_input));
    }

    #[test]
    fn rejects_shapes() {
        let h = seg(r#"{"alg":"HS256"}"#);
        let p = seg(r#"{"sub":"u"}"#);
        for bad in [
            String::new(),
            "abc".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.c2ln."),
            format!("{h}.{p}.c2ln.x.y"),
            format!(".{p}.c2ln"),
            format!("{h}=.{p}.c2ln"),
            format!("{h}.{p}.c2ln="),
            format!("{h} .{p}.c2ln"),
            format!("{h}.{}.c2ln", seg("[1]")),
            format!("{h}.{}.c2ln", seg("{\"a\":1} x")),
            format!("{h}.{}.c2ln", seg(r#"{"a":1,"a":2}"#)),
            format!("{h}.{}.c2ln", b64::encode(&[0xc0, 0xaf])),
        ] {
            let e = parse(&bad, 16384).unwrap_err();
            assert_eq!(e.code, ErrorCode::Malformed, "{bad}: {}", e.message);
        }
    }

    #[test]
    fn duplicate_claim_is_named() {
        let t = format!("{}.{}.c2ln", seg(r#"{"alg":"HS256"}"#), seg(r#"{"sub":"a","sub":"b"}"#));
        let e = parse(&t, 16384).unwrap_err();
        assert!(e.message.contains("duplicate member 'sub'"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_malformed_not_a_crash() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let t = format!("{}.{}.c2ln", seg(r#"{"alg":"HS256"}"#), seg(&deep));
        assert_eq!(parse(&t, usize::MAX).unwrap_err().code, ErrorCode::Malformed);
    }

    #[test]
    fn size_limit_checked_first() {
        let t = "x".repeat(20_000);
        assert_eq!(parse(&t, 16384).unwrap_err().code, ErrorCode::TokenTooLarge);
    }
}
