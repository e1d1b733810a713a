//! What pg_idp's launcher serves, for an administrator.

use pgrx::prelude::*;

/// Every database pg_idp's launcher keeps an entry for: its state (`unknown`, `not_installed`,
/// `serving`, `untrusted`), how long ago a job (or the launcher, while nothing changed) last
/// confirmed it, the job running there, how many jobs ran there, and when a provider's keys are
/// next due. No rows without preloading.
#[pg_extern(volatile)]
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
    let now = crate::served::now_ms();
    let rows: Vec<_> = crate::served::entries()
        .iter()
        .filter(|e| e.oid() != 0)
        .map(|e| {
            let at = e.verified_at();
            let due = e.refresh_due();
            (
                pg_sys::Oid::from(e.oid()),
                e.state().map_or("unknown", |s| s.name()).to_string(),
                (at > 0).then(|| (now - at) as f64 / 1000.0),
                Some(e.job_pid()).filter(|p| *p != 0),
                i64::try_from(e.jobs()).unwrap_or(i64::MAX),
                (due > 0)
                    .then(|| pgrx::datum::TimestampWithTimeZone::try_from((due - 946_684_800_000) * 1000).ok())
                    .flatten(),
            )
        })
        .collect();
    TableIterator::new(rows)
}
