//! Registering providers: a config validated, its key set fetched when asked (all or nothing:
//! nothing is stored when the fetch fails), then stored; a key set replaced, refreshed from its
//! `jwks_uri`, or found through OpenID Connect discovery. What `api/providers.rs` exposes as SQL
//! functions (owner and superuser only).

use pg_idp_core::parse_provider;
use serde_json::Value;

use super::store::{ensure_writable, store, stored_config, try_store};
use crate::pg::errors::{
    raise_invalid_argument, raise_invalid_config, raise_invalid_config_hint, raise_invalid_response,
    raise_unknown_provider,
};

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
    match super::fetch::fetch_json(url) {
        Ok((v, _)) => v,
        Err(e) => {
            crate::shmem::stats::refresh_failed(provider, e.code(), &e.describe(what, url));
            e.raise(what, url)
        }
    }
}

/// Replace a provider's JWKS (key rotation); returns the number of keys now registered.
pub(crate) fn set_jwks(provider: &str, jwks: Value) -> i32 {
    ensure_writable(c"idp.set_jwks()");
    let mut config = stored_config(provider).unwrap_or_else(|| raise_unknown_provider(provider));
    config["jwks"] = jwks;
    try_store(config).unwrap_or_else(|e| raise_invalid_config(&e))
}

/// Fetch the provider's `jwks_uri` and replace its keys with what it serves, all or nothing:
/// a failed, oversized, slow or unusable answer leaves the current keys as they are. Returns
/// the number of keys loaded.
pub(crate) fn refresh_jwks(provider: &str) -> i32 {
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
/// keys found there, `extra` added to its config. Returns the number of keys loaded.
pub(crate) fn discover(issuer: &str, provider: &str, extra: Value) -> i32 {
    ensure_writable(c"idp.discover()");
    let Value::Object(extra) = extra else {
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
    if let Err(e) = super::fetch::check_url(&jwks_uri) {
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
