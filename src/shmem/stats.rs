//! Cluster-wide counters (`idp.stats`) and provider health (`idp.provider_health`), in shared
//! memory (only with pg_idp in `shared_preload_libraries`).
//!
//! One slot per (database, provider) pair, for every database of the cluster, hot standbys
//! included (nothing here is written to a table, so a standby counts its own verifications and
//! its own refreshes). A slot is found or made once per backend under the `pg_idp_stats`
//! LWLock, and its index is kept in a backend-local map; from then on counting is a relaxed
//! atomic add on the slot's counters, with no lock. Tokens no provider was found for
//! (`malformed`, `unknown_issuer`, ...) are counted in the database's slot without a provider.
//!
//! One database takes at most `idp.stats_providers_per_database` provider slots (and its slot
//! without a provider), so that one database's registry owner cannot take the cluster's. The
//! slots of a database are freed (`forget_database`) when it is dropped or drops pg_idp, at
//! commit; a freed slot is made again for whoever needs one next. Freeing bumps a generation
//! that every backend compares before using its map, so no backend keeps counting into a slot
//! it no longer owns (a count already under way may still land there).
//!
//! Health (the last refresh attempt, how long it took, its success and error of a provider's
//! JWKS) is written under the same LWLock by whoever fetches the keys: the jobs, `refresh_jwks`,
//! `discover`, `register_provider`; the jobs' schedule (the next refresh, the failed or slow
//! refreshes in a row and the backoff they set) by the jobs alone. It is not kept across a
//! restart; the key set itself, its ids and when it was stored are in the registry.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use pg_idp_core::{ErrorCode, VerifyError};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgAtomic, PgLwLock};

/// (database, provider) pairs kept; when all are taken, or a database has its
/// `idp.stats_providers_per_database`, new pairs are not counted (a WARNING says so once per
/// backend).
pub(super) const SLOTS: usize = 512;
/// Provider names are 1 to 63 bytes (core's `parse_provider`).
const NAME_MAX: usize = 64;
/// A refresh error message is kept up to this many bytes (cut at a character boundary).
const MESSAGE_MAX: usize = 256;
const CODE_MAX: usize = 32;
/// The failure counters, one per error code, in `ErrorCode::ALL` order.
pub(super) const CODES: usize = ErrorCode::ALL.len();
/// The refused-login counters, one per reason: `ErrorCode::ALL`, then `ErrorCode::LOGIN`.
pub(super) const LOGIN_CODES: usize = ErrorCode::ALL.len() + ErrorCode::LOGIN.len();

/// The codes of the refused-login counters, in their order.
fn login_codes() -> impl Iterator<Item = ErrorCode> {
    ErrorCode::ALL.into_iter().chain(ErrorCode::LOGIN)
}
/// A timestamp that was never set (shown as NULL).
const NEVER: i64 = i64::MIN;
/// One second, in TimestampTz units (microseconds).
const SECOND: i64 = 1_000_000;

/// Which pair a slot counts.
#[derive(Clone, Copy)]
pub(super) struct Key {
    /// False: a free slot.
    in_use: bool,
    dbid: u32,
    /// 0: no provider (a token no provider was found for).
    len: u8,
    name: [u8; NAME_MAX],
}

impl Key {
    const EMPTY: Key = Key { in_use: false, dbid: 0, len: 0, name: [0; NAME_MAX] };

    fn new(dbid: u32, provider: &str) -> Key {
        let mut k = Key { in_use: true, dbid, len: provider.len().min(NAME_MAX) as u8, name: [0; NAME_MAX] };
        k.name[..k.len as usize].copy_from_slice(&provider.as_bytes()[..k.len as usize]);
        k
    }

    fn is(&self, dbid: u32, provider: &str) -> bool {
        self.in_use && self.dbid == dbid && &self.name[..self.len as usize] == provider.as_bytes()
    }

    /// A slot of database `dbid`.
    fn of(&self, dbid: u32) -> bool {
        self.in_use && self.dbid == dbid
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
pub(super) struct Health {
    last_attempt: i64,
    last_success: i64,
    last_error_at: i64,
    /// How long the last attempt took (microseconds; NEVER while one is under way, or none ended).
    last_duration: i64,
    next_refresh: i64,
    /// The jobs' failed or slow refreshes in a row, and the end of the backoff they set.
    failures_in_row: u32,
    backoff_until: i64,
    error_code: Bounded<CODE_MAX>,
    error_message: Bounded<MESSAGE_MAX>,
}

impl Health {
    const EMPTY: Health = Health {
        last_attempt: NEVER,
        last_success: NEVER,
        last_error_at: NEVER,
        last_duration: NEVER,
        next_refresh: NEVER,
        failures_in_row: 0,
        backoff_until: NEVER,
        error_code: Bounded::EMPTY,
        error_message: Bounded::EMPTY,
    };

    /// An attempt ended now (`at`).
    fn ended(&mut self, at: i64) {
        if self.last_attempt != NEVER {
            self.last_duration = at.saturating_sub(self.last_attempt).max(0);
        }
    }
}

/// The slots' keys and health: read and written under the LWLock.
pub(super) struct Directory {
    /// Slots at and past this index were never used (the ones before may have been freed).
    used: usize,
    keys: [Key; SLOTS],
    health: [Health; SLOTS],
}

impl Default for Directory {
    fn default() -> Self {
        Directory { used: 0, keys: [Key::EMPTY; SLOTS], health: [Health::EMPTY; SLOTS] }
    }
}

/// Why a pair got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NoSlot {
    /// All `SLOTS` are taken.
    Full,
    /// The database has its `idp.stats_providers_per_database` provider slots.
    DatabaseLimit(usize),
}

impl Directory {
    fn find(&self, dbid: u32, provider: &str) -> Option<usize> {
        self.keys[..self.used].iter().position(|k| k.is(dbid, provider))
    }

    /// Take a slot for the pair, unless the database has `per_database` provider slots (its
    /// slot without a provider does not count) or none is free. Its health starts empty; its
    /// counters are the caller's to zero.
    fn make(&mut self, dbid: u32, provider: &str, per_database: usize) -> Result<usize, NoSlot> {
        if !provider.is_empty() {
            let taken = self.keys[..self.used].iter().filter(|k| k.of(dbid) && k.len > 0).count();
            if taken >= per_database {
                return Err(NoSlot::DatabaseLimit(per_database));
            }
        }
        let i = match self.keys[..self.used].iter().position(|k| !k.in_use) {
            Some(free) => free,
            None if self.used < SLOTS => {
                self.used += 1;
                self.used - 1
            }
            None => return Err(NoSlot::Full),
        };
        self.keys[i] = Key::new(dbid, provider);
        self.health[i] = Health::EMPTY;
        Ok(i)
    }

    /// Free every slot of database `dbid`; returns their indexes.
    fn free(&mut self, dbid: u32) -> Vec<usize> {
        let mut freed = Vec::new();
        for i in 0..self.used {
            if self.keys[i].of(dbid) {
                self.keys[i] = Key::EMPTY;
                self.health[i] = Health::EMPTY;
                freed.push(i);
            }
        }
        freed
    }
}

/// One slot's counters: atomics, counted without the lock.
pub(super) struct Counters {
    cache_hits: AtomicU64,
    successes: AtomicU64,
    failures: [AtomicU64; CODES],
    last_success: AtomicI64,
    last_failure: AtomicI64,
    /// 1 + the index in `ErrorCode::ALL` of the last failure; 0: none.
    last_failure_code: AtomicU32,
    stats_reset: AtomicI64,
    /// Logins (PostgreSQL 18's OAuth validator) accepted.
    logins: AtomicU64,
    /// Logins refused, by reason (`login_codes()` order).
    login_refusals: [AtomicU64; LOGIN_CODES],
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
            logins: AtomicU64::new(0),
            login_refusals: std::array::from_fn(|_| AtomicU64::new(0)),
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
        self.logins.store(0, Ordering::Relaxed);
        for f in &self.login_refusals {
            f.store(0, Ordering::Relaxed);
        }
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
pub(super) struct AllCounters {
    slots: [Counters; SLOTS],
    /// Bumped whenever slots are freed: a backend then forgets the slots it knew.
    generation: AtomicU64,
}

impl Default for AllCounters {
    fn default() -> Self {
        AllCounters { slots: std::array::from_fn(|_| Counters::default()), generation: AtomicU64::new(0) }
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

/// The slots' generation, and the slot of each provider this backend has seen.
type SlotMap = (u64, Vec<(Box<str>, Option<usize>)>);

thread_local! {
    /// This backend's slot of each provider (in its database); `None`: it got none. A few
    /// entries (the providers this backend has seen), searched by comparing names: cheaper than
    /// hashing the name on every call. Valid while the slots' generation is the one kept here.
    static SLOT_OF: RefCell<SlotMap> = const { RefCell::new((0, Vec::new())) };
    /// This backend already said that a provider got no slot.
    static WARNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Called from `_PG_init`: set up the shared memory, when preloading.
// pg_shmem_init! tests features for PostgreSQL versions this crate does not declare.
#[allow(unexpected_cfgs)]
pub(super) fn init() {
    // SAFETY: reads a postmaster global.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    pg_shmem_init!(DIRECTORY);
    pg_shmem_init!(COUNTERS);
    READY.store(true, Ordering::Relaxed);
}

/// Free every slot of database `dboid` (its counters and its providers' health), for others to
/// take. Called when the database is dropped or drops pg_idp (`workers::hooks`), and by the
/// launcher for a database that is gone; without preloading, nothing to do.
pub(crate) fn forget_database(dboid: u32) {
    if !available() {
        return;
    }
    let mut d = DIRECTORY.exclusive();
    let freed = d.free(dboid);
    if freed.is_empty() {
        return;
    }
    let all = COUNTERS.get();
    for i in freed {
        all.slots[i].zero(NEVER);
    }
    all.generation.fetch_add(1, Ordering::Relaxed);
}

/// Whether the counters exist (pg_idp was preloaded).
pub(crate) fn available() -> bool {
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
    let generation = COUNTERS.get().generation.load(Ordering::Relaxed);
    let known = SLOT_OF.with(|m| {
        let mut m = m.borrow_mut();
        if m.0 != generation {
            *m = (generation, Vec::new());
        }
        m.1.iter().find(|(p, _)| **p == *provider).map(|(_, s)| *s)
    });
    if let Some(s) = known {
        return s;
    }
    let s = match find_or_make(database(), provider) {
        Ok(i) => Some(i),
        Err(why) => {
            if !WARNED.replace(true) {
                let reason = match why {
                    NoSlot::Full => format!("idp.stats has no free slot ({SLOTS} database/provider pairs in use)"),
                    NoSlot::DatabaseLimit(n) => {
                        format!("this database has {n} providers in idp.stats (idp.stats_providers_per_database)")
                    }
                };
                warning!(
                    "pg_idp: {reason}: tokens of provider \"{}\" in this database are not counted (nor of other providers that get no slot, without a further warning in this session)",
                    provider.escape_default()
                );
            }
            None
        }
    };
    SLOT_OF.with(|m| m.borrow_mut().1.push((provider.into(), s)));
    s
}

fn find_or_make(dbid: u32, provider: &str) -> Result<usize, NoSlot> {
    if let Some(i) = DIRECTORY.share().find(dbid, provider) {
        return Ok(i);
    }
    let mut d = DIRECTORY.exclusive();
    if let Some(i) = d.find(dbid, provider) {
        return Ok(i);
    }
    let i = d.make(dbid, provider, crate::pg::settings::stats_providers_per_database())?;
    // Nobody counts into slot i before it is found under the lock (a backend that knew it from
    // before it was freed has seen the generation change).
    COUNTERS.get().slots[i].zero(now());
    Ok(i)
}

#[inline]
fn counters(provider: &str) -> Option<&'static Counters> {
    if !available() || !crate::pg::settings::track_stats() {
        return None;
    }
    slot(provider).map(|i| &COUNTERS.get().slots[i])
}

/// A token answered from this backend's cache of verified tokens.
#[inline]
pub(crate) fn cache_hit(provider: &str) {
    if let Some(c) = counters(provider) {
        c.cache_hits.fetch_add(1, Ordering::Relaxed);
        c.succeeded_at(statement_ts());
    }
}

/// A token verified (signature and claims checked).
pub(super) fn verified(provider: &str) {
    if let Some(c) = counters(provider) {
        c.successes.fetch_add(1, Ordering::Relaxed);
        c.succeeded_at(statement_ts());
    }
}

/// A token rejected by a verification.
pub(super) fn rejected(e: &VerifyError) {
    if let Some(c) = counters(e.provider.as_deref().unwrap_or("")) {
        let code = ErrorCode::ALL.iter().position(|c| *c == e.code).unwrap_or(0);
        c.failures[code].fetch_add(1, Ordering::Relaxed);
        c.last_failure.store(now(), Ordering::Relaxed);
        c.last_failure_code.store(code as u32 + 1, Ordering::Relaxed);
    }
}

/// The counters of `provider` ("": none) in database `dbid`, found or made under the LWLock
/// without this backend's map (a login is counted before the backend has its database).
#[cfg(feature = "pg18")]
fn counters_in(dbid: u32, provider: &str) -> Option<&'static Counters> {
    if !available() || !crate::pg::settings::track_stats() || dbid == 0 {
        return None;
    }
    find_or_make(dbid, provider).ok().map(|i| &COUNTERS.get().slots[i])
}

/// A login (PostgreSQL 18's OAuth validator) to database `dbid` accepted, with a token of
/// `provider`.
#[cfg(feature = "pg18")]
pub(crate) fn login_accepted(dbid: u32, provider: &str) {
    if let Some(c) = counters_in(dbid, provider) {
        c.logins.fetch_add(1, Ordering::Relaxed);
    }
}

/// A login to database `dbid` refused, for the reason `e` gives (counted under the provider it
/// names, or the database's row without a provider).
#[cfg(feature = "pg18")]
pub(crate) fn login_refused(dbid: u32, e: &VerifyError) {
    let provider = e.provider.as_deref().filter(|p| !p.contains(',')).unwrap_or("");
    if let Some(c) = counters_in(dbid, provider) {
        let i = login_codes().position(|c| c == e.code).unwrap_or(0);
        c.login_refusals[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Change `provider`'s health record (in this database), when the shared memory exists and the
/// provider has a slot; `None` otherwise.
fn with_health<R>(provider: &str, f: impl FnOnce(&mut Health) -> R) -> Option<R> {
    if !available() || provider.is_empty() {
        return None;
    }
    slot(provider).map(|i| f(&mut DIRECTORY.exclusive().health[i]))
}

/// A fetch of `provider`'s JWKS begins.
pub(crate) fn refresh_started(provider: &str) {
    with_health(provider, |h| {
        h.last_attempt = now();
        h.last_duration = NEVER;
    });
}

/// `provider`'s JWKS was fetched and stored.
pub(crate) fn refresh_succeeded(provider: &str) {
    let at = now();
    with_health(provider, |h| {
        h.last_success = at;
        h.ended(at);
    });
}

/// A fetch of `provider`'s JWKS failed (the keys stay): its code and message (never a secret:
/// the same text the refresh's error or WARNING carries).
pub(crate) fn refresh_failed(provider: &str, code: &str, message: &str) {
    let at = now();
    with_health(provider, |h| {
        h.last_error_at = at;
        h.ended(at);
        h.error_code.set(code);
        h.error_message.set(message);
    });
}

/// A job's refresh of `provider` ended, `failed` (or slow) or not: returns how many of its
/// refreshes in a row have now failed or been slow (0 after one that was neither, and for a
/// provider without a slot, which keeps no history).
pub(crate) fn refresh_outcome(provider: &str, failed: bool) -> u32 {
    with_health(provider, |h| {
        h.failures_in_row = if failed { h.failures_in_row.saturating_add(1) } else { 0 };
        h.failures_in_row
    })
    .unwrap_or(0)
}

/// The jobs will refresh `provider` again in `after`, and neither then nor early before
/// `backoff` has passed (zero: no backoff).
pub(crate) fn refresh_scheduled(provider: &str, after: std::time::Duration, backoff: std::time::Duration) {
    let at = now();
    let micros = |d: std::time::Duration| d.as_micros().min(i64::MAX as u128) as i64;
    with_health(provider, |h| {
        h.next_refresh = at.saturating_add(micros(after));
        h.backoff_until = if backoff.is_zero() { NEVER } else { at.saturating_add(micros(backoff)) };
    });
}

/// A provider's refresh history, as the jobs schedule by it (TimestampTz; `None`: not recorded).
pub(crate) struct RefreshHistory {
    /// When its keys were last fetched (by anyone).
    pub last_attempt: Option<i64>,
    /// When the jobs refresh it next.
    pub next_refresh: Option<i64>,
    /// Before this, not even an early refresh is made (it backs off).
    pub backoff_until: Option<i64>,
}

/// `provider`'s refresh history in this database.
pub(crate) fn refresh_times(provider: &str) -> RefreshHistory {
    let none = RefreshHistory { last_attempt: None, next_refresh: None, backoff_until: None };
    if !available() {
        return none;
    }
    let d = DIRECTORY.share();
    match d.find(database(), provider) {
        Some(i) => {
            let h = &d.health[i];
            let set = |v: i64| (v != NEVER).then_some(v);
            RefreshHistory {
                last_attempt: set(h.last_attempt),
                next_refresh: set(h.next_refresh),
                backoff_until: set(h.backoff_until),
            }
        }
        None => none,
    }
}

/// `provider` was unregistered: its refresh history goes (a transaction that rolls the removal
/// back loses it too: it is history, not state).
pub(crate) fn forget_health(provider: &str) {
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
pub(crate) struct StatsRow {
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
    pub logins: i64,
    pub logins_refused: i64,
    pub login_refusals_by_code: serde_json::Value,
}

/// Every slot in use, in slot order.
pub(crate) fn rows() -> Vec<StatsRow> {
    let keys: Vec<(usize, Key)> = {
        let d = DIRECTORY.share();
        d.keys[..d.used].iter().copied().enumerate().filter(|(_, k)| k.in_use).collect()
    };
    let all = &COUNTERS.get().slots;
    keys.iter()
        .map(|&(i, k)| {
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
            let mut refusals_by_code = serde_json::Map::new();
            let mut logins_refused = 0i64;
            for (code, n) in login_codes().zip(c.login_refusals.iter()) {
                let n = n.load(Ordering::Relaxed) as i64;
                if n > 0 {
                    refusals_by_code.insert(code.as_str().to_string(), n.into());
                    logins_refused += n;
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
                logins: c.logins.load(Ordering::Relaxed) as i64,
                logins_refused,
                login_refusals_by_code: serde_json::Value::Object(refusals_by_code),
            }
        })
        .collect()
}

/// Zero the counters of this database's slots (of `provider` only, when given); returns how
/// many slots were reset.
pub(crate) fn reset(provider: Option<&str>) -> i64 {
    let dbid = database();
    let at = now();
    let d = DIRECTORY.share();
    let mut n = 0;
    for (i, k) in d.keys[..d.used].iter().enumerate() {
        if k.of(dbid) && provider.is_none_or(|p| k.is(dbid, p)) {
            COUNTERS.get().slots[i].zero(at);
            n += 1;
        }
    }
    n
}

/// One row of the shared-memory part of `idp.provider_health`.
pub(crate) struct HealthRow {
    pub provider: String,
    pub last_attempt: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_success: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_error_at: Option<pgrx::datum::TimestampWithTimeZone>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub next_refresh: Option<pgrx::datum::TimestampWithTimeZone>,
    pub last_duration: Option<pgrx::datum::Interval>,
    pub failures_in_row: i32,
    pub backoff_until: Option<pgrx::datum::TimestampWithTimeZone>,
}

/// The refresh health of this database's providers.
pub(crate) fn health_rows() -> Vec<HealthRow> {
    let dbid = database();
    let d = DIRECTORY.share();
    d.keys[..d.used]
        .iter()
        .zip(d.health.iter())
        .filter(|(k, _)| k.of(dbid) && k.len > 0)
        .map(|(k, h)| HealthRow {
            provider: k.provider().unwrap_or_default(),
            last_attempt: ts(h.last_attempt),
            last_success: ts(h.last_success),
            last_error_at: ts(h.last_error_at),
            error_code: h.error_code.get(),
            error_message: h.error_message.get(),
            next_refresh: ts(h.next_refresh),
            last_duration: (h.last_duration != NEVER)
                .then(|| pgrx::datum::Interval::new(0, 0, h.last_duration).ok())
                .flatten(),
            failures_in_row: h.failures_in_row.min(i32::MAX as u32) as i32,
            backoff_until: ts(h.backoff_until),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_database_and_freed_for_reuse() {
        let mut d = Box::<Directory>::default();
        // One database registers 520 providers: it gets 64 slots, and its slot without a
        // provider besides.
        let got = (0..520).filter(|n| d.make(1, &format!("p{n}"), 64).is_ok()).count();
        assert_eq!(got, 64);
        assert_eq!(d.make(1, "p600", 64), Err(NoSlot::DatabaseLimit(64)));
        assert!(d.make(1, "", 64).is_ok());
        // Another database still gets slots.
        assert!(d.make(2, "other", 64).is_ok());
        // A third one allowed everything takes the rest; then nobody gets one.
        let rest = (0..SLOTS).filter(|n| d.make(3, &format!("q{n}"), SLOTS).is_ok()).count();
        assert_eq!(rest, SLOTS - 66);
        assert_eq!(d.make(4, "late", 64), Err(NoSlot::Full));
        // Dropping the third frees its slots, which the fourth then takes.
        assert_eq!(d.free(3).len(), SLOTS - 66);
        assert!(d.find(3, "q0").is_none());
        let i = d.make(4, "late", 64).expect("a freed slot");
        assert!(i >= 66 && d.find(4, "late") == Some(i));
        assert_eq!(d.find(1, "p0"), Some(0));
        assert_eq!(d.free(1).len(), 65);
        assert_eq!(d.free(1).len(), 0);
    }
}
