//! The provider registry: the per-backend cache of the registry tables (`cache`) and the
//! directory lookups of one identity (`directory`), writing it (`store`), fetching keys for it
//! (`fetch`), and what a job may trust of an install (`trusted`). Imports `shmem` and `pg`.

pub(crate) mod cache;
pub(crate) mod directory;
pub(crate) mod fetch;
pub(crate) mod store;
pub(crate) mod trusted;
