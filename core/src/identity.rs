//! A verified identity, and the JSON shapes `idp.verify_jwt()` and `idp.identity()` answer.

use serde_json::{json, Map, Value};

use crate::directory::DirectoryKey;
use crate::error::VerifyError;
use crate::token;

/// A verified identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// The provider that verified the token.
    pub provider: String,
    /// The mapped user id.
    pub user_id: String,
    /// The mapped email.
    pub email: Option<String>,
    /// The mapped tenant.
    pub tenant: Option<String>,
    /// The mapped role, with its default.
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
    pub(crate) payload: String,
    pub(crate) claims: std::cell::OnceCell<Result<Map<String, Value>, VerifyError>>,
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
