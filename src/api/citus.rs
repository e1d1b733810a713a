//! Citus: the SQL functions over `crate::cluster::citus`. All of them are for the extension owner and
//! superusers (EXECUTE revoked from PUBLIC in sql/citus.sql), `pg_catalog.pg_idp_node_call`
//! included (it refuses a connection whose role is not a superuser).

use pgrx::prelude::*;

use crate::cluster::citus::{self, CitusRole, SyncOutcome};
use crate::pg::errors::{raise_internal, raise_invalid_argument, raise_not_coordinator};

/// One row per node (the SQL functions spell out their row type: pgrx reads it from the
/// signature).
type Row = (String, Option<String>, bool, Option<String>);

/// The coordinator first (named `coordinator`), then every worker by name.
fn rows(outcome: SyncOutcome) -> Vec<Row> {
    let mut rows = vec![("coordinator".to_string(), Some(outcome.fingerprint), true, None)];
    rows.extend(outcome.workers.into_iter().map(|w| (w.node, w.fingerprint, w.in_sync, w.error)));
    rows
}

fn coordinator_only(what: &str) {
    match citus::role() {
        CitusRole::Coordinator => {}
        CitusRole::None => raise_not_coordinator("pg_idp: Citus is not installed in this database", what),
        CitusRole::Worker => raise_not_coordinator("pg_idp: this node is a Citus worker", what),
    }
}

/// On the Citus coordinator: copy the registry (providers with keys and secrets, revocations,
/// the directory) to every worker, sealed to a one-time key of each; then every node's
/// fingerprint. A worker that failed shows `in_sync = false` and its error.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile)]
fn sync_nodes() -> TableIterator<
    'static,
    (name!(node, String), name!(fingerprint, Option<String>), name!(in_sync, bool), name!(error, Option<String>)),
> {
    coordinator_only("idp.sync_nodes()");
    TableIterator::new(rows(citus::sync_all().unwrap_or_else(|why| raise_internal(format!("pg_idp: {why}")))))
}

/// On the Citus coordinator: every node's registry fingerprint next to the coordinator's; a node
/// that cannot be reached is listed with its error.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile)]
fn node_registry_status() -> TableIterator<
    'static,
    (name!(node, String), name!(fingerprint, Option<String>), name!(in_sync, bool), name!(error, Option<String>)),
> {
    coordinator_only("idp.node_registry_status()");
    TableIterator::new(rows(citus::status().unwrap_or_else(|why| raise_internal(format!("pg_idp: {why}")))))
}

/// What this node's registry holds, as one value (SHA-256, hex): equal on two nodes when they
/// verify, revoke and deprovision alike.
#[pg_extern(stable)]
fn registry_fingerprint() -> String {
    citus::fingerprint().unwrap_or_else(|why| raise_internal(format!("pg_idp: {why}")))
}

/// This node's part in a Citus cluster: `none`, `coordinator` or `worker` (from the catalogs).
#[pg_extern(stable)]
fn _citus_role() -> String {
    citus::role().as_str().to_string()
}

/// On a worker: a one-time key for the next copy (the coordinator calls it through Citus).
#[pg_extern(volatile)]
fn _sync_begin() -> String {
    citus::begin()
}

/// On a worker: load a sealed copy of the coordinator's registry; returns this node's
/// fingerprint afterwards.
#[pg_extern(volatile)]
fn _load_registry_sealed(sealed: &str) -> String {
    citus::load_sealed(sealed)
}

/// On a worker, for its coordinator: call pg_idp's `function` (`_sync_begin`,
/// `_load_registry_sealed` with its argument, `registry_fingerprint`) by its oid, once this
/// database's install is verified, as the connection's superuser under pinned settings
/// (`crate::cluster::citus::node_call`). Its SQL is in sql/citus.sql: it lives in `pg_catalog`, where only
/// a superuser can have created it, so that a command naming it never runs a function that a
/// database owner made (pgrx writes functions only into schemas it creates).
#[pg_extern(volatile, sql = false)]
fn pg_idp_node_call(function: Option<&str>, argument: Option<&str>) -> String {
    let function = function.unwrap_or_else(|| raise_invalid_argument("pg_idp: the function to call is NULL".into()));
    citus::node_call(function, argument)
}
