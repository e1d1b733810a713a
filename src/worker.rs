//! The background worker that keeps providers' keys fresh (only with pg_idp in
//! `shared_preload_libraries`): every `idp.refresh_interval` (sooner when a provider's answer
//! carries a shorter `Cache-Control: max-age`) it refreshes each provider with a `jwks_uri`, and
//! within a second of a backend meeting an unknown `kid` it refreshes that provider early (at
//! most once per 30 s per provider). Failures keep the current keys and are logged; nothing is
//! written on a standby.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic};

/// Slots where backends leave the hash of a provider name that needs an early refresh.
pub struct Requests {
    slots: [AtomicU64; 16],
}

impl Default for Requests {
    fn default() -> Self {
        Requests { slots: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

// SAFETY: plain atomics, valid in shared memory.
unsafe impl pgrx::shmem::PGRXSharedMemory for Requests {}

static REQUESTS: PgAtomic<Requests> = unsafe { PgAtomic::new(c"pg_idp_refresh_requests") };
/// True in processes started by a postmaster that preloaded pg_idp (the shared memory exists).
static PRELOADED: AtomicBool = AtomicBool::new(false);
/// An early refresh of the same provider is not asked for more often than this.
const EARLY_REFRESH_MIN: Duration = Duration::from_secs(30);

thread_local! {
    static ASKED: std::cell::RefCell<HashMap<String, Instant>> = std::cell::RefCell::new(HashMap::new());
}

/// Called from `_PG_init`: set up the shared memory and register the worker, when preloading.
// pg_shmem_init! tests features for PostgreSQL versions this crate does not declare.
#[allow(unexpected_cfgs)]
pub fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    pg_shmem_init!(REQUESTS);
    PRELOADED.store(true, Ordering::Relaxed);
    let builder = BackgroundWorkerBuilder::new("pg_idp JWKS refresher")
        .set_type("pg_idp")
        .set_function("pg_idp_refresh_worker_main")
        .set_library("pg_idp")
        .enable_spi_access()
        .set_restart_time(Some(Duration::from_secs(10)));
    // On 18 the worker also keeps the login snapshot, on standbys too: it starts as soon as the
    // server accepts read-only connections.
    #[cfg(feature = "pg18")]
    let builder = builder.set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState);
    builder.load();
    #[cfg(feature = "pg18")]
    {
        let main = crate::gucs::worker_database();
        let mut seen = vec![main];
        for db in crate::gucs::login_databases() {
            if seen.contains(&db) || db.len() > 63 {
                continue;
            }
            BackgroundWorkerBuilder::new(&format!("pg_idp login snapshot {db}"))
                .set_type("pg_idp")
                .set_function("pg_idp_snapshot_worker_main")
                .set_library("pg_idp")
                .set_extra(&db)
                .enable_spi_access()
                .set_start_time(pgrx::bgworkers::BgWorkerStartTime::ConsistentState)
                .set_restart_time(Some(Duration::from_secs(10)))
                .load();
            seen.push(db);
        }
    }
}

/// Whether pg_idp is installed in this database (in a transaction; read-only, so it also
/// answers on a standby).
fn installed() -> bool {
    Spi::connect(|client| {
        client
            .select("SELECT pg_catalog.to_regclass('idp.provider_registry') IS NOT NULL", None, &[])?
            .first()
            .get_one::<bool>()
    })
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// How often a worker looks at the login snapshot (PostgreSQL 18): the bound on how long a
/// registry change takes to reach logins, besides a JWKS fetch in progress.
#[cfg(feature = "pg18")]
const TICK: Duration = Duration::from_millis(200);
#[cfg(not(feature = "pg18"))]
const TICK: Duration = Duration::from_secs(1);

/// The login snapshot of this database (PostgreSQL 18): rewritten when the registry changed
/// since the last look (relcache invalidations, which reach standbys through the WAL), when the
/// file is missing, and at least every minute; removed where pg_idp is not installed.
#[cfg(feature = "pg18")]
#[derive(Default)]
struct Snapshot {
    written: Option<Instant>,
    /// The registry epoch the file was written from (the refresh round may re-read the registry
    /// in between, so "changed since the last read" is not enough).
    epoch: Option<u64>,
    /// When a failure to write was last logged (at most once a minute).
    warned: Option<Instant>,
}

#[cfg(feature = "pg18")]
impl Snapshot {
    fn keep(&mut self) {
        BackgroundWorker::transaction(std::panic::AssertUnwindSafe(|| {
            // SAFETY: reads a backend global set when the worker connected.
            let oid = unsafe { pg_sys::MyDatabaseId };
            if !installed() {
                if self.written.take().is_some() || crate::snapshot::path(oid).exists() {
                    crate::snapshot::remove(oid);
                }
                return;
            }
            crate::registry::current();
            let epoch = crate::registry::epoch();
            let changed = self.epoch != Some(epoch);
            let due = self.written.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
            if !(changed || due || !crate::snapshot::path(oid).exists()) {
                return;
            }
            match crate::snapshot::write() {
                Ok(n) => {
                    if self.written.is_none() {
                        log!("pg_idp: login snapshot written: {n} provider(s)");
                    } else {
                        debug1!("pg_idp: login snapshot rewritten: {n} provider(s)");
                    }
                    self.written = Some(Instant::now());
                    self.epoch = Some(epoch);
                }
                Err(why) => {
                    if self.warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                        warning!("pg_idp: login snapshot not written: {why}");
                        self.warned = Some(Instant::now());
                    }
                }
            }
        }));
    }
}

/// A worker that only keeps the login snapshot of one database of `idp.login_databases`.
#[cfg(feature = "pg18")]
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_idp_snapshot_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = BackgroundWorker::get_extra().to_string();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    pin_search_path();
    log!("pg_idp: login snapshot worker started for database \"{database}\"");
    let mut snapshot = Snapshot::default();
    snapshot.keep();
    while BackgroundWorker::wait_latch(Some(TICK)) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration files, as any process does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        snapshot.keep();
    }
}

fn name_hash(name: &str) -> u64 {
    // FNV-1a, never 0 (0 is an empty slot).
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    h.max(1)
}

/// Ask the worker to refresh `provider` soon (a token named a kid it does not have). Does not
/// wait; without the worker it does nothing.
pub fn request_refresh(provider: &str) {
    if !PRELOADED.load(Ordering::Relaxed) {
        return;
    }
    let recently = ASKED.with(|a| {
        let mut a = a.borrow_mut();
        let now = Instant::now();
        match a.get(provider) {
            Some(t) if now.duration_since(*t) < EARLY_REFRESH_MIN => true,
            _ => {
                a.insert(provider.to_string(), now);
                false
            }
        }
    });
    if recently {
        return;
    }
    let h = name_hash(provider);
    let slots = &REQUESTS.get().slots;
    let start = (h % slots.len() as u64) as usize;
    for i in 0..slots.len() {
        let slot = &slots[(start + i) % slots.len()];
        match slot.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(existing) if existing == h => return,
            Err(_) => continue,
        }
    }
}

fn take_requests() -> Vec<u64> {
    REQUESTS.get().slots.iter().map(|s| s.swap(0, Ordering::AcqRel)).filter(|h| *h != 0).collect()
}

/// Providers with a `jwks_uri`, if the extension is installed in this database: read from the
/// registry the identity functions use (typed, parsed once per change), not from raw JSON.
fn providers_with_uri() -> Vec<(String, String)> {
    if !installed() {
        return Vec::new();
    }
    let (registry, _) = crate::registry::current();
    registry.providers().iter().filter_map(|p| Some((p.name.clone(), p.jwks_uri.clone()?))).collect()
}

/// `none`, `coordinator` or `worker`: this node's part in a Citus cluster (`none` also where the
/// extension, or its 0.3.0 SQL, is not installed).
fn citus_role() -> String {
    let installed = Spi::get_one::<bool>("SELECT pg_catalog.to_regprocedure('idp._citus_role()') IS NOT NULL")
        .ok()
        .flatten()
        .unwrap_or(false);
    if !installed {
        return "none".into();
    }
    Spi::get_one::<String>("SELECT idp._citus_role()").ok().flatten().unwrap_or_else(|| "none".into())
}

/// `search_path = pg_catalog, pg_temp` for the worker's whole session.
fn pin_search_path() {
    let path = c"pg_catalog, pg_temp";
    // SAFETY: what `SET search_path` does, at session level, outside any transaction (the
    // value is checked when first used); an ERROR unwinds through pg_guard.
    unsafe {
        pg_sys::SetConfigOption(
            c"search_path".as_ptr(),
            path.as_ptr(),
            pg_sys::GucContext::PGC_SUSET,
            pg_sys::GucSource::PGC_S_OVERRIDE,
        );
    }
}

/// Refresh one provider; errors are returned, never raised, so the worker keeps running. The
/// outcome is kept in the provider's health (`idp.provider_health`).
fn refresh_one(name: &str, url: &str) -> Result<(i32, Option<u64>), String> {
    crate::stats::refresh_started(name);
    let fetched = crate::http::fetch_json(url).map_err(|e| (e.code(), e.describe("JWKS", url)));
    let stored = fetched.and_then(|(jwks, max_age)| {
        let n = crate::store::replace_jwks(name, jwks).map_err(|why| ("invalid_response", format!("{url}: {why}")))?;
        Ok((n, max_age))
    });
    match &stored {
        Ok(_) => crate::stats::refresh_succeeded(name),
        Err((code, why)) => crate::stats::refresh_failed(name, code, why),
    }
    stored.map_err(|(_, why)| why)
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn pg_idp_refresh_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = crate::gucs::worker_database();
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    // The database's owner may have set a search_path (ALTER DATABASE ... SET search_path) that
    // puts their own functions and operators first; the worker runs as the bootstrap superuser,
    // so it pins its own before running anything.
    pin_search_path();
    log!("pg_idp: JWKS refresher started for database \"{database}\"");
    // When each provider is next due, and when it was last refreshed.
    let mut due: HashMap<String, Instant> = HashMap::new();
    let mut last: HashMap<String, Instant> = HashMap::new();
    // On a Citus coordinator: the registry fingerprint last copied to the workers, and when.
    let mut synced: Option<String> = None;
    let mut synced_at: Option<Instant> = None;
    #[cfg(feature = "pg18")]
    let mut snapshot = Snapshot::default();
    #[cfg(feature = "pg18")]
    snapshot.keep();
    // The refresh round runs about once a second (or at once when a backend asks); on 18 the
    // login snapshot is looked at every TICK in between.
    // The first round a second after the start, as before the snapshot's faster tick.
    let mut last_round: Option<Instant> = Some(Instant::now());
    while BackgroundWorker::wait_latch(Some(TICK)) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: re-reads the configuration files, as any process does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
            due.clear();
            last_round = None; // a round at once, with the new settings
            log!(
                "pg_idp: JWKS refresher reloaded its settings (refresh every {} s)",
                crate::gucs::refresh_interval().as_secs()
            );
        }
        #[cfg(feature = "pg18")]
        snapshot.keep();
        let requested = take_requests();
        if requested.is_empty() && last_round.is_some_and(|t| t.elapsed() < Duration::from_millis(950)) {
            continue;
        }
        last_round = Some(Instant::now());
        // SAFETY: reads shared recovery state.
        if unsafe { pg_sys::RecoveryInProgress() } {
            continue; // a standby gets its keys from the primary through the WAL
        }
        let now = Instant::now();
        let interval = crate::gucs::refresh_interval();
        let role = BackgroundWorker::transaction(citus_role);
        if role == "worker" {
            continue; // a Citus worker gets its registry from the coordinator (idp.sync_nodes)
        }
        BackgroundWorker::transaction(std::panic::AssertUnwindSafe(|| {
            for (name, url) in providers_with_uri() {
                let asked = requested.contains(&name_hash(&name))
                    && last.get(&name).is_none_or(|t| now.duration_since(*t) >= EARLY_REFRESH_MIN);
                let is_due = due.get(&name).is_none_or(|t| now >= *t);
                if !asked && !is_due {
                    continue;
                }
                last.insert(name.clone(), now);
                match refresh_one(&name, &url) {
                    Ok((n, max_age)) => {
                        let wait = max_age.map_or(interval, |m| interval.min(Duration::from_secs(m.max(1))));
                        due.insert(name.clone(), now + wait);
                        crate::stats::refresh_scheduled(&name, wait);
                        log!(
                            "pg_idp: refreshed JWKS of provider \"{name}\": {n} keys{}",
                            if asked { " (early: unknown kid)" } else { "" }
                        );
                    }
                    Err(why) => {
                        due.insert(name.clone(), now + interval);
                        crate::stats::refresh_scheduled(&name, interval);
                        warning!("pg_idp: JWKS refresh of provider \"{name}\" failed, keeping its keys: {why}");
                    }
                }
            }
        }));
        if role == "coordinator" {
            // Copy the registry to the Citus workers when it changed (or every interval, to
            // repair a worker that missed a copy).
            let full = synced_at.is_none_or(|t: Instant| now.duration_since(t) >= interval);
            BackgroundWorker::transaction(std::panic::AssertUnwindSafe(|| {
                let fingerprint = Spi::get_one::<String>("SELECT idp.registry_fingerprint()").ok().flatten();
                if fingerprint.is_some() && (full || fingerprint != synced) {
                    let behind =
                        Spi::get_one::<i64>("SELECT pg_catalog.count(*) FROM idp.sync_nodes() s WHERE NOT s.in_sync")
                            .ok()
                            .flatten()
                            .unwrap_or(-1);
                    if behind == 0 {
                        log!("pg_idp: registry copied to every Citus worker");
                    } else {
                        warning!("pg_idp: registry copy left {behind} Citus node(s) out of sync (see idp.node_registry_status())");
                    }
                    synced = fingerprint;
                    synced_at = Some(now);
                }
            }));
        }
    }
    log!("pg_idp: JWKS refresher stopped");
}
