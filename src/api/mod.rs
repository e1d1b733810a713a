//! The SQL functions of schema `idp`. Each is a few lines over `request`, `registry` and core.

mod identity;
mod providers;

pub(crate) use providers::replace_jwks_quietly;
mod verify;
