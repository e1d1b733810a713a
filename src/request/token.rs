//! The token of the current request: `request.jwt`, else the bearer token of PostgREST's
//! `request.headers`, else (PostgreSQL 18) the token the session logged in with; and the
//! statement's clock every verification of a statement uses.

use std::cell::RefCell;

use pg_idp_core::{Purpose, VerifyOptions};
use pgrx::prelude::*;

use crate::pg::settings;

thread_local! {
    /// The last `request.headers` value seen and the bearer token found in it.
    static HEADERS: RefCell<Option<(String, Option<String>)>> = const { RefCell::new(None) };
}

/// Seconds since the Unix epoch at the start of the current statement: every row of a statement
/// sees the same clock, as a STABLE function must (parallel workers get the leader's).
#[inline]
pub(crate) fn statement_now() -> f64 {
    // SAFETY: reads backend-local transaction state.
    let ts = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    // TimestampTz counts microseconds from 2000-01-01.
    ts as f64 / 1_000_000.0 + 946_684_800.0
}

pub(crate) fn verify_options() -> VerifyOptions {
    VerifyOptions { now: statement_now(), max_token_bytes: settings::max_token_bytes(), purpose: Purpose::Request }
}

/// `set_config('request.jwt', token, true)`, without SPI (which would assign a transaction id
/// and fail on a hot standby).
pub(super) fn set_request_token_local(token: &str) {
    let value = std::ffi::CString::new(token)
        .unwrap_or_else(|_| crate::pg::errors::raise_invalid_argument("token contains a NUL byte".into()));
    // SAFETY: what set_config(name, value, true) does: a transaction-local USERSET change that
    // PostgreSQL undoes at the end of the (sub)transaction; an ERROR unwinds through pg_guard.
    unsafe {
        pg_sys::set_config_option(
            settings::REQUEST_JWT.as_ptr(),
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

/// The token of the current request: `request.jwt`, or when that is unset or empty, the bearer
/// token of the `Authorization` header in PostgREST's `request.headers`. On PostgreSQL 18, when
/// the session has set neither setting at all, the token it logged in with: a request that sets
/// `request.jwt` to '' or PostgREST's headers without an Authorization header is anonymous,
/// never the login identity. The login token is verified as one (`Purpose::Login`: its
/// provider's login audience, and the groups of its token).
pub(super) fn request_token() -> Option<(String, Purpose)> {
    if let Some(t) = settings::request_jwt() {
        return Some((t, Purpose::Request));
    }
    let from_headers = settings::request_headers().and_then(bearer_of);
    #[cfg(feature = "pg18")]
    if from_headers.is_none() && !settings::request_settings_set() {
        return settings::login_token().map(|t| (t, Purpose::Login));
    }
    from_headers.map(|t| (t, Purpose::Request))
}

/// The bearer token of PostgREST's `request.headers` (remembered with the value it came from).
fn bearer_of(headers: String) -> Option<String> {
    HEADERS.with(|h| {
        if let Some((raw, token)) = h.borrow().as_ref() {
            if *raw == headers {
                return token.clone();
            }
        }
        let token = pg_idp_core::postgrest::bearer_token(&headers)
            .unwrap_or_else(|e| crate::pg::errors::raise_invalid_argument(e));
        *h.borrow_mut() = Some((headers, token.clone()));
        token
    })
}

/// Make `token` the request token for the rest of the transaction, as `SET LOCAL request.jwt`
/// would (`idp.authenticate`); `token` was verified, so it is base64url and dots only.
pub(crate) fn set_request_token(token: &str) {
    if citus_installed() {
        // Citus forwards to its workers only SET LOCAL statements it sees run (with
        // citus.propagate_set_commands = 'local'), not set_config(): run one, so that shards
        // queried later in this transaction verify the same token.
        if let Err(e) = Spi::run(&format!("SET LOCAL request.jwt = '{}'", token.replace('\'', "''"))) {
            crate::pg::errors::raise_internal(format!("cannot set request.jwt: {e}"));
        }
    } else {
        set_request_token_local(token);
    }
}

/// Whether the Citus extension is installed in this database (a syscache lookup).
fn citus_installed() -> bool {
    // SAFETY: a catalog lookup by name; missing_ok, so it returns InvalidOid rather than raising.
    unsafe { pg_sys::get_extension_oid(c"citus".as_ptr(), true) != pg_sys::InvalidOid }
}
