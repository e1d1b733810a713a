//! The one error type of pg_idp's verifier, with stable machine-readable codes.
//!
//! Codes are part of the public contract: they appear in `idp.verify_jwt()`'s `error` field and
//! in the DETAIL of raised errors. Messages name the reason (and, where it helps, the provider and
//! key id) but never contain the token, a secret or key material.

use std::fmt;

/// Stable error codes. Never rename a code; add new ones at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Malformed,
    TokenTooLarge,
    UnsupportedAlgorithm,
    AlgorithmNotAllowed,
    UnknownIssuer,
    UnknownKey,
    InvalidSignature,
    Expired,
    NotYetValid,
    IssuedInFuture,
    InvalidAudience,
    InvalidClaim,
    MissingClaim,
    UnsupportedCriticalHeader,
    Revoked,
    Deprovisioned,
    NoKeys,
}

impl ErrorCode {
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
            | ErrorCode::UnknownIssuer => 0,
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
    pub code: ErrorCode,
    pub message: String,
    /// The provider the error is about, when there is one (`unknown_key`, `no_keys`: whose keys
    /// to refresh).
    pub provider: Option<String>,
}

impl VerifyError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        VerifyError { code, message: message.into(), provider: None }
    }

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
    pub field: String,
    pub message: String,
}

impl ConfigError {
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
