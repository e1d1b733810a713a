//! pg_idp's integration suites' fixtures: real servers started for one suite, on private
//! sockets or loopback, and always stopped (their `Drop`, also while a panic unwinds).
//!
//! - [`suite`]: [`run`] a suite, its named checks ([`Suite::check`]), its directory, and the
//!   secrets no server log may hold (checked as each cluster stops);
//! - [`cluster`]: a [`Cluster`] (initdb, start, restart with settings, a hot standby, its
//!   [`ServerLog`]), run as the `postgres` OS user, on the PostgreSQL of [`env`];
//! - [`conn`]: a [`Conn`], answering as `psql -At` does, and its errors' SQLSTATEs;
//! - [`pgbouncer`]: [`PgBouncer`] in transaction pooling in front of a cluster;
//! - [`tokens`]: keys and tokens minted by the core's `sign` feature, and the [`Fixtures`] of
//!   scripts/fixtures the suites share; [`app`]: the todos app most suites start from;
//! - [`http`]: key servers over HTTP/HTTPS ([`HttpServer`], a CA made for the suite: [`Tls`]),
//!   the CONNECT proxy, and [`Process`], a child killed when dropped;
//! - [`oidc`]: the test [`OpenIdProvider`], and libpq's own device flow against it;
//! - [`citus`]: Citus simulated by its catalogs;
//! - [`oauth`]: PostgreSQL 18 logins with a bearer token ([`OAuthClient`]);
//! - [`grep`]: the bash suites' `grep -oE` / `grep -cE`, for checks built from an output or a log.
//!
//! How to write a suite: CONTRIBUTING.md, "Writing a suite".

pub mod app;
pub mod citus;
pub mod cluster;
pub mod conn;
pub mod env;
pub mod grep;
pub mod http;
pub mod net;
pub mod oauth;
pub mod oidc;
pub mod pgbouncer;
pub mod suite;
pub mod tokens;

pub use app::todos_app;
pub use cluster::{Cluster, ServerLog};
pub use conn::{lit, Conn, Target};
pub use env::{env_usize, Pg};
pub use grep::{grep_c, grep_o, grep_o1};
pub use http::{ConnectProxy, HttpServer, Process, Tls};
pub use oauth::OAuthClient;
pub use oidc::{OpenIdProvider, Person, Trust};
pub use pg_idp_core::Alg;
pub use pgbouncer::PgBouncer;
pub use suite::{run, wait_for, write_file, Suite};
pub use tokens::{Fixtures, Key};
