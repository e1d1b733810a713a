//! Every setting of pg_idp: its name, its `GucSetting`, and a deliberate context.
//!
//! `request.jwt` and `request.headers` are defined here too, as USERSET strings any role may
//! set (the token, not the setting, is the credential). Defining them (instead of leaving them
//! placeholders) lets the hot path read the value through a pointer, and their assign hook bumps
//! a generation counter, so "the request token has not changed since the last call" is one
//! integer comparison. A value set before the library was loaded is kept.

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub(super) const ON_INVALID_TOKEN: &CStr = c"idp.on_invalid_token";
pub(super) const MAX_TOKEN_BYTES: &CStr = c"idp.max_token_bytes";
pub(super) const CACHE_SIZE: &CStr = c"idp.cache_size";
pub(super) const HTTP_TIMEOUT: &CStr = c"idp.http_timeout";
pub(super) const TLS_CA_FILE: &CStr = c"idp.tls_ca_file";
pub(super) const HTTP_PROXY: &CStr = c"idp.http_proxy";
pub(super) const HTTP_PROXY_FILE: &CStr = c"idp.http_proxy_file";
pub(super) const REFRESH_INTERVAL: &CStr = c"idp.refresh_interval";
pub(super) const WORKER_DATABASE: &CStr = c"idp.worker_database";
pub(super) const MAX_WORKERS: &CStr = c"idp.max_workers";
pub(super) const CHECK_INTERVAL: &CStr = c"idp.check_interval";
pub(super) const JOB_TIMEOUT: &CStr = c"idp.job_timeout";
pub(super) const MAX_DATABASES: &CStr = c"idp.max_databases";
pub(super) const MAX_DATABASES_PER_OWNER: &CStr = c"idp.max_databases_per_owner";
/// The most `idp.max_databases` can be: the shared memory holds an entry for this many
/// databases (`shmem::served`).
pub(crate) const MAX_DATABASES_LIMIT: usize = 1024;
pub(super) const TRACK_STATS: &CStr = c"idp.track_stats";
pub(super) const LOG_FAILURES: &CStr = c"idp.log_failures";
pub(super) const LOG_FAILURES_WINDOW: &CStr = c"idp.log_failures_window";
pub(super) const LOG_FAILURES_MAX: &CStr = c"idp.log_failures_max";
pub(super) const STATS_PROVIDERS_PER_DATABASE: &CStr = c"idp.stats_providers_per_database";
pub(super) const LOG_SUCCESS: &CStr = c"idp.log_success";
/// The raw compact JWS of the current request.
pub(crate) const REQUEST_JWT: &CStr = c"request.jwt";
/// PostgREST's per-request JSON object of HTTP headers; its bearer token is used when
/// `request.jwt` is empty.
pub(super) const REQUEST_HEADERS: &CStr = c"request.headers";
/// The token this session logged in with (PostgreSQL 18's OAuth validator); set only by the
/// validator (and copied into parallel workers by PostgreSQL), never by a client.
#[cfg(feature = "pg18")]
pub(super) const LOGIN_TOKEN: &CStr = c"idp.login_token";
/// With `idp.worker_database`, the optional allow-list of databases pg_idp serves.
#[cfg(feature = "pg18")]
pub(super) const LOGIN_DATABASES: &CStr = c"idp.login_databases";

/// What identity functions do when `request.jwt` is set but invalid.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum OnInvalidToken {
    /// Raise SQLSTATE 28000 (the default): a bad token is never silently anonymous.
    #[name = c"error"]
    Error,
    /// Answer NULL, as for an anonymous request.
    #[name = c"null"]
    Null,
}

/// Which rejected tokens are logged (`idp.log_failures`).
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum LogFailures {
    /// None.
    #[name = c"off"]
    Off,
    /// Each distinct token once per backend within `idp.log_failures_window`, and at most
    /// `idp.log_failures_max` lines per window in all (the default).
    #[name = c"first"]
    First,
    /// Every rejection.
    #[name = c"all"]
    All,
}

pub(super) static ON_INVALID: GucSetting<OnInvalidToken> = GucSetting::<OnInvalidToken>::new(OnInvalidToken::Error);
pub(super) static MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(16384);
pub(super) static CACHE_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(1000);
pub(super) static HTTP_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(5000);
pub(super) static REFRESH_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(600);
pub(super) static WORKER_DB: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub(super) static MAX_WORKERS_N: GucSetting<i32> = GucSetting::<i32>::new(2);
pub(super) static CHECK_INTERVAL_S: GucSetting<i32> = GucSetting::<i32>::new(10);
pub(super) static JOB_TIMEOUT_S: GucSetting<i32> = GucSetting::<i32>::new(60);
pub(super) static MAX_DATABASES_N: GucSetting<i32> = GucSetting::<i32>::new(MAX_DATABASES_LIMIT as i32);
pub(super) static MAX_DATABASES_PER_OWNER_N: GucSetting<i32> = GucSetting::<i32>::new(256);
pub(super) static TRACK: GucSetting<bool> = GucSetting::<bool>::new(true);
pub(super) static LOG_FAILED: GucSetting<LogFailures> = GucSetting::<LogFailures>::new(LogFailures::First);
pub(super) static LOG_FAILED_WINDOW_S: GucSetting<i32> = GucSetting::<i32>::new(600);
pub(super) static LOG_FAILED_MAX: GucSetting<i32> = GucSetting::<i32>::new(100);
pub(super) static STATS_PER_DATABASE: GucSetting<i32> = GucSetting::<i32>::new(64);
pub(super) static LOG_VERIFIED: GucSetting<bool> = GucSetting::<bool>::new(false);
pub(super) static TLS_CA: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub(super) static PROXY: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
pub(super) static PROXY_FILE: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(None);
#[cfg(feature = "pg18")]
pub(super) static LOGIN_DBS: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);

// The variables PostgreSQL's GUC machinery writes the two request settings into.
static mut REQUEST_JWT_VALUE: *mut c_char = std::ptr::null_mut();
static mut REQUEST_HEADERS_VALUE: *mut c_char = std::ptr::null_mut();
#[cfg(feature = "pg18")]
static mut LOGIN_TOKEN_VALUE: *mut c_char = std::ptr::null_mut();
/// The GUC machinery's records of `request.jwt` and `request.headers` (found once, when they are
/// defined; PostgreSQL never moves or frees a defined setting's record).
#[cfg(feature = "pg18")]
static mut REQUEST_JWT_RECORD: *mut pg_sys::config_generic = std::ptr::null_mut();
#[cfg(feature = "pg18")]
static mut REQUEST_HEADERS_RECORD: *mut pg_sys::config_generic = std::ptr::null_mut();
/// True only while the validator itself sets `idp.login_token`.
#[cfg(feature = "pg18")]
static SETTING_LOGIN_TOKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Bumped by every assignment of either request setting (SET, SET LOCAL, set_config, RESET, and
/// the restores at COMMIT, ROLLBACK and ROLLBACK TO SAVEPOINT).
static REQUEST_GENERATION: AtomicU64 = AtomicU64::new(1);

#[pg_guard]
unsafe extern "C-unwind" fn request_setting_assigned(_newval: *const c_char, _extra: *mut c_void) {
    REQUEST_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Changes whenever `request.jwt` or `request.headers` may have changed (on PostgreSQL 18, also
/// whenever whether either is set at all changes, which decides whether the login token is used).
#[inline]
pub(crate) fn request_generation() -> u64 {
    let generation = REQUEST_GENERATION.load(Ordering::Relaxed);
    #[cfg(feature = "pg18")]
    let generation = (generation << 1) | u64::from(request_settings_set());
    generation
}

/// A copy of the value of a string setting; `None` when unset, empty or not UTF-8. Not trimmed:
/// a token with whitespace is malformed (RFC 7515), not quietly another string.
///
/// # Safety
///
/// `var` must be the variable that the GUC machinery writes a string setting's value into (as
/// given to `DefineCustomStringVariable`): NULL or a NUL-terminated string it owns.
unsafe fn setting_value(var: *const *mut c_char) -> Option<String> {
    // SAFETY: the caller's contract; the string is copied before anything can change it.
    let ptr = unsafe { *var };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string owned by the GUC machinery (the caller's contract).
    let s = unsafe { CStr::from_ptr(ptr) }.to_str().ok()?;
    (!s.is_empty()).then(|| s.to_string())
}

/// `request.jwt` as set; `None` when unset, empty or not UTF-8.
pub(crate) fn request_jwt() -> Option<String> {
    // SAFETY: REQUEST_JWT_VALUE is request.jwt's variable (see init).
    unsafe { setting_value(std::ptr::addr_of!(REQUEST_JWT_VALUE)) }
}

/// `request.headers` as set; `None` when unset or empty.
pub(crate) fn request_headers() -> Option<String> {
    // SAFETY: REQUEST_HEADERS_VALUE is request.headers' variable (see init).
    unsafe { setting_value(std::ptr::addr_of!(REQUEST_HEADERS_VALUE)) }
}

/// The token this session logged in with; `None` for any other login.
#[cfg(feature = "pg18")]
pub(crate) fn login_token() -> Option<String> {
    // SAFETY: LOGIN_TOKEN_VALUE is idp.login_token's variable (see init).
    unsafe { setting_value(std::ptr::addr_of!(LOGIN_TOKEN_VALUE)) }
}

/// Whether the application set `request.jwt` or `request.headers` at all, even to '' (SET, SET
/// LOCAL, set_config, or a value given for the role, the database or in the connection's
/// options): the source of the current value is not the default. What SET LOCAL set ends with its
/// transaction (COMMIT too), and RESET returns to the default.
#[cfg(feature = "pg18")]
pub(crate) fn request_settings_set() -> bool {
    let set = |record: *const pg_sys::config_generic| {
        // SAFETY: NULL, or the record PostgreSQL keeps for the setting for the process's life;
        // read on the backend's only thread.
        !record.is_null() && unsafe { (*record).source } != pg_sys::GucSource::PGC_S_DEFAULT
    };
    // SAFETY: written once, in init, before any query runs.
    let (jwt, headers) = unsafe { (REQUEST_JWT_RECORD, REQUEST_HEADERS_RECORD) };
    // An unknown record (it cannot be found) counts as set: anonymous, never the login identity.
    jwt.is_null() || headers.is_null() || set(jwt) || set(headers)
}

/// Record the token this session logged in with (called by the validator during
/// authentication). False if PostgreSQL refused the assignment.
#[cfg(feature = "pg18")]
pub(crate) fn set_login_token(token: &CStr) -> bool {
    SETTING_LOGIN_TOKEN.store(true, Ordering::Relaxed);
    // SAFETY: a session-level assignment of our own PGC_SU_BACKEND setting while the backend
    // is starting; WARNING (not ERROR) on failure, so nothing unwinds through the validator.
    let rc = unsafe {
        pg_sys::set_config_option(
            LOGIN_TOKEN.as_ptr(),
            token.as_ptr(),
            pg_sys::GucContext::PGC_SU_BACKEND,
            pg_sys::GucSource::PGC_S_OVERRIDE,
            pg_sys::GucAction::GUC_ACTION_SET,
            true,
            pg_sys::WARNING as i32,
            false,
        )
    };
    SETTING_LOGIN_TOKEN.store(false, Ordering::Relaxed);
    rc > 0
}

/// Only the validator (and PostgreSQL copying the leader's value into a parallel worker) may
/// give `idp.login_token` a value: not a client's startup options, not ALTER ROLE ... SET.
#[cfg(feature = "pg18")]
#[pg_guard]
unsafe extern "C-unwind" fn check_login_token(
    newval: *mut *mut c_char,
    _extra: *mut *mut c_void,
    _source: pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: the GUC machinery passes a valid pointer to the proposed value (NULL or a string).
    let empty = unsafe { (*newval).is_null() || **newval == 0 };
    // SAFETY: reads a backend global.
    let parallel_worker = unsafe { pg_sys::ParallelWorkerNumber } >= 0;
    empty || parallel_worker || SETTING_LOGIN_TOKEN.load(Ordering::Relaxed)
}

pub(super) fn init() {
    // USERSET: choosing NULL over an error only ever makes a request anonymous.
    GucRegistry::define_enum_guc(
        ON_INVALID_TOKEN,
        c"What identity functions do with an invalid request token: error or null.",
        c"error raises SQLSTATE 28000 naming the reason; null answers as for an anonymous request.",
        &ON_INVALID,
        GucContext::Userset,
        GucFlags::default(),
    );
    // SUSET: a resource limit on every backend is an administrator's decision.
    GucRegistry::define_int_guc(
        MAX_TOKEN_BYTES,
        c"Largest token pg_idp will parse, in bytes.",
        c"Longer tokens are rejected as token_too_large before any parsing.",
        &MAX_BYTES,
        256,
        1024 * 1024,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SUSET: each entry is memory in every backend.
    GucRegistry::define_int_guc(
        CACHE_SIZE,
        c"Verified tokens each backend keeps (least recently used first out).",
        c"0 keeps none beyond the current request's token. Entries are re-checked for expiry on every use and dropped when the registry changes.",
        &CACHE_ENTRIES,
        0,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SUSET: how long a superuser's refresh may block its backend, and which CAs it trusts.
    GucRegistry::define_int_guc(
        HTTP_TIMEOUT,
        c"How long a JWKS or OpenID configuration fetch may take.",
        c"A slower answer fails and leaves the provider's keys as they were.",
        &HTTP_TIMEOUT_MS,
        100,
        600_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_string_guc(
        TLS_CA_FILE,
        c"PEM file of the CA certificates trusted for https fetches (default: the system's).",
        c"Empty means /etc/ssl/certs/ca-certificates.crt from the ca-certificates package.",
        &TLS_CA,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SUPERUSER_ONLY: the URL may carry the proxy's credentials, so only superusers (and
    // pg_read_all_settings) may read it. PostgreSQL still logs a new value at a reload:
    // idp.http_proxy_file keeps credentials out of the settings altogether.
    GucRegistry::define_string_guc(
        HTTP_PROXY,
        c"HTTP proxy for JWKS and OpenID configuration fetches (http://[user:password@]host:port), for databases whose only way out is an egress proxy.",
        c"Empty (the default) connects directly; https goes through the proxy with CONNECT and is still verified end to end. The environment's HTTPS_PROXY is never used. For credentials prefer idp.http_proxy_file: a new value of this setting is written to the server log at a reload.",
        &PROXY,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    GucRegistry::define_string_guc(
        HTTP_PROXY_FILE,
        c"File whose content is the HTTP proxy URL for JWKS and OpenID configuration fetches, credentials allowed.",
        c"Read at each fetch by the server's operating-system user; its content is never shown or logged. Not together with idp.http_proxy.",
        &PROXY_FILE,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SIGHUP: read by the background worker (with pg_idp in shared_preload_libraries).
    GucRegistry::define_int_guc(
        REFRESH_INTERVAL,
        c"How often the pg_idp worker refreshes every provider with a jwks_uri.",
        c"A shorter Cache-Control max-age in the provider's answer shortens it for that provider, down to 1 minute.",
        &REFRESH_INTERVAL_S,
        1,
        86_400,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        WORKER_DATABASE,
        c"Optional allow-list: the only databases pg_idp's workers serve (comma-separated), with idp.login_databases.",
        c"Empty (the default): every database where a superuser installed pg_idp is served.",
        &WORKER_DB,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        MAX_WORKERS,
        c"How many pg_idp jobs (one database each: key refresh, login snapshot) run at once.",
        c"Each is a background worker: keep max_worker_processes large enough.",
        &MAX_WORKERS_N,
        1,
        64,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        CHECK_INTERVAL,
        c"How often pg_idp looks again at a served database whose WAL moved without telling it (a standby replaying changes, say).",
        c"A login snapshot not confirmed within three times this interval is refused (registry_unavailable).",
        &CHECK_INTERVAL_S,
        1,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        JOB_TIMEOUT,
        c"How long a pg_idp job may run: past it, it ends itself (and the launcher ends it 5 s later).",
        c"Its database is then tried again after idp.check_interval, doubled after each failure in a row (up to 5 minutes). Every lock a job waits for is bounded too (lock_timeout 2 s, or this if shorter).",
        &JOB_TIMEOUT_S,
        1,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        MAX_DATABASES,
        c"How many databases pg_idp's launcher serves (of the 1024 its shared memory holds).",
        c"Only databases where a superuser installed pg_idp count. A database beyond it is not served, and a WARNING names it.",
        &MAX_DATABASES_N,
        1,
        MAX_DATABASES_LIMIT as i32,
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        MAX_DATABASES_PER_OWNER,
        c"How many databases of one owner that is not a superuser pg_idp's launcher serves.",
        c"A database beyond it is not served, and a WARNING names its owner.",
        &MAX_DATABASES_PER_OWNER_N,
        1,
        MAX_DATABASES_LIMIT as i32,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SUSET: what the counters and the audit log record is an administrator's decision (a role
    // must not silence the log of its own rejected tokens).
    GucRegistry::define_bool_guc(
        TRACK_STATS,
        c"Whether verifications are counted in idp.stats (with pg_idp in shared_preload_libraries).",
        c"Off: nothing is counted; the counters keep their values.",
        &TRACK,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        LOG_FAILURES,
        c"Which rejected tokens pg_idp logs: off, first or all.",
        c"first logs each distinct token once per backend within idp.log_failures_window, and at most idp.log_failures_max lines per window in all. A line names the provider, kid, code, sub and application_name, never the token.",
        &LOG_FAILED,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        LOG_FAILURES_WINDOW,
        c"With idp.log_failures = first: how long a backend stays quiet about a token it has logged.",
        c"Each backend remembers the last 1000 tokens it logged.",
        &LOG_FAILED_WINDOW_S,
        1,
        86_400,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        LOG_FAILURES_MAX,
        c"With idp.log_failures = first: the most rejection lines written per idp.log_failures_window.",
        c"Counted across the cluster with pg_idp in shared_preload_libraries, per backend otherwise. Past it, one line says the limit was reached, and the first line of a later window says how many rejections were not logged.",
        &LOG_FAILED_MAX,
        1,
        1_000_000,
        GucContext::Suset,
        GucFlags::default(),
    );
    // SUSET: shared memory is shared by every database; one database's registry owner must not
    // take it all.
    GucRegistry::define_int_guc(
        STATS_PROVIDERS_PER_DATABASE,
        c"The most providers of one database that idp.stats counts (of its 512 database/provider slots).",
        c"A database's tokens that no provider was found for get a slot besides. A provider past the limit is not counted (a WARNING says so); the slots of a dropped database, or of one that drops pg_idp, are freed.",
        &STATS_PER_DATABASE,
        1,
        512,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        LOG_SUCCESS,
        c"Whether pg_idp logs every token it verifies (each new identity of a backend; cache hits are not logged).",
        c"A line names the provider, kid, sub, user id and application_name, never the token.",
        &LOG_VERIFIED,
        GucContext::Suset,
        GucFlags::default(),
    );
    define_request_setting(
        REQUEST_JWT,
        c"The token of the current request (compact JWS), verified by pg_idp.",
        Some(c"Set it per transaction: SET LOCAL request.jwt = '...' or set_config('request.jwt', $1, true)."),
        std::ptr::addr_of_mut!(REQUEST_JWT_VALUE),
    );
    define_request_setting(
        REQUEST_HEADERS,
        c"PostgREST's request headers (JSON); its bearer token is used when request.jwt is empty.",
        None,
        std::ptr::addr_of_mut!(REQUEST_HEADERS_VALUE),
    );
    #[cfg(feature = "pg18")]
    init_login();
}

/// Defines one of the request settings: a string any role may set, hidden from SHOW ALL, whose
/// every change drops the statement's cached identity.
fn define_request_setting(
    name: &'static CStr,
    short: &'static CStr,
    long: Option<&'static CStr>,
    value: *mut *mut c_char,
) {
    // SAFETY: `name` and the descriptions are 'static C strings; `value` is a 'static variable
    // that only the GUC machinery writes.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            name.as_ptr(),
            short.as_ptr(),
            long.map_or(std::ptr::null(), CStr::as_ptr),
            value,
            c"".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            (pg_sys::GUC_NO_SHOW_ALL | pg_sys::GUC_NOT_IN_SAMPLE) as i32,
            None,
            Some(request_setting_assigned),
            None,
        );
    }
}

#[cfg(feature = "pg18")]
fn init_login() {
    // SAFETY: both settings were just defined; find_option only looks them up (no placeholder is
    // made, no error raised), and the statics are written before any query can read them.
    unsafe {
        REQUEST_JWT_RECORD = pg_sys::find_option(REQUEST_JWT.as_ptr(), false, true, pg_sys::WARNING as i32);
        REQUEST_HEADERS_RECORD = pg_sys::find_option(REQUEST_HEADERS.as_ptr(), false, true, pg_sys::WARNING as i32);
    }
    // Kept from 0.4.0, where it named the databases clients log in to: now part of the optional
    // allow-list, with idp.worker_database.
    GucRegistry::define_string_guc(
        LOGIN_DATABASES,
        c"Optional allow-list (comma-separated), with idp.worker_database: the only databases pg_idp serves.",
        c"Empty (the default) with an empty idp.worker_database: every database where a superuser installed pg_idp is served, logins included.",
        &LOGIN_DBS,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: the variable is 'static and only ever written by the GUC machinery.
    unsafe {
        pg_sys::DefineCustomStringVariable(
            LOGIN_TOKEN.as_ptr(),
            c"The provider token this session logged in with (set by pg_idp's OAuth validator).".as_ptr(),
            c"Identity functions use it when the session has set neither request.jwt nor request.headers (not even to ''). Never set by hand.".as_ptr(),
            std::ptr::addr_of_mut!(LOGIN_TOKEN_VALUE),
            c"".as_ptr(),
            pg_sys::GucContext::PGC_SU_BACKEND,
            (pg_sys::GUC_NO_SHOW_ALL
                | pg_sys::GUC_NOT_IN_SAMPLE
                | pg_sys::GUC_SUPERUSER_ONLY
                | pg_sys::GUC_NO_RESET_ALL
                | pg_sys::GUC_DISALLOW_IN_FILE) as i32,
            Some(check_login_token),
            Some(request_setting_assigned),
            None,
        );
    }
}

pub(crate) fn cache_size() -> usize {
    CACHE_ENTRIES.get().max(0) as usize
}

pub(crate) fn max_token_bytes() -> usize {
    MAX_BYTES.get().max(0) as usize
}

pub(crate) fn invalid_token_is_null() -> bool {
    ON_INVALID.get() == OnInvalidToken::Null
}

pub(crate) fn http_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(HTTP_TIMEOUT_MS.get().max(1) as u64)
}

pub(crate) fn tls_ca_file() -> Option<String> {
    TLS_CA.get().and_then(|c| c.into_string().ok()).filter(|s| !s.trim().is_empty())
}

pub(crate) fn http_proxy() -> Option<String> {
    PROXY.get().and_then(|c| c.into_string().ok()).filter(|s| !s.trim().is_empty())
}

pub(crate) fn http_proxy_file() -> Option<String> {
    PROXY_FILE.get().and_then(|c| c.into_string().ok()).filter(|s| !s.trim().is_empty())
}

pub(crate) fn refresh_interval() -> std::time::Duration {
    std::time::Duration::from_secs(REFRESH_INTERVAL_S.get().max(1) as u64)
}

/// The databases pg_idp may serve: `None` for every one (neither allow-list is set).
pub(crate) fn allowed_databases() -> Option<Vec<String>> {
    let list = |v: Option<std::ffi::CString>| -> Vec<String> {
        v.and_then(|c| c.into_string().ok())
            .map(|s| s.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect())
            .unwrap_or_default()
    };
    #[cfg_attr(not(feature = "pg18"), allow(unused_mut))]
    let mut names = list(WORKER_DB.get());
    #[cfg(feature = "pg18")]
    names.extend(list(LOGIN_DBS.get()));
    (!names.is_empty()).then_some(names)
}

pub(crate) fn max_workers() -> usize {
    MAX_WORKERS_N.get().clamp(1, 64) as usize
}

pub(crate) fn check_interval() -> std::time::Duration {
    std::time::Duration::from_secs(CHECK_INTERVAL_S.get().max(1) as u64)
}

pub(crate) fn job_timeout() -> std::time::Duration {
    std::time::Duration::from_secs(JOB_TIMEOUT_S.get().max(1) as u64)
}

/// How long a job waits for a lock: 2 s, or the job timeout if shorter.
pub(crate) fn job_lock_timeout() -> std::time::Duration {
    job_timeout().min(std::time::Duration::from_secs(2))
}

pub(crate) fn max_databases() -> usize {
    (MAX_DATABASES_N.get().max(1) as usize).min(MAX_DATABASES_LIMIT)
}

pub(crate) fn max_databases_per_owner() -> usize {
    MAX_DATABASES_PER_OWNER_N.get().max(1) as usize
}

/// How old a login snapshot's last confirmation may be (three check intervals).
#[cfg(feature = "pg18")]
pub(crate) fn snapshot_bound_ms() -> i64 {
    3 * 1000 * i64::from(CHECK_INTERVAL_S.get().max(1))
}

pub(crate) fn track_stats() -> bool {
    TRACK.get()
}

pub(crate) fn log_failures() -> LogFailures {
    LOG_FAILED.get()
}

pub(crate) fn log_failures_window() -> std::time::Duration {
    std::time::Duration::from_secs(LOG_FAILED_WINDOW_S.get().max(1) as u64)
}

pub(crate) fn log_failures_max() -> u64 {
    LOG_FAILED_MAX.get().max(1) as u64
}

pub(crate) fn stats_providers_per_database() -> usize {
    STATS_PER_DATABASE.get().max(1) as usize
}

pub(crate) fn log_success() -> bool {
    LOG_VERIFIED.get()
}
