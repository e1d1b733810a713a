//! The launcher (only with pg_idp in `shared_preload_libraries`): one background worker,
//! connected to no database, that serves every database where a superuser installed pg_idp.
//!
//! Once a second (at once when a backend sets its latch) it
//! - lists the cluster's databases from the shared catalog `pg_database`, and where pg_idp is
//!   installed from the record only a superuser can write (`installed.rs`, in the shared catalog
//!   `pg_shseclabel`): templates and databases that refuse connections are never served, nor,
//!   when `idp.worker_database` or `idp.login_databases` is set, a database they do not name;
//! - keeps an entry in shared memory (`shmem::served`) for each recorded database, at most
//!   `idp.max_databases`, and `idp.max_databases_per_owner` of one owner that is not a
//!   superuser (a WARNING names the owner past it); drops the entry, the login snapshot and the
//!   counters of a database that is gone or no longer recorded;
//! - confirms the login snapshot of a served database itself while nothing can have changed
//!   there since its last job (no change told; on a standby no WAL replayed; on a primary a look
//!   at most 12 check intervals old), whatever other databases' jobs do: the validator refuses
//!   a snapshot not confirmed within three check intervals;
//! - starts a job (`job.rs`, a short background worker in that database) where one is due
//!   (`pg_idp_core::schedule` decides: a change told, a first look, keys due, a periodic look, a
//!   retry), at most `idp.max_workers` at once, one lane of them kept for the looks of databases
//!   whose last job did not fail, and never two at once for one owner that is not a superuser;
//! - ends a job that runs past `idp.job_timeout` (the job ends itself then; the launcher
//!   terminates one still there 5 s later), and tries a database whose job failed or timed out
//!   again after a backoff (`idp.served_databases()` says why);
//! - once after an upgrade from 0.5.0 (which recorded nothing), on a primary, looks at each
//!   database that has no record with one job, so that those where pg_idp is installed are
//!   recorded; a file in `$PGDATA/pg_idp` says it was done.
//!
//! It finds databases with catalog reads only and never runs anything in one; jobs do that, and
//! trust only what `registry::trusted` verifies.

use std::collections::HashMap;
use std::time::Duration;

use pg_idp_core::schedule::{self, Busy, Candidate, Database, Discovery, Lane, Limits, Settings};
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;

use crate::shmem::served;

/// How often the launcher goes round its loop when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// Warnings about the same database or owner at most this often.
const WARN_EVERY_MS: i64 = 60_000;

/// Called from `_PG_init` when preloading: register the launcher.
pub(super) fn init() {
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
struct Db {
    oid: u32,
    name: String,
    owner: u32,
    /// Templates, databases that refuse connections and those half dropped are never served.
    servable: bool,
}

/// Every database of the cluster (a scan of the shared catalog, in a transaction).
fn databases() -> Vec<Db> {
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
            out.push(Db {
                oid: (*form).oid.to_u32(),
                name,
                owner: (*form).datdba.to_u32(),
                // -2: DATCONNLIMIT_INVALID_DB, a DROP DATABASE that was interrupted.
                servable: (*form).datallowconn && !(*form).datistemplate && (*form).datconnlimit != -2,
            });
        }
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        out
    }
}

/// What one round reads of the catalogs (in one transaction).
struct Catalog {
    dbs: Vec<Db>,
    recorded: Vec<u32>,
    /// The owners that are superusers.
    superusers: Vec<u32>,
}

fn read_catalog() -> Catalog {
    let dbs = databases();
    let recorded = crate::workers::installed::recorded();
    let mut owners: Vec<u32> = dbs.iter().map(|d| d.owner).collect();
    owners.sort_unstable();
    owners.dedup();
    // SAFETY: a lookup of the shared catalog pg_authid (through its cache) per owner.
    let superusers = owners.into_iter().filter(|o| unsafe { pg_sys::superuser_arg(pg_sys::Oid::from(*o)) }).collect();
    Catalog { dbs, recorded, superusers }
}

/// A role's name, for a warning (a lookup of the shared catalog pg_authid, in a transaction).
fn role_name(oid: u32) -> String {
    BackgroundWorker::transaction(|| {
        // SAFETY: a catalog lookup; NULL (noerr) when the role is gone, else a palloc'd copy.
        unsafe {
            let name = pg_sys::GetUserNameFromId(pg_sys::Oid::from(oid), true);
            if name.is_null() {
                format!("oid {oid}")
            } else {
                std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned()
            }
        }
    })
}

/// A job the launcher started, until it stops.
struct Running {
    oid: u32,
    handle: *mut pg_sys::BackgroundWorkerHandle,
    started_ms: i64,
    lane: Lane,
    /// The database's owner, when that is not a superuser.
    owner: Option<u32>,
    for_changes: bool,
    terminated: bool,
}

impl Running {
    /// Whether the job's process is still there (or not yet started).
    fn alive(&self) -> bool {
        let mut pid: pg_sys::pid_t = 0;
        // SAFETY: a handle the postmaster gave for a worker registered by this process; kept
        // until the worker is seen stopped.
        let status = unsafe { pg_sys::GetBackgroundWorkerPid(self.handle, &mut pid) };
        matches!(status, pg_sys::BgwHandleStatus::BGWH_STARTED | pg_sys::BgwHandleStatus::BGWH_NOT_YET_STARTED)
    }
}

/// Start a job in database `oid`; `None` when no background worker slot is free.
fn start_job(oid: u32, look_only: bool, my_pid: i32) -> Option<*mut pg_sys::BackgroundWorkerHandle> {
    let argument = super::job::argument(oid, look_only);
    let builder = BackgroundWorkerBuilder::new("pg_idp job")
        .set_type("pg_idp job")
        .set_function("pg_idp_job_main")
        .set_library("pg_idp")
        .set_argument(Some(pg_sys::Datum::from(argument as usize)))
        .enable_spi_access()
        .set_restart_time(None)
        // On a standby too (the login snapshots); the launcher itself starts only when there is
        // something to do there.
        .set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState)
        .set_notify_pid(my_pid);
    let mut worker: pg_sys::BackgroundWorker = (&builder).into();
    let mut handle: *mut pg_sys::BackgroundWorkerHandle = std::ptr::null_mut();
    // SAFETY: registers a dynamic worker described by `worker`; on success PostgreSQL sets
    // `handle` to a handle allocated in the current (the launcher's top) memory context, which is
    // kept until the worker is seen stopped.
    let ok = unsafe { pg_sys::RegisterDynamicBackgroundWorker(&mut worker, &mut handle) };
    (ok && !handle.is_null()).then_some(handle)
}

/// `$PGDATA/pg_idp/discovered`: this cluster's databases were looked at once for pg_idp
/// installed without a record (after an upgrade from 0.5.0).
fn discovery_marker() -> std::path::PathBuf {
    // SAFETY: DataDir is set by the postmaster before any worker starts, and never changes.
    let data = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) };
    std::path::PathBuf::from(data.to_string_lossy().into_owned()).join("pg_idp").join("discovered")
}

fn mark_discovered() {
    use std::os::unix::fs::DirBuilderExt;
    let path = discovery_marker();
    let written = path
        .parent()
        .map_or(Ok(()), |dir| std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir))
        .and_then(|()| {
            std::fs::write(&path, b"pg_idp: every database was looked at once for pg_idp installed without a record\n")
        });
    if let Err(e) = written {
        warning!(
            "pg_idp: cannot write {}: {e}; the databases with no record will be looked at again at the next start",
            path.display()
        );
    }
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
    crate::login::snapshot::remove_all();
    log!("pg_idp: launcher started");
    let mut running: Vec<Running> = Vec::new();
    // Warnings already given: per database (no worker slot), per owner (how many were left out),
    // and when the table was last found full.
    let mut warned_slot: HashMap<u32, i64> = HashMap::new();
    let mut warned_owner: HashMap<u32, usize> = HashMap::new();
    let mut warned_full = 0i64;
    // The once-only look for pg_idp installed without a record (None: not begun, or done).
    let mut discovery: Option<Discovery> = None;
    let mut discovery_checked = false;
    // SAFETY: reads a process global.
    let my_pid = unsafe { pg_sys::MyProcPid };
    loop {
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration files, as any process does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        served::launcher_beat();
        let now = served::now_ms();
        // SAFETY: reads shared recovery state.
        let recovery = unsafe { pg_sys::RecoveryInProgress() };
        let settings = Settings {
            check_interval_ms: crate::pg::settings::check_interval().as_millis() as i64,
            job_timeout_ms: crate::pg::settings::job_timeout().as_millis() as i64,
            max_workers: crate::pg::settings::max_workers(),
            recovery,
        };
        let catalog = BackgroundWorker::transaction(read_catalog);
        let allowed = crate::pg::settings::allowed_databases();
        let dbs: Vec<Database> = catalog
            .dbs
            .iter()
            .map(|d| Database {
                oid: d.oid,
                owner: d.owner,
                owner_is_superuser: catalog.superusers.contains(&d.owner),
                servable: d.servable,
                allowed: allowed.as_ref().is_none_or(|a| a.contains(&d.name)),
                recorded: catalog.recorded.contains(&d.oid),
            })
            .collect();
        let name_of = |oid: u32| {
            catalog
                .dbs
                .iter()
                .find(|d| d.oid == oid)
                .map_or_else(|| format!("oid {oid}"), |d| format!("\"{}\"", d.name))
        };

        // Jobs that ended: how, and when their database is tried again.
        running.retain(|r| {
            if r.alive() {
                return true;
            }
            // SAFETY: the worker stopped; its handle is not used again.
            unsafe { pg_sys::pfree(r.handle.cast()) };
            let probe = discovery.as_mut().is_some_and(|d| d.finished(r.oid));
            let Some(e) = served::entry(r.oid) else { return false };
            e.set_job_pid(0);
            let outcome = schedule::job_outcome(r.terminated, e.checked_at(), r.started_ms, e.job_error());
            let (failures, retry_at) = schedule::after_job(e.failures(), outcome, now, &settings);
            e.job_ended(outcome, failures, retry_at);
            if probe && outcome.is_failure() {
                warning!(
                    "pg_idp: database {} could not be looked at for pg_idp ({}); if pg_idp is installed there, run ALTER EXTENSION pg_idp UPDATE (or SELECT idp._launcher_notify()) there as a superuser",
                    name_of(r.oid),
                    outcome.name()
                );
            }
            false
        });

        // Once after an upgrade from 0.5.0 (on a primary): the databases that have no record.
        if !recovery && !discovery_checked {
            discovery_checked = true;
            if !discovery_marker().exists() {
                let d = Discovery::start(&dbs);
                if !d.left.is_empty() {
                    log!(
                        "pg_idp: looking once at {} database(s) with no record of pg_idp (the first start that keeps records; an install before 0.6.0 made none)",
                        d.left.len()
                    );
                }
                discovery = Some(d);
            }
        }
        if discovery.as_mut().is_some_and(|d| d.advance(&dbs, &settings)) {
            discovery = None;
            mark_discovered();
        }
        let probing: Vec<u32> = discovery.as_ref().map_or_else(Vec::new, |d| d.probing.clone());

        // Which databases have an entry.
        let entries: Vec<u32> = served::entries().iter().map(|e| e.oid()).filter(|o| *o != 0).collect();
        let busy: Vec<u32> = running.iter().map(|r| r.oid).collect();
        let limits = Limits {
            max_databases: crate::pg::settings::max_databases(),
            per_owner: crate::pg::settings::max_databases_per_owner(),
        };
        let m = schedule::membership(&dbs, &entries, &busy, &probing, &limits);
        for (oid, gone) in &m.remove {
            if let Some(e) = served::entry(*oid) {
                #[cfg(feature = "pg18")]
                crate::login::snapshot::remove(pg_sys::Oid::from(*oid));
                served::remove(e);
            }
            if *gone {
                crate::shmem::stats::forget_database(*oid);
            }
        }
        for (oid, _) in &m.remove {
            if let Some(d) = discovery.as_mut() {
                d.finished(*oid);
            }
        }
        for oid in &m.add {
            served::add(*oid);
        }
        for (owner, left_out) in &m.over_owner {
            if warned_owner.get(owner) != Some(&left_out.len()) {
                let names: Vec<String> = left_out.iter().take(5).map(|o| name_of(*o)).collect();
                warning!(
                    "pg_idp: role \"{}\" owns more than idp.max_databases_per_owner = {} databases with pg_idp: {} of them not served ({}{})",
                    role_name(*owner),
                    limits.per_owner,
                    left_out.len(),
                    names.join(", "),
                    if left_out.len() > 5 { ", ..." } else { "" }
                );
                warned_owner.insert(*owner, left_out.len());
            }
        }
        warned_owner.retain(|owner, _| m.over_owner.iter().any(|(o, _)| o == owner));
        if let Some(first) = m.over_table.first() {
            if now - warned_full >= WARN_EVERY_MS {
                warning!(
                    "pg_idp: more than idp.max_databases = {} databases with pg_idp: database {} is not served ({} left out)",
                    limits.max_databases,
                    name_of(*first),
                    m.over_table.len()
                );
                warned_full = now;
            }
        }

        // What is due, what the launcher confirms itself, and jobs past their deadline.
        let lsn = super::job::wal_position();
        let owner_of = |oid: u32| schedule::owner_limited(&dbs, oid);
        let probing: Vec<u32> = discovery.as_ref().map_or_else(Vec::new, |d| d.probing.clone());
        let mut candidates: Vec<Candidate> = Vec::new();
        for e in served::entries() {
            let oid = e.oid();
            if oid == 0 {
                continue;
            }
            let job = running.iter().find(|r| r.oid == oid);
            let view = schedule::Entry {
                found: e.state().map_or(schedule::Found::Unknown, |s| s.found()),
                looked_at: e.checked_at(),
                changes: e.has_changes(),
                refresh_due: e.refresh_due(),
                requests: e.has_requests(),
                wal_moved: e.verified_lsn() != lsn,
                failures: e.failures(),
                retry_at: e.retry_at(),
                job: job.map(|r| schedule::Job {
                    started_ms: r.started_ms,
                    for_changes: r.for_changes,
                    terminated: r.terminated,
                }),
            };
            let plan = schedule::plan(&view, now, &settings);
            if plan.vouch {
                e.vouch();
            }
            if plan.terminate {
                if let Some(r) = running.iter_mut().find(|r| r.oid == oid) {
                    warning!(
                        "pg_idp: job in database {} ran past idp.job_timeout ({} s): ended",
                        name_of(oid),
                        settings.job_timeout_ms / 1000
                    );
                    // SAFETY: asks the postmaster to send SIGTERM to a worker this process
                    // registered (it ends at its next interrupt check, its transaction rolled
                    // back); the handle stays valid until the worker is seen stopped.
                    unsafe { pg_sys::TerminateBackgroundWorker(r.handle) };
                    r.terminated = true;
                }
            }
            let probe = probing.contains(&oid);
            candidates.extend(schedule::candidate(
                oid,
                &view,
                &plan,
                probe,
                catalog.recorded.contains(&oid),
                owner_of(oid),
            ));
        }
        let busy: Vec<Busy> = running.iter().map(|r| Busy { owner: r.owner, lane: r.lane }).collect();
        for (oid, lane) in schedule::assign(candidates, &busy, settings.max_workers) {
            let Some(e) = served::entry(oid) else { continue };
            let for_changes = e.has_changes();
            match start_job(oid, lane.look_only(), my_pid) {
                Some(handle) => {
                    e.job_started();
                    running.push(Running {
                        oid,
                        handle,
                        started_ms: now,
                        lane,
                        owner: owner_of(oid),
                        for_changes,
                        terminated: false,
                    });
                }
                None => {
                    if warned_slot.get(&oid).is_none_or(|t| now - t >= WARN_EVERY_MS) {
                        warning!(
                            "pg_idp: no free background worker slot for a job (raise max_worker_processes); database oid {oid} waits"
                        );
                        warned_slot.insert(oid, now);
                    }
                    break;
                }
            }
        }
        if !BackgroundWorker::wait_latch(Some(TICK)) {
            break;
        }
    }
    for r in &running {
        // SAFETY: as above: SIGTERM to a worker this process registered.
        unsafe { pg_sys::TerminateBackgroundWorker(r.handle) };
    }
    served::launcher_stopped();
    #[cfg(feature = "pg18")]
    crate::login::snapshot::remove_all();
    log!("pg_idp: launcher stopped");
    // Exit status 1, as a FATAL would: a launcher stopped while the server runs
    // (pg_terminate_backend) is started again after its restart time, where status 0 would
    // unregister it for good. At shutdown the postmaster restarts nothing.
    // SAFETY: ends the process the way PostgreSQL's own processes do.
    unsafe { pg_sys::proc_exit(1) }
}
