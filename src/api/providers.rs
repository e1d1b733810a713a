use pg_idp_core::parse_provider;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::errors::{raise_internal, raise_invalid_config};
use crate::registry;

/// Register (or replace) a provider from its config; returns its name. Owner/superuser only.
#[pg_extern(volatile)]
fn register_provider(config: JsonB) -> String {
    let provider = parse_provider(&config.0).unwrap_or_else(|e| raise_invalid_config(&e));
    let result = Spi::run_with_args(
        "INSERT INTO idp.provider_registry (name, issuer, config) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE \
         SET issuer = EXCLUDED.issuer, config = EXCLUDED.config, updated_at = pg_catalog.now()",
        &[provider.name.clone().into(), provider.issuer.clone().into(), config.into()],
    );
    if let Err(e) = result {
        raise_internal(format!("cannot store provider \"{}\": {e}", provider.name));
    }
    registry::invalidate();
    provider.name
}
