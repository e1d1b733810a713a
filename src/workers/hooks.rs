//! The one PostgreSQL hook pg_idp installs (with pg_idp in `shared_preload_libraries`), on
//! objects being dropped. When the transaction that drops a database, or drops pg_idp in one,
//! commits:
//! - that database's `idp.stats` slots are freed for other databases to take;
//! - for `DROP EXTENSION pg_idp`, the launcher is told at once, so the database's login snapshot
//!   stops being trusted then rather than at its next look.

use pgrx::prelude::*;

static mut PREVIOUS: pg_sys::object_access_hook_type = None;

/// Called from `_PG_init`: install the hook, when preloading.
pub(super) fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    // SAFETY: hooks are installed once, by the postmaster loading the library, before any
    // backend exists; every process inherits them. The previous hook is kept and called first.
    unsafe {
        PREVIOUS = pg_sys::object_access_hook;
        pg_sys::object_access_hook = Some(on_object_access);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_object_access(
    access: pg_sys::ObjectAccessType::Type,
    class_id: pg_sys::Oid,
    object_id: pg_sys::Oid,
    sub_id: std::ffi::c_int,
    arg: *mut std::ffi::c_void,
) {
    // SAFETY: the hook that was installed before ours, called as PostgreSQL would have.
    unsafe {
        if let Some(previous) = PREVIOUS {
            previous(access, class_id, object_id, sub_id, arg);
        }
    }
    if access != pg_sys::ObjectAccessType::OAT_DROP {
        return;
    }
    let database = if class_id == pg_sys::DatabaseRelationId {
        object_id
    } else if class_id == pg_sys::ExtensionRelationId && is_pg_idp(object_id) {
        crate::shmem::served::changed_at_commit();
        // SAFETY: a backend global, set once it is connected to its database.
        unsafe { pg_sys::MyDatabaseId }
    } else {
        return;
    };
    let database = database.to_u32();
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, move || {
        crate::shmem::stats::forget_database(database)
    });
}

/// Whether extension `oid` is pg_idp (read while it is being dropped: its row is still there).
fn is_pg_idp(oid: pg_sys::Oid) -> bool {
    // SAFETY: a catalog lookup by oid inside the dropping transaction; NULL or a palloc'd string.
    unsafe {
        let name = pg_sys::get_extension_name(oid);
        !name.is_null() && std::ffi::CStr::from_ptr(name) == c"pg_idp"
    }
}
