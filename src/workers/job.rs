//! A job: one short background worker in one database, started by the launcher when something
//! there needs doing, and gone when it is done. It runs as the bootstrap superuser with its
//! settings pinned, and trusts only what `registry::trusted` verifies:
//!
//! 1. it looks at pg_idp in its database: not installed, not trustworthy, or served; on a
//!    primary it keeps the record of where pg_idp is installed (`installed.rs`) true;
//! 2. where served, it reads the registry (by oid, with heap scans) and, on PostgreSQL 18, writes
//!    the login snapshot when its content changed (or confirms the one there);
//! 3. on a primary, unless the launcher asked for a look only (its confirmation lane), it
//!    refreshes the JWKS of the providers that are due, or that a backend asked for (a token
//!    named a kid they do not have), and on a Citus coordinator copies the registry to the
//!    workers.
//!
//! It is bounded in time: it waits for a lock at most `lock_timeout` (pinned, see
//! `pg::settings::job_lock_timeout`), it cancels itself once it has run `idp.job_timeout` (a
//! statement timeout armed for the whole job: the next interrupt check raises an ERROR), it starts
//! no key fetch that could not end before then, and SIGTERM (the launcher ending it 5 s later, a
//! `DROP DATABASE ... WITH (FORCE)`, a shutdown) ends it at its next interrupt check, as it ends a
//! backend. Whatever ends it, its transaction rolls back as a whole: what it records outside the
//! database (a refresh's schedule in shared memory) is recorded at commit only, and the login
//! snapshot is replaced atomically.
//!
//! What it found goes to the database's entry in shared memory (`shmem::served`); a refresh that
//! stores new keys changes the registry, which starts the next job, which rewrites the snapshot.

use std::cell::Cell;
use std::time::Duration;

use pg_idp_core::schedule::Outcome;
use pgrx::bgworkers::{BackgroundWorker, SignalWakeFlags};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

use crate::registry::tables;
use crate::registry::trusted::{self, Found, Install};
use crate::shmem::served::{self, Entry, State};

/// An early refresh of the same provider is not made more often than this.
const EARLY_REFRESH_MIN_US: i64 = 30 * 1_000_000;
/// The shortest wait before a provider's next scheduled refresh that its key server's
/// `Cache-Control: max-age` can ask for (an `idp.refresh_interval` set shorter is kept: it is the
/// superuser's).
const MAX_AGE_FLOOR: Duration = Duration::from_secs(60);
/// After a failed or slow refresh (slow: longer than half of `idp.http_timeout`), the provider's
/// next refresh, scheduled or early, waits at least this long, doubled for each further failed or
/// slow one in a row up to `BACKOFF_MAX`, less a random share of up to a quarter (so that the
/// databases sharing a key server do not all come back at once).
const BACKOFF_FIRST: Duration = Duration::from_secs(60);
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// A job's argument: the database's oid, and this bit for a job of the confirmation lane (a look
/// only: no key fetch, no Citus copy).
const LOOK_ONLY: u64 = 1 << 32;
/// Microseconds between the Unix epoch and PostgreSQL's.
const POSTGRES_EPOCH_US: i64 = 946_684_800 * 1_000_000;
/// `STATEMENT_TIMEOUT` of PostgreSQL's `TimeoutId` (utils/timeout.h): the same in 15, 16, 17 and
/// 18. Its handler (registered for every process connected to a database) cancels the current
/// query: the next interrupt check raises "canceling statement due to statement timeout".
const STATEMENT_TIMEOUT: std::ffi::c_int = 3;

unsafe extern "C-unwind" {
    /// utils/timeout.h (not in pgrx's bindings).
    fn enable_timeout_after(id: std::ffi::c_int, delay_ms: std::ffi::c_int);
    fn disable_timeout(id: std::ffi::c_int, keep_indicator: bool);
    /// tcop/tcopprot.h: a backend's SIGTERM handler (pgrx's binding of it is a Rust wrapper, not
    /// a function a signal can call).
    #[link_name = "die"]
    fn postgres_die(signal: std::ffi::c_int);
}

thread_local! {
    /// When this job must be done (Unix ms; 0: not a job).
    static DEADLINE: Cell<i64> = const { Cell::new(0) };
}

/// How long this job may still run (`None` outside a job).
pub(super) fn time_left() -> Option<Duration> {
    let deadline = DEADLINE.with(Cell::get);
    (deadline != 0).then(|| Duration::from_millis((deadline - served::now_ms()).max(0) as u64))
}

/// The argument of a job in database `oid` (`look_only`: of the confirmation lane).
pub(super) fn argument(oid: u32, look_only: bool) -> u64 {
    u64::from(oid) | if look_only { LOOK_ONLY } else { 0 }
}

/// The current WAL position: where the server inserts (primary) or has replayed (standby).
pub(super) fn wal_position() -> u64 {
    // SAFETY: reads shared WAL state.
    unsafe {
        if pg_sys::RecoveryInProgress() {
            pg_sys::GetXLogReplayRecPtr(std::ptr::null_mut())
        } else {
            pg_sys::GetXLogInsertRecPtr()
        }
    }
}

fn in_recovery() -> bool {
    // SAFETY: reads shared recovery state.
    unsafe { pg_sys::RecoveryInProgress() }
}

fn database_name(oid: pg_sys::Oid) -> String {
    // SAFETY: a catalog lookup inside the job's transaction; the name is copied.
    unsafe {
        let name = pg_sys::get_database_name(oid);
        if name.is_null() {
            format!("oid {}", oid.to_u32())
        } else {
            std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
        }
    }
}

/// Run `f` after the current transaction commits (never if it aborts).
fn at_commit(f: impl FnOnce() + std::panic::UnwindSafe + std::panic::RefUnwindSafe + 'static) {
    pgrx::register_xact_callback(pgrx::PgXactCallbackEvent::Commit, f);
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_idp_job_main(arg: pg_sys::Datum) {
    // SIGTERM as a backend takes it (die): the launcher ending the job, DROP DATABASE ... WITH
    // (FORCE) and a shutdown end it at its next interrupt check, lock waits included, with its
    // transaction rolled back. (A job keeps no state outside its transaction that this could
    // leave half written.) Installed before the signals are unblocked.
    // SAFETY: installs PostgreSQL's own handler for SIGTERM in this process, as postgres.c does
    // for a backend; signals are still blocked, as the postmaster starts a worker.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        pg_sys::pqsignal(pg_sys::SIGTERM as i32, Some(postgres_die));
        #[cfg(feature = "pg18")]
        pg_sys::pqsignal_be(pg_sys::SIGTERM as i32, Some(postgres_die));
    }
    // SIGHUP sets a flag; this unblocks the signals.
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP);
    let raw = arg.value() as u64;
    let oid = pg_sys::Oid::from(raw as u32);
    let look_only = raw & LOOK_ONLY != 0;
    let Some(entry) = served::entry(oid.to_u32()) else { return };
    // SAFETY: reads a process global.
    entry.set_job_pid(unsafe { pg_sys::MyProcPid });
    BackgroundWorker::connect_worker_to_spi_by_oid(Some(oid), None);
    let timeout = crate::pg::settings::job_timeout();
    DEADLINE.with(|d| d.set(served::now_ms() + timeout.as_millis() as i64));
    // SAFETY: arms this process's statement timeout (registered by InitPostgres, just run by the
    // connection) for the whole job; it only sets a timer and a flag.
    unsafe { enable_timeout_after(STATEMENT_TIMEOUT, timeout.as_millis().min(i32::MAX as u128) as std::ffi::c_int) };
    let result = pgrx::PgTryBuilder::new(std::panic::AssertUnwindSafe(|| {
        trusted::pin_settings();
        BackgroundWorker::transaction(std::panic::AssertUnwindSafe(|| run(entry, oid, look_only)))
            .map_err(|why| (Outcome::Failed, why))
    }))
    .catch_others(|e| {
        // SAFETY: the ERROR left a transaction half done (its resources are still held): abort
        // it, as PostgreSQL's own error recovery does, before anything else runs.
        unsafe { pg_sys::AbortCurrentTransaction() };
        Err(match e {
            CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) | CaughtError::RustPanic { ereport: r, .. } => {
                let outcome = match r.sql_error_code() {
                    PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE => Outcome::LockTimeout,
                    PgSqlErrorCode::ERRCODE_QUERY_CANCELED => Outcome::TimedOut,
                    _ => Outcome::Failed,
                };
                let why = match outcome {
                    Outcome::LockTimeout => format!(
                        "{} (it waits at most {} ms for a lock)",
                        r.message(),
                        crate::pg::settings::job_lock_timeout().as_millis()
                    ),
                    Outcome::TimedOut => format!("{} (idp.job_timeout is {} s)", r.message(), timeout.as_secs()),
                    _ => r.message().to_string(),
                };
                (outcome, why)
            }
        })
    })
    .execute();
    // SAFETY: the job is done: its statement timeout must not fire during what follows.
    unsafe { disable_timeout(STATEMENT_TIMEOUT, false) };
    match result {
        // Committed: the look is done.
        Ok(()) => entry.set_checked_at(served::now_ms()),
        Err((outcome, why)) => {
            entry.set_job_error(outcome);
            warning!(
                "pg_idp: job in database \"{}\" failed: {why}",
                BackgroundWorker::transaction(|| database_name(oid))
            );
        }
    }
    entry.set_job_pid(0);
}

/// Look, and serve (a look only: `look_only`); `Err` says why the job could not finish (the
/// launcher retries). The caller records the look as done once the transaction committed.
fn run(entry: &'static Entry, oid: pg_sys::Oid, look_only: bool) -> Result<(), String> {
    let name = database_name(oid);
    let was = entry.state();
    // Changes told from now on start another job.
    entry.take_changes();
    let lsn = wal_position();
    let found = match trusted::check_identity() {
        Err(why) => Found::Untrusted(why),
        Ok(()) => trusted::inspect()?,
    };
    // The record of where pg_idp is installed (a primary only: a standby gets the primary's).
    if !in_recovery() {
        let installed = !matches!(found, Found::NotInstalled);
        if crate::workers::installed::recorded_here() != installed {
            crate::workers::installed::record_here(installed);
            if installed {
                log!("pg_idp: database \"{name}\" has pg_idp with no record of it: recorded");
            }
        }
    }
    let install = match found {
        Found::NotInstalled => {
            stop_serving(entry, oid, State::NotInstalled, lsn);
            if was == Some(State::Serving) {
                log!("pg_idp: database \"{name}\" is no longer served: pg_idp is not installed there");
            }
            return Ok(());
        }
        Found::Untrusted(why) => {
            stop_serving(entry, oid, State::Untrusted, lsn);
            if was != Some(State::Untrusted) {
                warning!("pg_idp: database \"{name}\" is not served: {why}");
            }
            return Ok(());
        }
        Found::Installed(i) => i,
    };
    let content = tables::content(&install)?;
    keep_snapshot(entry, oid, &name, &content, lsn)?;
    entry.set_state(State::Serving);
    if was != Some(State::Serving) {
        log!("pg_idp: serving database \"{name}\": {} provider(s)", content.providers.len());
    }
    if !in_recovery() {
        match latest_snapshot(crate::cluster::citus::role) {
            // A Citus worker gets its registry, keys included, from the coordinator.
            crate::cluster::citus::CitusRole::Worker => {}
            // A look only (the launcher's confirmation lane): no key fetch, no Citus copy. A
            // database whose keys were never scheduled, or a coordinator (whose copy may be
            // behind the registry read), has a job of the other lanes made due.
            role if look_only => {
                let fetches = content.providers.iter().any(|(_, c)| c.get("jwks_uri").is_some());
                if (fetches && entry.refresh_due() == 0) || role == crate::cluster::citus::CitusRole::Coordinator {
                    entry.set_refresh_due(served::now_ms());
                }
            }
            role => {
                let requested = entry.take_requests();
                refresh(entry, &install, &content, &requested);
                if role == crate::cluster::citus::CitusRole::Coordinator {
                    keep_citus_workers_in_sync(entry, &install);
                }
            }
        }
    }
    Ok(())
}

/// `f`, reading under a snapshot taken now. The job's transaction keeps the snapshot of its
/// start for its read-only queries, while `tables::content` scans the registry under one taken when
/// it reads: a decision about what was read must see at least as much as the read did. (Citus
/// created and then a provider registered while the job ran: the provider is in what was read,
/// so Citus must be seen too, or a Citus worker would fetch keys.)
fn latest_snapshot<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: inside the job's transaction (BackgroundWorker::transaction); the snapshot pushed
    // here is popped below, or by the transaction's abort if `f` raises an error.
    unsafe { pg_sys::PushActiveSnapshot(pg_sys::GetLatestSnapshot()) };
    let r = f();
    // SAFETY: pops the snapshot pushed above, still the active one (`f` leaves the stack as it
    // found it).
    unsafe { pg_sys::PopActiveSnapshot() };
    r
}

/// The database is not (or no longer) served: no snapshot may be used for it.
fn stop_serving(entry: &Entry, oid: pg_sys::Oid, state: State, lsn: u64) {
    entry.unserve(state);
    entry.note_lsn(lsn);
    #[cfg(feature = "pg18")]
    crate::login::snapshot::remove(oid);
    #[cfg(not(feature = "pg18"))]
    let _ = oid;
    entry.set_refresh_due(0);
}

/// Write the login snapshot when its content changed (or the file is not the one recorded),
/// else confirm the one there; either way the entry then vouches for it.
#[cfg(feature = "pg18")]
fn keep_snapshot(
    entry: &Entry,
    oid: pg_sys::Oid,
    name: &str,
    content: &tables::Content,
    lsn: u64,
) -> Result<(), String> {
    let body = crate::login::snapshot::body(content, &trusted::rls_owners()?);
    let hash = crate::login::snapshot::hash(&body);
    let current = entry.generation();
    if hash == entry.content() && current != 0 && crate::login::snapshot::file_generation(oid) == Some(current) {
        entry.verified(current, hash, lsn);
        return Ok(());
    }
    let generation = served::next_generation();
    crate::login::snapshot::write(oid, name, generation, &body)?;
    entry.verified(generation, hash, lsn);
    debug1!("pg_idp: login snapshot of database \"{name}\" written: {} provider(s)", content.providers.len());
    Ok(())
}

#[cfg(not(feature = "pg18"))]
fn keep_snapshot(
    entry: &Entry,
    _oid: pg_sys::Oid,
    _name: &str,
    _content: &tables::Content,
    lsn: u64,
) -> Result<(), String> {
    entry.verified(0, 0, lsn);
    Ok(())
}

/// Refresh the providers whose keys are due, or that a backend asked for; schedule the next.
/// A provider's schedule is its refresh history (`idp.provider_health`); one without a slot
/// there (past `idp.stats_providers_per_database`) follows the database's own schedule, and
/// early refreshes are limited per database, so that neither is made at every job. A successful
/// refresh is scheduled when the job's transaction commits (a job ended before that stored no
/// keys, and its providers stay due), and after the first fetch no further one starts that could
/// not end before the job's deadline (those providers stay due, for the next job).
///
/// A key server costs its own database only: its `max-age` cannot bring the next refresh nearer
/// than `MAX_AGE_FLOOR`, and after a failed or slow refresh the provider backs off
/// (`backoff`): neither its schedule nor an early refresh asked for by an unknown kid fetches it
/// again before then. (A provider without a slot has no history to back off with: it waits a
/// whole `idp.refresh_interval` after a failure.)
fn refresh(entry: &'static Entry, install: &Install, content: &tables::Content, requested: &[u64]) {
    let now = now_us();
    let now_ms = (now + POSTGRES_EPOCH_US) / 1000;
    let interval = crate::pg::settings::refresh_interval();
    let slow = crate::pg::settings::http_timeout() / 2;
    let database_due = entry.refresh_due() == 0 || now_ms >= entry.refresh_due();
    let early_ok = now_ms - entry.early_refresh_at() >= EARLY_REFRESH_MIN_US / 1000;
    let mut early_done = false;
    let mut fetched_any = false;
    let mut next_due = i64::MAX;
    for (name, config) in &content.providers {
        let Some(url) = config.get("jwks_uri").and_then(serde_json::Value::as_str) else { continue };
        let history = crate::shmem::stats::refresh_times(name);
        let wanted = requested.contains(&served::name_hash(name));
        let asked = wanted
            && match history.last_attempt {
                Some(t) => early_allowed(now, t, history.backoff_until),
                None => early_ok,
            };
        if wanted && !asked {
            debug1!("pg_idp: early refresh of provider \"{name}\" not made: fetched under 30 s ago, or backing off");
        }
        let due = match history.next_refresh {
            Some(t) => now >= t,
            None => database_due,
        };
        if !asked && !due {
            next_due = next_due.min(history.next_refresh.unwrap_or(i64::MAX));
            continue;
        }
        // Each job fetches at least one provider (so that keys are fetched whatever the two
        // timeouts are); further fetches only while one can still end before the deadline.
        if fetched_any
            && time_left().is_some_and(|left| left < crate::pg::settings::http_timeout() + Duration::from_secs(1))
        {
            log!("pg_idp: JWKS refresh of provider \"{name}\" left for the next job: too little of idp.job_timeout is left");
            next_due = next_due.min(now);
            break;
        }
        if !trusted::names("idp.provider_registry", install.providers) {
            warning!("pg_idp: idp.provider_registry no longer names pg_idp's table: keys not refreshed");
            return;
        }
        early_done |= asked;
        fetched_any = true;
        let started = std::time::Instant::now();
        let outcome = refresh_one(name, config, url);
        let took = started.elapsed();
        let (keys, max_age, failure) = match outcome {
            Ok((Some(n), max_age)) => (n, max_age, None),
            Ok((None, _)) => {
                // Left as it is; due again at once, so the next job fetches for the new config.
                log!("pg_idp: provider \"{name}\" changed while its JWKS was fetched: left as it is");
                next_due = next_due.min(now);
                continue;
            }
            Err(why) => (0, None, Some(why)),
        };
        let in_row = crate::shmem::stats::refresh_outcome(name, failure.is_some() || took > slow);
        let back_off = backoff(in_row, jitter());
        let wait = scheduled_wait(interval, max_age, back_off);
        let backing_off = if in_row > 0 {
            format!("; {in_row} failed or slow in a row, next refresh in {} s", wait.as_secs())
        } else {
            String::new()
        };
        let succeeded = failure.is_none();
        match failure {
            None => log!(
                "pg_idp: refreshed JWKS of provider \"{name}\": {keys} keys{}{}",
                if asked { " (early: unknown kid)" } else { "" },
                if took > slow { format!(" (slow: {:.1} s{backing_off})", took.as_secs_f64()) } else { String::new() }
            ),
            Some(why) => {
                warning!("pg_idp: JWKS refresh of provider \"{name}\" failed, keeping its keys: {why}{backing_off}")
            }
        }
        if succeeded {
            let provider = name.clone();
            at_commit(move || crate::shmem::stats::refresh_scheduled(&provider, wait, back_off));
        } else {
            // A failure is a fact whatever becomes of the job: the next attempt is scheduled now.
            crate::shmem::stats::refresh_scheduled(name, wait, back_off);
        }
        next_due = next_due.min(now_us().saturating_add(wait.as_micros().min(i64::MAX as u128) as i64));
    }
    let due_ms = if next_due == i64::MAX { 0 } else { (next_due + POSTGRES_EPOCH_US) / 1000 };
    at_commit(move || {
        if early_done {
            entry.set_early_refresh_at(now_ms);
        }
        entry.set_refresh_due(due_ms);
    });
}

/// Now, as a TimestampTz (microseconds since PostgreSQL's epoch).
fn now_us() -> i64 {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// Whether a provider last fetched at `last_attempt` may be refreshed early at `now` (an unknown
/// kid asked): not within `EARLY_REFRESH_MIN_US` of its last fetch, nor during its backoff.
fn early_allowed(now: i64, last_attempt: i64, backoff_until: Option<i64>) -> bool {
    now - last_attempt >= EARLY_REFRESH_MIN_US && backoff_until.is_none_or(|until| now >= until)
}

/// The backoff after `in_row` failed or slow refreshes in a row (none for 0): `BACKOFF_FIRST`,
/// doubled for each further one, at most `BACKOFF_MAX`, less `jitter` (in [0, 1)) times a quarter.
fn backoff(in_row: u32, jitter: f64) -> Duration {
    if in_row == 0 {
        return Duration::ZERO;
    }
    let full = BACKOFF_FIRST.saturating_mul(1 << (in_row - 1).min(16)).min(BACKOFF_MAX);
    full.mul_f64(1.0 - jitter.clamp(0.0, 1.0) / 4.0)
}

/// How long until a provider's next scheduled refresh: `idp.refresh_interval`, shortened by the
/// key server's `max-age` when it sent one (never below `MAX_AGE_FLOOR`), and never before the
/// end of its `backoff`.
fn scheduled_wait(interval: Duration, max_age: Option<u64>, backoff: Duration) -> Duration {
    let wait = max_age.map_or(interval, |m| interval.min(Duration::from_secs(m).max(MAX_AGE_FLOOR)));
    wait.max(backoff)
}

/// A number in [0, 1), different at each call (std's hasher keys are random per process, and
/// change for each `RandomState`).
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Refresh one provider whose stored config was `config` when the job read it; errors are
/// returned, never raised. The outcome is kept in the provider's health (`idp.provider_health`).
/// `Ok((None, _))`: the provider changed meanwhile and was left as it is.
fn refresh_one(name: &str, config: &serde_json::Value, url: &str) -> Result<(Option<i32>, Option<u64>), String> {
    crate::shmem::stats::refresh_started(name);
    let fetched = crate::registry::fetch::fetch_json(url).map_err(|e| (e.code(), e.describe("JWKS", url)));
    let stored = fetched.and_then(|(jwks, max_age)| {
        let n = crate::registry::store::replace_jwks(name, config, jwks)
            .map_err(|why| ("invalid_response", format!("{url}: {why}")))?;
        Ok((n, max_age))
    });
    match &stored {
        Ok(_) => {
            let provider = name.to_string();
            at_commit(move || crate::shmem::stats::refresh_succeeded(&provider));
        }
        Err((code, why)) => crate::shmem::stats::refresh_failed(name, code, why),
    }
    stored.map_err(|(_, why)| why)
}

/// On a Citus coordinator: copy the registry to the workers when it changed since the last copy
/// (or every `idp.refresh_interval`, to repair a worker that missed one), sealed
/// (`cluster::citus`). The copy is read from the verified install by oid, as the rest of the job
/// reads. Citus is found from the catalogs alone, and only a superuser's `citus` extension counts.
fn keep_citus_workers_in_sync(entry: &Entry, install: &Install) {
    let copy = match crate::cluster::citus::read_copy_of(install) {
        Ok(c) => c,
        Err(why) => {
            warning!("pg_idp: the registry cannot be read for the Citus workers: {why}");
            return;
        }
    };
    let hash = served::name_hash(&copy.fingerprint());
    let (synced, at) = entry.synced();
    let interval = crate::pg::settings::refresh_interval().as_millis() as i64;
    if synced == hash && served::now_ms() - at < interval {
        return;
    }
    match crate::cluster::citus::sync_copy(&copy) {
        Ok(outcome) if outcome.behind() == 0 => log!("pg_idp: registry copied to every Citus worker"),
        Ok(outcome) => warning!(
            "pg_idp: registry copy left {} Citus node(s) out of sync (see idp.node_registry_status()): {}",
            outcome.behind(),
            outcome.why_behind()
        ),
        Err(why) => warning!("pg_idp: registry copy to the Citus workers failed: {why}"),
    }
    entry.set_synced(hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_cannot_bring_a_refresh_nearer_than_the_floor() {
        let ten_minutes = Duration::from_secs(600);
        assert_eq!(scheduled_wait(ten_minutes, None, Duration::ZERO), ten_minutes);
        assert_eq!(scheduled_wait(ten_minutes, Some(1), Duration::ZERO), MAX_AGE_FLOOR);
        assert_eq!(scheduled_wait(ten_minutes, Some(0), Duration::ZERO), MAX_AGE_FLOOR);
        assert_eq!(scheduled_wait(ten_minutes, Some(300), Duration::ZERO), Duration::from_secs(300));
        assert_eq!(scheduled_wait(ten_minutes, Some(86_400), Duration::ZERO), ten_minutes);
        // A refresh interval set below the floor is the superuser's: kept.
        assert_eq!(scheduled_wait(Duration::from_secs(2), Some(1), Duration::ZERO), Duration::from_secs(2));
        // A backoff pushes the next refresh out, past the interval if it must.
        assert_eq!(scheduled_wait(Duration::from_secs(2), Some(1), Duration::from_secs(60)), Duration::from_secs(60));
        assert_eq!(scheduled_wait(ten_minutes, None, Duration::from_secs(960)), Duration::from_secs(960));
        assert_eq!(scheduled_wait(ten_minutes, None, Duration::from_secs(60)), ten_minutes);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_less_up_to_a_quarter() {
        assert_eq!(backoff(0, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, 0.9), Duration::ZERO);
        let full: Vec<u64> = (1..=8).map(|n| backoff(n, 0.0).as_secs()).collect();
        assert_eq!(full, [60, 120, 240, 480, 960, 1800, 1800, 1800]);
        assert_eq!(backoff(u32::MAX, 0.0), BACKOFF_MAX);
        for n in 1..=10 {
            let most = backoff(n, 0.0);
            let least = backoff(n, 0.999_999);
            assert!(least <= most && least >= most.mul_f64(0.75), "{n}: {least:?} {most:?}");
        }
        assert_eq!(backoff(1, 0.5), Duration::from_millis(52_500));
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let draws: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(draws.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(draws.iter().any(|j| *j != draws[0]));
    }

    #[test]
    fn early_refreshes_wait_for_the_last_fetch_and_the_backoff() {
        let s = 1_000_000;
        assert!(!early_allowed(29 * s, 0, None));
        assert!(early_allowed(30 * s, 0, None));
        assert!(!early_allowed(40 * s, 0, Some(50 * s)));
        assert!(early_allowed(50 * s, 0, Some(50 * s)));
        assert!(!early_allowed(40 * s, 20 * s, Some(10 * s)));
    }
}
