//! The SQL side of `stats`: the rows of the `idp.stats` and `idp.provider_health` views
//! (sql/stats.sql) and `idp.reset_stats`.

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::shmem::stats;

const NOT_PRELOADED: &str =
    "pg_idp: idp.stats needs shared_preload_libraries = 'pg_idp' (and a restart): without it no counters are kept";

/// Every (database, provider) slot's counters, for `idp.stats`. Without preloading: a NOTICE
/// and no rows (a monitoring query keeps working). (Its C symbol is new in 0.6.0, with the login
/// counters: a 0.5.0 schema's `idp._stats()` keeps the old symbol and its ten columns until
/// `ALTER EXTENSION pg_idp UPDATE`: `legacy.rs`.)
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, name = "_stats")]
fn _stats_logins() -> TableIterator<
    'static,
    (
        name!(dbid, pg_sys::Oid),
        name!(provider, Option<String>),
        name!(cache_hits, i64),
        name!(successes, i64),
        name!(failures, i64),
        name!(failures_by_code, JsonB),
        name!(last_success, Option<TimestampWithTimeZone>),
        name!(last_failure, Option<TimestampWithTimeZone>),
        name!(last_failure_code, Option<String>),
        name!(stats_reset, Option<TimestampWithTimeZone>),
        name!(logins, i64),
        name!(logins_refused, i64),
        name!(login_refusals_by_code, JsonB),
    ),
> {
    if !stats::available() {
        notice!("{NOT_PRELOADED}");
        return TableIterator::new(Vec::new());
    }
    TableIterator::new(stats::rows().into_iter().map(|r| {
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
            r.logins,
            r.logins_refused,
            JsonB(r.login_refusals_by_code),
        )
    }))
}

/// The refresh health of this database's providers (what this server's processes saw since it
/// started), for `idp.provider_health`. Without preloading: no rows.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile)]
fn _provider_health() -> TableIterator<
    'static,
    (
        name!(provider, String),
        name!(last_refresh_attempt, Option<TimestampWithTimeZone>),
        name!(last_refresh_success, Option<TimestampWithTimeZone>),
        name!(last_refresh_error_at, Option<TimestampWithTimeZone>),
        name!(last_refresh_error_code, Option<String>),
        name!(last_refresh_error, Option<String>),
        name!(next_refresh, Option<TimestampWithTimeZone>),
    ),
> {
    if !stats::available() {
        return TableIterator::new(Vec::new());
    }
    TableIterator::new(stats::health_rows().into_iter().map(|h| {
        (h.provider, h.last_attempt, h.last_success, h.last_error_at, h.error_code, h.error_message, h.next_refresh)
    }))
}

/// The jobs' schedule of this database's providers, for the last columns of
/// `idp.provider_health`: how long the last refresh took, the failed or slow refreshes in a row
/// and the backoff they set. Without preloading: no rows. (A function of its own, so that the
/// `_provider_health()` of 0.4.0 and 0.5.0 keeps its columns for the databases not yet updated.)
#[allow(clippy::type_complexity)]
#[pg_extern(volatile)]
fn _provider_backoff() -> TableIterator<
    'static,
    (
        name!(provider, String),
        name!(last_refresh_duration, Option<pgrx::datum::Interval>),
        name!(consecutive_refresh_failures, i32),
        name!(refresh_backoff_until, Option<TimestampWithTimeZone>),
    ),
> {
    if !stats::available() {
        return TableIterator::new(Vec::new());
    }
    TableIterator::new(
        stats::health_rows().into_iter().map(|h| (h.provider, h.last_duration, h.failures_in_row, h.backoff_until)),
    )
}

/// Zero the counters of this database in `idp.stats` (of one provider when given; NULL: also the
/// row of tokens no provider was found for); returns how many rows were reset. Sets their
/// `stats_reset`. The extension owner's (EXECUTE is revoked from PUBLIC).
#[pg_extern(volatile)]
fn reset_stats(provider: default!(Option<&str>, "NULL")) -> i64 {
    if !stats::available() {
        crate::pg::errors::raise_not_preloaded(NOT_PRELOADED.into());
    }
    stats::reset(provider)
}
