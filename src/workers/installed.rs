//! The record of where pg_idp is installed, which the launcher reads without running anything in
//! any database: a security label of pg_idp's own label provider on the database,
//!
//! ```sql
//! SECURITY LABEL FOR pg_idp ON DATABASE app IS 'installed';
//! ```
//!
//! kept by the server in the shared catalog `pg_shseclabel`: it survives restarts, travels to
//! standbys with the WAL, and is dropped with the database. `CREATE EXTENSION pg_idp` and every
//! upgrade script write it (`idp._launcher_notify()`, run by the superuser installing it); a job
//! that finds pg_idp gone removes it (on a primary), and a job that finds pg_idp in a database
//! without it (a database the launcher looked at once after an upgrade from 0.5.0, which
//! recorded nothing) writes it.
//!
//! Only a superuser can write it: pg_idp's label provider (registered by every process that
//! loads pg_idp) refuses anyone else, whether to set or to remove it, and where pg_idp is not
//! loaded PostgreSQL refuses a label of a provider it does not know. A database owner may label
//! objects she owns, her database included, with any other provider, but not with pg_idp's. So
//! no role other than a superuser can put a database in the launcher's table.

use std::ffi::{c_char, CStr};

use pgrx::prelude::*;

/// The label provider's name (`SECURITY LABEL FOR pg_idp`).
pub(super) const PROVIDER: &CStr = c"pg_idp";
/// The one label it accepts.
pub(super) const LABEL: &CStr = c"installed";
/// pg_shseclabel, the shared catalog of security labels on shared objects (databases among them).
const SHARED_SECLABEL: u32 = 3592;

/// Called from `_PG_init` in every process that loads pg_idp: register the label provider.
pub(super) fn init() {
    // SAFETY: registers a 'static name and hook in the process's list of providers (allocated by
    // PostgreSQL in TopMemoryContext); called once per process, from _PG_init.
    unsafe { pg_sys::register_label_provider(PROVIDER.as_ptr(), Some(relabel)) }
}

/// `SECURITY LABEL FOR pg_idp ON ... IS ...`: PostgreSQL has checked that the role owns the object;
/// pg_idp wants a superuser, a database, and its one label (or NULL, to remove it).
#[pg_guard]
unsafe extern "C-unwind" fn relabel(object: *const pg_sys::ObjectAddress, label: *const c_char) {
    // SAFETY: reads backend state (the current role's superuser attribute, from the catalog).
    if !unsafe { pg_sys::superuser() } {
        crate::pg::errors::raise_security_label(
            true,
            "only a superuser may set or remove pg_idp's security label (the record that pg_idp is installed in a database)"
                .into(),
        );
    }
    // SAFETY: PostgreSQL passes the address of the object being labelled.
    let class = unsafe { (*object).classId };
    if class != pg_sys::DatabaseRelationId {
        crate::pg::errors::raise_security_label(false, "pg_idp's security label applies to databases only".into());
    }
    // SAFETY: NULL (removing the label) or a NUL-terminated string owned by the statement.
    if !label.is_null() && unsafe { CStr::from_ptr(label) } != LABEL {
        crate::pg::errors::raise_security_label(
            false,
            "pg_idp's security label on a database is 'installed' (or NULL)".into(),
        );
    }
}

fn this_database() -> pg_sys::ObjectAddress {
    pg_sys::ObjectAddress {
        classId: pg_sys::DatabaseRelationId,
        // SAFETY: a backend global, set once the process is connected to its database.
        objectId: unsafe { pg_sys::MyDatabaseId },
        objectSubId: 0,
    }
}

/// Whether the current database has the record (in a transaction).
pub(super) fn recorded_here() -> bool {
    let address = this_database();
    // SAFETY: a catalog lookup of a shared label by the address of the database this process is
    // connected to, in the caller's transaction; the result is NULL or a palloc'd string.
    let label = unsafe { pg_sys::GetSecurityLabel(&address, PROVIDER.as_ptr()) };
    // SAFETY: as above.
    !label.is_null() && unsafe { CStr::from_ptr(label) } == LABEL
}

/// Write the record for the current database (`on`), or remove it, in the caller's transaction
/// (it commits or rolls back with it). Callers check that the role is a superuser (or are a
/// job, which runs as the bootstrap superuser) and that the server is not a standby.
pub(super) fn record_here(on: bool) {
    let address = this_database();
    let label = if on { LABEL.as_ptr() } else { std::ptr::null() };
    // SAFETY: writes (or deletes) one row of pg_shseclabel for the database this process is
    // connected to, which cannot be dropped meanwhile; an ERROR unwinds through pg_guard and
    // aborts the caller's transaction.
    unsafe { pg_sys::SetSecurityLabel(&address, PROVIDER.as_ptr(), label) }
}

/// The databases that have the record: a scan of the shared catalog `pg_shseclabel` (which a
/// process connected to no database can read, as authentication does), in the caller's
/// transaction.
pub(super) fn recorded() -> Vec<u32> {
    let mut out = Vec::new();
    // SAFETY: a heap scan of a shared catalog with the catalog snapshot, inside the caller's
    // transaction; the scan and the relation are closed before returning. Its columns are
    // objoid, classoid (oids), provider and label (text, never null, and short: never toasted).
    unsafe {
        let rel = pg_sys::table_open(pg_sys::Oid::from(SHARED_SECLABEL), pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let desc = (*rel).rd_att;
        let scan =
            pg_sys::systable_beginscan(rel, pg_sys::InvalidOid, false, std::ptr::null_mut(), 0, std::ptr::null_mut());
        loop {
            let tup = pg_sys::systable_getnext(scan);
            if tup.is_null() {
                break;
            }
            let mut null = false;
            let class = pg_sys::heap_getattr(tup, 2, desc, &mut null);
            if null || pg_sys::Oid::from_datum(class, false) != Some(pg_sys::DatabaseRelationId) {
                continue;
            }
            let provider = pg_sys::heap_getattr(tup, 3, desc, &mut null);
            if null || String::from_datum(provider, false).as_deref() != PROVIDER.to_str().ok() {
                continue;
            }
            let label = pg_sys::heap_getattr(tup, 4, desc, &mut null);
            if null || String::from_datum(label, false).as_deref() != LABEL.to_str().ok() {
                continue;
            }
            let oid = pg_sys::heap_getattr(tup, 1, desc, &mut null);
            if let Some(oid) = (!null).then(|| pg_sys::Oid::from_datum(oid, false)).flatten() {
                out.push(oid.to_u32());
            }
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
    }
    out
}

/// `idp._launcher_notify()`, at the end of `CREATE EXTENSION pg_idp` and of every upgrade script:
/// record that pg_idp is installed here when the caller is a superuser, on a primary, and tell
/// the launcher when the transaction commits (only with pg_idp preloaded).
pub(crate) fn launcher_notify() {
    // SAFETY: reads backend state (the current role's attribute, the server's recovery state).
    let (superuser, recovery) = unsafe { (pg_sys::superuser(), pg_sys::RecoveryInProgress()) };
    if superuser && !recovery && !recorded_here() {
        record_here(true);
    }
    crate::shmem::served::changed_at_commit();
}
