//! Revoked users and sessions, by issuer.

use crate::error::{quote, ErrorCode, VerifyError};
use crate::identity::Identity;

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

    /// Every token of `issuer` carrying this `sid` fails.
    pub fn revoke_session(&mut self, issuer: &str, sid: &str) {
        self.sessions.entry(issuer.to_string()).or_default().insert(sid.to_string());
    }

    /// Whether nothing is revoked.
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
