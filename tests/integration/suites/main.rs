//! pg_idp's integration suites, one file each, one `#[test]` each (`NAME::suite`): run by
//! scripts/integration, or alone:
//!
//!   cargo test -p pg_idp_itests --test suites -- --nocapture standby::suite
//!
//! Each suite starts its own clusters and fixtures (the library of this crate) and shares
//! nothing with the others, so they run side by side. How to write one: CONTRIBUTING.md,
//! "Writing a suite".

mod audit;
mod citus;
mod jwks;
mod keyserver;
mod launcher;
mod oauth;
mod oidc;
mod pgbouncer;
mod signals;
mod soak;
mod standby;
mod stats;
mod tenant;
mod worker;
