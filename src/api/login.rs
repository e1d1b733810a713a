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
        Some(JsonB(crate::login::snapshot::status()))
    }
    #[cfg(not(feature = "pg18"))]
    {
        None
    }
}

/// Tell pg_idp's launcher, when the transaction commits, to look at this database now, and record
/// that pg_idp is installed here (`workers::installed`: the launcher serves only the databases with
/// that record): called at the end of `CREATE EXTENSION pg_idp` and of every upgrade script, by the
/// superuser running them. The record is written only when the caller is a superuser, on a primary;
/// a database's own job keeps it true from then on. The launcher is told only with pg_idp
/// preloaded.
#[pg_extern(volatile)]
fn _launcher_notify() {
    crate::workers::installed::launcher_notify();
}
