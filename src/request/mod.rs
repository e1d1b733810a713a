//! The request path: the token of the current request (`request.jwt`, PostgREST's
//! `request.headers`, on 18 the login token) and the per-backend caches of the identities it
//! resolves to. Imports `registry`, `shmem` and `pg`.

pub(crate) mod identity;
