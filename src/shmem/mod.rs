//! Everything pg_idp keeps in shared memory (with pg_idp in `shared_preload_libraries`), each
//! part with its own `init`: the databases served and what backends tell the launcher
//! (`served`), the counters and the providers' health (`stats`), and what each verification
//! records, counters and audit lines (`audit`). Imports only `pg`. Every module is used above.

pub(crate) mod audit;
pub(crate) mod served;
pub(crate) mod stats;

/// From `_PG_init`: when preloading, ask for each part's shared memory.
pub(crate) fn init() {
    stats::init();
    audit::init();
    served::init();
}
