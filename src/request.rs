//! The request token (`request.jwt`) and the per-backend cache of verified identities.
//!
//! A policy such as `user_id = idp.requesting_user_id()` may be evaluated once per row, so a
//! verified token is cached, keyed by the token text. A hit still re-checks `exp` against the
//! statement's start time. The cache is dropped whenever the registry changes.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CStr;
use std::rc::Rc;

use pg_idp_core::{Identity, Registry, VerifyError, VerifyOptions};
use pgrx::prelude::*;

use crate::registry;

/// The setting that carries the raw compact JWS of the current request.
pub const REQUEST_JWT: &CStr = c"request.jwt";

/// PostgREST's per-request JSON object of HTTP headers; its bearer token is used when
/// `request.jwt` is empty.
pub const REQUEST_HEADERS: &CStr = c"request.headers";

/// Entries kept before the cache is emptied and starts over.
const CACHE_CAPACITY: usize = 1000;

struct Entry {
    identity: Rc<Identity>,
    leeway_seconds: i64,
}

thread_local! {
    static IDENTITIES: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// The last `request.headers` value seen and the bearer token found in it.
    static HEADERS: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Seconds since the Unix epoch at the start of the current statement: every row of a statement
/// sees the same clock, as a STABLE function must.
pub fn statement_now() -> f64 {
    // SAFETY: reads backend-local transaction state.
    let ts = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    // TimestampTz counts microseconds from 2000-01-01.
    ts as f64 / 1_000_000.0 + 946_684_800.0
}

pub fn verify_options() -> VerifyOptions {
    VerifyOptions { now: statement_now(), max_token_bytes: crate::gucs::max_token_bytes() }
}

/// `set_config('request.jwt', token, true)`, without SPI (which would assign a transaction id
/// and fail on a hot standby).
pub fn set_request_token_local(token: &str) {
    let value = std::ffi::CString::new(token)
        .unwrap_or_else(|_| crate::errors::raise_invalid_argument("token contains a NUL byte".into()));
    // SAFETY: what set_config(name, value, true) does: a transaction-local USERSET change that
    // PostgreSQL undoes at the end of the (sub)transaction; an ERROR unwinds through pg_guard.
    unsafe {
        pg_sys::set_config_option(
            REQUEST_JWT.as_ptr(),
            value.as_ptr(),
            if pg_sys::superuser() { pg_sys::GucContext::PGC_SUSET } else { pg_sys::GucContext::PGC_USERSET },
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_LOCAL,
            true,
            0,
            false,
        );
    }
}

/// The raw value of a setting, or `None` when it is unset or blank.
fn setting(name: &CStr) -> Option<String> {
    // SAFETY: GetConfigOption returns a pointer into GUC storage, valid until the next change of
    // the setting; it is copied before anything else runs.
    let ptr = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if ptr.is_null() {
        return None;
    }
    let s = unsafe { CStr::from_ptr(ptr) }.to_string_lossy();
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

/// The token of the current request: `request.jwt`, or when that is unset or empty, the bearer
/// token of the `Authorization` header in PostgREST's `request.headers`.
pub fn request_token() -> Option<String> {
    if let Some(t) = setting(REQUEST_JWT) {
        return Some(t);
    }
    let headers = setting(REQUEST_HEADERS)?;
    HEADERS.with(|h| {
        let mut h = h.borrow_mut();
        if let Some((raw, token)) = h.as_ref() {
            if *raw == headers {
                return token.clone();
            }
        }
        let token = pg_idp_core::headers::bearer_token(&headers).unwrap_or_else(|e| crate::errors::raise_invalid_argument(e));
        *h = Some((headers, token.clone()));
        token
    })
}

pub(crate) fn lookup(registry: &Registry, token: &str, opts: &VerifyOptions) -> Result<Rc<Identity>, VerifyError> {
    // The limit may have been lowered since the token was cached.
    pg_idp_core::token::check_size(token, opts.max_token_bytes)?;
    let hit = IDENTITIES.with(|m| {
        m.borrow().get(token).and_then(|e| {
            if e.identity.is_live(opts.now, e.leeway_seconds) {
                Some(Ok(e.identity.clone()))
            } else {
                None
            }
        })
    });
    if let Some(h) = hit {
        return h;
    }
    let identity = Rc::new(registry.verify(token, opts)?);
    let leeway_seconds = registry.provider(&identity.provider).map(|p| p.leeway_seconds).unwrap_or(0);
    IDENTITIES.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= CACHE_CAPACITY {
            m.clear();
        }
        m.insert(token.to_string(), Entry { identity: identity.clone(), leeway_seconds });
    });
    Ok(identity)
}

/// Verify any token through the cache.
pub fn verify_token(token: &str) -> Result<Rc<Identity>, VerifyError> {
    let (registry, changed) = registry::current();
    if changed {
        IDENTITIES.with(|m| m.borrow_mut().clear());
    }
    lookup(&registry, token, &verify_options())
}

/// The identity of the current request: `None` without a token. An invalid token raises
/// SQLSTATE 28000, or answers `None` when `idp.on_invalid_token = null`.
pub fn request_identity() -> Option<Rc<Identity>> {
    let token = request_token()?;
    match verify_token(&token) {
        Ok(id) => Some(id),
        Err(_) if crate::gucs::invalid_token_is_null() => None,
        Err(e) => crate::errors::raise_invalid_token(&e),
    }
}
