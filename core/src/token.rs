//! Compact JWS parsing (RFC 7515 §7.1): three base64url segments, a JSON-object header and a
//! JSON-object payload. Nothing here trusts the token: it only splits and decodes it.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

use crate::b64;
use crate::error::{ErrorCode, VerifyError};

/// A split and decoded but unverified token: its header and payload as JSON text (valid UTF-8,
/// not yet parsed; see [`Members`]). Borrows the segments from the input string.
#[derive(Debug)]
pub struct Token<'a> {
    /// The decoded header (JSON text).
    pub header_json: String,
    /// The decoded payload (JSON text).
    pub payload_json: String,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The third segment, still base64url.
    pub signature: &'a str,
    /// The third segment, decoded.
    pub signature_bytes: Vec<u8>,
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
    // A compact JWS has no whitespace anywhere (RFC 7515 §7.1): a token with a leading or
    // trailing space or newline is refused, never trimmed into another string.
    if token.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(malformed(
            "JWT contains whitespace, which a compact JWS never has (send the token alone: no \"Bearer \" prefix, no trailing newline)",
        ));
    }
    // Split on the ASCII dots by byte (no UTF-8 decoding of the token).
    let bytes = token.as_bytes();
    let first = memchr::memchr(b'.', bytes);
    let second = first.and_then(|i| memchr::memchr(b'.', &bytes[i + 1..]).map(|j| i + 1 + j));
    let third = second.and_then(|j| memchr::memchr(b'.', &bytes[j + 1..]));
    let (h, p, s) = match (first, second, third) {
        (Some(i), Some(j), None) => (&token[..i], &token[i + 1..j], &token[j + 1..]),
        _ => {
            let n = token.split('.').count();
            let what = if n == 5 { " (an encrypted JWE is not supported)" } else { "" };
            return Err(malformed(format!("JWT must have 3 dot-separated segments, found {n}{what}")));
        }
    };
    if h.is_empty() || p.is_empty() {
        return Err(malformed("JWT has an empty header or payload segment"));
    }
    // An empty signature segment is well-formed (it is what `alg: none` tokens carry); the
    // algorithm check rejects those, and signature verification any other.
    let header_bytes = b64::decode(h).ok_or_else(|| malformed("JWT header is not valid base64url"))?;
    let payload_bytes = b64::decode(p).ok_or_else(|| malformed("JWT payload is not valid base64url"))?;
    let signature_bytes = b64::decode(s).ok_or_else(|| malformed("JWT signature is not valid base64url"))?;
    let header_json = String::from_utf8(header_bytes).map_err(|_| malformed("JWT header is not valid UTF-8"))?;
    let payload_json = String::from_utf8(payload_bytes).map_err(|_| malformed("JWT payload is not valid UTF-8"))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(Token { header_json, payload_json, signing_input, signature: s, signature_bytes })
}

/// The top-level members of a JSON object, each value kept as its raw JSON text: checking a
/// token reads only the few members it needs, and nothing is copied or allocated per member
/// (names with escapes aside). Duplicate member names are refused (RFC 7515 §5.2 lets a
/// verifier reject them, and accepting them would let two parsers disagree on a claim).
#[derive(Debug)]
pub struct Members<'j> {
    items: Vec<(Cow<'j, str>, &'j RawValue)>,
}

impl<'j> Members<'j> {
    /// Parse `json` (the header or payload; `what` names it in errors).
    pub fn parse(json: &'j str, what: &str) -> Result<Members<'j>, VerifyError> {
        // Raw values are only scanned, not built, so nesting is bounded here (as deep as
        // serde_json would parse), and anything deeper is not valid JSON for pg_idp.
        if nesting_exceeds(json.as_bytes(), MAX_DEPTH) {
            return Err(malformed(format!("JWT {what} is not valid JSON (nested more than {MAX_DEPTH} levels)")));
        }
        // PostgreSQL text cannot hold NUL: a claim with one would reach SQL cut short (or not
        // at all), so a token carrying one anywhere is refused.
        if has_nul_escape(json.as_bytes()) {
            return Err(malformed(format!("JWT {what} contains a NUL character (\\u0000)")));
        }
        let mut de = serde_json::Deserializer::from_str(json);
        // serde_json limits nesting to 128 levels, so hostile depth fails here, not on the stack.
        let members = match Members::deserialize(&mut de) {
            Ok(m) => m,
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
        Ok(members)
    }

    /// The raw JSON of a member.
    pub fn get(&self, name: &str) -> Option<&'j RawValue> {
        self.items.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// Whether the object has a member of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The deepest nesting accepted in a header or payload (serde_json's own limit).
const MAX_DEPTH: usize = 128;

/// True when arrays and objects nest deeper than `max` in `json` (strings are skipped). Raw
/// values are only scanned, not built, so this bounds what a later full parse would meet.
fn nesting_exceeds(json: &[u8], max: usize) -> bool {
    // Fast path: with no more brackets than the limit, no nesting can exceed it.
    if json.iter().map(|&b| usize::from(b == b'[') + usize::from(b == b'{')).sum::<usize>() <= max {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// True when a JSON string in `json` contains the escape `\u0000` (an escaped backslash
/// followed by `u0000` is not one).
fn has_nul_escape(json: &[u8]) -> bool {
    if memchr::memmem::find(json, br"\u0000").is_none() {
        return false;
    }
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2; // skip the escaped character (a backslash included)
            continue;
        }
        i += 1;
    }
    false
}

/// The kind of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    /// A string.
    String,
    /// An object.
    Object,
    /// An array.
    Array,
    /// `true` or `false`.
    Boolean,
    /// `null`.
    Null,
    /// A number.
    Number,
}

impl JsonKind {
    /// As named in messages ("a string", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JsonKind::String => "string",
            JsonKind::Object => "object",
            JsonKind::Array => "array",
            JsonKind::Boolean => "boolean",
            JsonKind::Null => "null",
            JsonKind::Number => "number",
        }
    }
}

/// The kind of JSON value a raw value is, from its first byte.
pub fn json_type(raw: &RawValue) -> JsonKind {
    match raw.get().as_bytes().first() {
        Some(b'"') => JsonKind::String,
        Some(b'{') => JsonKind::Object,
        Some(b'[') => JsonKind::Array,
        Some(b't') | Some(b'f') => JsonKind::Boolean,
        Some(b'n') => JsonKind::Null,
        _ => JsonKind::Number,
    }
}

/// A raw JSON string value, unescaped (borrowed when it has no escapes); `None` for any other
/// kind of value.
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if !raw.get().starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get()).ok().map(Cow::Owned),
    }
}

/// A raw JSON value, parsed.
pub fn raw_value(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

/// A whole JSON object (already checked by [`Members::parse`]) as a map. Fails only on what
/// scanning does not check: numbers beyond the range of f64.
pub fn object_map(json: &str) -> Result<Map<String, Value>, VerifyError> {
    serde_json::from_str(json).map_err(|_| malformed("JWT payload cannot be read in full (a number is out of range)"))
}

/// A member name, borrowed from the JSON text unless it has escapes.
struct MemberName<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<MemberName<'de>, E> {
                Ok(MemberName(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

const DUP_PREFIX: &str = "pg_idp duplicate member: ";
const NOT_OBJECT: &str = "pg_idp not an object";

impl<'de: 'j, 'j> Deserialize<'de> for Members<'j> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'j>(std::marker::PhantomData<&'j ()>);
        impl<'de: 'j, 'j> Visitor<'de> for V<'j> {
            type Value = Members<'j>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Members<'j>, A::Error> {
                let mut items: Vec<(Cow<'j, str>, &'j RawValue)> = Vec::with_capacity(16);
                // Past a few members (a hostile payload), a set keeps the duplicate check linear.
                let mut seen: Option<std::collections::HashSet<Cow<'j, str>>> = None;
                while let Some(MemberName(key)) = access.next_key::<MemberName<'de>>()? {
                    let value: &'de RawValue = access.next_value()?;
                    let dup = match seen.as_mut() {
                        Some(set) => !set.insert(key.clone()),
                        None => {
                            let dup = items.iter().any(|(k, _)| *k == key);
                            if !dup && items.len() >= 32 {
                                let mut set: std::collections::HashSet<Cow<'j, str>> =
                                    items.iter().map(|(k, _)| k.clone()).collect();
                                set.insert(key.clone());
                                seen = Some(set);
                            }
                            dup
                        }
                    };
                    if dup {
                        return Err(serde::de::Error::custom(format!("{DUP_PREFIX}'{}'", key.escape_default())));
                    }
                    items.push((key, value));
                }
                Ok(Members { items })
            }
            // Any non-object top-level value.
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Members<'j>, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Members<'j>, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Members<'j>, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Members<'j>, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Members<'j>, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Members<'j>, E> {
                Err(E::custom(NOT_OBJECT))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Members<'j>, A::Error> {
                Err(serde::de::Error::custom(NOT_OBJECT))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests;
