//! The one error type of pg_idp's verifier, with stable machine-readable codes.
//!
//! Codes are part of the public contract: they appear in `idp.verify_jwt()`'s `error` field and
//! in the DETAIL of raised errors. Messages name the reason (and, where it helps, the provider and
//! key id) but never contain the token, a secret or key material.

use std::fmt;

/// Stable error codes. Never rename a code; add new ones at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Not a well-formed compact JWS (segments, base64url, JSON, whitespace).
    Malformed,
    /// Longer than the size limit, refused before parsing.
    TokenTooLarge,
    /// An `alg` pg_idp does not verify (`none` among them).
    UnsupportedAlgorithm,
    /// An algorithm the provider or the key does not allow.
    AlgorithmNotAllowed,
    /// No provider is registered for the `iss`.
    UnknownIssuer,
    /// The provider has no key with that `kid`.
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// Past `exp` (plus the leeway).
    Expired,
    /// Before `nbf` (minus the leeway).
    NotYetValid,
    /// An `iat` in the future (beyond the leeway).
    IssuedInFuture,
    /// No `aud`, or none of the provider's audiences.
    InvalidAudience,
    /// A claim of the wrong type (`exp` not a number, say).
    InvalidClaim,
    /// A required claim is missing (`exp`, `iss`, the user id, `required_claims`).
    MissingClaim,
    /// A `crit` header, which pg_idp understands none of.
    UnsupportedCriticalHeader,
    /// The user or the session was revoked.
    Revoked,
    /// The provider's directory says the user is not active.
    Deprovisioned,
    /// The provider has no keys yet (registered without fetching them).
    NoKeys,
    /// A login (PostgreSQL 18's OAuth validator): the token is good, but it may not become the
    /// database role asked for.
    RoleNotAllowed,
    /// A login: what validation needs (the login snapshot of the database) cannot be read.
    RegistryUnavailable,
    /// A login: the token's `iss` is not the issuer the pg_hba.conf line names.
    IssuerMismatch,
    /// A login: the token lacks a scope the pg_hba.conf line names (RFC 6750's
    /// `insufficient_scope`).
    InsufficientScope,
}

impl ErrorCode {
    /// Every code a token's verification can give, in declaration order (the login-only codes
    /// are in [`ErrorCode::LOGIN`]).
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::Malformed,
        ErrorCode::TokenTooLarge,
        ErrorCode::UnsupportedAlgorithm,
        ErrorCode::AlgorithmNotAllowed,
        ErrorCode::UnknownIssuer,
        ErrorCode::UnknownKey,
        ErrorCode::InvalidSignature,
        ErrorCode::Expired,
        ErrorCode::NotYetValid,
        ErrorCode::IssuedInFuture,
        ErrorCode::InvalidAudience,
        ErrorCode::InvalidClaim,
        ErrorCode::MissingClaim,
        ErrorCode::UnsupportedCriticalHeader,
        ErrorCode::Revoked,
        ErrorCode::Deprovisioned,
        ErrorCode::NoKeys,
    ];

    /// The codes only a login gives (PostgreSQL 18's OAuth validator).
    pub const LOGIN: [ErrorCode; 4] = [
        ErrorCode::RoleNotAllowed,
        ErrorCode::RegistryUnavailable,
        ErrorCode::IssuerMismatch,
        ErrorCode::InsufficientScope,
    ];

    /// The stable code, as in `verify_jwt()` answers and error DETAILs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TokenTooLarge => "token_too_large",
            ErrorCode::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorCode::AlgorithmNotAllowed => "algorithm_not_allowed",
            ErrorCode::UnknownIssuer => "unknown_issuer",
            ErrorCode::UnknownKey => "unknown_key",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::Expired => "expired",
            ErrorCode::NotYetValid => "not_yet_valid",
            ErrorCode::IssuedInFuture => "issued_in_future",
            ErrorCode::InvalidAudience => "invalid_audience",
            ErrorCode::InvalidClaim => "invalid_claim",
            ErrorCode::MissingClaim => "missing_claim",
            ErrorCode::UnsupportedCriticalHeader => "unsupported_critical_header",
            ErrorCode::Revoked => "revoked",
            ErrorCode::Deprovisioned => "deprovisioned",
            ErrorCode::NoKeys => "no_keys",
            ErrorCode::RoleNotAllowed => "role_not_allowed",
            ErrorCode::RegistryUnavailable => "registry_unavailable",
            ErrorCode::IssuerMismatch => "issuer_mismatch",
            ErrorCode::InsufficientScope => "insufficient_scope",
        }
    }

    /// How far verification got before failing. When several providers share an issuer, the
    /// error reported is the one from the provider that got furthest.
    pub(crate) fn stage(self) -> u8 {
        match self {
            ErrorCode::Malformed
            | ErrorCode::TokenTooLarge
            | ErrorCode::UnsupportedAlgorithm
            | ErrorCode::UnsupportedCriticalHeader
            | ErrorCode::UnknownIssuer
            | ErrorCode::RegistryUnavailable
            | ErrorCode::IssuerMismatch => 0,
            ErrorCode::AlgorithmNotAllowed => 1,
            ErrorCode::UnknownKey | ErrorCode::NoKeys => 2,
            ErrorCode::InvalidSignature => 3,
            _ => 4,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Why, as a stable code.
    pub code: ErrorCode,
    /// Why, in words: never the token or a secret.
    pub message: String,
    /// The provider the error is about: the one that got furthest with a token whose `iss` is
    /// registered (`unknown_key`, `no_keys`: whose keys to refresh); `None` before a provider is
    /// found (`malformed`, `unknown_issuer`, ...).
    pub provider: Option<String>,
}

impl VerifyError {
    /// An error with its code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        VerifyError { code, message: message.into(), provider: None }
    }

    /// The same error, about `provider`.
    pub fn for_provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_string());
        self
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for VerifyError {}

/// A provider configuration or key set that cannot be used. `field` names the offending field
/// (e.g. `issuer`, `claim_mapping.email`, `jwks.keys[1]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field (`issuer`, `jwks.keys[1]`).
    pub field: String,
    /// What is wrong with it: never the value, which may be a secret.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// At most this many characters of a token-controlled string are quoted in a message.
const QUOTE_MAX: usize = 100;

/// A token-controlled string for a message or a log line: escaped, quoted, and cut at 100
/// characters (an ellipsis marks the cut).
pub fn quote(s: &str) -> String {
    let mut q: String = s.chars().take(QUOTE_MAX).collect::<String>().escape_default().to_string();
    if s.chars().count() > QUOTE_MAX {
        q.push('…');
    }
    format!("\"{q}\"")
}
