#![deny(missing_docs)]
//! pg_idp's verifier, with no PostgreSQL dependency: token parsing, JWK/JWKS keys, signature and
//! claim validation, claim mapping, and one error enum with stable codes.
//!
//! ```text
//! let registry = Registry::new(vec![parse_provider(&config_json)?]);
//! let identity = registry.verify(token, &VerifyOptions::now())?;
//! ```

pub mod alg;
pub mod b64;
pub mod claims;
pub mod config;
pub mod directory;
pub mod error;
pub mod identity;
pub mod jwk;
pub mod options;
pub mod postgrest;
pub mod registry;
pub mod revocation;
#[cfg(feature = "sign")]
pub mod sign;
pub mod token;
mod validation;
mod verifier;
pub mod webhook;

pub use alg::Alg;
pub use config::{parse_provider, Provider};
pub use directory::{Directory, DirectoryField, DirectoryKey, DirectoryRecord};
pub use error::{ConfigError, ErrorCode, VerifyError};
pub use identity::{error_json, Identity};
pub use options::VerifyOptions;
pub use registry::{DirectoryLookup, Registry};
pub use revocation::Revocations;
