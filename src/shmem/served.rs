//! Which databases pg_idp serves, in shared memory (only with pg_idp in
//! `shared_preload_libraries`).
//!
//! One entry per database where pg_idp is recorded as installed (`workers::installed`; and, once
//! after an upgrade from 0.5.0, per database being looked at to learn whether it is). The launcher
//! (`workers::launcher`) owns the entries: it adds one for every such database it may serve (at
//! most `idp.max_databases`, and `idp.max_databases_per_owner` of one owner that is not a
//! superuser), removes the entry of a database that is gone or no longer recorded, and starts a
//! short job (`workers::job`) in a database when something there needs doing; it records how each
//! job ended and when a failed database is tried again. A job records what it found (the database
//! is served, not installed, or not trustworthy), the login snapshot it wrote or confirmed, and
//! when a provider's keys are next due. Backends only ever bump counters and set the launcher's
//! latch: a committed registry change, an extension created or dropped, a token naming an unknown
//! key. The OAuth validator reads an entry to decide whether a login snapshot may be trusted
//! (`fresh`).
//!
//! Everything here is atomics: no lock is taken on any path a backend runs.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use pg_idp_core::schedule::{Found, Outcome};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};

/// Databases an entry can be kept for (the shared memory is allocated for this many);
/// `idp.max_databases` may lower it.
const MAX_DATABASES: usize = crate::pg::settings::MAX_DATABASES_LIMIT;
/// Early refreshes a database can have pending at once (providers named by unknown kids).
const REQUEST_SLOTS: usize = 8;

/// What the last look at a database found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum State {
    /// Not looked at yet, or something changed: a job must look.
    Unknown = 1,
    /// pg_idp is not installed there.
    NotInstalled = 2,
    /// Installed by a superuser and verified: served.
    Serving = 3,
    /// An `idp` extension whose objects a non-superuser could change: refused, never served.
    Untrusted = 4,
}

impl State {
    fn from_u32(v: u32) -> Option<State> {
        match v {
            1 => Some(State::Unknown),
            2 => Some(State::NotInstalled),
            3 => Some(State::Serving),
            4 => Some(State::Untrusted),
            _ => None,
        }
    }

    /// As `idp.served_databases()` and the logs name it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::NotInstalled => "not_installed",
            State::Serving => "serving",
            State::Untrusted => "untrusted",
        }
    }

    /// As the launcher's decisions (`pg_idp_core::schedule`) name it.
    pub(crate) fn found(self) -> Found {
        match self {
            State::Unknown => Found::Unknown,
            State::NotInstalled => Found::NotInstalled,
            State::Serving => Found::Serving,
            State::Untrusted => Found::Untrusted,
        }
    }
}

/// An outcome as stored in an entry (0: none yet).
fn outcome_code(o: Outcome) -> u32 {
    match o {
        Outcome::Succeeded => 1,
        Outcome::Failed => 2,
        Outcome::LockTimeout => 3,
        Outcome::TimedOut => 4,
    }
}

fn outcome_from(v: u32) -> Option<Outcome> {
    match v {
        1 => Some(Outcome::Succeeded),
        2 => Some(Outcome::Failed),
        3 => Some(Outcome::LockTimeout),
        4 => Some(Outcome::TimedOut),
        _ => None,
    }
}

/// One database.
pub(crate) struct Entry {
    /// The database's oid; 0: a free entry.
    oid: AtomicU32,
    state: AtomicU32,
    /// The generation of the login snapshot the last job wrote or confirmed (0: none).
    generation: AtomicU64,
    /// A hash of that snapshot's content: a job rewrites the file only when it differs.
    content: AtomicU64,
    /// When the database was last found served with its snapshot current (Unix ms; 0: never).
    verified_at: AtomicI64,
    /// The WAL position (insert on a primary, replay on a standby) a job read the registry at:
    /// while it has not moved, nothing in the database can have changed.
    verified_lsn: AtomicU64,
    /// When a job last finished here (Unix ms).
    checked_at: AtomicI64,
    /// Bumped by backends when a change to the registry commits (or pg_idp is created, updated
    /// or dropped); a job is due while it differs from `seen`.
    changes: AtomicU64,
    seen: AtomicU64,
    /// When a provider's keys are next due for a refresh (Unix ms; 0: nothing scheduled).
    refresh_due: AtomicI64,
    /// When a job last refreshed a provider early here (Unix ms).
    early_refresh_at: AtomicI64,
    /// Hashes of providers a backend asked to refresh early (0: a free slot).
    requests: [AtomicU64; REQUEST_SLOTS],
    /// The pid of the job running here (0: none).
    job_pid: AtomicI32,
    /// Jobs the launcher started here since the entry was made.
    jobs: AtomicU64,
    /// How the last job here ended (0: none yet), written by the launcher.
    outcome: AtomicU32,
    /// Jobs that failed here in a row, and when the next one is due (Unix ms), after a failure.
    failures: AtomicU32,
    retry_at: AtomicI64,
    /// How the running job failed, as the job itself saw it (0: it did not say).
    job_error: AtomicU32,
    /// On a Citus coordinator: the registry content last copied to the workers, and when.
    synced: AtomicU64,
    synced_at: AtomicI64,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            oid: AtomicU32::new(0),
            state: AtomicU32::new(State::Unknown as u32),
            generation: AtomicU64::new(0),
            content: AtomicU64::new(0),
            verified_at: AtomicI64::new(0),
            verified_lsn: AtomicU64::new(0),
            checked_at: AtomicI64::new(0),
            changes: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            refresh_due: AtomicI64::new(0),
            early_refresh_at: AtomicI64::new(0),
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            job_pid: AtomicI32::new(0),
            jobs: AtomicU64::new(0),
            outcome: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            retry_at: AtomicI64::new(0),
            job_error: AtomicU32::new(0),
            synced: AtomicU64::new(0),
            synced_at: AtomicI64::new(0),
        }
    }
}

/// The shared state.
pub(super) struct Shared {
    /// The launcher's latch (a pointer into shared memory; 0 while no launcher runs).
    launcher_latch: AtomicUsize,
    /// When the launcher last went round its loop (Unix ms).
    launcher_beat: AtomicI64,
    /// Snapshot generations are taken from here (never reused while the server runs).
    #[cfg_attr(not(feature = "pg18"), allow(dead_code))]
    generations: AtomicU64,
    entries: [Entry; MAX_DATABASES],
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            launcher_latch: AtomicUsize::new(0),
            launcher_beat: AtomicI64::new(0),
            generations: AtomicU64::new(0),
            entries: std::array::from_fn(|_| Entry::default()),
        }
    }
}

// SAFETY: plain atomics, valid in shared memory.
unsafe impl pgrx::shmem::PGRXSharedMemory for Shared {}

static SHARED: PgAtomic<Shared> = unsafe { PgAtomic::new(c"pg_idp_served") };
/// True in processes started by a postmaster that preloaded pg_idp (the shared memory exists).
static PRELOADED: AtomicBool = AtomicBool::new(false);

/// Called from `_PG_init`: set up the shared memory, when preloading.
// pg_shmem_init! tests features for PostgreSQL versions this crate does not declare.
#[allow(unexpected_cfgs)]
pub(super) fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    pg_shmem_init!(SHARED);
    PRELOADED.store(true, Ordering::Relaxed);
}

/// Whether the shared state exists (pg_idp was preloaded).
pub(super) fn available() -> bool {
    PRELOADED.load(Ordering::Relaxed)
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn shared() -> Option<&'static Shared> {
    available().then(|| SHARED.get())
}

/// The entry of database `oid`, if the launcher keeps one.
pub(crate) fn entry(oid: u32) -> Option<&'static Entry> {
    if oid == 0 {
        return None;
    }
    shared()?.entries.iter().find(|e| e.oid.load(Ordering::Acquire) == oid)
}

/// FNV-1a of a provider name, never 0 (0 is an empty slot).
pub(crate) fn name_hash(name: &str) -> u64 {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    h.max(1)
}

// --- what backends do ------------------------------------------------------------------------

/// Wake the launcher (nothing when none runs).
pub(super) fn wake_launcher() {
    let Some(s) = shared() else { return };
    let latch = s.launcher_latch.load(Ordering::Acquire);
    if latch != 0 {
        // SAFETY: the launcher stored the address of its PGPROC's latch, which lives in shared
        // memory for the server's life; setting a latch whose process has exited is harmless.
        unsafe { pg_sys::SetLatch(latch as *mut pg_sys::Latch) }
    }
}

fn my_database() -> u32 {
    // SAFETY: a backend global, set once the process is connected to its database.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

thread_local! {
    /// This transaction changed what the launcher serves in this database (told at commit).
    static PENDING: Cell<bool> = const { Cell::new(false) };
    static CALLBACK: Cell<bool> = const { Cell::new(false) };
}

#[pg_guard]
unsafe extern "C-unwind" fn at_transaction_end(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    match event {
        pg_sys::XactEvent::XACT_EVENT_COMMIT if PENDING.with(|p| p.replace(false)) => {
            // A database the launcher has no entry for yet (a new one) is added at its next look.
            if let Some(e) = entry(my_database()) {
                e.changes.fetch_add(1, Ordering::AcqRel);
            }
            wake_launcher();
        }
        pg_sys::XactEvent::XACT_EVENT_ABORT | pg_sys::XactEvent::XACT_EVENT_PARALLEL_ABORT => {
            PENDING.with(|p| p.set(false));
        }
        _ => {}
    }
}

/// Tell the launcher, when the current transaction commits, that this database's registry (or
/// pg_idp itself) changed: a job then rewrites the login snapshot at once. Called by the
/// registry tables' trigger, by CREATE / ALTER EXTENSION pg_idp, and when pg_idp is dropped.
pub(crate) fn changed_at_commit() {
    if !available() {
        return;
    }
    // SAFETY: reads backend-local state.
    if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
        return; // parallel workers never write
    }
    if !CALLBACK.with(|c| c.replace(true)) {
        // SAFETY: registers a 'static function for the rest of the backend's life.
        unsafe { pg_sys::RegisterXactCallback(Some(at_transaction_end), std::ptr::null_mut()) }
    }
    PENDING.with(|p| p.set(true));
}

/// Ask for an early refresh of `provider` in this database (a token named a kid it does not
/// have). Does not wait; without the launcher it does nothing.
pub(crate) fn request_refresh(provider: &str) {
    let Some(e) = entry(my_database()) else { return };
    let h = name_hash(provider);
    let start = (h % REQUEST_SLOTS as u64) as usize;
    for i in 0..REQUEST_SLOTS {
        let slot = &e.requests[(start + i) % REQUEST_SLOTS];
        match slot.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(existing) if existing == h => return, // already asked
            Err(_) => continue,
        }
    }
    wake_launcher();
}

// --- what the OAuth validator asks -------------------------------------------------------------

/// Whether the login snapshot of database `oid` with this `generation` may be trusted now: the
/// database is served, its snapshot is the one the last job wrote or confirmed, and that job (or
/// the launcher, while nothing could have changed) vouched for it within `bound_ms`.
#[cfg_attr(not(feature = "pg18"), allow(dead_code))]
pub(crate) fn fresh(oid: u32, generation: u64, bound_ms: i64) -> Result<(), String> {
    if !available() {
        return Err("pg_idp is not in shared_preload_libraries, so no worker keeps login snapshots".into());
    }
    let Some(e) = entry(oid) else {
        return Err("pg_idp does not serve this database (not installed, not allowed by idp.worker_database / idp.login_databases, past idp.max_databases or idp.max_databases_per_owner, or not looked at yet)".into());
    };
    match e.state() {
        Some(State::Serving) => {}
        Some(s) => return Err(format!("pg_idp does not serve this database (state: {})", s.name())),
        None => return Err("pg_idp does not serve this database".into()),
    }
    if generation == 0 || e.generation.load(Ordering::Acquire) != generation {
        return Err("the login snapshot is not the one pg_idp's worker keeps for this database".into());
    }
    let age = now_ms() - e.verified_at.load(Ordering::Acquire);
    if age > bound_ms {
        return Err(format!(
            "the login snapshot was last confirmed {} s ago (more than {} s: is pg_idp's launcher running?)",
            age / 1000,
            bound_ms / 1000
        ));
    }
    Ok(())
}

// --- what the launcher and jobs do ------------------------------------------------------------

impl Entry {
    pub(crate) fn oid(&self) -> u32 {
        self.oid.load(Ordering::Acquire)
    }
    pub(crate) fn state(&self) -> Option<State> {
        State::from_u32(self.state.load(Ordering::Acquire))
    }
    pub(crate) fn set_state(&self, s: State) {
        self.state.store(s as u32, Ordering::Release);
    }
    #[cfg_attr(not(feature = "pg18"), allow(dead_code))]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
    #[cfg_attr(not(feature = "pg18"), allow(dead_code))]
    pub(crate) fn content(&self) -> u64 {
        self.content.load(Ordering::Acquire)
    }
    /// A job wrote or confirmed the snapshot `generation` (content hash `content`), reading
    /// the registry at `lsn`.
    pub(crate) fn verified(&self, generation: u64, content: u64, lsn: u64) {
        self.content.store(content, Ordering::Release);
        self.generation.store(generation, Ordering::Release);
        self.verified_lsn.store(lsn, Ordering::Release);
        self.verified_at.store(now_ms(), Ordering::Release);
    }
    /// The launcher vouches: nothing the database holds can have changed since the last job.
    pub(crate) fn vouch(&self) {
        self.verified_at.store(now_ms(), Ordering::Release);
    }
    pub(crate) fn verified_at(&self) -> i64 {
        self.verified_at.load(Ordering::Acquire)
    }
    /// The WAL position a job looked at the database at (when it found nothing to serve).
    pub(crate) fn note_lsn(&self, lsn: u64) {
        self.verified_lsn.store(lsn, Ordering::Release);
    }
    pub(crate) fn verified_lsn(&self) -> u64 {
        self.verified_lsn.load(Ordering::Acquire)
    }
    /// The database is no longer served: no snapshot may be trusted.
    pub(crate) fn unserve(&self, s: State) {
        self.generation.store(0, Ordering::Release);
        self.content.store(0, Ordering::Release);
        self.verified_at.store(0, Ordering::Release);
        self.set_state(s);
    }
    pub(crate) fn checked_at(&self) -> i64 {
        self.checked_at.load(Ordering::Acquire)
    }
    pub(crate) fn set_checked_at(&self, ms: i64) {
        self.checked_at.store(ms, Ordering::Release);
    }
    /// The changes a job must look at (and marks them seen).
    pub(crate) fn take_changes(&self) -> bool {
        let c = self.changes.load(Ordering::Acquire);
        self.seen.swap(c, Ordering::AcqRel) != c
    }
    pub(crate) fn has_changes(&self) -> bool {
        self.changes.load(Ordering::Acquire) != self.seen.load(Ordering::Acquire)
    }
    pub(crate) fn refresh_due(&self) -> i64 {
        self.refresh_due.load(Ordering::Acquire)
    }
    pub(crate) fn set_refresh_due(&self, ms: i64) {
        self.refresh_due.store(ms, Ordering::Release);
    }
    pub(crate) fn early_refresh_at(&self) -> i64 {
        self.early_refresh_at.load(Ordering::Acquire)
    }
    pub(crate) fn set_early_refresh_at(&self, ms: i64) {
        self.early_refresh_at.store(ms, Ordering::Release);
    }
    pub(crate) fn has_requests(&self) -> bool {
        self.requests.iter().any(|r| r.load(Ordering::Acquire) != 0)
    }
    /// The providers (by name hash) asked for an early refresh, taken.
    pub(crate) fn take_requests(&self) -> Vec<u64> {
        self.requests.iter().map(|s| s.swap(0, Ordering::AcqRel)).filter(|h| *h != 0).collect()
    }
    pub(crate) fn job_pid(&self) -> i32 {
        self.job_pid.load(Ordering::Acquire)
    }
    pub(crate) fn set_job_pid(&self, pid: i32) {
        self.job_pid.store(pid, Ordering::Release);
    }
    /// Jobs started here since the entry was made.
    pub(crate) fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::Acquire)
    }
    pub(crate) fn job_started(&self) {
        self.job_error.store(0, Ordering::Release);
        self.jobs.fetch_add(1, Ordering::AcqRel);
    }
    /// How the last job ended, the failures in a row and when the next try is due.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        outcome_from(self.outcome.load(Ordering::Acquire))
    }
    pub(crate) fn failures(&self) -> u32 {
        self.failures.load(Ordering::Acquire)
    }
    pub(crate) fn retry_at(&self) -> i64 {
        self.retry_at.load(Ordering::Acquire)
    }
    /// The launcher saw the job end (`outcome`): `failures` in a row, the next try at `retry_at`.
    pub(crate) fn job_ended(&self, outcome: Outcome, failures: u32, retry_at: i64) {
        self.outcome.store(outcome_code(outcome), Ordering::Release);
        self.failures.store(failures, Ordering::Release);
        self.retry_at.store(retry_at, Ordering::Release);
    }
    /// The running job failed, and says how (before it exits).
    pub(crate) fn set_job_error(&self, outcome: Outcome) {
        self.job_error.store(outcome_code(outcome), Ordering::Release);
    }
    pub(crate) fn job_error(&self) -> Option<Outcome> {
        outcome_from(self.job_error.load(Ordering::Acquire))
    }
    /// The registry content (hash) last copied to the Citus workers, and when (Unix ms).
    pub(crate) fn synced(&self) -> (u64, i64) {
        (self.synced.load(Ordering::Acquire), self.synced_at.load(Ordering::Acquire))
    }
    pub(crate) fn set_synced(&self, content: u64) {
        self.synced.store(content, Ordering::Release);
        self.synced_at.store(now_ms(), Ordering::Release);
    }
}

/// The launcher's view of all entries.
pub(crate) fn entries() -> &'static [Entry] {
    shared().map_or(&[], |s| &s.entries[..])
}

/// Take a free entry for database `oid` (None: all taken).
pub(crate) fn add(oid: u32) -> Option<&'static Entry> {
    let s = shared()?;
    let e = s.entries.iter().find(|e| e.oid.load(Ordering::Acquire) == 0)?;
    e.unserve(State::Unknown);
    e.seen.store(e.changes.load(Ordering::Acquire), Ordering::Release);
    e.checked_at.store(0, Ordering::Release);
    e.refresh_due.store(0, Ordering::Release);
    e.early_refresh_at.store(0, Ordering::Release);
    e.job_pid.store(0, Ordering::Release);
    e.jobs.store(0, Ordering::Release);
    e.outcome.store(0, Ordering::Release);
    e.failures.store(0, Ordering::Release);
    e.retry_at.store(0, Ordering::Release);
    e.job_error.store(0, Ordering::Release);
    e.synced.store(0, Ordering::Release);
    e.synced_at.store(0, Ordering::Release);
    for r in &e.requests {
        r.store(0, Ordering::Release);
    }
    e.oid.store(oid, Ordering::Release);
    Some(e)
}

/// Free the entry (the database is gone, or no longer allowed).
pub(crate) fn remove(e: &Entry) {
    e.unserve(State::Unknown);
    e.oid.store(0, Ordering::Release);
}

/// A new snapshot generation.
#[cfg_attr(not(feature = "pg18"), allow(dead_code))]
pub(crate) fn next_generation() -> u64 {
    shared().map_or(0, |s| s.generations.fetch_add(1, Ordering::AcqRel) + 1)
}

/// The launcher is running: its latch, and a beat each time round its loop.
pub(crate) fn launcher_started() {
    if let Some(s) = shared() {
        // SAFETY: MyLatch points at this process's PGPROC latch (shared memory) once it is
        // connected; stored as an address for backends to set.
        let latch = unsafe { pg_sys::MyLatch } as usize;
        s.launcher_latch.store(latch, Ordering::Release);
        s.launcher_beat.store(now_ms(), Ordering::Release);
    }
}

pub(crate) fn launcher_beat() {
    if let Some(s) = shared() {
        s.launcher_beat.store(now_ms(), Ordering::Release);
    }
}

pub(crate) fn launcher_stopped() {
    if let Some(s) = shared() {
        s.launcher_latch.store(0, Ordering::Release);
        for e in &s.entries {
            if e.oid() != 0 {
                e.unserve(State::Unknown);
            }
        }
    }
}
