use pg_idp_core::error_json;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::request::verify_token;

/// Verify any token against the registry. Never raises for a bad token: returns
/// `{"valid": false, "error": code, "message": reason}` instead.
#[pg_extern(stable, parallel_safe)]
fn verify_jwt(token: &str) -> JsonB {
    JsonB(match verify_token(token.trim()) {
        Ok(id) => id.to_json(),
        Err(e) => error_json(&e),
    })
}

/// This backend's cache of verified tokens: `{"entries": n, "capacity": idp.cache_size,
/// "verifications": full verifications done since the backend started}`.
#[pg_extern(volatile)]
fn cache_stats() -> JsonB {
    let (entries, capacity, verifications) = crate::request::cache_stats();
    JsonB(serde_json::json!({"entries": entries, "capacity": capacity, "verifications": verifications}))
}
