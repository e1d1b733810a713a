//! Every setting of pg_idp: its name, its `GucSetting`, and a deliberate context.
//!
//! `request.jwt` is not defined here: it is a placeholder setting any role may set (the token,
//! not the setting, is the credential), read with `GetConfigOption`.

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};

pub const ON_INVALID_TOKEN: &CStr = c"idp.on_invalid_token";
pub const MAX_TOKEN_BYTES: &CStr = c"idp.max_token_bytes";

/// What identity functions do when `request.jwt` is set but invalid.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnInvalidToken {
    /// Raise SQLSTATE 28000 (the default): a bad token is never silently anonymous.
    #[name = c"error"]
    Error,
    /// Answer NULL, as for an anonymous request.
    #[name = c"null"]
    Null,
}

pub static ON_INVALID: GucSetting<OnInvalidToken> = GucSetting::<OnInvalidToken>::new(OnInvalidToken::Error);
pub static MAX_BYTES: GucSetting<i32> = GucSetting::<i32>::new(16384);

pub fn init() {
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
}

pub fn max_token_bytes() -> usize {
    MAX_BYTES.get().max(0) as usize
}

pub fn invalid_token_is_null() -> bool {
    ON_INVALID.get() == OnInvalidToken::Null
}
