//! What pg_idp's launcher serves, for an administrator.

use pg_idp_core::schedule::Outcome;
use pgrx::prelude::*;

/// Unix milliseconds as a timestamptz (0: NULL).
fn timestamp(ms: i64) -> Option<pgrx::datum::TimestampWithTimeZone> {
    (ms > 0).then(|| pgrx::datum::TimestampWithTimeZone::try_from((ms - 946_684_800_000) * 1000).ok()).flatten()
}

/// Why a database whose last job did not succeed waits (NULL when it succeeded).
fn reason(outcome: Option<Outcome>) -> Option<String> {
    match outcome? {
        Outcome::Succeeded => None,
        Outcome::Failed => Some("its last job failed: the server log has the job's WARNING".into()),
        Outcome::LockTimeout => Some(format!(
            "its last job waited longer than its lock_timeout ({} ms) for a lock: a session in the database holds a lock on a catalog or on pg_idp's tables, or waits for one",
            crate::pg::settings::job_lock_timeout().as_millis()
        )),
        Outcome::TimedOut => Some(format!(
            "its last job ran past idp.job_timeout ({} s) and was ended",
            crate::pg::settings::job_timeout().as_secs()
        )),
    }
}

/// Every database pg_idp's launcher keeps an entry for: its state (`unknown`, `not_installed`,
/// `serving`, `untrusted`), how long ago a job (or the launcher, while nothing changed) last
/// confirmed it, the job running there, how many jobs ran there, when a provider's keys are next
/// due, how the last job ended (`succeeded`, `failed`, `lock_timeout`, `timed_out`), the
/// failures in a row, when a database whose job failed is tried again, and why it waits. No rows
/// without preloading. (Its C symbol is new in 0.6.0: a 0.5.0 schema's `idp.served_databases()`
/// names the one of `legacy.rs`, with 0.5.0's columns.)
#[pg_extern(volatile, name = "served_databases")]
#[allow(clippy::type_complexity)]
fn served_databases_jobs() -> TableIterator<
    'static,
    (
        name!(datid, pg_sys::Oid),
        name!(state, String),
        name!(confirmed_seconds_ago, Option<f64>),
        name!(job_pid, Option<i32>),
        name!(jobs, i64),
        name!(next_refresh, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(last_job, Option<String>),
        name!(failures, i32),
        name!(retry_at, Option<pgrx::datum::TimestampWithTimeZone>),
        name!(reason, Option<String>),
    ),
> {
    TableIterator::new(rows())
}

/// One row of `idp.served_databases()`.
pub(super) type Row = (
    pg_sys::Oid,
    String,
    Option<f64>,
    Option<i32>,
    i64,
    Option<pgrx::datum::TimestampWithTimeZone>,
    Option<String>,
    i32,
    Option<pgrx::datum::TimestampWithTimeZone>,
    Option<String>,
);

/// The rows of `idp.served_databases()`, one per entry.
pub(super) fn rows() -> Vec<Row> {
    let now = crate::shmem::served::now_ms();
    crate::shmem::served::entries()
        .iter()
        .filter(|e| e.oid() != 0)
        .map(|e| {
            let at = e.verified_at();
            let failures = e.failures();
            (
                pg_sys::Oid::from(e.oid()),
                e.state().map_or("unknown", |s| s.name()).to_string(),
                (at > 0).then(|| (now - at) as f64 / 1000.0),
                Some(e.job_pid()).filter(|p| *p != 0),
                i64::try_from(e.jobs()).unwrap_or(i64::MAX),
                timestamp(e.refresh_due()),
                e.outcome().map(|o| o.name().to_string()),
                i32::try_from(failures).unwrap_or(i32::MAX),
                if failures > 0 { timestamp(e.retry_at()) } else { None },
                reason(e.outcome()),
            )
        })
        .collect()
}
