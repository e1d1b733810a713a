//! WorkOS webhooks: the `WorkOS-Signature` header that signs each directory-sync event (an HTTP
//! concern of the webhook endpoint, not JWT verification).

use aws_lc_rs::hmac;

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
}
