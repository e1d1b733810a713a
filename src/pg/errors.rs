//! The one mapping from pg_idp's errors to PostgreSQL errors and SQLSTATEs.
//!
//! | error                         | SQLSTATE | where                                   |
//! |-------------------------------|----------|-----------------------------------------|
//! | invalid or rejected token     | 28000    | identity functions (code in DETAIL)      |
//! | invalid provider config / key | 22023    | register_provider                        |
//! | fetch failed (network, TLS, timeout, HTTP status) | 08000 | refresh_jwks, discover (code `fetch_failed`) |
//! | answer over 64 KiB            | 54000    | refresh_jwks, discover (code `response_too_large`) |
//! | URL not allowed               | 22023    | refresh_jwks, discover (code `url_not_allowed`) |
//! | answer not usable (JSON, keys, issuer) | 22023 | refresh_jwks, discover (code `invalid_response`) |
//! | proxy settings unusable (both set, file unreadable, not a URL) | 22023 | refresh_jwks, discover (code `proxy_misconfigured`) |
//! | shared memory needed, pg_idp not preloaded | 55000 | reset_stats (code `not_preloaded`) |
//! | not a Citus coordinator      | 0A000    | sync_nodes, node_registry_status         |
//! | sealed registry copy refused (replayed, expired, for another node, altered) | 22023 | _load_registry_sealed (codes `sync_key_unknown`, `sync_message_invalid`) |
//! | pg_idp's security label set by a non-superuser | 42501 | SECURITY LABEL FOR pg_idp (code `label_not_superuser`) |
//! | pg_idp's security label on something else than a database, or another value | 22023 | SECURITY LABEL FOR pg_idp (code `label_invalid`) |
//! | a coordinator's call refused: this database's install not trusted | 55000 | pg_idp_node_call (code `node_untrusted`) |
//! | a coordinator's call refused: the connection's role not a superuser, or the call inside a SECURITY DEFINER function | 42501 | pg_idp_node_call (code `node_call_refused`) |

use pg_idp_core::{ConfigError, VerifyError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Raise an ERROR with pg_idp's stable code (when it has one) in the DETAIL.
fn raise(sqlstate: PgSqlErrorCode, message: String, code: Option<&str>) -> ! {
    let report = ErrorReport::new(sqlstate, message, "pg_idp");
    match code {
        Some(c) => report.set_detail(format!("pg_idp error code: {c}")).report(PgLogLevel::ERROR),
        None => report.report(PgLogLevel::ERROR),
    }
    unreachable!("ERROR does not return")
}

/// Raise a rejected request token: SQLSTATE 28000 (invalid_authorization_specification), the
/// reason as message and the stable code in the DETAIL. Never includes the token.
pub(crate) fn raise_invalid_token(e: &VerifyError) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, e.message.clone(), Some(e.code.as_str()))
}

/// Raise an unusable provider config: SQLSTATE 22023 (invalid_parameter_value), naming the field.
pub(crate) fn raise_invalid_config(e: &ConfigError) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid provider config: {}: {}", e.field, e.message),
        None,
    )
}

/// Raise an unusable provider config with a hint (what to write instead): 22023.
pub(crate) fn raise_invalid_config_hint(e: &ConfigError, hint: &str) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid provider config: {}: {}", e.field, e.message),
        "pg_idp",
    )
    .set_hint(hint)
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise an unexpected internal failure (registry unreadable and the like).
pub(crate) fn raise_internal(message: String) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, message, None)
}

/// Raise a reference to a provider that is not registered: SQLSTATE 42704 (undefined_object).
pub(crate) fn raise_unknown_provider(name: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("provider \"{}\" is not registered", name.escape_default()),
        None,
    )
}

/// Raise a bad function argument: SQLSTATE 22023 (invalid_parameter_value).
pub(crate) fn raise_invalid_argument(message: String) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, None)
}

/// How a key fetch failed, as far as its SQLSTATE goes (`registry::fetch::FetchError::kind`).
pub(crate) enum FetchFailure {
    /// The URL is not allowed, the answer is not JSON, or the proxy settings are unusable: 22023.
    Refused,
    /// Connecting, TLS, a timeout or an HTTP status: 08000.
    Failed,
    /// The answer is over the size limit: 54000.
    TooLarge,
}

/// Raise a failed fetch: `message` says of what and from where, `code` is its stable code.
pub(crate) fn raise_fetch(failure: FetchFailure, message: String, code: &str) -> ! {
    let sqlstate = match failure {
        FetchFailure::Refused => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        FetchFailure::Failed => PgSqlErrorCode::ERRCODE_CONNECTION_EXCEPTION,
        FetchFailure::TooLarge => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
    };
    raise(sqlstate, message, Some(code))
}

/// Raise an answer that cannot be used (no usable keys, a lying issuer): 22023.
pub(crate) fn raise_invalid_response(message: String) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, Some("invalid_response"))
}

/// Raise a webhook whose signature does not verify: 28000, code `invalid_webhook_signature`.
pub(crate) fn raise_webhook(why: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        format!("directory event refused: {why}"),
        Some("invalid_webhook_signature"),
    )
}

/// Raise a call that needs pg_idp's shared memory in a server that did not preload pg_idp:
/// 55000 (object_not_in_prerequisite_state), code `not_preloaded`.
pub(crate) fn raise_not_preloaded(message: String) -> ! {
    raise(PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, message, Some("not_preloaded"))
}

/// Raise a Citus function called where it has no meaning (no Citus, or a worker): 0A000
/// (feature_not_supported).
pub(crate) fn raise_not_coordinator(message: &'static str, what: &str) -> ! {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, message, "pg_idp")
        .set_hint(format!("{what} is for a Citus coordinator."))
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise a sealed registry copy that a worker refuses: 22023, code `sync_key_unknown` (replayed,
/// expired, or made for another node) or `sync_message_invalid` (altered, or not a copy).
pub(crate) fn raise_sync(code: &str, why: String) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("pg_idp: registry copy refused: {why}"), Some(code))
}

/// Raise a `SECURITY LABEL FOR pg_idp` refused: 42501 (code `label_not_superuser`) when the role
/// is not a superuser, else 22023 (code `label_invalid`).
pub(crate) fn raise_security_label(not_superuser: bool, message: String) -> ! {
    if not_superuser {
        raise(PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE, message, Some("label_not_superuser"))
    } else {
        raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, Some("label_invalid"))
    }
}

/// Raise a coordinator's call that this node does not run, because its pg_idp could be changed
/// by a role that is not a superuser (`why` says what): 55000 (object_not_in_prerequisite_state),
/// code `node_untrusted`.
pub(crate) fn raise_node_untrusted(why: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("pg_idp: nothing was run: this database's pg_idp is not trusted: {why}"),
        Some("node_untrusted"),
    )
}

/// Raise a coordinator's call that this connection may not make (its role is not a superuser):
/// 42501 (insufficient_privilege), code `node_call_refused`.
pub(crate) fn raise_node_refused(why: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("pg_idp: nothing was run: {why}"),
        Some("node_call_refused"),
    )
}
