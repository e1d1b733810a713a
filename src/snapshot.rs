//! The login snapshot (PostgreSQL 18): what validating a login token needs, readable before the
//! backend has opened its database.
//!
//! Authentication runs before the backend connects to its database, so the registry tables
//! cannot be read then. A worker connected to each login database (`idp.worker_database` and
//! `idp.login_databases`, on primaries and standbys alike) writes this database's providers (their
//! configs, keys and secrets), its revocations and the keys of its deprovisioned directory users
//! to `$PGDATA/pg_idp/<database oid>.json`: a directory of mode 0700 and a file of mode 0600, owned
//! by the server's OS user, as the data files that hold the same secrets are. It is written at
//! the worker's start and within a second of any change to the registry tables (the worker
//! notices it through the same relcache invalidations the backends use, which reach standbys
//! through the WAL), and replaced atomically (a temporary file renamed over it). A missing or
//! unreadable snapshot refuses every login to that database (`registry_unavailable`).

use std::io::Write;
use std::path::PathBuf;

use pg_idp_core::{parse_provider, Directory, Registry, Revocations};
use pgrx::prelude::*;
use serde_json::{json, Value};

/// The layout of the file; a reader refuses any other.
const FORMAT: i64 = 1;

/// `$PGDATA/pg_idp`.
fn dir() -> PathBuf {
    // SAFETY: DataDir is set by the postmaster before any backend or worker starts, and never
    // changes; copied at once.
    let data = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) };
    PathBuf::from(data.to_string_lossy().into_owned()).join("pg_idp")
}

/// The snapshot of the database with this oid.
pub fn path(database: pg_sys::Oid) -> PathBuf {
    dir().join(format!("{}.json", database.to_u32()))
}

/// Rows of a query whose every column is text (NULLs as JSON null).
fn text_rows(query: &str, columns: usize) -> Result<Vec<Vec<Value>>, String> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(query, None, &[])? {
            let mut r = Vec::with_capacity(columns);
            for i in 1..=columns {
                r.push(row.get::<String>(i)?.map_or(Value::Null, Value::String));
            }
            out.push(r);
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(|e| e.to_string())
}

/// Whether the table exists (read-only, so it also answers on a standby).
fn table_exists(name: &str) -> bool {
    Spi::connect(|client| {
        client.select("SELECT pg_catalog.to_regclass($1) IS NOT NULL", None, &[name.into()])?.first().get_one::<bool>()
    })
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// Every deprovisioned directory key: (provider, field, value) where every directory user with
/// that value in that field is inactive.
const DEPROVISIONED: &str = "\
    SELECT provider, 'id', id FROM idp.directory_users GROUP BY provider, id \
      HAVING NOT pg_catalog.bool_or(state OPERATOR(pg_catalog.=) 'active') \
    UNION ALL SELECT provider, 'idp_id', idp_id FROM idp.directory_users WHERE idp_id IS NOT NULL \
      GROUP BY provider, idp_id HAVING NOT pg_catalog.bool_or(state OPERATOR(pg_catalog.=) 'active') \
    UNION ALL SELECT provider, 'email', email_key FROM idp.directory_users WHERE email_key IS NOT NULL \
      GROUP BY provider, email_key HAVING NOT pg_catalog.bool_or(state OPERATOR(pg_catalog.=) 'active')";

/// The same from a directory without the 0.3.0 columns.
const DEPROVISIONED_IDS: &str = "\
    SELECT provider, 'id', id FROM idp.directory_users GROUP BY provider, id \
      HAVING NOT pg_catalog.bool_or(state OPERATOR(pg_catalog.=) 'active')";

/// Whether `idp.directory_users` has the 0.3.0 columns.
fn has_email_key() -> bool {
    Spi::connect(|client| {
        client
            .select(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute \
                  WHERE attrelid OPERATOR(pg_catalog.=) 'idp.directory_users'::pg_catalog.regclass \
                    AND attname OPERATOR(pg_catalog.=) 'email_key' AND NOT attisdropped)",
                None,
                &[],
            )?
            .first()
            .get_one::<bool>()
    })
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// The owners of the tables with row-level security enabled (every table enable_rls protects
/// among them): each bypasses its policies unless FORCE, which it can turn off, so a login as
/// one of them (or a member of one) is refused unless login.roles names the role.
const RLS_OWNERS: &str =
    "SELECT DISTINCT c.relowner::pg_catalog.text FROM pg_catalog.pg_class c WHERE c.relrowsecurity";

/// Write this database's snapshot (in a transaction, with the extension installed); returns the
/// number of providers written.
pub fn write() -> Result<usize, String> {
    let providers: Vec<Value> =
        text_rows("SELECT config::pg_catalog.text FROM idp.provider_registry ORDER BY name", 1)?
            .into_iter()
            .filter_map(|r| r[0].as_str().and_then(|c| serde_json::from_str(c).ok()))
            .collect();
    let revocations = if table_exists("idp.revocation_list") {
        text_rows(
            "SELECT p.issuer, r.kind, r.subject, pg_catalog.date_part('epoch', r.issued_before)::pg_catalog.text \
             FROM idp.revocation_list r JOIN idp.provider_registry p ON p.name OPERATOR(pg_catalog.=) r.provider",
            4,
        )?
    } else {
        Vec::new()
    };
    let deprovisioned = if !table_exists("idp.directory_users") {
        Vec::new()
    } else if has_email_key() {
        text_rows(DEPROVISIONED, 3)?
    } else {
        // A database still on 0.2.0's SQL (before ALTER EXTENSION pg_idp UPDATE): ids only.
        text_rows(DEPROVISIONED_IDS, 3)?
    };
    // Login privilege check: the owners of the tables under row-level security.
    let rls_owners: Vec<u32> =
        text_rows(RLS_OWNERS, 1)?.into_iter().filter_map(|r| r[0].as_str().and_then(|o| o.parse().ok())).collect();
    // SAFETY: reads backend globals set when the worker connected.
    let (oid, name) = unsafe {
        let oid = pg_sys::MyDatabaseId;
        let name = pg_sys::get_database_name(oid);
        let name =
            if name.is_null() { String::new() } else { std::ffi::CStr::from_ptr(name).to_string_lossy().into_owned() };
        (oid, name)
    };
    let n = providers.len();
    let body = json!({
        "format": FORMAT,
        "database": name,
        "written_at": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0),
        "providers": providers,
        "revocations": revocations,
        "deprovisioned": deprovisioned,
        "rls_owners": rls_owners,
    });
    write_file(oid, body.to_string().as_bytes()).map_err(|e| format!("cannot write {}: {e}", path(oid).display()))?;
    Ok(n)
}

/// Replace the snapshot atomically: a 0600 temporary file, flushed, renamed over it.
fn write_file(oid: pg_sys::Oid, body: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = dir();
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let target = path(oid);
    let tmp = dir.join(format!(".{}.json.tmp.{}", oid.to_u32(), std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &target)
}

/// Remove this database's snapshot (the extension is not installed in it).
pub fn remove(oid: pg_sys::Oid) {
    let _ = std::fs::remove_file(path(oid));
}

/// What a login needs from the snapshot: the registry (providers, revocations, deprovisioned
/// directory keys) and when it was written.
pub struct Loaded {
    pub registry: Registry,
    pub written_at: f64,
    /// How many revocations and deprovisioned directory keys it holds.
    pub revocations: usize,
    pub deprovisioned: usize,
    /// The owners of the tables with row-level security (role oids).
    pub rls_owners: Vec<u32>,
}

/// Read and parse the snapshot of database `oid`. `Err` says why it cannot be used (never
/// includes a secret: the file's content is not echoed).
pub fn read(oid: pg_sys::Oid) -> Result<Loaded, String> {
    let p = path(oid);
    let text = std::fs::read(&p).map_err(|e| format!("cannot read the login snapshot {}: {e}", p.display()))?;
    parse(&text).map_err(|why| format!("login snapshot {} is not usable: {why}", p.display()))
}

fn parse(text: &[u8]) -> Result<Loaded, String> {
    let v: Value = serde_json::from_slice(text).map_err(|_| "not JSON".to_string())?;
    if v.get("format").and_then(Value::as_i64) != Some(FORMAT) {
        return Err("unknown format".into());
    }
    let providers = v
        .get("providers")
        .and_then(Value::as_array)
        .ok_or("no providers")?
        .iter()
        .map(|c| parse_provider(c).map_err(|e| format!("a provider's config is invalid ({})", e.field)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut revocations = Revocations::default();
    let mut counts = (0, 0);
    for r in v.get("revocations").and_then(Value::as_array).into_iter().flatten() {
        let s = |i: usize| r.get(i).and_then(Value::as_str);
        match (s(0), s(1), s(2)) {
            (Some(issuer), Some("user"), Some(subject)) => {
                let before = s(3).and_then(|b| b.parse::<f64>().ok()).ok_or("a user revocation has no time")?;
                revocations.revoke_user(issuer, subject, before)
            }
            (Some(issuer), Some("session"), Some(subject)) => revocations.revoke_session(issuer, subject),
            _ => continue,
        }
        counts.0 += 1;
    }
    let mut directory = Directory::default();
    // An id no token carries (core refuses a NUL in a claim): entries matched by another field.
    const NO_ID: &str = "\0";
    for d in v.get("deprovisioned").and_then(Value::as_array).into_iter().flatten() {
        let s = |i: usize| d.get(i).and_then(Value::as_str);
        match (s(0), s(1), s(2)) {
            (Some(p), Some("id"), Some(value)) => directory.add_user(p, value, None, None, false),
            (Some(p), Some("idp_id"), Some(value)) => directory.add_user(p, NO_ID, Some(value), None, false),
            (Some(p), Some("email"), Some(value)) => directory.add_user(p, NO_ID, None, Some(value), false),
            _ => continue,
        }
        counts.1 += 1;
    }
    // Without it the privileged-role check cannot be made: the snapshot is unusable.
    let rls_owners = v
        .get("rls_owners")
        .and_then(Value::as_array)
        .ok_or("no rls_owners")?
        .iter()
        .map(|o| o.as_u64().and_then(|o| u32::try_from(o).ok()).ok_or("an rls_owners entry is not a role oid"))
        .collect::<Result<Vec<u32>, _>>()?;
    Ok(Loaded {
        rls_owners,
        registry: Registry::new(providers).with_revocations(revocations).with_directory(directory),
        written_at: v.get("written_at").and_then(Value::as_f64).unwrap_or(0.0),
        revocations: counts.0,
        deprovisioned: counts.1,
    })
}

/// `idp.login_snapshot()`: this database's snapshot as the validator would read it now (no
/// secret: counts and times only).
pub fn status() -> Value {
    // SAFETY: reads a backend global.
    let oid = unsafe { pg_sys::MyDatabaseId };
    let p = path(oid);
    match read(oid) {
        Ok(l) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            json!({
                "path": p.display().to_string(),
                "readable": true,
                "providers": l.registry.providers().iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                "login_providers": l.registry.providers().iter().filter(|p| p.login.is_some()).map(|p| p.name.clone()).collect::<Vec<_>>(),
                "revocations": l.revocations,
                "deprovisioned": l.deprovisioned,
                "written_at": l.written_at,
                "age_seconds": (now - l.written_at).max(0.0),
            })
        }
        Err(why) => json!({"path": p.display().to_string(), "readable": false, "error": why}),
    }
}
