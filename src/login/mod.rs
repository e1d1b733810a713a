//! Logging in with a token (PostgreSQL 18 only): the OAuth validator (`oauth`, with
//! `oauth_shim.c`, compiled by build.rs, for what it reads of PostgreSQL's `Port` and `HbaLine`)
//! and the login snapshot it reads, which the jobs write (`snapshot`). Imports `registry`,
//! `shmem` and `pg`.

pub(crate) mod oauth;
pub(crate) mod snapshot;
