//! Validation of one token by one provider: the header (alg, crit, kid), the key and the
//! signature, then the claims (exp, nbf, iat, aud, required claims) and the claim mapping.

use serde_json::Value;

use crate::alg::Alg;
use crate::config::Provider;
use crate::directory::{email_key, DirectoryField, DirectoryKey};
use crate::error::{quote, ErrorCode, VerifyError};
use crate::identity::Identity;
use crate::jwk::Key;
use crate::options::{Purpose, VerifyOptions};
use crate::token::{json_type, raw_str, raw_value, JsonKind, Members, Token};

pub(crate) fn header_alg(header: &Members<'_>) -> Result<Alg, VerifyError> {
    let alg = match header.get("alg") {
        None => return Err(VerifyError::new(ErrorCode::Malformed, "JWT header has no alg")),
        Some(raw) => {
            raw_str(raw).ok_or_else(|| VerifyError::new(ErrorCode::Malformed, "JWT header alg is not a string"))?
        }
    };
    let alg = Alg::parse(&alg).ok_or_else(|| {
        VerifyError::new(ErrorCode::UnsupportedAlgorithm, format!("JWT algorithm {} is not supported", quote(&alg)))
    })?;
    if let Some(crit) = header.get("crit").and_then(raw_value) {
        let names: Vec<&str> =
            crit.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let shown = if names.is_empty() {
            "crit".to_string()
        } else {
            names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ")
        };
        return Err(VerifyError::new(
            ErrorCode::UnsupportedCriticalHeader,
            format!("JWT header marks {shown} as critical, which pg_idp does not understand"),
        ));
    }
    if header.get("kid").is_some_and(|k| json_type(k) != JsonKind::String) {
        return Err(VerifyError::new(ErrorCode::Malformed, "JWT header kid is not a string"));
    }
    Ok(alg)
}

/// What a provider's claim mapping found in a verified payload (not to be confused with
/// [`crate::config::MappedClaimClaim`], where a mapping looks).
pub(crate) struct ClaimsFound {
    user_id: String,
    email: Option<String>,
    tenant: Option<String>,
    role: Option<String>,
    exp: f64,
    iat: Option<f64>,
    sid: Option<String>,
    directory_key: Option<DirectoryKey>,
}

impl ClaimsFound {
    pub(crate) fn into_identity(self, p: &Provider, payload: String) -> Identity {
        Identity {
            provider: p.name.clone(),
            user_id: self.user_id,
            email: self.email,
            tenant: self.tenant,
            role: self.role,
            expires_at: self.exp,
            issued_at: self.iat,
            session_id: self.sid,
            issuer: p.issuer.clone(),
            directory_key: self.directory_key,
            groups: Vec::new(),
            payload,
            claims: std::cell::OnceCell::new(),
        }
    }
}

pub(crate) fn verify_with(
    p: &Provider,
    tok: &Token<'_>,
    kid: Option<&str>,
    claims: &Members<'_>,
    alg: Alg,
    opts: &VerifyOptions,
) -> Result<ClaimsFound, VerifyError> {
    let not_allowed = |what: String| {
        VerifyError::new(
            ErrorCode::AlgorithmNotAllowed,
            format!("algorithm {} is not allowed for {what} of provider \"{}\"", alg.name(), p.name),
        )
    };
    if p.keys.is_empty() {
        return Err(VerifyError::new(
            ErrorCode::NoKeys,
            format!("provider \"{}\" has no keys yet: they are fetched from its jwks_uri by idp.refresh_jwks or the refresh worker", p.name),
        )
        .for_provider(&p.name));
    }
    if !p.algorithms.contains(&alg) {
        return Err(not_allowed("the keys".into()));
    }
    let candidates: Vec<&Key> = match kid {
        Some(kid) => {
            let named: Vec<&Key> = p.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect();
            if !named.is_empty() {
                let serving: Vec<&Key> = named.iter().copied().filter(|k| k.serves(alg)).collect();
                if serving.is_empty() {
                    return Err(not_allowed(named[0].describe()));
                }
                serving
            } else {
                // The provider secret has no kid: an HS token naming some kid may still be signed
                // with it (the signature decides).
                let secrets: Vec<&Key> = p.keys.iter().filter(|k| k.is_provider_secret && k.serves(alg)).collect();
                if secrets.is_empty() {
                    return Err(VerifyError::new(
                        ErrorCode::UnknownKey,
                        format!("provider \"{}\" has no key with kid {}", p.name, quote(kid)),
                    )
                    .for_provider(&p.name));
                }
                secrets
            }
        }
        None => p.keys.iter().filter(|k| k.serves(alg)).collect(),
    };
    let verified =
        candidates.iter().any(|k| k.verifier.verify(alg, tok.signing_input.as_bytes(), &tok.signature_bytes));
    if !verified {
        let which = if candidates.len() == 1 {
            candidates[0].describe()
        } else {
            format!("any of its {} {} keys", candidates.len(), alg.name())
        };
        return Err(VerifyError::new(
            ErrorCode::InvalidSignature,
            format!("JWT signature does not verify with {which} of provider \"{}\"", p.name),
        ));
    }
    check_claims(p, claims, opts)
}

fn numeric_date(claims: &Members<'_>, name: &str) -> Result<Option<f64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(raw) if json_type(raw) == JsonKind::Number => match raw.get().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(VerifyError::new(ErrorCode::InvalidClaim, format!("JWT {name} claim is not a valid NumericDate"))),
        },
        Some(raw) => Err(VerifyError::new(
            ErrorCode::InvalidClaim,
            format!("JWT {name} claim must be a NumericDate (a number of seconds), not a {}", json_type(raw).as_str()),
        )),
    }
}

fn check_claims(p: &Provider, claims: &Members<'_>, opts: &VerifyOptions) -> Result<ClaimsFound, VerifyError> {
    let leeway = p.leeway_seconds as f64;
    let now = opts.now;
    let exp = numeric_date(claims, "exp")?
        .ok_or_else(|| VerifyError::new(ErrorCode::MissingClaim, "JWT has no exp claim"))?;
    let nbf = numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?;
    if now - leeway >= exp {
        return Err(VerifyError::new(ErrorCode::Expired, "JWT expired"));
    }
    if let Some(nbf) = nbf {
        if nbf > now + leeway {
            return Err(VerifyError::new(ErrorCode::NotYetValid, "JWT is not valid yet (nbf is in the future)"));
        }
    }
    if let Some(iat) = iat {
        if iat > now + leeway {
            return Err(VerifyError::new(ErrorCode::IssuedInFuture, "JWT was issued in the future (iat)"));
        }
    }
    let (audience, whose) = match (opts.purpose, &p.login) {
        (Purpose::Login, Some(login)) => (login.audience_of(p), "the login audience (login.audience) of provider"),
        _ => (p.audience.as_slice(), "provider"),
    };
    if !audience.is_empty() {
        let matches = match claims.get("aud").map(|raw| (raw, json_type(raw))) {
            None => {
                return Err(VerifyError::new(
                    ErrorCode::InvalidAudience,
                    format!("JWT has no aud claim, and {whose} \"{}\" requires an audience", p.name),
                ))
            }
            Some((raw, JsonKind::String)) => {
                let s = raw_str(raw).unwrap_or_default();
                audience.iter().any(|a| *a == s)
            }
            Some((raw, JsonKind::Array)) => {
                let items = match raw_value(raw) {
                    Some(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                if items.iter().any(|x| !x.is_string()) {
                    return Err(VerifyError::new(
                        ErrorCode::InvalidClaim,
                        "JWT aud claim must be a string or an array of strings",
                    ));
                }
                items.iter().any(|x| audience.iter().any(|a| x == a))
            }
            Some(_) => {
                return Err(VerifyError::new(
                    ErrorCode::InvalidClaim,
                    "JWT aud claim must be a string or an array of strings",
                ))
            }
        };
        if !matches {
            return Err(VerifyError::new(
                ErrorCode::InvalidAudience,
                format!("JWT audience does not match {whose} \"{}\"", p.name),
            ));
        }
    }
    for c in &p.required_claims {
        if !claims.contains(c) {
            return Err(VerifyError::new(
                ErrorCode::MissingClaim,
                format!("JWT has no {} claim, which provider \"{}\" requires", quote(c), p.name),
            ));
        }
    }
    let m = &p.claim_mapping;
    // The user id is a non-empty string, never the first element of an array: `["user_bob", "x"]`
    // is not user_bob.
    // The user id is a non-empty string, never the first element of an array: a `sub` of
    // `["user_bob", "x"]` is not user_bob.
    let user_id = match m.user_id.lookup_members(claims) {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => {
            return Err(VerifyError::new(
                ErrorCode::MissingClaim,
                format!(
                    "JWT has no string claim {} for the user id of provider \"{}\" (it must be a non-empty string)",
                    quote(&m.user_id.source),
                    p.name
                ),
            ))
        }
    };
    let email = m.email.as_ref().and_then(|c| c.lookup(claims));
    let directory_key = key_in_directory(p, claims, Some(&user_id), email.as_deref());
    Ok(ClaimsFound {
        user_id,
        email,
        tenant: m.tenant.as_ref().and_then(|c| c.lookup(claims)),
        role: m.role.as_ref().and_then(|c| c.lookup(claims)),
        exp,
        iat,
        sid: claims.get("sid").and_then(raw_str).map(|s| s.into_owned()),
        directory_key,
    })
}

/// What `p`'s directory knows the user of a verified payload by (`directory_match`), given the
/// user id and email `p`'s claim mapping found in it.
fn key_in_directory(
    p: &Provider,
    claims: &Members<'_>,
    user_id: Option<&str>,
    email: Option<&str>,
) -> Option<DirectoryKey> {
    match p.directory_match {
        // An email identifies a directory user only when the provider says it verified it.
        DirectoryField::Email => email
            .filter(|_| claims.get("email_verified").is_some_and(|v| v.get() == "true"))
            .map(|e| DirectoryKey { field: DirectoryField::Email, value: email_key(e) }),
        field => match &p.directory_claim {
            Some(c) => claims.get(c).and_then(raw_str).filter(|v| !v.is_empty()).map(|v| v.into_owned()),
            None => user_id.map(str::to_string),
        }
        .map(|value| DirectoryKey { field, value }),
    }
}

/// What `p`'s directory would know the user of a payload verified by another provider entry of
/// the same issuer by: `p`'s own claim mapping and `directory_match` applied to it (`None` when
/// the payload lacks what `p` matches by).
pub(crate) fn directory_key_of(p: &Provider, claims: &Members<'_>) -> Option<DirectoryKey> {
    let m = &p.claim_mapping;
    let user_id = match m.user_id.lookup_members(claims) {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    let email = m.email.as_ref().and_then(|c| c.lookup(claims));
    key_in_directory(p, claims, user_id.as_deref(), email.as_deref())
}
