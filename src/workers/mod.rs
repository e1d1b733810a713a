//! The background workers: the launcher (`launcher`: which databases are served, what is due
//! where, its decisions being `pg_idp_core::schedule`'s), the jobs it starts, one database each
//! (`job`), the record of where pg_idp is installed that it reads (`installed`, used by `api`),
//! and the hook that tells it of a database or an extension dropped (`hooks`). PostgreSQL starts
//! the launcher and the jobs by their C symbols. Imports every layer below `api`.

mod hooks;
pub(crate) mod installed;
mod job;
mod launcher;

/// From `_PG_init`: register the security label provider of the record, the launcher (when
/// preloading) and the object-access hook.
pub(crate) fn init() {
    installed::init();
    launcher::init();
    hooks::init();
}
