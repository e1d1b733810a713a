//! Changing the registry. Owner/superuser only (EXECUTE is revoked from PUBLIC). Every change is
//! seen by this backend at once and by every other backend from its next transaction.

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::registry::{cache, directory, register, store};

/// Register (or replace) a provider from its config; returns its name. A config with a
/// `jwks_uri` and neither `jwks` nor `secret` (each guide's body as written) has its key set
/// fetched now, with the rules of `refresh_jwks`: all or nothing, and nothing is registered when
/// the fetch fails. With `fetch_keys => false` it is registered without keys; its tokens fail
/// `no_keys` until the refresh worker or `refresh_jwks` brings them.
#[pg_extern(volatile, name = "register_provider")]
fn register_provider_fetch(config: JsonB, fetch_keys: default!(bool, true)) -> String {
    register::register(config.0, fetch_keys)
}

/// Replace a provider's JWKS (key rotation); returns the number of keys now registered.
#[pg_extern(volatile)]
fn set_jwks(provider: &str, jwks: JsonB) -> i32 {
    register::set_jwks(provider, jwks.0)
}

/// Fetch the provider's `jwks_uri` and replace its keys with what it serves, all or nothing:
/// a failed, oversized, slow or unusable answer leaves the current keys as they are. Returns
/// the number of keys loaded.
#[pg_extern(volatile)]
fn refresh_jwks(provider: &str) -> i32 {
    register::refresh_jwks(provider)
}

/// OpenID Connect discovery: read `<issuer>/.well-known/openid-configuration`, check that it
/// names exactly this issuer, then register (or update) `provider` with its `jwks_uri` and the
/// keys found there. `extra` adds config fields (audience, claim_mapping, ...). Returns the
/// number of keys loaded.
#[pg_extern(volatile)]
fn discover(issuer: &str, provider: &str, extra: default!(JsonB, "'{}'")) -> i32 {
    register::discover(issuer, provider, extra.0)
}

/// Remove a provider; true if it existed.
#[pg_extern(volatile)]
fn unregister_provider(name: &str) -> bool {
    store::remove(name)
}

/// The one case folding of emails (`pg_idp_core::directory::email_key`), for the directory's
/// stored emails: the same folding as a token's email, whatever the database's locale.
#[pg_extern(immutable, strict, parallel_safe)]
fn _email_key(email: &str) -> String {
    pg_idp_core::directory::email_key(email)
}

/// The registry table's trigger: tell every backend (at commit) that the registry changed.
#[pg_extern(volatile)]
fn _registry_changed(relid: pg_sys::Oid) {
    cache::broadcast_change(relid);
}

/// Check a WorkOS webhook's `WorkOS-Signature` header against the body and the provider's
/// webhook secret (5 minutes tolerance); returns when it was signed. Raises 28000
/// `invalid_webhook_signature` otherwise. Called by `idp.apply_directory_event` (SQL), so that the
/// event's own errors are raised by SQL directly.
#[pg_extern(volatile, strict)]
fn _verify_webhook_signature(secret: &str, body: &str, signature: &str) -> pgrx::datum::TimestampWithTimeZone {
    let signed_ms = directory::webhook_signed_at(secret, body, signature);
    // TimestampTz counts microseconds from 2000-01-01; within 5 minutes of now, so in range.
    pgrx::datum::TimestampWithTimeZone::try_from((signed_ms - 946_684_800_000) * 1000)
        .unwrap_or_else(|_| crate::pg::errors::raise_webhook("the signature timestamp is out of range"))
}
