//! The provider registry: read from `idp.provider_registry` through SPI and cached per backend.
//!
//! The cache is revalidated once per transaction against `idp.registry_state.version`, which a
//! statement trigger sets from a sequence on every change (sequences never roll back, so a
//! version is never reused). A change is therefore seen by every backend from its next
//! transaction, and by the changing backend at once (`invalidate`).
//!
//! The registry holds secrets, so only its owner can read it. Identity functions run as the
//! caller (an application role), so the reads here switch to the table owner for the duration
//! of the query (`SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION`), the way
//! PostgreSQL itself runs maintenance as a table's owner.

use std::cell::RefCell;
use std::rc::Rc;

use pg_idp_core::{parse_provider, Provider, Registry};
use pgrx::prelude::*;

use crate::errors::raise_internal;

struct Cached {
    /// Local transaction id of the last version check.
    checked_lxid: pg_sys::LocalTransactionId,
    version: i64,
    registry: Rc<Registry>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
    static OWNER: RefCell<Option<pg_sys::Oid>> = const { RefCell::new(None) };
}

fn current_lxid() -> pg_sys::LocalTransactionId {
    // SAFETY: MyProc is set for every backend that can run SQL.
    unsafe { (*pg_sys::MyProc).lxid }
}

/// Force a re-read at the next use (after a change made by this backend).
pub fn invalidate() {
    OWNER.with(|o| *o.borrow_mut() = None);
    CACHE.with(|c| {
        if let Some(c) = c.borrow_mut().as_mut() {
            c.checked_lxid = pg_sys::InvalidLocalTransactionId;
            c.version = i64::MIN;
        }
    });
}

/// The registry as of this transaction, and whether it changed since the previous call
/// (callers drop derived caches then).
pub fn current() -> (Rc<Registry>, bool) {
    let lxid = current_lxid();
    let fresh = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|c| c.checked_lxid == lxid)
            .map(|c| c.registry.clone())
    });
    if let Some(r) = fresh {
        return (r, false);
    }
    let version = as_registry_owner(read_version);
    let unchanged = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        match c.as_mut() {
            Some(c) if c.version == version => {
                c.checked_lxid = lxid;
                Some(c.registry.clone())
            }
            _ => None,
        }
    });
    if let Some(r) = unchanged {
        return (r, false);
    }
    let registry = Rc::new(Registry::new(as_registry_owner(read_providers)));
    CACHE.with(|c| {
        *c.borrow_mut() = Some(Cached { checked_lxid: lxid, version, registry: registry.clone() })
    });
    (registry, true)
}

fn read_version() -> i64 {
    match select_one::<i64>("SELECT version FROM idp.registry_state") {
        Ok(Some(v)) => v,
        Ok(None) => raise_internal("pg_idp registry state is missing (idp.registry_state is empty)".into()),
        Err(e) => raise_internal(format!("cannot read pg_idp registry state: {e}")),
    }
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
    let rows = rows.unwrap_or_else(|e| raise_internal(format!("cannot read pg_idp providers: {e}")));
    rows.into_iter()
        .map(|(name, cfg)| {
            parse_provider(&cfg.0).unwrap_or_else(|e| {
                // Stored configs were validated on the way in; this means the table was edited by hand.
                raise_internal(format!("stored config of provider \"{name}\" is invalid: {e}"))
            })
        })
        .collect()
}

/// The first column of the first row of a read-only query. `Spi::get_one` opens a read-write SPI
/// connection, which assigns a transaction id: on a hot standby that fails, and on a primary it
/// would burn an xid for every request. Every read of the registry goes through here instead.
fn select_one<T: pgrx::datum::FromDatum + pgrx::datum::IntoDatum>(query: &str) -> Result<Option<T>, pgrx::spi::Error> {
    Spi::connect(|client| {
        let table = client.select(query, Some(1), &[])?;
        if table.is_empty() {
            return Ok(None);
        }
        table.first().get_one::<T>()
    })
}

/// Run `f` with the current user switched to the owner of `idp.provider_registry`.
fn as_registry_owner<R>(f: impl FnOnce() -> R) -> R {
    let owner = registry_owner();
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

fn registry_owner() -> pg_sys::Oid {
    if let Some(o) = OWNER.with(|o| *o.borrow()) {
        return o;
    }
    // Catalog-only lookup: needs no privilege on schema idp.
    let owner = select_one::<pg_sys::Oid>(
        "SELECT c.relowner FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' AND c.relname OPERATOR(pg_catalog.=) 'provider_registry'",
    );
    match owner {
        Ok(Some(o)) => {
            OWNER.with(|c| *c.borrow_mut() = Some(o));
            o
        }
        _ => raise_internal("pg_idp registry table idp.provider_registry not found".into()),
    }
}
