//! Citus: this node's part in a cluster, and the sealed copy of the registry from the
//! coordinator to the workers (`citus`, used by `workers` and `api`). Imports `registry`, `shmem`
//! and `pg`.

pub(crate) mod citus;
