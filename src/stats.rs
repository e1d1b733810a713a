//! Cluster-wide counters (`idp.stats`) and provider health (`idp.provider_health`), in shared
//! memory (only with pg_idp in `shared_preload_libraries`).
//!
//! One slot per (database, provider) pair, for every database of the cluster, hot standbys
//! included (nothing here is written to a table, so a standby counts its own verifications and
//! its own refreshes). A slot is found or made once per backend under the `pg_idp_stats`
//! LWLock, and its index is kept in a backend-local map; from then on counting is a relaxed
//! atomic add on the slot's counters, with no lock. Slots are never freed (a reset zeroes them),
//! so a kept index stays valid for the backend's life. Tokens no provider was found for
//! (`malformed`, `unknown_issuer`, ...) are counted in the database's slot without a provider.
//!
//! Health (the last refresh attempt, success and error of a provider's JWKS, and the next one
//! the worker has scheduled) is written under the same LWLock by whoever fetches the keys: the
//! refresh worker, `refresh_jwks`, `discover`, `register_provider`. It is not kept across a
//! restart; the key set itself, its ids and when it was stored are in the registry.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use pg_idp_core::{ErrorCode, VerifyError};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic, PgLwLock};

/// (database, provider) pairs kept; when all are taken, new pairs are not counted (a WARNING
/// says so once per backend).
pub const SLOTS: usize = 512;
/// Provider names are 1 to 63 bytes (core's `parse_provider`).
const NAME_MAX: usize = 64;
/// A refresh error message is kept up to this many bytes (cut at a character boundary).
const MESSAGE_MAX: usize = 256;
const CODE_MAX: usize = 32;
/// The failure counters, one per error code, in `ErrorCode::ALL` order.
pub const CODES: usize = ErrorCode::ALL.len();
/// A timestamp that was never set (shown as NULL).
const NEVER: i64 = i64::MIN;
/// One second, in TimestampTz units (microseconds).
const SECOND: i64 = 1_000_000;

/// Which pair a slot counts.
#[derive(Clone, Copy)]
pub struct Key {
    dbid: u32,
    /// 0: no provider (a token no provider was found for).
    len: u8,
    name: [u8; NAME_MAX],
}

impl Key {
    const EMPTY: Key = Key { dbid: 0, len: 0, name: [0; NAME_MAX] };

    fn new(dbid: u32, provider: &str) -> Key {
        let mut k = Key { dbid, len: provider.len().min(NAME_MAX) as u8, name: [0; NAME_MAX] };
        k.name[..k.len as usize].copy_from_slice(&provider.as_bytes()[..k.len as usize]);
        k
    }

    fn is(&self, dbid: u32, provider: &str) -> bool {
        self.dbid == dbid && &self.name[..self.len as usize] == provider.as_bytes()
    }

    /// The provider, `None` for the slot of tokens no provider was found for.
    fn provider(&self) -> Option<String> {
        (self.len > 0).then(|| String::from_utf8_lossy(&self.name[..self.len as usize]).into_owned())
    }
}

/// A bounded string kept in shared memory.
#[derive(Clone, Copy)]
struct Bounded<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> Bounded<N> {
    const EMPTY: Self = Bounded { len: 0, bytes: [0; N] };

    fn set(&mut self, s: &str) {
        let mut n = s.len().min(N);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        self.len = n as u16;
    }

    fn get(&self) -> Option<String> {
        (self.len > 0).then(|| String::from_utf8_lossy(&self.bytes[..self.len as usize]).into_owned())
    }
}

/// A provider's JWKS refreshes, as seen by this server since it started.
#[derive(Clone, Copy)]
pub struct Health {
    last_attempt: i64,
    last_success: i64,
    last_error_at: i64,
    next_refresh: i64,
    error_code: Bounded<CODE_MAX>,
    error_message: Bounded<MESSAGE_MAX>,
}

impl Health {
    const EMPTY: Health = Health {
        last_attempt: NEVER,
        last_success: NEVER,
        last_error_at: NEVER,
        next_refresh: NEVER,
        error_code: Bounded::EMPTY,
        error_message: Bounded::EMPTY,
    };
}

/// The slots' keys and health: read and written under the LWLock.
pub struct Directory {
    used: usize,
    keys: [Key; SLOTS],
    health: [Health; SLOTS],
}

impl Default for Directory {
    fn default() -> Self {
        Directory { used: 0, keys: [Key::EMPTY; SLOTS], health: [Health::EMPTY; SLOTS] }
    }
}

impl Directory {
    fn find(&self, dbid: u32, provider: &str) -> Option<usize> {
        self.keys[..self.used].iter().position(|k| k.is(dbid, provider))
    }
}

/// One slot's counters: atomics, counted without the lock.
pub struct Counters {
    cache_hits: AtomicU64,
    successes: AtomicU64,
    failures: [AtomicU64; CODES],
    last_success: AtomicI64,
    last_failure: AtomicI64,
    /// 1 + the index in `ErrorCode::ALL` of the last failure; 0: none.
    last_failure_code: AtomicU32,
    stats_reset: AtomicI64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            cache_hits: AtomicU64::new(0),
            successes: AtomicU64::new(0),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            last_success: AtomicI64::new(NEVER),
            last_failure: AtomicI64::new(NEVER),
            last_failure_code: AtomicU32::new(0),
            stats_reset: AtomicI64::new(NEVER),
        }
    }
}

impl Counters {
    fn zero(&self, at: i64) {
        self.cache_hits.store(0, Ordering::Relaxed);
        self.successes.store(0, Ordering::Relaxed);
        for f in &self.failures {
            f.store(0, Ordering::Relaxed);
        }
        self.last_success.store(NEVER, Ordering::Relaxed);
        self.last_failure.store(NEVER, Ordering::Relaxed);
        self.last_failure_code.store(0, Ordering::Relaxed);
        self.stats_reset.store(at, Ordering::Relaxed);
    }

    /// `last_success` is kept to the second: most calls find it recent enough and write nothing
    /// (one read instead of a compare-and-swap on every call).
    fn succeeded_at(&self, at: i64) {
        if self.last_success.load(Ordering::Relaxed) <= at - SECOND {
            self.last_success.fetch_max(at, Ordering::Relaxed);
        }
    }
}

/// Every slot's counters.
pub struct AllCounters {
    slots: [Counters; SLOTS],
}

impl Default for AllCounters {
    fn default() -> Self {
        AllCounters { slots: std::array::from_fn(|_| Counters::default()) }
    }
}

// SAFETY: plain data (integers and byte arrays, no pointers), valid at any address and in any
// process; written only under the LWLock that PgLwLock puts around it.
unsafe impl pgrx::shmem::PGRXSharedMemory for Directory {}
// SAFETY: plain atomics, valid in shared memory.
unsafe impl pgrx::shmem::PGRXSharedMemory for AllCounters {}

static DIRECTORY: PgLwLock<Directory> = unsafe { PgLwLock::new(c"pg_idp_stats") };
static COUNTERS: PgAtomic<AllCounters> = unsafe { PgAtomic::new(c"pg_idp_stats_counters") };
/// True in processes started by a postmaster that preloaded pg_idp (the shared memory exists).
static READY: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This backend's slot of each provider (in its database); `None`: no slot was free. A few
    /// entries (the providers this backend has seen), searched by comparing names: cheaper than
    /// hashing the name on every call.
    static SLOT_OF: RefCell<Vec<(Box<str>, Option<usize>)>> = const { RefCell::new(Vec::new()) };
}

/// Called from `_PG_init`: set up the shared memory, when preloading.
// pg_shmem_init! tests features for PostgreSQL versions this crate does not declare.
#[allow(unexpected_cfgs)]
pub fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    pg_shmem_init!(DIRECTORY);
    pg_shmem_init!(COUNTERS);
    READY.store(true, Ordering::Relaxed);
}

/// Whether the counters exist (pg_idp was preloaded).
pub fn available() -> bool {
    READY.load(Ordering::Relaxed)
}

fn now() -> i64 {
    // SAFETY: reads the clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

fn statement_ts() -> i64 {
    // SAFETY: reads backend-local transaction state.
    unsafe { pg_sys::GetCurrentStatementStartTimestamp() }
}

fn database() -> u32 {
    // SAFETY: a backend global, set once the process is connected to its database.
    unsafe { pg_sys::MyDatabaseId }.to_u32()
}

/// The slot of `provider` ("": none) in this backend's database: from the backend's map, else
/// found or made under the LWLock.
#[inline]
fn slot(provider: &str) -> Option<usize> {
    if let Some(s) = SLOT_OF.with(|m| m.borrow().iter().find(|(p, _)| **p == *provider).map(|(_, s)| *s)) {
        return s;
    }
    let s = find_or_make(database(), provider);
    if s.is_none() {
        warning!(
            "pg_idp: idp.stats has no free slot ({SLOTS} database/provider pairs in use): tokens of provider \"{}\" in this database are not counted",
            provider.escape_default()
        );
    }
    SLOT_OF.with(|m| m.borrow_mut().push((provider.into(), s)));
    s
}

fn find_or_make(dbid: u32, provider: &str) -> Option<usize> {
    if let Some(i) = DIRECTORY.share().find(dbid, provider) {
        return Some(i);
    }
    let mut d = DIRECTORY.exclusive();
    if let Some(i) = d.find(dbid, provider) {
        return Some(i);
    }
    if d.used == SLOTS {
        return None;
    }
    let i = d.used;
    d.keys[i] = Key::new(dbid, provider);
    d.health[i] = Health::EMPTY;
    // Nobody knows slot i before `used` covers it.
    COUNTERS.get().slots[i].zero(now());
    d.used += 1;
    Some(i)
}

#[inline]
fn counters(provider: &str) -> Option<&'static Counters> {
    if !available() || !crate::gucs::track_stats() {
        return None;
    }
    slot(provider).map(|i| &COUNTERS.get().slots[i])
}

/// A token answered from this backend's cache of verified tokens.
#[inline]
pub fn cache_hit(provider: &str) {
    if let Some(c) = counters(provider) {
        c.cache_hits.fetch_add(1, Ordering::Relaxed);
        c.succeeded_at(statement_ts());
    }
}

/// A token verified (signature and claims checked).
pub fn verified(provider: &str) {
    if let Some(c) = counters(provider) {
        c.successes.fetch_add(1, Ordering::Relaxed);
        c.succeeded_at(statement_ts());
    }
}

/// A token rejected by a verification.
pub fn rejected(e: &VerifyError) {
    if let Some(c) = counters(e.provider.as_deref().unwrap_or("")) {
        let code = ErrorCode::ALL.iter().position(|c| *c == e.code).unwrap_or(0);
        c.failures[code].fetch_add(1, Ordering::Relaxed);
        c.last_failure.store(now(), Ordering::Relaxed);
        c.last_failure_code.store(code as u32 + 1, Ordering::Relaxed);
    }
}

/// Change `provider`'s health record (in this database), when the shared memory exists.
fn with_health(provider: &str, f: impl FnOnce(&mut Health)) {
    if !available() || provider.is_empty() {
        return;
    }
    if let Some(i) = slot(provider) {
        f(&mut DIRECTORY.exclusive().health[i]);
    }
}

/// A fetch of `provider`'s JWKS begins.
pub fn refresh_started(provider: &str) {
    with_health(provider, |h| h.last_attempt = now());
}

/// `provider`'s JWKS was fetched and stored.
pub fn refresh_succeeded(provider: &str) {
    with_health(provider, |h| h.last_success = now());
}

/// A fetch of `provider`'s JWKS failed (the keys stay): its code and message (never a secret:
/// the same text the refresh's error or WARNING carries).
pub fn refresh_failed(provider: &str, code: &str, message: &str) {
    with_health(provider, |h| {
        h.last_error_at = now();
        h.error_code.set(code);
        h.error_message.set(message);
    });
}

/// The refresh worker will refresh `provider` again in `after`.
pub fn refresh_scheduled(provider: &str, after: std::time::Duration) {
    let at = now().saturating_add(after.as_micros().min(i64::MAX as u128) as i64);
    with_health(provider, |h| h.next_refresh = at);
}

/// When `provider`'s keys (in this database) were last fetched, and when they are next due, as
/// the refresh history records them (TimestampTz; `None` when not recorded).
pub fn refresh_times(provider: &str) -> (Option<i64>, Option<i64>) {
    if !available() {
        return (None, None);
    }
    let d = DIRECTORY.share();
    match d.find(database(), provider) {
        Some(i) => {
            let h = &d.health[i];
            let set = |v: i64| (v != NEVER).then_some(v);
            (set(h.last_attempt), set(h.next_refresh))
        }
        None => (None, None),
    }
}

/// `provider` was unregistered: its refresh history goes (a transaction that rolls the removal
/// back loses it too: it is history, not state).
pub fn forget_health(provider: &str) {
    if !available() {
        return;
    }
    let dbid = database();
    let mut d = DIRECTORY.exclusive();
    if let Some(i) = d.find(dbid, provider) {
        d.health[i] = Health::EMPTY;
    }
}

/// A timestamp for SQL (`None` when never set).
fn ts(v: i64) -> Option<pgrx::datum::TimestampWithTimeZone> {
    (v != NEVER).then(|| pgrx::datum::TimestampWithTimeZone::try_from(v).ok()).flatten()
}

/// One row of `idp.stats`.
pub struct StatsRow {
    pub dbid: pg_sys::Oid,
    pub provider: Option<String>,
    pub cache_hits: i64,
    pub successes: i64,
    pub failures: i64,
    pub failures_by_code: serde_json::Value,
    pub last_success: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_failure: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_failure_code: Option<String>,
    pub stats_reset: Option<pgrx::datum::TimestampWithTimeZone>,
}

/// Every slot, in the order they were made.
pub fn rows() -> Vec<StatsRow> {
    let keys: Vec<Key> = {
        let d = DIRECTORY.share();
        d.keys[..d.used].to_vec()
    };
    let all = &COUNTERS.get().slots;
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let c = &all[i];
            let mut by_code = serde_json::Map::new();
            let mut failures = 0i64;
            for (code, n) in ErrorCode::ALL.iter().zip(c.failures.iter()) {
                let n = n.load(Ordering::Relaxed) as i64;
                if n > 0 {
                    by_code.insert(code.as_str().to_string(), n.into());
                    failures += n;
                }
            }
            let last_code = c.last_failure_code.load(Ordering::Relaxed) as usize;
            StatsRow {
                dbid: pg_sys::Oid::from(k.dbid),
                provider: k.provider(),
                cache_hits: c.cache_hits.load(Ordering::Relaxed) as i64,
                successes: c.successes.load(Ordering::Relaxed) as i64,
                failures,
                failures_by_code: serde_json::Value::Object(by_code),
                last_success: ts(c.last_success.load(Ordering::Relaxed)),
                last_failure: ts(c.last_failure.load(Ordering::Relaxed)),
                last_failure_code: last_code
                    .checked_sub(1)
                    .and_then(|i| ErrorCode::ALL.get(i))
                    .map(|c| c.as_str().into()),
                stats_reset: ts(c.stats_reset.load(Ordering::Relaxed)),
            }
        })
        .collect()
}

/// Zero the counters of this database's slots (of `provider` only, when given); returns how
/// many slots were reset.
pub fn reset(provider: Option<&str>) -> i64 {
    let dbid = database();
    let at = now();
    let d = DIRECTORY.share();
    let mut n = 0;
    for (i, k) in d.keys[..d.used].iter().enumerate() {
        if k.dbid == dbid && provider.is_none_or(|p| k.is(dbid, p)) {
            COUNTERS.get().slots[i].zero(at);
            n += 1;
        }
    }
    n
}

/// One row of the shared-memory part of `idp.provider_health`.
pub struct HealthRow {
    pub provider: String,
    pub last_attempt: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_success: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_error_at: Option<pgrx::datum::TimestampWithTimeZone>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub next_refresh: Option<pgrx::datum::TimestampWithTimeZone>,
}

/// The refresh health of this database's providers.
pub fn health_rows() -> Vec<HealthRow> {
    let dbid = database();
    let d = DIRECTORY.share();
    d.keys[..d.used]
        .iter()
        .zip(d.health.iter())
        .filter(|(k, _)| k.dbid == dbid && k.len > 0)
        .map(|(k, h)| HealthRow {
            provider: k.provider().unwrap_or_default(),
            last_attempt: ts(h.last_attempt),
            last_success: ts(h.last_success),
            last_error_at: ts(h.last_error_at),
            error_code: h.error_code.get(),
            error_message: h.error_message.get(),
            next_refresh: ts(h.next_refresh),
        })
        .collect()
}
