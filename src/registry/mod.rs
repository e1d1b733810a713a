//! The provider registry: reading its tables (`tables`, the one reader: by oid for the jobs,
//! through SQL for sessions), the per-backend cache of them (`cache`) and the directory lookups of
//! one identity (`directory`), writing it (`store`), fetching keys for it (`fetch`), and what a
//! job may trust of an install (`trusted`). Imports `shmem` and `pg`. Every module is used above.

pub(crate) mod cache;
pub(crate) mod directory;
pub(crate) mod fetch;
pub(crate) mod register;
pub(crate) mod store;
pub(crate) mod tables;
pub(crate) mod trusted;

/// From `_PG_init`: register the cache's invalidation callback.
pub(crate) fn init() {
    cache::init();
}
