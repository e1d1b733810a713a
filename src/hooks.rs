//! The one PostgreSQL hook pg_idp installs (with pg_idp in `shared_preload_libraries`): when
//! `DROP EXTENSION pg_idp` (or `DROP DATABASE`'s cleanup of it) commits, the launcher is told at
//! once, so the database's login snapshot stops being trusted then rather than at the next
//! periodic look.

use pgrx::prelude::*;

static mut PREVIOUS: pg_sys::object_access_hook_type = None;

/// Called from `_PG_init`, in every process that preloads pg_idp.
pub fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    // SAFETY: hooks are installed once, at library load in the postmaster, before any other
    // code runs; the previous hook is kept and called first.
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
    // SAFETY: the previous hook, called with what PostgreSQL passed us.
    unsafe {
        if let Some(previous) = PREVIOUS {
            previous(access, class_id, object_id, sub_id, arg);
        }
    }
    if access == pg_sys::ObjectAccessType::OAT_DROP && class_id == pg_sys::ExtensionRelationId {
        // SAFETY: a catalog lookup of the extension being dropped (still visible), inside the
        // dropping transaction; the name is compared and freed by the memory context.
        let is_ours = unsafe {
            let name = pg_sys::get_extension_name(object_id);
            !name.is_null() && std::ffi::CStr::from_ptr(name).to_bytes() == b"pg_idp"
        };
        if is_ours {
            crate::served::changed_at_commit();
        }
    }
}
