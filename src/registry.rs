//! The provider registry: read from `idp.provider_registry` through SPI and cached per backend.
//!
//! The cache is kept until PostgreSQL's relcache invalidation says the registry table changed:
//! every change to it runs a statement trigger that queues a relcache invalidation for the table
//! (`idp._registry_changed`), which PostgreSQL delivers to every backend of the database at its
//! next transaction start (and to the changing backend at its next command), including the
//! backends of hot standbys through the WAL. Between changes, using the registry costs an atomic
//! load: no SPI, no lookup. A lost invalidation (sinval overflow) resets everything.
//!
//! The registry holds secrets, so only its owner can read it. Identity functions run as the
//! caller (an application role), so the reads here switch to the table owner for the duration
//! of the query (`SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION`), the way
//! PostgreSQL itself runs maintenance as a table's owner.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use pg_idp_core::{parse_provider, Provider, Registry};
use pgrx::prelude::*;

use crate::errors::raise_internal;

/// Set by the relcache callback when the registry table (or everything) was invalidated.
static STALE: AtomicBool = AtomicBool::new(true);
/// The oid of `idp.provider_registry` as last looked up (0 before the first read).
static REGISTRY_OID: AtomicU32 = AtomicU32::new(0);
/// Bumped every time the cached registry is replaced; derived caches compare it.
static EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CACHE: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
}

/// Called by PostgreSQL for every relcache invalidation this backend processes.
#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    if relid == pg_sys::InvalidOid || relid.to_u32() == REGISTRY_OID.load(Ordering::Relaxed) {
        STALE.store(true, Ordering::Relaxed);
    }
}

/// Registers the invalidation callback; called once per backend from `_PG_init`.
pub fn init() {
    // SAFETY: registering a callback with a 'static function is what the API is for.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0usize)) }
}

/// Force a re-read at the next use (after a change made by this backend).
pub fn invalidate() {
    STALE.store(true, Ordering::Relaxed);
}

/// Queue a relcache invalidation of the registry table, delivered to every backend (and
/// standby) when the current transaction commits. Called by the registry's trigger.
pub fn broadcast_change(relid: pg_sys::Oid) {
    // SAFETY: queues a transactional invalidation message for an existing relation.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) }
    invalidate();
}

/// A number that changes whenever the cached registry is replaced.
pub fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// True when the cached registry can be used as is.
#[inline]
pub fn is_fresh() -> bool {
    !STALE.load(Ordering::Relaxed)
}

/// The registry, and whether it was (re)read by this call (callers drop derived caches then).
pub fn current() -> (Rc<Registry>, bool) {
    if is_fresh() {
        if let Some(r) = CACHE.with(|c| c.borrow().clone()) {
            return (r, false);
        }
    }
    // Cleared before reading, so that an invalidation arriving during the read marks it again.
    STALE.store(false, Ordering::Relaxed);
    let (oid, owner) = match registry_table() {
        Ok(v) => v,
        Err(e) => {
            STALE.store(true, Ordering::Relaxed);
            raise_internal(e)
        }
    };
    REGISTRY_OID.store(oid.to_u32(), Ordering::Relaxed);
    let providers = as_user(owner, read_providers);
    let registry = Rc::new(Registry::new(providers));
    CACHE.with(|c| *c.borrow_mut() = Some(registry.clone()));
    EPOCH.fetch_add(1, Ordering::Relaxed);
    (registry, true)
}

fn read_providers() -> Vec<Provider> {
    let rows: Result<Vec<(String, pgrx::JsonB)>, pgrx::spi::Error> = Spi::connect(|client| {
        let table = client.select("SELECT name, config FROM idp.provider_registry ORDER BY name", None, &[])?;
        let mut out = Vec::new();
        for row in table {
            let name: Option<String> = row.get(1)?;
            let config: Option<pgrx::JsonB> = row.get(2)?;
            if let (Some(n), Some(c)) = (name, config) {
                out.push((n, c));
            }
        }
        Ok(out)
    });
    let rows = rows.unwrap_or_else(|e| {
        STALE.store(true, Ordering::Relaxed);
        raise_internal(format!("cannot read pg_idp providers: {e}"))
    });
    rows.into_iter()
        .map(|(name, cfg)| {
            parse_provider(&cfg.0).unwrap_or_else(|e| {
                // Stored configs were validated on the way in; this means the table was edited by hand.
                STALE.store(true, Ordering::Relaxed);
                raise_internal(format!("stored config of provider \"{name}\" is invalid: {e}"))
            })
        })
        .collect()
}

/// Run `f` with the current user switched to `owner`.
fn as_user<R>(owner: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_ctx: i32 = 0;
    // SAFETY: plain reads/writes of backend-local state; restored by the guard below, and by
    // PostgreSQL's own (sub)transaction abort if an ERROR escapes.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_ctx
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores exactly what was read above.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) }
        }
    }
    let _restore = Restore(saved_user, saved_ctx);
    f()
}

/// The oid and owner of `idp.provider_registry`, from the catalogs (needs no privilege on
/// schema idp).
fn registry_table() -> Result<(pg_sys::Oid, pg_sys::Oid), String> {
    let row = Spi::connect(|client| {
        let table = client.select(
            "SELECT c.oid, c.relowner FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' AND c.relname OPERATOR(pg_catalog.=) 'provider_registry'",
            Some(1),
            &[],
        )?;
        if table.is_empty() {
            return Ok(None);
        }
        let first = table.first();
        Ok::<_, pgrx::spi::Error>(Some((first.get::<pg_sys::Oid>(1)?, first.get::<pg_sys::Oid>(2)?)))
    });
    match row {
        Ok(Some((Some(oid), Some(owner)))) => Ok((oid, owner)),
        Ok(_) => Err("pg_idp registry table idp.provider_registry not found (is the extension installed in this database?)".into()),
        Err(e) => Err(format!("cannot look up the pg_idp registry table: {e}")),
    }
}
