//! Logging in with a token (PostgreSQL 18 only): the OAuth validator (`oauth`, with
//! `oauth_shim.c`, compiled by build.rs, for what it reads of PostgreSQL's `Port` and `HbaLine`;
//! PostgreSQL finds it by its C symbol) and the login snapshot it reads, which the jobs write
//! (`snapshot`, used by `workers` and `api`). Imports `registry`, `shmem` and `pg`.

mod oauth;
pub(crate) mod snapshot;
