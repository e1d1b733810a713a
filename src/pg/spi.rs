//! SPI helpers: plans a backend keeps for its life, and running queries as another role with
//! `search_path` pinned (as a `SECURITY DEFINER ... SET search_path` function would).

use std::cell::RefCell;

use pgrx::prelude::*;

thread_local! {
    /// The plans kept by this backend, by query text.
    static PLANS: RefCell<std::collections::HashMap<String, pgrx::spi::OwnedPreparedStatement>> =
        RefCell::new(std::collections::HashMap::new());
}

/// Run `f` with this backend's kept plan of `query` (`params` text parameters), preparing it
/// first.
pub(crate) fn with_kept_plan<'c, R>(
    client: &pgrx::spi::SpiClient<'c>,
    query: &str,
    params: usize,
    f: impl FnOnce(&pgrx::spi::OwnedPreparedStatement) -> Result<R, pgrx::spi::Error>,
) -> Result<R, pgrx::spi::Error> {
    let missing = PLANS.with(|p| !p.borrow().contains_key(query));
    if missing {
        let types = vec![pgrx::PgOid::BuiltIn(pgrx::PgBuiltInOids::TEXTOID); params];
        let plan = client.prepare(query, &types)?.keep();
        PLANS.with(|p| p.borrow_mut().insert(query.to_string(), plan));
    }
    // Taken out while in use, so that no RefCell borrow is held across the query.
    let plan = PLANS.with(|p| p.borrow_mut().remove(query)).expect("prepared above");
    let out = f(&plan);
    PLANS.with(|p| p.borrow_mut().insert(query.to_string(), plan));
    out
}

/// Run `f` with the current user switched to `owner` and `search_path` pinned to
/// `pg_catalog, pg_temp` (as a `SECURITY DEFINER ... SET search_path` function would, without
/// its per-call cost on the hot path, which never gets here): the queries are fixed and
/// schema-qualified anyway, and the caller's search_path cannot reach them.
pub(crate) fn as_user<R>(owner: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    let mut saved_user = pg_sys::InvalidOid;
    let mut saved_ctx: i32 = 0;
    // SAFETY: plain reads/writes of backend-local state; restored by the guard below, and by
    // PostgreSQL's own (sub)transaction abort if an ERROR escapes.
    unsafe {
        pg_sys::GetUserIdAndSecContext(&mut saved_user, &mut saved_ctx);
        pg_sys::SetUserIdAndSecContext(
            owner,
            saved_ctx | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
    }
    struct Restore(pg_sys::Oid, i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: restores exactly what was changed above.
            unsafe { pg_sys::SetUserIdAndSecContext(self.0, self.1) }
        }
    }
    let _restore = Restore(saved_user, saved_ctx);
    pinned_search_path(f)
}

/// Run `f` with `search_path = pg_catalog, pg_temp`, restored afterwards, as a function's
/// `SET search_path` clause would.
pub(crate) fn pinned_search_path<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: GUC_ACTION_SAVE in a new GUC nest level is what a function's SET clause does, and
    // is allowed in parallel workers; restored by the guard below, or by the (sub)transaction
    // abort if an ERROR escapes.
    let nest = unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        nest
    };
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: pops exactly the nest level pushed above.
            unsafe { pg_sys::AtEOXact_GUC(true, self.0) };
        }
    }
    let _restore = Restore(nest);
    f()
}
