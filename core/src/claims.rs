//! Claim mapping: where in a verified payload the user id, email and tenant are found.
//!
//! A mapping is either a top-level claim name, used as is (names may contain dots, colons and
//! slashes, like Auth0's `https://example.com/org`), or a small JSONPath starting with `$`:
//! `$.org.id`, `$['https://x/y'][0]`, `$.emails[0]`.

use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::token::{raw_value, Members};

/// One step of a claim path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A member of an object, by name.
    Name(String),
    /// An element of an array, by position.
    Index(usize),
}

/// Where a claim is: a top-level name, or a small JSONPath from `$`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimPath {
    /// As written in the config, for messages and the `providers` view.
    pub source: String,
    segments: Vec<Segment>,
}

impl ClaimPath {
    /// Parse a claim name or JSONPath; `field` names it in errors.
    pub fn parse(source: &str, field: &str) -> Result<ClaimPath, ConfigError> {
        if source.is_empty() {
            return Err(ConfigError::new(field, "claim name must not be empty"));
        }
        if source.len() > 256 {
            return Err(ConfigError::new(field, "claim name is longer than 256 bytes"));
        }
        let segments = if let Some(rest) = source.strip_prefix('$') {
            parse_path(rest).map_err(|why| ConfigError::new(field, format!("invalid JSONPath: {why}")))?
        } else {
            vec![Segment::Name(source.to_string())]
        };
        Ok(ClaimPath { source: source.to_string(), segments })
    }

    /// The claim's value, if present.
    pub fn lookup<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let mut segs = self.segments.iter();
        let mut cur = match segs.next()? {
            Segment::Name(n) => claims.get(n)?,
            Segment::Index(_) => return None,
        };
        for s in segs {
            cur = match s {
                Segment::Name(n) => cur.as_object()?.get(n)?,
                Segment::Index(i) => cur.as_array()?.get(*i)?,
            };
        }
        Some(cur)
    }

    /// The claim's value in a token's payload members: only the member the path starts with is
    /// parsed.
    pub fn lookup_members(&self, claims: &Members<'_>) -> Option<Value> {
        let mut segs = self.segments.iter();
        let first = match segs.next()? {
            Segment::Name(n) => claims.get(n)?,
            Segment::Index(_) => return None,
        };
        let mut cur = raw_value(first)?;
        for s in segs {
            cur = match (s, cur) {
                (Segment::Name(n), Value::Object(mut o)) => o.remove(n)?,
                (Segment::Index(i), Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
                _ => return None,
            };
        }
        Some(cur)
    }

    /// The claim as text: a string as is; an array yields its first string element (Stytch's
    /// `emails`); anything else is `None`.
    pub fn lookup_str<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a str> {
        match self.lookup(claims)? {
            Value::String(s) => Some(s),
            Value::Array(a) => a.iter().find_map(Value::as_str),
            _ => None,
        }
    }
}

fn parse_path(mut rest: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() {
                return Err("empty member name after '.'".into());
            }
            out.push(Segment::Name(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            if let Some(q) = r.chars().next().filter(|c| *c == '\'' || *c == '"') {
                let body = &r[1..];
                let close = body.find(q).ok_or("unterminated quoted name")?;
                let name = &body[..close];
                let after = body[close + 1..].strip_prefix(']').ok_or("expected ']' after quoted name")?;
                out.push(Segment::Name(name.to_string()));
                rest = after;
            } else {
                let close = r.find(']').ok_or("unterminated '['")?;
                let idx: usize = r[..close].parse().map_err(|_| "array index must be a non-negative integer")?;
                out.push(Segment::Index(idx));
                rest = &r[close + 1..];
            }
        } else {
            return Err("expected '.' or '[' after '$'".into());
        }
    }
    if out.is_empty() {
        return Err("path names no claim".into());
    }
    if matches!(out[0], Segment::Index(_)) {
        return Err("path must start with a claim name".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Map<String, Value> {
        json!({
            "sub": "user_1",
            "https://example.com/org": "org_9",
            "org": {"id": "org_1", "roles": ["admin"]},
            "emails": ["a@x.com", "b@x.com"],
            "https://x/y": ["first"],
            "n": 5
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn names_and_paths() {
        let c = claims();
        let get = |p: &str| ClaimPath::parse(p, "f").unwrap().lookup_str(&c).map(str::to_string);
        assert_eq!(get("sub").as_deref(), Some("user_1"));
        assert_eq!(get("https://example.com/org").as_deref(), Some("org_9"));
        assert_eq!(get("$.org.id").as_deref(), Some("org_1"));
        assert_eq!(get("$.org.roles[0]").as_deref(), Some("admin"));
        assert_eq!(get("$['https://x/y'][0]").as_deref(), Some("first"));
        assert_eq!(get("emails").as_deref(), Some("a@x.com"));
        assert_eq!(get("n"), None);
        assert_eq!(get("$.missing.x"), None);
    }

    #[test]
    fn bad_paths() {
        for p in ["", "$", "$.", "$[0]", "$['x'", "$[x]", "$x"] {
            assert!(ClaimPath::parse(p, "claim_mapping.user_id").is_err(), "{p}");
        }
    }
}
