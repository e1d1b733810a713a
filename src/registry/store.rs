//! Writing the registry: storing a validated provider, reading one stored config, and guarding
//! against read-only transactions. Used by the SQL functions in `api/` and by the refresh worker.

use pg_idp_core::{parse_provider, Provider};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use crate::pg::errors::raise_internal;
use crate::registry::cache;

/// A registry change in a read-only transaction, or on a hot standby, is SQLSTATE 25006 like any
/// other write (rather than an internal error from assigning a transaction id during recovery).
pub(crate) fn ensure_writable(what: &std::ffi::CStr) {
    // SAFETY: raises an ERROR (caught by pg_guard) when the transaction is read-only.
    unsafe { pg_sys::PreventCommandIfReadOnly(what.as_ptr()) }
}

/// How many keys of its JWKS a provider has (its shared secret not counted).
fn jwks_key_count(provider: &Provider) -> i32 {
    provider.keys.iter().filter(|k| !k.is_provider_secret).count() as i32
}

/// The registry's columns derived from a provider's config (for `idp.providers`): its
/// algorithms' and keys' names.
fn derived(provider: &Provider) -> (Vec<String>, Vec<String>) {
    (
        provider.algorithms.iter().map(|a| a.name().to_string()).collect(),
        provider.key_ids().into_iter().map(str::to_string).collect(),
    )
}

/// Insert or replace a validated provider with its config.
pub(crate) fn store(provider: &Provider, config: Value) {
    let (algorithms, key_ids) = derived(provider);
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
    cache::invalidate();
}

/// A registered provider's stored config (42704 when there is none).
pub(super) fn stored_config(provider: &str) -> Option<Value> {
    let stored = Spi::get_one_with_args::<JsonB>(
        "SELECT config FROM idp.provider_registry WHERE name OPERATOR(pg_catalog.=) $1",
        &[provider.into()],
    );
    match stored {
        Ok(Some(c)) => Some(c.0),
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => None,
        Err(e) => raise_internal(format!("cannot read provider \"{provider}\": {e}")),
    }
}

/// Validate and store `config`; returns the number of JWKS keys, or why the config (and so the
/// key set in it) cannot be used, in which case nothing is stored.
pub(super) fn try_store(config: Value) -> Result<i32, pg_idp_core::ConfigError> {
    let parsed = parse_provider(&config)?;
    let n = jwks_key_count(&parsed);
    store(&parsed, config);
    Ok(n)
}

/// Replace a provider's JWKS with one fetched for it, provided its stored config is still
/// `expected` (what the refresh read before fetching): a registration or `set_jwks` committed in
/// between is never overwritten with the config read before it (`Ok(None)`: left as it is; the
/// change itself starts the next refresh). Errors are returned (the job logs them, so a bad
/// answer never stops it), and the current keys stay then.
pub(crate) fn replace_jwks(provider: &str, expected: &Value, jwks: Value) -> Result<Option<i32>, String> {
    let mut config = expected.clone();
    config["jwks"] = jwks;
    let parsed = parse_provider(&config).map_err(|e| format!("{}: {}", e.field, e.message))?;
    let n = jwks_key_count(&parsed);
    let (algorithms, key_ids) = derived(&parsed);
    // Under READ COMMITTED a row changed meanwhile is re-checked against the WHERE clause once
    // its writer commits: the update then finds no row.
    let updated = Spi::connect_mut(|client| {
        client
            .update(
                "UPDATE idp.provider_registry r SET issuer = $2, audience = $3, algorithms = $4, key_ids = $5, \
                        has_secret = $6, config = $7, updated_at = pg_catalog.now() \
                  WHERE r.name OPERATOR(pg_catalog.=) $1 AND r.config OPERATOR(pg_catalog.=) $8",
                None,
                &[
                    provider.into(),
                    parsed.issuer.clone().into(),
                    parsed.audience.clone().into(),
                    algorithms.into(),
                    key_ids.into(),
                    parsed.has_secret().into(),
                    JsonB(config).into(),
                    JsonB(expected.clone()).into(),
                ],
            )
            .map(|t| t.len())
    })
    .map_err(|e| format!("cannot store the keys: {e}"))?;
    cache::invalidate();
    Ok((updated > 0).then_some(n))
}

/// Remove a provider; true if it existed.
pub(crate) fn remove(name: &str) -> bool {
    ensure_writable(c"idp.unregister_provider()");
    // In a CTE, so the DELETE runs to completion and its statement trigger (which tells every
    // backend) fires; a plain DELETE ... RETURNING read with a row limit stops before that.
    let deleted = Spi::get_one_with_args::<i64>(
        "WITH d AS (DELETE FROM idp.provider_registry WHERE name OPERATOR(pg_catalog.=) $1 RETURNING 1) \
         SELECT pg_catalog.count(*) FROM d",
        &[name.into()],
    );
    cache::invalidate();
    // A provider registered later under the same name starts without this one's refresh history
    // (its counters in idp.stats stay: they are history).
    crate::shmem::stats::forget_health(name);
    match deleted {
        Ok(Some(n)) => n > 0,
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => false,
        Err(e) => raise_internal(format!("cannot remove provider \"{name}\": {e}")),
    }
}
