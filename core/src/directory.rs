//! Directory sync (WorkOS SCIM events): the webhook signature, how a token is matched to a
//! directory user, and what the directory says about a verified identity (deprovisioned or not,
//! and its groups).

use aws_lc_rs::hmac;

use crate::error::{ErrorCode, VerifyError};
use crate::verify::Identity;

/// How far a webhook's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// Check a `WorkOS-Signature` header (`t=<ms>, v1=<hex HMAC-SHA256 of "<t>.<body>">`) against
/// the webhook secret. `now_ms` is the current time in milliseconds since the epoch. Returns the
/// signed timestamp (ms), which orders events that carry no `created_at` of their own.
pub fn verify_webhook_signature(header: &str, body: &str, secret: &[u8], now_ms: i64) -> Result<i64, String> {
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<&str> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => timestamp = Some(v.trim()),
            Some(("v1", v)) => signatures.push(v.trim()),
            _ => {}
        }
    }
    let t = timestamp.ok_or("the signature has no timestamp (t=)")?;
    let t_ms: i64 = t.parse().map_err(|_| "the signature timestamp is not a number")?;
    if signatures.is_empty() {
        return Err("the signature has no v1= value".into());
    }
    // Checked: a timestamp near i64::MIN or MAX must not wrap around into the window.
    if now_ms.checked_sub(t_ms).is_none_or(|d| d.checked_abs().is_none_or(|d| d > SIGNATURE_TOLERANCE_MS)) {
        return Err("the signature timestamp is more than 5 minutes from now (a replayed or delayed webhook)".into());
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let message = format!("{t}.{body}");
    let ok = signatures
        .iter()
        .any(|sig| hex_decode(sig).is_some_and(|tag| hmac::verify(&key, message.as_bytes(), &tag).is_ok()));
    if ok {
        Ok(t_ms)
    } else {
        Err("the signature does not match the body and the provider's webhook_secret".into())
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Which directory-user field a token is matched against (`directory_match` in the provider
/// config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectoryField {
    /// The directory user's `id` (WorkOS `directory_user_…`): the default.
    Id,
    /// The directory user's `idp_id` (the id the customer's identity provider gave the user).
    IdpId,
    /// The directory user's email, folded with [`email_key`]; only for tokens whose
    /// `email_verified` claim is `true`.
    Email,
}

impl DirectoryField {
    /// As written in the config.
    pub fn parse(s: &str) -> Option<DirectoryField> {
        match s {
            "id" => Some(DirectoryField::Id),
            "idp_id" => Some(DirectoryField::IdpId),
            "email" => Some(DirectoryField::Email),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DirectoryField::Id => "id",
            DirectoryField::IdpId => "idp_id",
            DirectoryField::Email => "email",
        }
    }
}

/// What a verified identity is known by in its provider's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryKey {
    pub field: DirectoryField,
    /// The id as the token gives it, or the folded email.
    pub value: String,
}

/// The one case folding of emails, used both for the directory's stored emails (through the SQL
/// function `idp._email_key`) and for a token's email: Unicode lowercasing (locale-independent,
/// so `İ` and a final `Σ` fold the same way in every database) of the trimmed address.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What the directory says about one identity: every directory user that matched its key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryRecord {
    /// Whether any matching directory user is active.
    pub active: bool,
    /// How many directory users matched (0: the directory does not know the identity).
    pub matches: usize,
    /// The groups of the active matching users, sorted, without duplicates.
    pub groups: Vec<String>,
}

impl DirectoryRecord {
    /// `deprovisioned` when the directory knows the identity and none of its users is active.
    pub fn check(&self, id: &Identity) -> Result<(), VerifyError> {
        if self.matches > 0 && !self.active {
            return Err(VerifyError::new(
                ErrorCode::Deprovisioned,
                format!(
                    "user {} was deprovisioned by the directory of provider \"{}\"",
                    crate::verify::quote_value(&id.user_id),
                    id.provider
                ),
            ));
        }
        Ok(())
    }
}

/// One user of an in-memory [`Directory`].
#[derive(Clone, Debug)]
struct DirectoryUser {
    id: String,
    idp_id: Option<String>,
    email_key: Option<String>,
    active: bool,
}

/// An in-memory directory (for tests and the CLI; the extension looks users up in its tables
/// instead, one identity at a time).
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// provider -> its users
    users: std::collections::HashMap<String, Vec<DirectoryUser>>,
    /// provider -> (directory user id, group id)
    memberships: std::collections::HashMap<String, Vec<(String, String)>>,
}

impl Directory {
    /// Record a directory user (active or not).
    pub fn add_user(&mut self, provider: &str, id: &str, idp_id: Option<&str>, email: Option<&str>, active: bool) {
        self.users.entry(provider.to_string()).or_default().push(DirectoryUser {
            id: id.to_string(),
            idp_id: idp_id.map(str::to_string),
            email_key: email.map(email_key),
            active,
        });
    }

    pub fn add_membership(&mut self, provider: &str, user_id: &str, group_id: &str) {
        self.memberships.entry(provider.to_string()).or_default().push((user_id.to_string(), group_id.to_string()));
    }

    /// What the directory says about the users matching `key` in `provider`'s directory.
    pub fn lookup(&self, provider: &str, key: &DirectoryKey) -> DirectoryRecord {
        let mut rec = DirectoryRecord::default();
        for user in self.users.get(provider).into_iter().flatten() {
            let field = match key.field {
                DirectoryField::Id => Some(&user.id),
                DirectoryField::IdpId => user.idp_id.as_ref(),
                DirectoryField::Email => user.email_key.as_ref(),
            };
            if field != Some(&key.value) {
                continue;
            }
            rec.matches += 1;
            if user.active {
                rec.active = true;
                for (u, g) in self.memberships.get(provider).into_iter().flatten() {
                    if *u == user.id {
                        rec.groups.push(g.clone());
                    }
                }
            }
        }
        rec.groups.sort();
        rec.groups.dedup();
        rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(t: i64, body: &str, secret: &[u8]) -> String {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), format!("{t}.{body}").as_bytes());
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("t={t}, v1={hex}")
    }

    #[test]
    fn webhook_signatures() {
        let secret = b"whsec_0123456789abcdef";
        let body = r#"{"id":"event_1","event":"dsync.user.created","data":{}}"#;
        let now = 1_800_000_000_000;
        assert!(verify_webhook_signature(&sign(now, body, secret), body, secret, now).is_ok());
        assert!(verify_webhook_signature(&sign(now - 60_000, body, secret), body, secret, now).is_ok());
        // Stale, tampered, wrong secret, garbage.
        assert!(verify_webhook_signature(&sign(now - 6 * 60_000, body, secret), body, secret, now)
            .unwrap_err()
            .contains("5 minutes"));
        assert!(verify_webhook_signature(&sign(now, body, secret), &body.replace("created", "deleted"), secret, now)
            .is_err());
        assert!(verify_webhook_signature(&sign(now, body, b"another_secret_value"), body, secret, now).is_err());
        for bad in ["", "t=abc, v1=00", "v1=00", "t=1800000000000", "t=1800000000000, v1=zz"] {
            assert!(verify_webhook_signature(bad, body, secret, now).is_err(), "{bad}");
        }
        assert_eq!(verify_webhook_signature(&sign(now - 1000, body, secret), body, secret, now), Ok(now - 1000));
    }

    #[test]
    fn webhook_timestamps_far_from_now_never_wrap_into_the_window() {
        // now - 2^63 ms overflowed (now_ms - t_ms).abs() in 0.2.0 and was accepted some of the time.
        let secret = b"whsec_0123456789abcdef";
        let body = r#"{"event":"dsync.user.created","data":{}}"#;
        let now: i64 = 1_800_000_000_000;
        for t in [now.wrapping_sub(i64::MIN), i64::MIN, i64::MIN + 1, i64::MAX, -now] {
            let e = verify_webhook_signature(&sign(t, body, secret), body, secret, now).unwrap_err();
            assert!(e.contains("5 minutes"), "{t}: {e}");
        }
    }

    #[test]
    fn emails_fold_one_way_whatever_the_database_locale() {
        assert_eq!(email_key(" Jane@Acme.COM "), "jane@acme.com");
        assert_eq!(email_key("İlker@Acme.com"), email_key("i\u{307}lker@acme.com"));
        assert_eq!(email_key("ΟΔΥΣ@acme.com"), email_key("οδυς@acme.com"));
        assert_ne!(email_key("ilker@acme.com"), email_key("İlker@acme.com"));
    }
}
