//! The request path: the token of the current request (`token`: `request.jwt`, PostgREST's
//! `request.headers`, on 18 the login token) and the per-backend caches of the identities it
//! resolves to (`identity`). Imports `registry`, `shmem` and `pg`. Both modules are used by `api`.

pub(crate) mod identity;
pub(crate) mod token;
