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
//! line per backend and window, not one per attempt.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::time::Instant;

use lru::LruCache;
use pg_idp_core::token::{raw_str, Members};
use pg_idp_core::{Identity, VerifyError};
use pgrx::prelude::*;

use crate::gucs::{self, LogFailures};

/// Tokens each backend remembers having logged.
const REMEMBERED: usize = 1000;

thread_local! {
    static LOGGED: RefCell<Option<(RandomState, LruCache<u64, Instant>)>> = const { RefCell::new(None) };
}

/// A verification of `token` succeeded.
pub fn verified(token: &str, identity: &Identity) {
    crate::stats::verified(&identity.provider);
    if gucs::log_success() {
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
pub fn rejected(token: &str, e: &VerifyError) {
    crate::stats::rejected(e);
    let log_it = match gucs::log_failures() {
        LogFailures::Off => false,
        LogFailures::All => true,
        LogFailures::First => first_time(token),
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
    let window = gucs::log_failures_window();
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
                errfinish(c"src/audit.rs".as_ptr(), line!() as std::ffi::c_int, c"pg_idp_audit_log".as_ptr());
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
    let Ok(t) = pg_idp_core::token::parse(token, gucs::max_token_bytes()) else {
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
