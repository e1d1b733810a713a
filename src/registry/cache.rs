//! The provider registry: read from `idp.provider_registry` through SPI and cached per backend.
//!
//! The cache is kept until PostgreSQL's relcache invalidation says the registry table changed:
//! every change to it runs a statement trigger that queues a relcache invalidation for the table
//! (`idp._registry_changed`), which PostgreSQL delivers to every backend of the database at its
//! next transaction start (and to the changing backend at its next command), including the
//! backends of hot standbys through the WAL. Between changes, using the registry costs an atomic
//! load: no SPI, no lookup. A lost invalidation (sinval overflow) resets everything.
//!
//! The registry holds secrets, so only its owner can read it. Identity functions run as the
//! caller (an application role), so the reads here switch to the table owner for the duration
//! of the query (`SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION`), the way
//! PostgreSQL itself runs maintenance as a table's owner.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use std::collections::HashSet;

use pg_idp_core::{parse_provider, Provider, Registry, Revocations};
use pgrx::prelude::*;

use crate::pg::errors::raise_internal;
use crate::pg::spi;
use crate::registry::tables::{self, Access};

/// Set by the relcache callback when the providers or revocations (or everything) changed.
static STALE: AtomicBool = AtomicBool::new(true);
/// Set by the relcache callback when the directory changed: identities verified since must be
/// looked up again, but the providers need not be re-read.
static DIRECTORY_STALE: AtomicBool = AtomicBool::new(true);
/// The tables the cached registry depends on; a change to any of them invalidates it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Providers,
    Revocations,
    DirectoryUsers,
    DirectoryGroups,
    DirectoryMemberships,
}

impl Table {
    const ALL: [Table; 5] = [
        Table::Providers,
        Table::Revocations,
        Table::DirectoryUsers,
        Table::DirectoryGroups,
        Table::DirectoryMemberships,
    ];

    /// Its name in schema idp.
    fn name(self) -> &'static str {
        match self {
            Table::Providers => "provider_registry",
            Table::Revocations => "revocation_list",
            Table::DirectoryUsers => "directory_users",
            Table::DirectoryGroups => "directory_groups",
            Table::DirectoryMemberships => "directory_memberships",
        }
    }

    /// A change to it leaves the parsed providers as they are.
    fn is_directory(self) -> bool {
        matches!(self, Table::DirectoryUsers | Table::DirectoryGroups | Table::DirectoryMemberships)
    }

    /// Its oid as last looked up (0 before the first read, or where it does not exist).
    fn oid(self) -> u32 {
        TABLE_OIDS[self as usize].load(Ordering::Relaxed)
    }
}

/// The tables' oids, by `Table`.
static TABLE_OIDS: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];
/// Bumped every time the cached registry is replaced; derived caches compare it.
static EPOCH: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static CACHE: RefCell<Option<Rc<Registry>>> = const { RefCell::new(None) };
    /// Providers whose directory has at least one user (only those are looked up), and the owner
    /// of the registry (whose rights the lookups use).
    static DIRECTORY: RefCell<(HashSet<String>, pg_sys::Oid)> = RefCell::new((HashSet::new(), pg_sys::InvalidOid));
}

/// Whether `idp.directory_users` has the 0.3.0 columns (`idp_id`, `email_key`); a database not
/// yet updated from 0.2.0 has only `email` (stored lowercased) and the raw event data.
static DIRECTORY_HAS_KEYS: AtomicBool = AtomicBool::new(true);

/// Called by PostgreSQL for every relcache invalidation this backend processes.
#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let r = relid.to_u32();
    if relid == pg_sys::InvalidOid {
        STALE.store(true, Ordering::Relaxed);
        DIRECTORY_STALE.store(true, Ordering::Relaxed);
        return;
    }
    if let Some(t) = Table::ALL.into_iter().find(|t| t.oid() == r) {
        if !t.is_directory() {
            STALE.store(true, Ordering::Relaxed);
        } else {
            DIRECTORY_STALE.store(true, Ordering::Relaxed);
        }
    }
}

/// Registers the invalidation callback; called once per backend from `_PG_init`.
pub(super) fn init() {
    // SAFETY: registering a callback with a 'static function is what the API is for.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0usize)) }
}

/// Force a re-read at the next use (after a change made by this backend).
pub(crate) fn invalidate() {
    STALE.store(true, Ordering::Relaxed);
    DIRECTORY_STALE.store(true, Ordering::Relaxed);
}

/// Queue a relcache invalidation of the registry table, delivered to every backend (and
/// standby) when the current transaction commits. Called by the registry's trigger.
pub(crate) fn broadcast_change(relid: pg_sys::Oid) {
    // SAFETY: queues a transactional invalidation message for an existing relation.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(relid) }
    invalidate();
    // The launcher rewrites the login snapshot once the change commits.
    crate::shmem::served::changed_at_commit();
}

/// A number that changes whenever the cached registry is replaced.
pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// True when the cached registry can be used as is.
#[inline]
pub(crate) fn is_fresh() -> bool {
    !STALE.load(Ordering::Relaxed) && !DIRECTORY_STALE.load(Ordering::Relaxed)
}

/// The registry, and whether it (or the directory) changed since the last call (callers drop
/// derived caches then).
pub(crate) fn current() -> (Rc<Registry>, bool) {
    if is_fresh() {
        if let Some(r) = CACHE.with(|c| c.borrow().clone()) {
            return (r, false);
        }
    }
    if !STALE.load(Ordering::Relaxed) {
        if let Some(r) = CACHE.with(|c| c.borrow().clone()) {
            // Only the directory changed: the providers stay parsed.
            DIRECTORY_STALE.store(false, Ordering::Relaxed);
            let has_directory = Table::DirectoryUsers.oid() != 0;
            let owner = DIRECTORY.with(|d| d.borrow().1);
            let providers = if has_directory { spi::as_user(owner, read_directory_providers) } else { HashSet::new() };
            DIRECTORY.with(|d| d.borrow_mut().0 = providers);
            EPOCH.fetch_add(1, Ordering::Relaxed);
            return (r, true);
        }
    }
    // Cleared before reading, so that an invalidation arriving during the read marks it again.
    STALE.store(false, Ordering::Relaxed);
    DIRECTORY_STALE.store(false, Ordering::Relaxed);
    let (oids, owner) = match registry_tables() {
        Ok(v) => v,
        Err(e) => {
            STALE.store(true, Ordering::Relaxed);
            raise_internal(e)
        }
    };
    for (slot, oid) in TABLE_OIDS.iter().zip(oids.iter().copied()) {
        slot.store(oid.to_u32(), Ordering::Relaxed);
    }
    // Revocations and the directory are read only where their tables exist.
    let exists = |t: Table| oids[t as usize] != pg_sys::InvalidOid;
    let has_revocations = exists(Table::Revocations);
    let has_directory = Table::ALL.into_iter().filter(|t| t.is_directory()).all(exists);
    let (providers, revocations, directory) = spi::as_user(owner, || {
        let providers = read_providers();
        let revocations = if has_revocations { read_revocations(&providers) } else { Revocations::default() };
        (providers, revocations, if has_directory { read_directory_providers() } else { HashSet::new() })
    });
    let providers = providers.into_iter().map(|(_, p)| p).collect();
    let registry = Rc::new(Registry::new(providers).with_revocations(revocations));
    CACHE.with(|c| *c.borrow_mut() = Some(registry.clone()));
    DIRECTORY.with(|d| *d.borrow_mut() = (directory, owner));
    EPOCH.fetch_add(1, Ordering::Relaxed);
    (registry, true)
}

/// The providers, parsed, with their names in the table, in byte order of the names.
fn read_providers() -> Vec<(String, Provider)> {
    let rows = tables::providers(&Access::Sql).unwrap_or_else(|e| {
        STALE.store(true, Ordering::Relaxed);
        raise_internal(format!("cannot read pg_idp providers: {e}"))
    });
    rows.into_iter()
        .map(|(name, cfg)| {
            let provider = parse_provider(&cfg).unwrap_or_else(|e| {
                // Stored configs were validated on the way in; this means the table was edited by hand.
                STALE.store(true, Ordering::Relaxed);
                raise_internal(format!("stored config of provider \"{name}\" is invalid: {e}"))
            });
            (name, provider)
        })
        .collect()
}

/// The revocations, by issuer: a revocation covers the person whichever provider entry verifies
/// the token.
fn read_revocations(providers: &[(String, Provider)]) -> Revocations {
    let rows = tables::revocations(&Access::Sql).unwrap_or_else(|e| {
        STALE.store(true, Ordering::Relaxed);
        raise_internal(format!("cannot read pg_idp revocations: {e}"))
    });
    let mut revocations = Revocations::default();
    for r in rows {
        let Some((_, p)) = providers.iter().find(|(name, _)| *name == r.provider) else { continue };
        let issuer = p.issuer.as_str();
        match (r.kind.as_str(), r.issued_before) {
            ("user", Some(b)) => revocations.revoke_user(issuer, &r.subject, tables::unix_seconds(b)),
            ("session", _) => revocations.revoke_session(issuer, &r.subject),
            _ => {}
        }
    }
    revocations
}

/// The providers whose directory has users: one probe of the primary key per provider, ordered
/// by it so that the planner walks the index (an EXISTS, or a LIMIT without the order, lets it
/// scan the whole directory for a provider that has none: tens of milliseconds at 200k users).
const DIRECTORY_PROVIDERS: &str = "SELECT p.name FROM idp.provider_registry p \
             WHERE (SELECT true FROM idp.directory_users u WHERE u.provider OPERATOR(pg_catalog.=) p.name \
                    ORDER BY u.provider, u.id LIMIT 1)";

/// The providers whose directory has users (its plan kept for the backend's life).
fn read_directory_providers() -> HashSet<String> {
    let read = Spi::connect(|client| {
        let rows = spi::with_kept_plan(client, DIRECTORY_PROVIDERS, 0, |plan| client.select(plan, None, &[]))?;
        let mut out = HashSet::new();
        for row in rows {
            if let Some(p) = row.get::<String>(1)? {
                out.insert(p);
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    });
    read.unwrap_or_else(|e| {
        DIRECTORY_STALE.store(true, Ordering::Relaxed);
        raise_internal(format!("cannot read the pg_idp directory: {e}"))
    })
}

/// Whether `provider`'s directory has users, and the registry owner whose rights look them up.
pub(super) fn directory_of(provider: &str) -> Option<pg_sys::Oid> {
    DIRECTORY.with(|d| {
        let d = d.borrow();
        d.0.contains(provider).then_some(d.1)
    })
}

/// Whether `idp.directory_users` has the 0.3.0 columns (a database not yet updated has not).
pub(super) fn directory_has_keys() -> bool {
    DIRECTORY_HAS_KEYS.load(Ordering::Relaxed)
}

/// The oids of the registry's tables (indexed by `Table`) and the registry's owner, from the
/// catalogs (needs no privilege on schema idp).
fn registry_tables() -> Result<(Vec<pg_sys::Oid>, pg_sys::Oid), String> {
    let rows = Spi::connect(|client| {
        let table = client.select(
            "SELECT c.relname::pg_catalog.text, c.oid, c.relowner, \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid \
                              AND a.attname OPERATOR(pg_catalog.=) 'email_key' AND NOT a.attisdropped) \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' \
               AND c.relname OPERATOR(pg_catalog.=) ANY ('{provider_registry,revocation_list,directory_users,directory_groups,directory_memberships}'::pg_catalog.name[])",
            None,
            &[],
        )?;
        let mut out = Vec::new();
        for row in table {
            let name = row.get::<String>(1)?;
            if name.as_deref() == Some("directory_users") {
                DIRECTORY_HAS_KEYS.store(row.get::<bool>(4)?.unwrap_or(false), Ordering::Relaxed);
            }
            out.push((name, row.get::<pg_sys::Oid>(2)?, row.get::<pg_sys::Oid>(3)?));
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(|e| format!("cannot look up the pg_idp registry tables: {e}"))?;
    let mut oids = Vec::with_capacity(Table::ALL.len());
    let mut owner = None;
    for table in Table::ALL {
        match rows.iter().find(|(n, _, _)| n.as_deref() == Some(table.name())) {
            Some((_, Some(oid), o)) => {
                if table == Table::Providers {
                    owner = *o;
                }
                oids.push(*oid);
            }
            // Only the provider registry is required: a database still on the SQL of an older
            // version (before ALTER EXTENSION pg_idp UPDATE) has no revocations or directory.
            _ if table != Table::Providers => oids.push(pg_sys::InvalidOid),
            _ => {
                return Err(
                    "pg_idp table idp.provider_registry not found (is the extension installed in this database?)"
                        .into(),
                )
            }
        }
    }
    Ok((oids, owner.ok_or("pg_idp registry owner not found")?))
}
