//! Entry points of older SQL schemas. After the library is updated, a database keeps its old
//! `CREATE FUNCTION ... AS 'pg_idp', '<symbol>'` definitions until `ALTER EXTENSION pg_idp
//! UPDATE` runs; these symbols keep serving it meanwhile, with the old signatures. They have no
//! SQL of their own (`sql = false`): a fresh install or an updated database never calls them.

use pgrx::prelude::*;
use pgrx::JsonB;

use crate::registry::directory;
use crate::registry::register::register;

/// `idp.register_provider(jsonb)` of 0.1.0 and 0.2.0.
#[pg_extern(volatile, sql = false)]
fn register_provider(config: JsonB) -> String {
    register(config.0, true)
}

/// `idp.apply_directory_event(text, text, text)` of 0.2.0, over its
/// `idp._apply_directory_event(text, jsonb)`, which answers `invalid: ...` for a bad event.
#[pg_extern(volatile, sql = false)]
fn apply_directory_event(provider: &str, body: &str, signature: &str) -> String {
    directory::apply_event_0_2_0(provider, body, signature)
}

/// `idp.served_databases()` of 0.5.0: its six columns, as `served.rs` (this folder) answers the
/// first six of 0.6.0's.
#[pg_extern(volatile, sql = false)]
#[allow(clippy::type_complexity)]
fn served_databases() -> TableIterator<
    'static,
    (
        name!(datid, pg_sys::Oid),
        name!(state, String),
        name!(confirmed_seconds_ago, Option<f64>),
        name!(job_pid, Option<i32>),
        name!(jobs, i64),
        name!(next_refresh, Option<pgrx::datum::TimestampWithTimeZone>),
    ),
> {
    let rows: Vec<_> = super::served::rows().into_iter().map(|r| (r.0, r.1, r.2, r.3, r.4, r.5)).collect();
    TableIterator::new(rows)
}

/// `idp._stats()` of 0.4.0 and 0.5.0: its ten columns (without the login counters of 0.6.0).
#[pg_extern(volatile, sql = false)]
#[allow(clippy::type_complexity)]
fn _stats() -> TableIterator<
    'static,
    (
        name!(dbid, pg_sys::Oid),
        name!(provider, Option<String>),
        name!(cache_hits, i64),
        name!(successes, i64),
        name!(failures, i64),
        name!(failures_by_code, JsonB),
        name!(last_success, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(last_failure, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(last_failure_code, Option<String>),
        name!(stats_reset, Option<pgrx::datum::TimestampWithTimeZone>),
    ),
> {
    if !crate::shmem::stats::available() {
        return TableIterator::new(Vec::new());
    }
    TableIterator::new(crate::shmem::stats::rows().into_iter().map(|r| {
        (
            r.dbid,
            r.provider,
            r.cache_hits,
            r.successes,
            r.failures,
            JsonB(r.failures_by_code),
            r.last_success,
            r.last_failure,
            r.last_failure_code,
            r.stats_reset,
        )
    }))
}
