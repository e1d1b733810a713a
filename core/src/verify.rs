//! Signature and claim validation, routed across every registered provider.

use serde_json::{json, Map, Value};

use crate::alg::Alg;
use crate::config::Provider;
use crate::directory::{email_key, DirectoryField, DirectoryKey, DirectoryRecord};
use crate::error::{ErrorCode, VerifyError};
use crate::jwk::Key;
use crate::token::{self, json_type, raw_str, raw_value, Members, Token};

pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16384;

#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// Current time, seconds since the epoch.
    pub now: f64,
    /// Tokens longer than this are `token_too_large` before any parsing.
    pub max_token_bytes: usize,
}

impl VerifyOptions {
    pub fn at(now: f64) -> Self {
        VerifyOptions { now, max_token_bytes: DEFAULT_MAX_TOKEN_BYTES }
    }

    pub fn now() -> Self {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Self::at(now)
    }
}

/// A verified identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub provider: String,
    pub user_id: String,
    pub email: Option<String>,
    pub tenant: Option<String>,
    pub role: Option<String>,
    /// `exp` of the token, seconds since the epoch.
    pub expires_at: f64,
    /// `iat` of the token, when it has one.
    pub issued_at: Option<f64>,
    /// `sid` (the provider's session id, Clerk and WorkOS), when the token has one.
    pub session_id: Option<String>,
    /// The issuer (`iss`) of the token: with the user id, who the person is for revocations.
    pub issuer: String,
    /// What the provider's directory knows this user by (`directory_match`), when the token
    /// carries it.
    pub directory_key: Option<DirectoryKey>,
    /// The user's directory groups (filled in by whoever looks the user up in the directory).
    pub groups: Vec<String>,
    /// The verified payload, as JSON text; parsed into a map only when asked for.
    payload: String,
    claims: std::cell::OnceCell<Result<Map<String, Value>, VerifyError>>,
}

impl Identity {
    /// The verified payload (parsed on first use). An error only for a payload with a number
    /// beyond the range of f64, which verification itself never reads.
    pub fn claims(&self) -> Result<&Map<String, Value>, VerifyError> {
        self.claims.get_or_init(|| token::object_map(&self.payload)).as_ref().map_err(Clone::clone)
    }

    /// The `idp.verify_jwt()` shape of a valid token.
    pub fn to_json(&self) -> Value {
        json!({
            "valid": true,
            "provider": self.provider,
            "user_id": self.user_id,
            "email": self.email,
            "tenant": self.tenant,
        })
    }

    /// `verify_jwt`'s shape plus `role` and `expires_at` (ISO 8601, UTC).
    pub fn to_full_json(&self) -> Value {
        let mut v = self.to_json();
        v["role"] = json!(self.role);
        v["expires_at"] = json!(iso8601(self.expires_at));
        v
    }

    /// True while `now` is still before `exp` plus the leeway it was verified with.
    pub fn is_live(&self, now: f64, leeway_seconds: i64) -> bool {
        now - (leeway_seconds as f64) < self.expires_at
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, proleptic Gregorian).
pub fn iso8601(secs: f64) -> String {
    let secs = secs.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The `idp.verify_jwt()` shape of a rejected token.
pub fn error_json(e: &VerifyError) -> Value {
    json!({"valid": false, "error": e.code.as_str(), "message": e.message})
}

/// Revoked users and sessions, per issuer: a revocation covers the person (issuer and user id)
/// or the session (issuer and `sid`), whichever registered provider verifies the token.
#[derive(Clone, Debug, Default)]
pub struct Revocations {
    /// issuer -> user id -> tokens issued before this time (seconds since the epoch) fail.
    users: std::collections::HashMap<String, std::collections::HashMap<String, f64>>,
    /// issuer -> sids whose tokens fail.
    sessions: std::collections::HashMap<String, std::collections::HashSet<String>>,
}

impl Revocations {
    /// Tokens of `user_id` from `issuer` issued before `issued_before` fail. Revoking the same
    /// person through two providers of one issuer keeps the later time.
    pub fn revoke_user(&mut self, issuer: &str, user_id: &str, issued_before: f64) {
        let before =
            self.users.entry(issuer.to_string()).or_default().entry(user_id.to_string()).or_insert(issued_before);
        *before = before.max(issued_before);
    }

    pub fn revoke_session(&mut self, issuer: &str, sid: &str) {
        self.sessions.entry(issuer.to_string()).or_default().insert(sid.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.sessions.is_empty()
    }

    /// `revoked` when the identity's user was revoked after the token was issued (a token
    /// without `iat` cannot show it is newer, so it is revoked too), or its session was.
    pub fn check(&self, id: &Identity) -> Result<(), VerifyError> {
        if self.is_empty() {
            return Ok(());
        }
        if let Some(before) = self.users.get(&id.issuer).and_then(|u| u.get(&id.user_id)) {
            if id.issued_at.is_none_or(|iat| iat < *before) {
                return Err(VerifyError::new(
                    ErrorCode::Revoked,
                    format!("JWT of user {} of issuer {} was revoked", quote(&id.user_id), quote(&id.issuer)),
                ));
            }
        }
        if let Some(sid) = &id.session_id {
            if self.sessions.get(&id.issuer).is_some_and(|s| s.contains(sid)) {
                return Err(VerifyError::new(
                    ErrorCode::Revoked,
                    format!("JWT session {} of issuer {} was revoked", quote(sid), quote(&id.issuer)),
                ));
            }
        }
        Ok(())
    }
}

/// What a provider's directory says about an identity's key (`None`: the provider has no
/// directory), for [`Registry::verify_with_directory`].
pub type DirectoryLookup<'a> = dyn FnMut(&str, &DirectoryKey) -> Result<Option<DirectoryRecord>, VerifyError> + 'a;

/// Every registered provider, and the revoked users and sessions. (The directory is looked up
/// per identity by the caller: see [`crate::directory::DirectoryRecord`].)
#[derive(Clone, Debug, Default)]
pub struct Registry {
    providers: Vec<Provider>,
    revocations: Revocations,
    /// An in-memory directory, for tests and the CLI.
    directory: crate::directory::Directory,
}

/// At most this many characters of a token-controlled string are quoted in a message.
const QUOTE_MAX: usize = 100;

pub(crate) fn quote_value(s: &str) -> String {
    quote(s)
}

fn quote(s: &str) -> String {
    let mut q: String = s.chars().take(QUOTE_MAX).collect::<String>().escape_default().to_string();
    if s.chars().count() > QUOTE_MAX {
        q.push('…');
    }
    format!("\"{q}\"")
}

impl Registry {
    pub fn new(providers: Vec<Provider>) -> Self {
        Registry { providers, revocations: Revocations::default(), directory: Default::default() }
    }

    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = revocations;
        self
    }

    /// Use an in-memory directory (tests, the CLI) for [`Registry::verify`].
    pub fn with_directory(mut self, directory: crate::directory::Directory) -> Self {
        self.directory = directory;
        self
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Verify a compact JWS against every provider whose issuer matches its `iss`, with the
    /// in-memory directory (empty unless [`Registry::with_directory`] gave one).
    pub fn verify(&self, token: &str, opts: &VerifyOptions) -> Result<Identity, VerifyError> {
        self.verify_with_directory(token, opts, &mut |provider, key| Ok(Some(self.directory.lookup(provider, key))))
    }

    /// Verify a compact JWS, asking `directory` what the provider's directory says about the
    /// identity (`None`: it has no directory): a deprovisioned user is refused, an active one
    /// gets its groups.
    pub fn verify_with_directory(
        &self,
        token: &str,
        opts: &VerifyOptions,
        directory: &mut DirectoryLookup<'_>,
    ) -> Result<Identity, VerifyError> {
        let tok = token::parse(token, opts.max_token_bytes)?;
        let header = Members::parse(&tok.header_json, "header")?;
        let claims = Members::parse(&tok.payload_json, "payload")?;
        let alg = header_alg(&header)?;
        let kid = header.get("kid").and_then(raw_str);
        let iss = match claims.get("iss") {
            None => return Err(VerifyError::new(ErrorCode::MissingClaim, "JWT has no iss claim")),
            Some(raw) => raw_str(raw)
                .ok_or_else(|| VerifyError::new(ErrorCode::InvalidClaim, "JWT iss claim is not a string"))?,
        };
        let mut best: Option<VerifyError> = None;
        let mut any = false;
        for p in self.providers.iter().filter(|p| p.issuer == iss.as_ref()) {
            any = true;
            match verify_with(p, &tok, kid.as_deref(), &claims, alg, opts) {
                // The verified payload moves into the identity: no copy.
                Ok(m) => {
                    drop(claims);
                    let mut identity = m.into_identity(p, tok.payload_json);
                    self.revocations.check(&identity)?;
                    if let Some(key) = &identity.directory_key {
                        if let Some(rec) = directory(&p.name, key)? {
                            rec.check(&identity)?;
                            identity.groups = rec.groups;
                        }
                    }
                    return Ok(identity);
                }
                Err(e) => {
                    if best.as_ref().is_none_or(|b| e.code.stage() > b.code.stage()) {
                        best = Some(e);
                    }
                }
            }
        }
        if !any {
            return Err(VerifyError::new(
                ErrorCode::UnknownIssuer,
                format!("no provider is registered for issuer {}", quote(&iss)),
            ));
        }
        Err(best.expect("at least one provider was tried"))
    }
}

fn header_alg(header: &Members<'_>) -> Result<Alg, VerifyError> {
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
    if header.get("kid").is_some_and(|k| json_type(k) != "string") {
        return Err(VerifyError::new(ErrorCode::Malformed, "JWT header kid is not a string"));
    }
    Ok(alg)
}

/// What a provider's claim mapping found in a verified payload.
struct Mapped {
    user_id: String,
    email: Option<String>,
    tenant: Option<String>,
    role: Option<String>,
    exp: f64,
    iat: Option<f64>,
    sid: Option<String>,
    directory_key: Option<DirectoryKey>,
}

impl Mapped {
    fn into_identity(self, p: &Provider, payload: String) -> Identity {
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

fn verify_with(
    p: &Provider,
    tok: &Token<'_>,
    kid: Option<&str>,
    claims: &Members<'_>,
    alg: Alg,
    opts: &VerifyOptions,
) -> Result<Mapped, VerifyError> {
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
        Some(raw) if json_type(raw) == "number" => match raw.get().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(VerifyError::new(ErrorCode::InvalidClaim, format!("JWT {name} claim is not a valid NumericDate"))),
        },
        Some(raw) => Err(VerifyError::new(
            ErrorCode::InvalidClaim,
            format!("JWT {name} claim must be a NumericDate (a number of seconds), not a {}", json_type(raw)),
        )),
    }
}

fn check_claims(p: &Provider, claims: &Members<'_>, opts: &VerifyOptions) -> Result<Mapped, VerifyError> {
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
    if !p.audience.is_empty() {
        let matches = match claims.get("aud").map(|raw| (raw, json_type(raw))) {
            None => {
                return Err(VerifyError::new(
                    ErrorCode::InvalidAudience,
                    format!("JWT has no aud claim, and provider \"{}\" requires an audience", p.name),
                ))
            }
            Some((raw, "string")) => {
                let s = raw_str(raw).unwrap_or_default();
                p.audience.iter().any(|a| *a == s)
            }
            Some((raw, "array")) => {
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
                items.iter().any(|x| p.audience.iter().any(|a| x == a))
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
                format!("JWT audience does not match provider \"{}\"", p.name),
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
    let directory_key = match p.directory_match {
        // An email identifies a directory user only when the provider says it verified it.
        DirectoryField::Email => email
            .as_ref()
            .filter(|_| claims.get("email_verified").is_some_and(|v| v.get() == "true"))
            .map(|e| DirectoryKey { field: DirectoryField::Email, value: email_key(e) }),
        field => match &p.directory_claim {
            Some(c) => claims.get(c).and_then(raw_str).filter(|v| !v.is_empty()).map(|v| v.into_owned()),
            None => Some(user_id.clone()),
        }
        .map(|value| DirectoryKey { field, value }),
    };
    Ok(Mapped {
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
