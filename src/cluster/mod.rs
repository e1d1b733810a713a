//! Citus: this node's part in a cluster, and the sealed copy of the registry from the
//! coordinator to the workers. Imports `registry`, `shmem` and `pg`.

pub(crate) mod citus;
