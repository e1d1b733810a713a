use pgrx::prelude::*;
use pgrx::JsonB;

use crate::pg::jsonb::{object, Jsonb, Scalar};
use crate::request::identity::verify_token;

fn opt(s: &Option<String>) -> Scalar<'_> {
    s.as_deref().map_or(Scalar::Null, Scalar::Str)
}

/// Verify any token against the registry. Never raises for a bad token: returns
/// `{"valid": false, "error": code, "message": reason}` instead. (The same shapes as
/// `Identity::to_json` and `error_json`, built directly as jsonb; keys in jsonb order.)
#[pg_extern(stable, parallel_safe)]
fn verify_jwt(token: &str) -> Jsonb {
    match verify_token(token) {
        Ok(id) => object(&[
            ("email", opt(&id.email)),
            ("valid", Scalar::Bool(true)),
            ("tenant", opt(&id.tenant)),
            ("user_id", Scalar::Str(&id.user_id)),
            ("provider", Scalar::Str(&id.provider)),
        ]),
        Err(e) => object(&[
            ("error", Scalar::Str(e.code.as_str())),
            ("valid", Scalar::Bool(false)),
            ("message", Scalar::Str(&e.message)),
        ]),
    }
}

/// This backend's cache of verified tokens: `{"entries": n, "capacity": idp.cache_size,
/// "verifications": full verifications done since the backend started}`.
#[pg_extern(volatile)]
fn cache_stats() -> JsonB {
    let (entries, capacity, verifications) = crate::request::identity::cache_stats();
    JsonB(serde_json::json!({"entries": entries, "capacity": capacity, "verifications": verifications}))
}
