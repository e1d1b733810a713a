//! pg_idp's integration suites, one file each, one `#[test]` each (`NAME::suite`): run by
//! scripts/integration after the bash suites not yet ported (tests/integration/*.sh), or alone:
//!
//!   cargo test -p pg_idp_itests --test suites -- --nocapture standby::suite
//!
//! Each suite starts its own clusters and fixtures (the library of this crate) and shares
//! nothing with the others, so they run side by side. How to port a bash suite: CONTRIBUTING.md,
//! "Porting a bash suite".

mod audit;
mod citus;
mod jwks;
mod oidc;
mod pgbouncer;
mod soak;
mod standby;
mod stats;
mod worker;
