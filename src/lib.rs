//! pg_idp: PostgreSQL verifies the JWTs your identity providers issue and hands the verified
//! identity to row-level security. The verification logic lives in the pure-Rust `pg_idp_core`
//! crate; this crate is the thin PostgreSQL layer around it.
//!
//! One folder per concern, each importing only from the layers below it (core/tests/layers.rs
//! checks it; CONTRIBUTING.md draws the tree):
//!
//! ```text
//! api                         the SQL functions (#[pg_extern]), converting arguments and answers
//! workers                     the launcher and its jobs
//! cluster | login | request   Citus; the PostgreSQL 18 login; the request token and its identity
//! registry                    the registry tables: read, cached, written, keys fetched, trusted
//! shmem                       what lives in shared memory
//! pg                          PostgreSQL's settings, errors, datums, SPI, threads
//! ```

use pgrx::prelude::*;

mod api;
mod cluster;
#[cfg(feature = "pg18")]
mod login;
mod pg;
mod registry;
mod request;
mod shmem;
mod workers;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!("../sql/rls.sql", name = "rls", requires = ["schema"]);
extension_sql_file!("../sql/revocation.sql", name = "revocation", requires = ["schema"]);
extension_sql_file!("../sql/directory.sql", name = "directory", requires = ["schema"]);
extension_sql_file!(
    "../sql/citus.sql",
    name = "citus",
    requires = [
        "schema",
        "revocation",
        "directory",
        api::citus::registry_fingerprint,
        api::citus::node_registry_status,
        api::citus::sync_nodes,
        api::citus::_citus_role,
        api::citus::_sync_begin,
        api::citus::_load_registry_sealed
    ]
);
extension_sql_file!("../sql/compat.sql", name = "compat", requires = ["schema"]);
extension_sql_file!("../sql/oauth.sql", name = "oauth", requires = ["schema", login_snapshot]);
extension_sql_file!(
    "../sql/stats.sql",
    name = "stats",
    requires = [
        "schema",
        api::stats::_stats_logins,
        api::stats::_provider_health,
        api::stats::_provider_backoff,
        api::stats::reset_stats
    ]
);
extension_sql_file!("../sql/grants.sql", name = "grants", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    pg::init();
    registry::init();
    shmem::init();
    workers::init();
    // In the postmaster (preloading): the verifier's once-per-process work is done here, once,
    // instead of in every backend it forks (each login is a new backend).
    // SAFETY: reads a postmaster global.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        pg_idp_core::warm_up();
    }
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
