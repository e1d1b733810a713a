#![forbid(unsafe_code)]
#![deny(missing_docs)]
//! pg_idp's verifier, with no PostgreSQL dependency: token parsing, JWK/JWKS keys, signature and
//! claim validation, claim mapping, and one error enum with stable codes.
//!
//! ```text
//! let registry = Registry::new(vec![parse_provider(&config_json)?]);
//! let identity = registry.verify(token, &VerifyOptions::now())?;
//! ```
//!
//! The surface is small on purpose: the types the extension and the CLI use are re-exported
//! here; the public modules are the few helpers they call by path (`claims::ClaimPath`,
//! `token::check_size`, `postgrest::bearer_token`, `webhook::verify_webhook_signature`,
//! `directory::email_key`, `login::login`, `b64`, `seal` and `registry_copy` (copying the
//! registry between Citus nodes), `schedule` (the launcher's decisions), and `sign` behind its
//! feature). Keys, validation and the config's parts are private to the crate.

mod alg;
pub mod b64;
pub mod claims;
mod config;
pub mod directory;
mod error;
pub mod identity;
mod jwk;
// Known answers from outside (Wycheproof vectors, RFC examples), run through the crate's own
// key and signature functions.
#[cfg(test)]
mod known_answers;
pub mod login;
mod options;
pub mod postgrest;
mod registry;
pub mod registry_copy;
mod revocation;
pub mod schedule;
pub mod seal;
#[cfg(feature = "sign")]
pub mod sign;
pub mod token;
mod validation;
mod verifier;
mod warm;
pub mod webhook;

pub use alg::Alg;
pub use config::{parse_provider, Provider};
pub use directory::{Directory, DirectoryField, DirectoryKey, DirectoryRecord};
pub use error::{quote, ConfigError, ErrorCode, VerifyError};
pub use identity::{error_json, Identity};
pub use options::{Purpose, VerifyOptions};
pub use registry::{DirectoryLookup, Registry};
pub use revocation::Revocations;
pub use warm::warm_up;
