//! The registry's tables, read: the one place that knows their columns and their types, and the
//! two ways pg_idp reads them. The backend cache (`cache.rs`), the jobs (`workers::job`, through
//! [`content`]) and the Citus copies (`cluster::citus`, through [`copy`]) all read here.
//!
//! - [`Access::Trusted`]: with the cluster's authority (a job, as the bootstrap superuser, in a
//!   database whose owner may be hostile): only the tables of an install `trusted::inspect`
//!   verified, found by oid and read with heap scans. No SQL, so no function, operator, view,
//!   rule, policy or setting of the database is involved, and values are read typed (a time as
//!   microseconds, never as text under the database's DateStyle).
//! - [`Access::Sql`]: in a session of the database, with the rights of whoever runs it (the
//!   backend cache as the registry's owner, `spi::as_user`; the Citus functions as their caller,
//!   a superuser or the extension's owner), schema-qualified, under the `search_path` the caller
//!   pinned. Sessions need this path: their rights must apply (a heap scan reads a table whatever
//!   its privileges and policies say), and they trust their own database, whose owner can change
//!   anything in it anyway, so they do not verify the install as a job must.
//!
//! Either way a row comes out as the same typed values, through the same conversions: core's
//! `registry_copy` rows, times as PostgreSQL stores them (microseconds since 2000-01-01). A table
//! that older SQL lacks is read as empty by oid (the install has no oid for it), and is never read
//! by SQL (the callers check first). The backend's per-identity directory lookups are not here:
//! they are indexed queries (`directory.rs`), which only SQL can make.

use std::collections::{BTreeMap, BTreeSet};

use pg_idp_core::registry_copy::{DirectoryGroup, DirectoryMembership, DirectoryUser, RegistryCopy, Revocation};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use serde_json::Value;

use super::trusted::Install;

/// How the tables are read.
pub(crate) enum Access<'a> {
    /// By oid, with heap scans: the tables of this verified install.
    Trusted(&'a Install),
    /// With SQL, as the current user, under the caller's pinned `search_path`.
    Sql,
}

/// A column's type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Text,
    Json,
    Time,
    Bool,
}

impl Type {
    fn oid(self) -> pg_sys::Oid {
        match self {
            Type::Text => pg_sys::TEXTOID,
            Type::Json => pg_sys::JSONBOID,
            Type::Time => pg_sys::TIMESTAMPTZOID,
            Type::Bool => pg_sys::BOOLOID,
        }
    }
}

/// A column read: its name, its type, and whether older SQL may lack it (read as NULL by oid).
struct Column(&'static str, Type, bool);

/// A table of the registry and the columns read of it.
struct Table {
    name: &'static str,
    columns: &'static [Column],
}

const PROVIDERS: Table = Table {
    name: "provider_registry",
    columns: &[Column("name", Type::Text, false), Column("config", Type::Json, false)],
};

const REVOCATIONS: Table = Table {
    name: "revocation_list",
    columns: &[
        Column("provider", Type::Text, false),
        Column("kind", Type::Text, false),
        Column("subject", Type::Text, false),
        Column("issued_before", Type::Time, false),
        Column("created_at", Type::Time, false),
    ],
};

/// 0.2.0's SQL has no `idp_id` and no `email_key`.
const DIRECTORY_USERS: Table = Table {
    name: "directory_users",
    columns: &[
        Column("provider", Type::Text, false),
        Column("id", Type::Text, false),
        Column("idp_id", Type::Text, true),
        Column("email", Type::Text, false),
        Column("email_key", Type::Text, true),
        Column("first_name", Type::Text, false),
        Column("last_name", Type::Text, false),
        Column("state", Type::Text, false),
        Column("event_at", Type::Time, false),
    ],
};

const DIRECTORY_GROUPS: Table = Table {
    name: "directory_groups",
    columns: &[
        Column("provider", Type::Text, false),
        Column("id", Type::Text, false),
        Column("name", Type::Text, false),
        Column("deleted", Type::Bool, false),
        Column("event_at", Type::Time, false),
    ],
};

const DIRECTORY_MEMBERSHIPS: Table = Table {
    name: "directory_memberships",
    columns: &[
        Column("provider", Type::Text, false),
        Column("group_id", Type::Text, false),
        Column("user_id", Type::Text, false),
        Column("member", Type::Bool, false),
        Column("event_at", Type::Time, false),
    ],
};

/// One value of a column, typed.
enum Cell {
    Text(String),
    Json(Value),
    /// A timestamptz as stored: microseconds since 2000-01-01 (`i64::MAX`, `i64::MIN`: ±infinity).
    Time(i64),
    Bool(bool),
}

/// A row: one cell per column read, `None` for NULL (or a column older SQL lacks).
struct Row(Vec<Option<Cell>>);

impl Row {
    fn take(&mut self, i: usize) -> Option<Cell> {
        self.0.get_mut(i).and_then(Option::take)
    }

    fn text(&mut self, i: usize) -> Option<String> {
        match self.take(i) {
            Some(Cell::Text(s)) => Some(s),
            _ => None,
        }
    }

    fn time(&mut self, i: usize) -> Option<i64> {
        match self.take(i) {
            Some(Cell::Time(t)) => Some(t),
            _ => None,
        }
    }

    fn bool(&mut self, i: usize) -> Option<bool> {
        match self.take(i) {
            Some(Cell::Bool(b)) => Some(b),
            _ => None,
        }
    }
}

/// Every row of `table`, read as `access` says (`idp.<table>: why` when it cannot be read).
fn rows(access: &Access, table: &Table) -> Result<Vec<Row>, String> {
    let read = match access {
        Access::Trusted(install) => match install.oid_of(table.name) {
            Some(oid) => scan(oid, table.columns),
            // The installed SQL predates it.
            None => Ok(Vec::new()),
        },
        Access::Sql => select(table),
    };
    read.map_err(|e| format!("idp.{}: {e}", table.name))
}

/// Every live row of the trusted table `oid` (visible to one snapshot taken now), the named
/// columns only, each of its type (a missing column: an error, unless older SQL may lack it).
fn scan(table: pg_sys::Oid, columns: &[Column]) -> Result<Vec<Row>, String> {
    // SAFETY: a heap scan of a table the caller verified, inside its transaction; the
    // relation is opened with AccessShareLock and closed (with the scan and the snapshot)
    // before returning; an ERROR in between aborts the transaction, which releases them.
    unsafe {
        let rel = pg_sys::table_open(table, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        let tupdesc = pgrx::PgTupleDesc::from_pg_unchecked(desc);
        let attrs: Vec<&pg_sys::FormData_pg_attribute> = (0..natts).filter_map(|i| tupdesc.get(i)).collect();
        let mut index: Vec<Option<usize>> = Vec::with_capacity(columns.len());
        for Column(name, ty, optional) in columns {
            let found = attrs.iter().position(|a| {
                !a.attisdropped && std::ffi::CStr::from_ptr(a.attname.data.as_ptr()).to_bytes() == name.as_bytes()
            });
            match found {
                Some(i) if attrs[i].atttypid == ty.oid() => index.push(Some(i)),
                Some(_) => {
                    pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                    return Err(format!("column {name} has an unexpected type"));
                }
                None if *optional => index.push(None),
                None => {
                    pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
                    return Err(format!("column {name} is missing"));
                }
            }
        }
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let scan = pg_sys::systable_beginscan(rel, pg_sys::InvalidOid, false, snapshot, 0, std::ptr::null_mut());
        let mut values = vec![pg_sys::Datum::from(0usize); natts];
        let mut nulls = vec![false; natts];
        let mut rows = Vec::new();
        loop {
            let tuple = pg_sys::systable_getnext(scan);
            if tuple.is_null() {
                break;
            }
            pg_sys::heap_deform_tuple(tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            let mut row = Vec::with_capacity(columns.len());
            for (i, Column(_, ty, _)) in index.iter().zip(columns) {
                let cell = match i {
                    Some(i) if !nulls[*i] => match ty {
                        Type::Text => String::from_datum(values[*i], false).map(Cell::Text),
                        Type::Json => pgrx::JsonB::from_datum(values[*i], false).map(|j| Cell::Json(j.0)),
                        Type::Time => Some(Cell::Time(values[*i].value() as i64)),
                        Type::Bool => Some(Cell::Bool(values[*i].value() != 0)),
                    },
                    _ => None,
                };
                row.push(cell);
            }
            rows.push(Row(row));
        }
        pg_sys::systable_endscan(scan);
        pg_sys::UnregisterSnapshot(snapshot);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        Ok(rows)
    }
}

/// Every row of `idp.<table>`, the named columns only, through SQL as the current user. The
/// statement names only the table, schema-qualified, and its columns.
fn select(table: &Table) -> Result<Vec<Row>, String> {
    let columns: Vec<String> = table.columns.iter().map(|Column(name, _, _)| format!("t.{name}")).collect();
    let query = format!("SELECT {} FROM idp.{} t", columns.join(", "), table.name);
    Spi::connect(|client| {
        let mut rows = Vec::new();
        for row in client.select(&query, None, &[])? {
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, Column(_, ty, _)) in table.columns.iter().enumerate() {
                let n = i + 1;
                cells.push(match ty {
                    Type::Text => row.get::<String>(n)?.map(Cell::Text),
                    Type::Json => row.get::<pgrx::JsonB>(n)?.map(|j| Cell::Json(j.0)),
                    Type::Time => {
                        row.get::<TimestampWithTimeZone>(n)?.map(|t| Cell::Time(pg_sys::TimestampTz::from(t)))
                    }
                    Type::Bool => row.get::<bool>(n)?.map(Cell::Bool),
                });
            }
            rows.push(Row(cells));
        }
        Ok::<_, pgrx::spi::Error>(rows)
    })
    .map_err(|e| e.to_string())
}

/// Seconds since the Unix epoch of a stored time.
pub(super) fn unix_seconds(t: i64) -> f64 {
    /// Seconds between the Unix epoch and PostgreSQL's (2000-01-01).
    const POSTGRES_EPOCH: f64 = 946_684_800.0;
    t as f64 / 1_000_000.0 + POSTGRES_EPOCH
}

/// Every provider: its name and its stored config, in byte order of the names (as `COLLATE
/// "C"` sorts them, whatever the database's collation): when two entries of an issuer could both
/// verify a token, sessions and logins pick the same one.
pub(super) fn providers(access: &Access) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    for mut row in rows(access, &PROVIDERS)? {
        if let (Some(name), Some(Cell::Json(config))) = (row.text(0), row.take(1)) {
            out.push((name, config));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Every revocation, as made (under a provider's name).
pub(super) fn revocations(access: &Access) -> Result<Vec<Revocation>, String> {
    Ok(rows(access, &REVOCATIONS)?
        .into_iter()
        .map(|mut r| Revocation {
            provider: r.text(0).unwrap_or_default(),
            kind: r.text(1).unwrap_or_default(),
            subject: r.text(2).unwrap_or_default(),
            issued_before: r.time(3),
            created_at: r.time(4).unwrap_or_default(),
        })
        .collect())
}

/// Every directory user (without the raw event).
pub(super) fn directory_users(access: &Access) -> Result<Vec<DirectoryUser>, String> {
    Ok(rows(access, &DIRECTORY_USERS)?
        .into_iter()
        .map(|mut r| DirectoryUser {
            provider: r.text(0).unwrap_or_default(),
            id: r.text(1).unwrap_or_default(),
            idp_id: r.text(2),
            email: r.text(3),
            email_key: r.text(4),
            first_name: r.text(5),
            last_name: r.text(6),
            state: r.text(7).unwrap_or_default(),
            event_at: r.time(8).unwrap_or_default(),
        })
        .collect())
}

/// Every directory group (without the raw event).
fn directory_groups(access: &Access) -> Result<Vec<DirectoryGroup>, String> {
    Ok(rows(access, &DIRECTORY_GROUPS)?
        .into_iter()
        .map(|mut r| DirectoryGroup {
            provider: r.text(0).unwrap_or_default(),
            id: r.text(1).unwrap_or_default(),
            name: r.text(2),
            deleted: r.bool(3).unwrap_or(false),
            event_at: r.time(4).unwrap_or_default(),
        })
        .collect())
}

/// Every directory membership.
fn directory_memberships(access: &Access) -> Result<Vec<DirectoryMembership>, String> {
    Ok(rows(access, &DIRECTORY_MEMBERSHIPS)?
        .into_iter()
        .map(|mut r| DirectoryMembership {
            provider: r.text(0).unwrap_or_default(),
            group_id: r.text(1).unwrap_or_default(),
            user_id: r.text(2).unwrap_or_default(),
            member: r.bool(3).unwrap_or(false),
            event_at: r.time(4).unwrap_or_default(),
        })
        .collect())
}

/// The registry as a Citus coordinator copies it: every table, every row (the caller checks
/// first that the install has them all: 0.5.0's SQL).
pub(crate) fn copy(access: &Access) -> Result<RegistryCopy, String> {
    let read = || -> Result<_, String> {
        Ok((
            providers(access)?.into_iter().map(|(_, config)| config).collect(),
            revocations(access)?,
            directory_users(access)?,
            directory_groups(access)?,
            directory_memberships(access)?,
        ))
    };
    let (providers, revocations, users, groups, memberships) =
        read().map_err(|e| format!("cannot read the pg_idp registry: {e}"))?;
    RegistryCopy::new(providers, revocations, users, groups, memberships)
}

/// What a trusted registry holds, as a job reads it (and the login snapshot holds it).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Content {
    /// Every provider's stored config, by name.
    pub providers: Vec<(String, Value)>,
    /// (issuer, kind, subject, issued_before in Unix seconds for users).
    pub revocations: Vec<(String, String, String, Option<f64>)>,
    /// (provider, field, value): every directory user with that value in that field is inactive.
    pub deprovisioned: Vec<(String, String, String)>,
}

/// Read the registry of a trusted install (in a transaction), by oid.
pub(crate) fn content(install: &Install) -> Result<Content, String> {
    let access = Access::Trusted(install);
    let providers = providers(&access)?;
    let revocations = revocations(&access)?;
    let users = directory_users(&access)?;
    Ok(content_of(providers, revocations, users))
}

/// A job's view of what was read: revocations by issuer (a revocation covers the person
/// whichever provider entry verifies the token), and the directory keys no active user has.
fn content_of(providers: Vec<(String, Value)>, revocations: Vec<Revocation>, users: Vec<DirectoryUser>) -> Content {
    let issuer: BTreeMap<&str, &str> = providers
        .iter()
        .filter_map(|(name, config)| Some((name.as_str(), config.get("issuer").and_then(Value::as_str)?)))
        .collect();
    let mut by_issuer: Vec<(String, String, String, Option<f64>)> = revocations
        .iter()
        .filter_map(|r| {
            let iss = issuer.get(r.provider.as_str())?;
            Some((iss.to_string(), r.kind.clone(), r.subject.clone(), r.issued_before.map(unix_seconds)))
        })
        .collect();
    by_issuer.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    // (provider, field, value) -> some user with it is active
    let mut active: BTreeMap<(String, &'static str, String), bool> = BTreeMap::new();
    for u in &users {
        let is_active = u.state == "active";
        let mut note = |field: &'static str, value: &str| {
            *active.entry((u.provider.clone(), field, value.to_string())).or_insert(false) |= is_active;
        };
        note("id", &u.id);
        if let Some(v) = &u.idp_id {
            note("idp_id", v);
        }
        if let Some(v) = &u.email_key {
            note("email", v);
        }
    }
    let deprovisioned = active
        .into_iter()
        .filter(|(_, a)| !a)
        .map(|((p, f, v), _)| (p, f.to_string(), v))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Content { providers, revocations: by_issuer, deprovisioned }
}
