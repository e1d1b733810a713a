//! Changing the registry. Owner/superuser only (EXECUTE is revoked from PUBLIC). Every change is
//! seen by this backend at once and by every other backend from its next transaction.

use pg_idp_core::parse_provider;
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use crate::pg::errors::{
    raise_internal, raise_invalid_argument, raise_invalid_config, raise_invalid_config_hint, raise_invalid_response,
    raise_unknown_provider,
};
use crate::registry::cache;
use crate::registry::store::{ensure_writable, store, stored_config, try_store};

/// Register (or replace) a provider from its config; returns its name. A config with a
/// `jwks_uri` and neither `jwks` nor `secret` (each guide's body as written) has its key set
/// fetched now, with the rules of `refresh_jwks`: all or nothing, and nothing is registered when
/// the fetch fails. With `fetch_keys => false` it is registered without keys; its tokens fail
/// `no_keys` until the refresh worker or `refresh_jwks` brings them.
#[pg_extern(volatile, name = "register_provider")]
fn register_provider_fetch(config: JsonB, fetch_keys: default!(bool, true)) -> String {
    register(config.0, fetch_keys)
}

/// `register_provider`, for the SQL entry points of every version.
pub(crate) fn register(config: Value, fetch_keys: bool) -> String {
    ensure_writable(c"idp.register_provider()");
    let provider = parse_provider(&config).unwrap_or_else(|e| raise_invalid_config(&e));
    check_new(&provider);
    if provider.keys.is_empty() && fetch_keys {
        store_with_keys_from(config, provider.jwks_uri.as_deref().unwrap_or_default());
    } else {
        store(&provider, config);
    }
    provider.name
}

/// What a new registration must have beyond a readable config (configs stored by earlier
/// versions are still read, refreshed and copied without it): a provider whose tokens log in
/// names their audience.
fn check_new(provider: &pg_idp_core::Provider) {
    if let Err(e) = pg_idp_core::login::check_registration(provider) {
        raise_invalid_config_hint(
            &e,
            "Name the API your provider issues database tokens for, e.g. \"login\": {\"audience\": \"https://db.example.com\", \"roles\": [\"app_user\"]}; login tokens for any other audience are refused.",
        );
    }
}

/// Fetch the key set at `url` into `config` and store it, all or nothing (`refresh_jwks`'s
/// rules); returns the number of keys. The outcome is kept in the provider's health
/// (`idp.provider_health`), a failure before it is raised.
fn store_with_keys_from(mut config: Value, url: &str) -> i32 {
    let name = config.get("provider").and_then(Value::as_str).unwrap_or_default().to_string();
    config["jwks"] = fetch_for(&name, "JWKS", url);
    let n = try_store(config).unwrap_or_else(|e| {
        let why = format!("JWKS at {url} cannot be used: {}: {}", e.field, e.message);
        crate::shmem::stats::refresh_failed(&name, "invalid_response", &why);
        raise_invalid_response(why)
    });
    crate::shmem::stats::refresh_succeeded(&name);
    n
}

/// `fetch_json` of a document for `provider`'s keys, as a refresh attempt of its health.
fn fetch_for(provider: &str, what: &str, url: &str) -> Value {
    crate::shmem::stats::refresh_started(provider);
    match crate::registry::fetch::fetch_json(url) {
        Ok((v, _)) => v,
        Err(e) => {
            crate::shmem::stats::refresh_failed(provider, e.code(), &e.describe(what, url));
            e.raise(what, url)
        }
    }
}

/// Replace a provider's JWKS (key rotation); returns the number of keys now registered.
#[pg_extern(volatile)]
fn set_jwks(provider: &str, jwks: JsonB) -> i32 {
    ensure_writable(c"idp.set_jwks()");
    let mut config = stored_config(provider).unwrap_or_else(|| raise_unknown_provider(provider));
    config["jwks"] = jwks.0;
    try_store(config).unwrap_or_else(|e| raise_invalid_config(&e))
}

/// Fetch the provider's `jwks_uri` and replace its keys with what it serves, all or nothing:
/// a failed, oversized, slow or unusable answer leaves the current keys as they are. Returns
/// the number of keys loaded.
#[pg_extern(volatile)]
fn refresh_jwks(provider: &str) -> i32 {
    ensure_writable(c"idp.refresh_jwks()");
    let config = stored_config(provider).unwrap_or_else(|| raise_unknown_provider(provider));
    let url = match config.get("jwks_uri").and_then(Value::as_str) {
        Some(u) => u.to_string(),
        None => raise_invalid_argument(format!(
            "provider \"{}\" has no jwks_uri to refresh from",
            provider.escape_default()
        )),
    };
    store_with_keys_from(config, &url)
}

/// OpenID Connect discovery: read `<issuer>/.well-known/openid-configuration`, check that it
/// names exactly this issuer, then register (or update) `provider` with its `jwks_uri` and the
/// keys found there. `extra` adds config fields (audience, claim_mapping, ...). Returns the
/// number of keys loaded.
#[pg_extern(volatile)]
fn discover(issuer: &str, provider: &str, extra: default!(JsonB, "'{}'")) -> i32 {
    ensure_writable(c"idp.discover()");
    let Value::Object(extra) = extra.0 else {
        raise_invalid_argument("extra must be a JSON object of provider config fields".into())
    };
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let doc = fetch_for(provider, "OpenID configuration", &url);
    let named = doc.get("issuer").and_then(Value::as_str).unwrap_or_default();
    if named != issuer {
        raise_invalid_response(format!(
            "OpenID configuration at {url} is for issuer \"{}\", not \"{}\"",
            named.escape_default(),
            issuer.escape_default()
        ));
    }
    let jwks_uri = match doc.get("jwks_uri").and_then(Value::as_str) {
        Some(u) => u.to_string(),
        None => raise_invalid_response(format!("OpenID configuration at {url} has no jwks_uri")),
    };
    if let Err(e) = crate::registry::fetch::check_url(&jwks_uri) {
        e.raise("JWKS", &jwks_uri);
    }
    let mut config = stored_config(provider).unwrap_or_else(|| serde_json::json!({}));
    for (k, v) in extra {
        config[&k] = v;
    }
    config["provider"] = Value::String(provider.to_string());
    config["issuer"] = Value::String(issuer.to_string());
    config["jwks_uri"] = Value::String(jwks_uri.clone());
    // Where the jwks_uri came from (idp.provider_health shows the keys' source as discovery).
    config["discovery_url"] = Value::String(url.clone());
    if let Ok(p) = parse_provider(&config) {
        check_new(&p);
    }
    store_with_keys_from(config, &jwks_uri)
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

/// When a webhook was signed (ms since the epoch), checked against now; raises 28000
/// `invalid_webhook_signature` when the signature does not hold.
pub(crate) fn webhook_signed_at(secret: &str, body: &str, signature: &str) -> i64 {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    pg_idp_core::webhook::verify_webhook_signature(signature, body, secret.as_bytes(), now_ms)
        .unwrap_or_else(|why| crate::pg::errors::raise_webhook(&why))
}

/// Check a WorkOS webhook's `WorkOS-Signature` header against the body and the provider's
/// webhook secret (5 minutes tolerance); returns when it was signed. Raises 28000
/// `invalid_webhook_signature` otherwise. Called by `idp.apply_directory_event` (SQL), so that the
/// event's own errors are raised by SQL directly.
#[pg_extern(volatile, strict)]
fn _verify_webhook_signature(secret: &str, body: &str, signature: &str) -> pgrx::datum::TimestampWithTimeZone {
    let signed_ms = webhook_signed_at(secret, body, signature);
    // TimestampTz counts microseconds from 2000-01-01; within 5 minutes of now, so in range.
    pgrx::datum::TimestampWithTimeZone::try_from((signed_ms - 946_684_800_000) * 1000)
        .unwrap_or_else(|_| crate::pg::errors::raise_webhook("the signature timestamp is out of range"))
}
