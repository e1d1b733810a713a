//! What pg_idp records about each verification: the counters of `idp.stats` (see `stats`) and
//! the audit log lines of `idp.log_failures` and `idp.log_success`.
//!
//! A line names the provider (or `unknown`), the token's `kid`, pg_idp's code, the `sub` (read
//! from the payload, verified or not: it is what the token claims) and the session's
//! `application_name`; never the token, its signature or a secret. Token-controlled values
//! are escaped, quoted and cut at 100 characters. The lines go to the server log only
//! (LOG_SERVER_ONLY), never to the client.
//!
//! `idp.log_failures = first` (the default) logs a rejected token once per backend within
//! `idp.log_failures_window`: each backend remembers the last `REMEMBERED` tokens it logged, by a
//! keyed hash (never the token itself), so a client retrying a bad token in a loop writes one
//! line per backend and window, not one per attempt. Distinct tokens are bounded too: at most
//! `idp.log_failures_max` rejection lines per window in all (across the cluster with pg_idp in
//! `shared_preload_libraries`, per backend otherwise), then one line saying the limit was
//! reached; the first line of a later window is preceded by one saying how many were not
//! logged. Refused logins (PostgreSQL 18's OAuth validator, `login::oauth`) follow the same
//! setting and the same bound.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::time::Instant;

use lru::LruCache;
use pg_idp_core::token::{raw_str, Members};
use pg_idp_core::{Identity, VerifyError};
use pgrx::prelude::*;
use pgrx::{pg_shmem_init, PgLwLock};

use crate::pg::settings::{self, LogFailures};

/// Tokens each backend remembers having logged.
const REMEMBERED: usize = 1000;

/// The rejection lines of the current window: when it began, how many were written, how many
/// were not.
#[derive(Clone, Copy, Default)]
pub(super) struct Budget {
    /// TimestampTz; 0: no window yet.
    window_start: i64,
    logged: u64,
    dropped: u64,
}

/// What the budget says about one more rejection line.
#[derive(Debug, PartialEq, Eq)]
struct Admission {
    /// The line may be written.
    log: bool,
    /// The previous window ended with this many lines not written: say so first.
    dropped_before: Option<u64>,
    /// This is the first line the limit stops in this window: say so.
    limit_reached: bool,
}

impl Budget {
    /// One more rejection at `now` (microseconds), with windows of `window` microseconds and at
    /// most `max` lines in each.
    fn admit(&mut self, now: i64, window: i64, max: u64) -> Admission {
        let mut dropped_before = None;
        if self.window_start == 0 || now.saturating_sub(self.window_start) >= window || now < self.window_start {
            if self.dropped > 0 {
                dropped_before = Some(self.dropped);
            }
            *self = Budget { window_start: now, logged: 0, dropped: 0 };
        }
        if self.logged < max {
            self.logged += 1;
            Admission { log: true, dropped_before, limit_reached: false }
        } else {
            self.dropped += 1;
            Admission { log: false, dropped_before, limit_reached: self.dropped == 1 }
        }
    }
}

// SAFETY: plain integers, valid at any address and in any process; written only under the
// LWLock that PgLwLock puts around it.
unsafe impl pgrx::shmem::PGRXSharedMemory for Budget {}

/// The cluster's budget, with pg_idp preloaded.
static SHARED_BUDGET: PgLwLock<Budget> = unsafe { PgLwLock::new(c"pg_idp_audit") };

thread_local! {
    static LOGGED: RefCell<Option<(RandomState, LruCache<u64, Instant>)>> = const { RefCell::new(None) };
    /// This backend's budget, without preloading.
    static LOCAL_BUDGET: RefCell<Budget> = RefCell::new(Budget::default());
}

/// Called from `_PG_init`: the shared budget, when preloading.
// pg_shmem_init! tests features for PostgreSQL versions this crate does not declare.
#[allow(unexpected_cfgs)]
pub(super) fn init() {
    // SAFETY: reads a postmaster global.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        pg_shmem_init!(SHARED_BUDGET);
    }
}

/// Whether one more rejection line may be written now (`idp.log_failures = first`), writing
/// first the lines the bound calls for.
fn admitted() -> bool {
    // SAFETY: reads the clock.
    let now = unsafe { pg_sys::GetCurrentTimestamp() };
    let window = settings::log_failures_window().as_micros().min(i64::MAX as u128) as i64;
    let max = settings::log_failures_max();
    let a = if crate::shmem::stats::available() {
        SHARED_BUDGET.exclusive().admit(now, window, max)
    } else {
        LOCAL_BUDGET.with(|b| b.borrow_mut().admit(now, window, max))
    };
    let scope = if crate::shmem::stats::available() { "in the cluster" } else { "in this backend" };
    if let Some(n) = a.dropped_before {
        log(format!(
            "pg_idp: {n} rejections were not logged in the previous idp.log_failures_window ({scope}): more than idp.log_failures_max = {max} lines"
        ));
    }
    if a.limit_reached {
        log(format!(
            "pg_idp: idp.log_failures_max = {max} rejection lines written in this idp.log_failures_window ({scope}): the next rejections are counted, not logged, until the window ends"
        ));
    }
    a.log
}

/// Whether a refused login is logged (`login::oauth`): `idp.log_failures` off, never; all, always;
/// first, within the bound of `idp.log_failures_max` lines per window (each login is a backend of
/// its own: there is no earlier token to remember).
#[cfg(feature = "pg18")]
pub(crate) fn login_refusal_logged() -> bool {
    match settings::log_failures() {
        LogFailures::Off => false,
        LogFailures::All => true,
        LogFailures::First => admitted(),
    }
}

/// A verification of `token` succeeded.
pub(crate) fn verified(token: &str, identity: &Identity) {
    crate::shmem::stats::verified(&identity.provider);
    if settings::log_success() {
        let (kid, sub) = kid_and_sub(token);
        log(format!(
            "pg_idp: token verified: provider={} kid={} sub={} user_id={} application_name={}",
            identity.provider,
            kid,
            sub,
            quote(Some(&identity.user_id)),
            application_name()
        ));
    }
}

/// A verification of `token` failed with `e`.
pub(crate) fn rejected(token: &str, e: &VerifyError) {
    crate::shmem::stats::rejected(e);
    let log_it = match settings::log_failures() {
        LogFailures::Off => false,
        LogFailures::All => true,
        LogFailures::First => first_time(token) && admitted(),
    };
    if log_it {
        let (kid, sub) = kid_and_sub(token);
        log(format!(
            "pg_idp: token rejected: provider={} kid={} code={} sub={} application_name={}: {}",
            e.provider.as_deref().unwrap_or("unknown"),
            kid,
            e.code.as_str(),
            sub,
            application_name(),
            e.message
        ));
    }
}

/// True unless this backend logged `token` within the window (and remembers it as logged now).
pub(crate) fn first_time(token: &str) -> bool {
    let window = settings::log_failures_window();
    LOGGED.with(|l| {
        let mut l = l.borrow_mut();
        let (keys, seen) = l.get_or_insert_with(|| {
            (RandomState::new(), LruCache::new(NonZeroUsize::new(REMEMBERED).expect("REMEMBERED > 0")))
        });
        let h = keys.hash_one(token);
        let now = Instant::now();
        match seen.get(&h) {
            Some(at) if now.duration_since(*at) < window => false,
            _ => {
                seen.put(h, now);
                true
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_bounds_lines_per_window() {
        let (window, max) = (10_000_000, 3);
        let mut b = Budget::default();
        let logged = (0..5000).filter(|i| b.admit(1_000 + i, window, max).log).count();
        assert_eq!(logged, 3);
        assert_eq!(b.dropped, 4997);
        // The limit is announced once, on the first line it stops.
        let mut b = Budget::default();
        let reached: Vec<bool> = (0..6).map(|i| b.admit(1_000 + i, window, max).limit_reached).collect();
        assert_eq!(reached, [false, false, false, true, false, false]);
        // The next window: its first line comes after the count of what was not logged.
        assert_eq!(
            b.admit(1_000 + window, window, max),
            Admission { log: true, dropped_before: Some(3), limit_reached: false }
        );
        assert_eq!(
            b.admit(1_001 + window, window, max),
            Admission { log: true, dropped_before: None, limit_reached: false }
        );
        // A clock that goes back starts a new window rather than staying quiet.
        assert!(b.admit(10, window, max).log);
    }
}

/// `ereport(LOG_SERVER_ONLY, errmsg_internal("%s", line), errhidestmt(true),
/// errhidecontext(true))`: to the server log only, and without the STATEMENT and CONTEXT lines
/// PostgreSQL would otherwise add (with the default `log_min_error_statement = error`, a LOG
/// message is followed by the text of the statement, which may hold the token).
fn log(line: String) {
    // Not in pg_sys (pgrx keeps them out of its bindings); declared as PostgreSQL has them.
    unsafe extern "C-unwind" {
        fn errstart(elevel: std::ffi::c_int, domain: *const std::ffi::c_char) -> bool;
        fn errfinish(filename: *const std::ffi::c_char, lineno: std::ffi::c_int, funcname: *const std::ffi::c_char);
    }
    // The line is built from escaped values: it has no NUL.
    let Ok(msg) = std::ffi::CString::new(line) else { return };
    // SAFETY: the sequence PostgreSQL's ereport() macro runs, on the main thread, with a message
    // that outlives it and static strings for the location; below ERROR, errfinish returns (an
    // ERROR it might raise instead unwinds through the guard).
    unsafe {
        pg_sys::submodules::ffi::pg_guard_ffi_boundary(|| {
            if errstart(pg_sys::LOG_SERVER_ONLY as std::ffi::c_int, std::ptr::null()) {
                pg_sys::errmsg_internal(c"%s".as_ptr(), msg.as_ptr());
                pg_sys::errhidestmt(true);
                pg_sys::errhidecontext(true);
                errfinish(c"src/shmem/audit.rs".as_ptr(), line!() as std::ffi::c_int, c"pg_idp_audit_log".as_ptr());
            }
        })
    }
}

/// A token-controlled value for a log line: escaped, quoted, cut; `-` when absent.
fn quote(s: Option<&str>) -> String {
    s.map_or_else(|| "-".into(), pg_idp_core::quote)
}

/// The `kid` of the token's header and the `sub` of its payload, quoted (`-` when the token has
/// none, or cannot be decoded that far).
pub(crate) fn kid_and_sub(token: &str) -> (String, String) {
    let Ok(t) = pg_idp_core::token::parse(token, settings::max_token_bytes()) else {
        return ("-".into(), "-".into());
    };
    let member = |json: &str, name: &str| {
        Members::parse(json, "").ok().and_then(|m| m.get(name).and_then(raw_str).map(|c| c.into_owned()))
    };
    (quote(member(&t.header_json, "kid").as_deref()), quote(member(&t.payload_json, "sub").as_deref()))
}

fn application_name() -> String {
    // SAFETY: the GUC variable of application_name: NULL or a NUL-terminated string it owns,
    // copied before anything can change it.
    let name = unsafe {
        let p = pg_sys::application_name;
        (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
    };
    quote(name.as_deref().filter(|n| !n.is_empty()))
}
