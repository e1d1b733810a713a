//! Directory sync (WorkOS SCIM events): the webhook signature, and what the directory says about
//! a verified identity (deprovisioned or not, and its groups).

use std::collections::HashMap;

use aws_lc_rs::hmac;

use crate::error::{ErrorCode, VerifyError};
use crate::verify::Identity;

/// How far a webhook's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// Check a `WorkOS-Signature` header (`t=<ms>, v1=<hex HMAC-SHA256 of "<t>.<body>">`) against
/// the webhook secret. `now_ms` is the current time in milliseconds since the epoch.
pub fn verify_webhook_signature(header: &str, body: &str, secret: &[u8], now_ms: i64) -> Result<(), String> {
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
    if (now_ms - t_ms).abs() > SIGNATURE_TOLERANCE_MS {
        return Err("the signature timestamp is more than 5 minutes from now (a replayed or delayed webhook)".into());
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let message = format!("{t}.{body}");
    let ok = signatures.iter().any(|sig| hex_decode(sig).is_some_and(|tag| hmac::verify(&key, message.as_bytes(), &tag).is_ok()));
    if ok {
        Ok(())
    } else {
        Err("the signature does not match the body and the provider's webhook_secret".into())
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// What the directory says about users, per provider. Keys are `email:<lowercased email>` and
/// `id:<directory user id>`.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    /// provider -> key -> (active, directory user id)
    users: HashMap<String, HashMap<String, (bool, String)>>,
    /// provider -> directory user id -> group ids
    groups: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Directory {
    /// Record a directory user (its state `active` or anything else, e.g. `inactive`, `deleted`).
    pub fn add_user(&mut self, provider: &str, id: &str, email: Option<&str>, active: bool) {
        let users = self.users.entry(provider.to_string()).or_default();
        users.insert(format!("id:{id}"), (active, id.to_string()));
        if let Some(e) = email {
            users.insert(format!("email:{}", e.to_lowercase()), (active, id.to_string()));
        }
    }

    pub fn add_membership(&mut self, provider: &str, user_id: &str, group_id: &str) {
        self.groups
            .entry(provider.to_string())
            .or_default()
            .entry(user_id.to_string())
            .or_default()
            .push(group_id.to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn user(&self, id: &Identity) -> Option<&(bool, String)> {
        self.users.get(&id.provider)?.get(id.directory_key.as_ref()?)
    }

    /// `deprovisioned` when the identity matches a directory user who is not active.
    pub fn check(&self, id: &Identity) -> Result<(), VerifyError> {
        if self.is_empty() {
            return Ok(());
        }
        match self.user(id) {
            Some((false, _)) => Err(VerifyError::new(
                ErrorCode::Deprovisioned,
                format!("user {} was deprovisioned by the directory of provider \"{}\"", crate::verify::quote_value(&id.user_id), id.provider),
            )),
            _ => Ok(()),
        }
    }

    /// The directory groups of the identity's directory user (empty when it matches none).
    pub fn groups(&self, id: &Identity) -> Vec<String> {
        match self.user(id) {
            Some((true, user_id)) => {
                let mut g = self.groups.get(&id.provider).and_then(|g| g.get(user_id)).cloned().unwrap_or_default();
                g.sort();
                g
            }
            _ => Vec::new(),
        }
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
        assert!(verify_webhook_signature(&sign(now - 6 * 60_000, body, secret), body, secret, now).unwrap_err().contains("5 minutes"));
        assert!(verify_webhook_signature(&sign(now, body, secret), &body.replace("created", "deleted"), secret, now).is_err());
        assert!(verify_webhook_signature(&sign(now, body, b"another_secret_value"), body, secret, now).is_err());
        for bad in ["", "t=abc, v1=00", "v1=00", "t=1800000000000", "t=1800000000000, v1=zz"] {
            assert!(verify_webhook_signature(bad, body, secret, now).is_err(), "{bad}");
        }
    }
}
