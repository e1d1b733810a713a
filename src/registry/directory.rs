//! The directory (WorkOS directory sync). A verified identity in its provider's directory: the
//! directory users that match its key, whether any is active, and their groups; one indexed
//! statement per identity, whose plan each backend keeps; the answer is cached with the identity.
//! And the events that change it: their signatures checked, and 0.2.0's entry point that applies
//! one (the SQL of later versions applies them itself).

use pg_idp_core::{DirectoryField, DirectoryKey, DirectoryRecord, VerifyError};
use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::Value;

use super::store::{ensure_writable, stored_config};
use crate::pg::errors::{raise_internal, raise_invalid_argument, raise_unknown_provider};
use crate::pg::spi;
use crate::registry::cache;

/// What `provider`'s directory says about the identity known by `key` (`None`: the provider has
/// no directory). One indexed lookup of the matching users and, for the active ones, their
/// groups; the caller caches the answer with the identity.
pub(crate) fn directory_record(provider: &str, key: &DirectoryKey) -> Result<Option<DirectoryRecord>, VerifyError> {
    let Some(owner) = cache::directory_of(provider) else { return Ok(None) };
    // Fixed queries, one per matching field; every operator schema-qualified. Each matching
    // user with its groups, in one statement whose plan is kept for the backend's life.
    let filter = match key.field {
        // A database still on 0.2.0's SQL (until ALTER EXTENSION pg_idp UPDATE) has no idp_id
        // or email_key columns: the same values from what it has.
        DirectoryField::IdpId if !cache::directory_has_keys() => "(u.raw OPERATOR(pg_catalog.->>) 'idp_id')",
        DirectoryField::Email if !cache::directory_has_keys() => "u.email",
        DirectoryField::Id => "u.id",
        DirectoryField::IdpId => "u.idp_id",
        DirectoryField::Email => "u.email_key",
    };
    let query = format!(
        "SELECT u.state OPERATOR(pg_catalog.=) 'active', \
                ARRAY(SELECT m.group_id FROM idp.directory_memberships m \
                       LEFT JOIN idp.directory_groups g ON g.provider OPERATOR(pg_catalog.=) m.provider \
                                                       AND g.id OPERATOR(pg_catalog.=) m.group_id \
                       WHERE m.provider OPERATOR(pg_catalog.=) u.provider \
                         AND m.user_id OPERATOR(pg_catalog.=) u.id \
                         AND m.member AND g.deleted IS NOT TRUE) \
         FROM idp.directory_users u \
         WHERE u.provider OPERATOR(pg_catalog.=) $1 AND {filter} OPERATOR(pg_catalog.=) $2"
    );
    let read = spi::as_user(owner, || {
        Spi::connect(|client| {
            let mut rec = DirectoryRecord::default();
            let args = [provider.into(), key.value.as_str().into()];
            let rows = spi::with_kept_plan(client, &query, 2, |plan| client.select(plan, None, &args))?;
            for row in rows {
                rec.matches += 1;
                if row.get::<bool>(1)?.unwrap_or(false) {
                    rec.active = true;
                    rec.groups.extend(row.get::<Vec<String>>(2)?.unwrap_or_default());
                }
            }
            rec.groups.sort();
            rec.groups.dedup();
            Ok::<_, pgrx::spi::Error>(rec)
        })
    });
    // A directory that cannot be read fails closed: an ERROR, never an unchecked identity.
    match read {
        Ok(rec) => Ok(Some(rec)),
        Err(e) => raise_internal(format!("cannot read the directory of provider \"{provider}\": {e}")),
    }
}

/// When a webhook was signed (ms since the epoch), checked against now; raises 28000
/// `invalid_webhook_signature` when the signature does not hold.
pub(crate) fn webhook_signed_at(secret: &str, body: &str, signature: &str) -> i64 {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    pg_idp_core::webhook::verify_webhook_signature(signature, body, secret.as_bytes(), now_ms)
        .unwrap_or_else(|why| crate::pg::errors::raise_webhook(&why))
}

/// `idp.apply_directory_event(text, text, text)` of 0.2.0, over its
/// `idp._apply_directory_event(text, jsonb)`, which answers `invalid: ...` for a bad event.
pub(crate) fn apply_event_0_2_0(provider: &str, body: &str, signature: &str) -> String {
    ensure_writable(c"idp.apply_directory_event()");
    let config = stored_config(provider).unwrap_or_else(|| raise_unknown_provider(provider));
    let Some(secret) = config.get("webhook_secret").and_then(Value::as_str) else {
        raise_invalid_argument(format!("provider \"{}\" has no webhook_secret", provider.escape_default()))
    };
    webhook_signed_at(secret, body, signature);
    let event: Value = serde_json::from_str(body)
        .unwrap_or_else(|_| raise_invalid_argument("directory event body is not JSON".into()));
    let outcome = Spi::get_one_with_args::<String>(
        "SELECT idp._apply_directory_event($1, $2)",
        &[provider.into(), JsonB(event).into()],
    );
    match outcome {
        Ok(Some(o)) => match o.strip_prefix("invalid: ") {
            Some(why) => raise_invalid_argument(format!("directory event refused: {why}")),
            None => o,
        },
        Ok(None) | Err(pgrx::spi::Error::InvalidPosition) => raise_internal("directory event was not applied".into()),
        Err(e) => raise_internal(format!("cannot apply directory event: {e}")),
    }
}
