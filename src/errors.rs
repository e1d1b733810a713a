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

use pg_idp_core::{ConfigError, VerifyError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// Raise a rejected request token: SQLSTATE 28000 (invalid_authorization_specification), the
/// reason as message and the stable code in the DETAIL. Never includes the token.
pub fn raise_invalid_token(e: &VerifyError) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        e.message.clone(),
        "pg_idp",
    )
    .set_detail(format!("pg_idp error code: {}", e.code.as_str()))
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise an unusable provider config: SQLSTATE 22023 (invalid_parameter_value), naming the field.
pub fn raise_invalid_config(e: &ConfigError) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("invalid provider config: {}: {}", e.field, e.message),
        "pg_idp",
    )
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise an unexpected internal failure (registry unreadable and the like).
pub fn raise_internal(message: String) -> ! {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, message, "pg_idp").report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise a reference to a provider that is not registered: SQLSTATE 42704 (undefined_object).
pub fn raise_unknown_provider(name: &str) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        format!("provider \"{}\" is not registered", name.escape_default()),
        "pg_idp",
    )
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise a bad function argument: SQLSTATE 22023 (invalid_parameter_value).
pub fn raise_invalid_argument(message: String) -> ! {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, "pg_idp").report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise a failed fetch of `what` (a JWKS or an OpenID configuration) from `url`. The URL is
/// the provider's, never a token's, so it may be named.
pub fn raise_fetch(what: &str, url: &str, e: crate::http::FetchError) -> ! {
    use crate::http::FetchError;
    let (code, sqlstate, message) = match e {
        FetchError::BadUrl(why) => ("url_not_allowed", PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("{what} URL {url} {why}")),
        FetchError::Failed(why) => ("fetch_failed", PgSqlErrorCode::ERRCODE_CONNECTION_EXCEPTION, format!("{what} at {url} {why}")),
        FetchError::TooLarge => (
            "response_too_large",
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("{what} at {url} is larger than {} bytes", crate::http::MAX_BODY_BYTES),
        ),
    };
    ErrorReport::new(sqlstate, message, "pg_idp")
        .set_detail(format!("pg_idp error code: {code}"))
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise an answer that cannot be used (not JSON, no usable keys, a lying issuer): 22023.
pub fn raise_invalid_response(message: String) -> ! {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message, "pg_idp")
        .set_detail("pg_idp error code: invalid_response")
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raise a webhook whose signature does not verify: 28000, code `invalid_webhook_signature`.
pub fn raise_webhook(why: &str) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        format!("directory event refused: {why}"),
        "pg_idp",
    )
    .set_detail("pg_idp error code: invalid_webhook_signature")
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}
