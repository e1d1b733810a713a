//! Changing the registry. Owner/superuser only (EXECUTE is revoked from PUBLIC). Every change is
//! seen by this backend at once and by every other backend from its next transaction.

use pg_idp_core::{parse_provider, Provider};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use crate::errors::{raise_internal, raise_invalid_config, raise_unknown_provider};
use crate::registry;

/// A registry change in a read-only transaction, or on a hot standby, is SQLSTATE 25006 like any
/// other write (rather than an internal error from assigning a transaction id during recovery).
fn ensure_writable(what: &std::ffi::CStr) {
    // SAFETY: raises an ERROR (caught by pg_guard) when the transaction is read-only.
    unsafe { pg_sys::PreventCommandIfReadOnly(what.as_ptr()) }
}

fn store(provider: &Provider, config: Value) {
    let algorithms: Vec<String> = provider.algorithms.iter().map(|a| a.name().to_string()).collect();
    let key_ids: Vec<String> = provider.key_ids().into_iter().map(str::to_string).collect();
    let result = Spi::run_with_args(
        "INSERT INTO idp.provider_registry AS r \
                (name, issuer, audience, algorithms, key_ids, has_secret, config) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (name) DO UPDATE SET issuer = EXCLUDED.issuer, audience = EXCLUDED.audience, \
             algorithms = EXCLUDED.algorithms, key_ids = EXCLUDED.key_ids, \
             has_secret = EXCLUDED.has_secret, config = EXCLUDED.config, updated_at = pg_catalog.now()",
        &[
            provider.name.clone().into(),
            provider.issuer.clone().into(),
            provider.audience.clone().into(),
            algorithms.into(),
            key_ids.into(),
            provider.has_secret().into(),
            JsonB(config).into(),
        ],
    );
    if let Err(e) = result {
        raise_internal(format!("cannot store provider \"{}\": {e}", provider.name));
    }
    registry::invalidate();
}

/// Register (or replace) a provider from its config; returns its name.
#[pg_extern(volatile)]
fn register_provider(config: JsonB) -> String {
    ensure_writable(c"idp.register_provider()");
    let provider = parse_provider(&config.0).unwrap_or_else(|e| raise_invalid_config(&e));
    store(&provider, config.0);
    provider.name
}

/// Replace a provider's JWKS (key rotation); returns the number of keys now registered.
#[pg_extern(volatile)]
fn set_jwks(provider: &str, jwks: JsonB) -> i32 {
    ensure_writable(c"idp.set_jwks()");
    let stored = Spi::get_one_with_args::<JsonB>(
        "SELECT config FROM idp.provider_registry WHERE name OPERATOR(pg_catalog.=) $1",
        &[provider.into()],
    );
    let mut config = match stored {
        Ok(Some(c)) => c.0,
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => raise_unknown_provider(provider),
        Err(e) => raise_internal(format!("cannot read provider \"{provider}\": {e}")),
    };
    config["jwks"] = jwks.0;
    let parsed = parse_provider(&config).unwrap_or_else(|e| raise_invalid_config(&e));
    let n = parsed.keys.iter().filter(|k| !k.is_provider_secret).count() as i32;
    store(&parsed, config);
    n
}

/// Remove a provider; true if it existed.
#[pg_extern(volatile)]
fn unregister_provider(name: &str) -> bool {
    ensure_writable(c"idp.unregister_provider()");
    // In a CTE, so the DELETE runs to completion and its statement trigger (which tells every
    // backend) fires; a plain DELETE ... RETURNING read with a row limit stops before that.
    let deleted = Spi::get_one_with_args::<i64>(
        "WITH d AS (DELETE FROM idp.provider_registry WHERE name OPERATOR(pg_catalog.=) $1 RETURNING 1) \
         SELECT pg_catalog.count(*) FROM d",
        &[name.into()],
    );
    registry::invalidate();
    match deleted {
        Ok(Some(n)) => n > 0,
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => false,
        Err(e) => raise_internal(format!("cannot remove provider \"{name}\": {e}")),
    }
}

/// The registry table's trigger: tell every backend (at commit) that the registry changed.
#[pg_extern(volatile)]
fn _registry_changed(relid: pg_sys::Oid) {
    registry::broadcast_change(relid);
}
