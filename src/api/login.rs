//! Logging in with a provider's token (PostgreSQL 18's OAuth validator): what an administrator
//! can ask about it from SQL.

use pgrx::prelude::*;
use pgrx::JsonB;

/// This database's login snapshot as the validator reads it now: its path, whether it is
/// readable, its providers (and those that allow logins), when it was written and how old it
/// is. NULL before PostgreSQL 18, which has no OAuth validators. Never shows keys or secrets.
#[pg_extern(volatile)]
fn login_snapshot() -> Option<JsonB> {
    #[cfg(feature = "pg18")]
    {
        Some(JsonB(crate::snapshot::status()))
    }
    #[cfg(not(feature = "pg18"))]
    {
        None
    }
}

/// Tell pg_idp's launcher, when the transaction commits, to look at this database now: called
/// at the end of `CREATE EXTENSION pg_idp` and of every upgrade script. Does nothing without
/// preloading.
#[pg_extern(volatile)]
fn _launcher_notify() {
    crate::served::changed_at_commit();
}
