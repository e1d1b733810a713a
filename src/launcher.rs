//! The launcher (only with pg_idp in `shared_preload_libraries`): one background worker,
//! connected to no database, that serves every database where a superuser installed pg_idp.
//!
//! Once a second (at once when a backend sets its latch) it
//! - lists the cluster's databases from the shared catalog `pg_database` (templates and
//!   databases that refuse connections are never served, nor, when `idp.worker_database` or
//!   `idp.login_databases` is set, a database they do not name) and keeps an entry for each in
//!   shared memory (`served.rs`), dropping the entry, the login snapshot and the counters of a
//!   database that is gone;
//! - starts a job (`job.rs`, a short background worker in that database) where one is due: a
//!   database not looked at yet; a committed change to its registry, or pg_idp created, updated or
//!   dropped there; a provider's keys due, or asked for early; and, where its WAL moved without
//!   telling us (a standby replaying changes), every `idp.check_interval`; on a primary, every six
//!   intervals in any case; a database whose last job failed, after an interval;
//! - runs at most `idp.max_workers` jobs at once, so the processes it costs do not grow with the
//!   number of databases;
//! - vouches for a served database's login snapshot while nothing can have changed since its
//!   last job (no change told, and on a standby no WAL replayed): the validator refuses a
//!   snapshot not vouched for within three check intervals.
//!
//! It finds databases with catalog reads only and never runs anything in one; jobs do that, and
//! trust only what `trusted.rs` verifies.

use std::collections::HashMap;
use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, DynamicBackgroundWorker, SignalWakeFlags};
use pgrx::prelude::*;

use crate::served::{self, State};

/// How often the launcher goes round its loop when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// A database that is not installed or not trustworthy is looked at again this often on a
/// standby (a primary is told when pg_idp is created or updated in a database).
const PROBE_AGAIN_MS: i64 = 60_000;
/// Warnings about the same database (no free worker slot, failed jobs) at most this often.
const WARN_EVERY_MS: i64 = 60_000;

/// Called from `_PG_init` when preloading: register the launcher.
pub fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    let builder = BackgroundWorkerBuilder::new("pg_idp launcher")
        .set_type("pg_idp launcher")
        .set_function("pg_idp_launcher_main")
        .set_library("pg_idp")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(10)));
    // On 18 jobs also keep the login snapshots, on standbys too: it starts as soon as the server
    // accepts read-only connections. Before 18 there is nothing to do on a standby.
    #[cfg(feature = "pg18")]
    let builder = builder.set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState);
    #[cfg(not(feature = "pg18"))]
    let builder = builder.set_start_time(pgrx::bgworkers::BgWorkerStartTime::RecoveryFinished);
    builder.load();
}

/// A database as `pg_database` lists it.
struct Database {
    oid: u32,
    name: String,
    /// Templates, databases that refuse connections and those half dropped are never served.
    servable: bool,
}

/// Every database of the cluster (a scan of the shared catalog, in a transaction).
fn databases() -> Vec<Database> {
    // SAFETY: a catalog scan of pg_database inside the caller's transaction, with the catalog
    // snapshot; the scan and the relation are closed before returning.
    unsafe {
        let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let scan =
            pg_sys::systable_beginscan(rel, pg_sys::InvalidOid, false, std::ptr::null_mut(), 0, std::ptr::null_mut());
        let mut out = Vec::new();
        loop {
            let tup = pg_sys::systable_getnext(scan);
            if tup.is_null() {
                break;
            }
            let header = (*tup).t_data;
            let form = (header as *const u8).add((*header).t_hoff as usize) as *const pg_sys::FormData_pg_database;
            let name = std::ffi::CStr::from_ptr((*form).datname.data.as_ptr()).to_string_lossy().into_owned();
            out.push(Database {
                oid: (*form).oid.to_u32(),
                name,
                // -2: DATCONNLIMIT_INVALID_DB, a DROP DATABASE that was interrupted.
                servable: (*form).datallowconn && !(*form).datistemplate && (*form).datconnlimit != -2,
            });
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        out
    }
}

/// A job the launcher started, until it stops.
struct Running {
    oid: u32,
    worker: DynamicBackgroundWorker,
    started_ms: i64,
}

/// Why a job is due, most urgent first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Due {
    /// A change was told, or the database was never looked at.
    Now,
    /// A provider's keys are due, or were asked for.
    Refresh,
    /// Time to look again.
    Check,
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_idp_launcher_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    // No database: the launcher reads only shared catalogs.
    BackgroundWorker::connect_worker_to_spi(None, None);
    served::launcher_started();
    // Whatever an earlier launcher left is not vouched for by this one.
    for e in served::entries() {
        if e.oid() != 0 {
            served::remove(e);
        }
    }
    #[cfg(feature = "pg18")]
    crate::snapshot::remove_all();
    log!("pg_idp: launcher started");
    let mut running: Vec<Running> = Vec::new();
    // Per database: when its last job failed (to wait an interval), and when we last warned.
    let mut failed: HashMap<u32, i64> = HashMap::new();
    let mut warned: HashMap<u32, i64> = HashMap::new();
    let mut warned_full = 0i64;
    // SAFETY: reads a process global.
    let my_pid = unsafe { pg_sys::MyProcPid };
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration files, as any process does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        served::launcher_beat();
        let now = served::now_ms();
        // Jobs that ended: a job that did not record a finished look failed.
        running.retain(|r| match r.worker.pid() {
            Ok(_) => true,
            Err(pgrx::bgworkers::BackgroundWorkerStatus::NotYetStarted) => true,
            Err(_) => {
                if let Some(e) = served::entry(r.oid) {
                    e.set_job_pid(0);
                    if e.checked_at() < r.started_ms {
                        failed.insert(r.oid, now);
                    } else {
                        failed.remove(&r.oid);
                    }
                }
                false
            }
        });
        let dbs = BackgroundWorker::transaction(databases);
        let allowed = crate::gucs::allowed_databases();
        let serve = |d: &Database| d.servable && allowed.as_ref().is_none_or(|a| a.contains(&d.name));
        // Entries of databases gone or no longer allowed.
        for e in served::entries() {
            let oid = e.oid();
            if oid == 0 || dbs.iter().any(|d| d.oid == oid && serve(d)) {
                continue;
            }
            if running.iter().any(|r| r.oid == oid) {
                continue; // removed once its job has ended
            }
            #[cfg(feature = "pg18")]
            crate::snapshot::remove(pg_sys::Oid::from(oid));
            served::remove(e);
            failed.remove(&oid);
            if !dbs.iter().any(|d| d.oid == oid) {
                crate::stats::forget_database(oid); // the database is gone
            }
        }
        // New databases.
        for d in dbs.iter().filter(|d| serve(d)) {
            if served::entry(d.oid).is_none() && served::add(d.oid).is_none() && now - warned_full >= WARN_EVERY_MS {
                warning!(
                    "pg_idp: more than {} databases: database \"{}\" is not served",
                    served::MAX_DATABASES,
                    d.name
                );
                warned_full = now;
            }
        }
        // What is due, and vouching for what is not.
        let lsn = crate::job::wal_position();
        // SAFETY: reads shared recovery state.
        let recovery = unsafe { pg_sys::RecoveryInProgress() };
        let interval = crate::gucs::check_interval().as_millis() as i64;
        let mut due: Vec<(Due, u32)> = Vec::new();
        for e in served::entries() {
            let oid = e.oid();
            if oid == 0 || running.iter().any(|r| r.oid == oid) {
                continue;
            }
            let since = now - e.checked_at();
            let retry_ok = failed.get(&oid).is_none_or(|t| now - t >= interval);
            let why = match e.state() {
                None | Some(State::Unknown) => Some(Due::Now),
                Some(State::NotInstalled) | Some(State::Untrusted) => {
                    if e.has_changes() || (recovery && since >= PROBE_AGAIN_MS && e.verified_lsn() != lsn) {
                        Some(Due::Now)
                    } else if e.state() == Some(State::Untrusted) && since >= PROBE_AGAIN_MS {
                        Some(Due::Check)
                    } else {
                        None
                    }
                }
                Some(State::Serving) => {
                    if e.has_changes() {
                        Some(Due::Now)
                    } else if !recovery && (e.has_requests() || (e.refresh_due() != 0 && now >= e.refresh_due())) {
                        Some(Due::Refresh)
                    } else if (recovery && e.verified_lsn() != lsn && since >= interval)
                        || (!recovery && since >= 6 * interval)
                    {
                        Some(Due::Check)
                    } else {
                        None
                    }
                }
            };
            match why {
                Some(w) if retry_ok => due.push((w, oid)),
                Some(_) => {}
                None => {
                    // Nothing can have changed since the last job: vouch for it (a standby whose
                    // WAL moved waits for its next look instead).
                    if e.state() == Some(State::Serving)
                        && !failed.contains_key(&oid)
                        && (!recovery || e.verified_lsn() == lsn)
                    {
                        e.vouch();
                    }
                }
            }
        }
        due.sort();
        for (_, oid) in due {
            if running.len() >= crate::gucs::max_workers() {
                break;
            }
            match BackgroundWorkerBuilder::new("pg_idp job")
                .set_type("pg_idp job")
                .set_function("pg_idp_job_main")
                .set_library("pg_idp")
                .set_argument(Some(pg_sys::Datum::from(oid)))
                .enable_spi_access()
                .set_restart_time(None)
                // On a standby too (the login snapshots); the launcher itself starts only when
                // there is something to do there.
                .set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState)
                .set_notify_pid(my_pid)
                .load_dynamic()
            {
                Ok(worker) => {
                    if let Some(e) = served::entry(oid) {
                        e.job_started();
                    }
                    running.push(Running { oid, worker, started_ms: now })
                }
                Err(_) => {
                    if warned.get(&oid).is_none_or(|t| now - t >= WARN_EVERY_MS) {
                        warning!(
                            "pg_idp: no free background worker slot for a job (raise max_worker_processes); database oid {oid} waits"
                        );
                        warned.insert(oid, now);
                    }
                    break;
                }
            }
        }
        if !BackgroundWorker::wait_latch(Some(TICK)) {
            break;
        }
    }
    for r in running {
        let _ = r.worker.terminate();
    }
    served::launcher_stopped();
    #[cfg(feature = "pg18")]
    crate::snapshot::remove_all();
    log!("pg_idp: launcher stopped");
    // Exit status 1, as a FATAL would: a launcher stopped while the server runs
    // (pg_terminate_backend) is started again after its restart time, where status 0 would
    // unregister it for good. At shutdown the postmaster restarts nothing.
    // SAFETY: ends the process the way PostgreSQL's own processes do.
    unsafe { pg_sys::proc_exit(1) }
}
