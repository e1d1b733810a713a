//! The background workers: the launcher (which databases are served, what is due where; its
//! decisions are `pg_idp_core::schedule`'s), the jobs it starts in one database each, the record
//! of where pg_idp is installed that it reads, and the hook that tells it of a database or an
//! extension dropped. Imports every layer below `api`.

pub(crate) mod hooks;
pub(crate) mod installed;
pub(crate) mod job;
pub(crate) mod launcher;
