//! The login snapshot (PostgreSQL 18): what validating a login token needs, readable before the
//! backend has opened its database.
//!
//! Authentication runs before the backend connects to its database, so the registry tables cannot
//! be read then. For every database pg_idp serves (see `workers::launcher`), on primaries and
//! standbys alike, a job writes this database's providers (their configs, keys and secrets), its
//! revocations, the keys of its deprovisioned directory users and the owners of its
//! row-level-secured tables to `$PGDATA/pg_idp/<database oid>.json`: a directory of mode 0700 and a
//! file of mode 0600, owned by the server's OS user, as the data files that hold the same secrets
//! are, replaced atomically. The job reads only what `registry::trusted` verified, by oid
//! (`registry::tables`).
//!
//! The validator uses a file only while the launcher vouches for it (`served::fresh`): the
//! database is served, the file's generation is the one the last job wrote or confirmed, and that
//! was within three `idp.check_interval`s. Anything else (a database no longer served, a file
//! left from earlier, a launcher that stopped) refuses the login (`registry_unavailable`).

use std::io::Write;
use std::path::PathBuf;

use pg_idp_core::{parse_provider, Directory, Registry, Revocations};
use pgrx::prelude::*;
use serde_json::{json, Value};

/// The layout of the file; a reader refuses any other (2: typed revocation times, a generation,
/// the database's oid, the owners of row-level-secured tables).
const FORMAT: i64 = 2;

/// `$PGDATA/pg_idp`.
fn dir() -> PathBuf {
    // SAFETY: DataDir is set by the postmaster before any backend or worker starts, and never
    // changes; copied at once.
    let data = unsafe { std::ffi::CStr::from_ptr(pg_sys::DataDir) };
    PathBuf::from(data.to_string_lossy().into_owned()).join("pg_idp")
}

/// The snapshot of the database with this oid.
pub(crate) fn path(database: pg_sys::Oid) -> PathBuf {
    dir().join(format!("{}.json", database.to_u32()))
}

/// What the file holds besides its generation and time: the content a job compares to decide
/// whether to rewrite it.
pub(crate) fn body(content: &crate::registry::tables::Content, rls_owners: &[u32]) -> Value {
    json!({
        "providers": content.providers.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
        "revocations": content.revocations.iter().map(|(i, k, s, b)| json!([i, k, s, b])).collect::<Vec<_>>(),
        "deprovisioned": content.deprovisioned.iter().map(|(p, f, v)| json!([p, f, v])).collect::<Vec<_>>(),
        "rls_owners": rls_owners,
    })
}

/// A hash of a body (FNV-1a of its text; never 0, which means "none").
pub(crate) fn hash(body: &Value) -> u64 {
    body.to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
        .max(1)
}

/// Write the snapshot of database `oid` (named `name`): `body` with its `generation`.
pub(crate) fn write(oid: pg_sys::Oid, name: &str, generation: u64, body: &Value) -> Result<(), String> {
    let mut file = body.clone();
    file["format"] = json!(FORMAT);
    file["database"] = json!(name);
    file["database_oid"] = json!(oid.to_u32());
    file["generation"] = json!(generation);
    file["written_at"] = json!(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0));
    write_file(oid, file.to_string().as_bytes()).map_err(|e| format!("cannot write {}: {e}", path(oid).display()))
}

/// The generation of the snapshot file of `oid`, if it is there and readable.
pub(crate) fn file_generation(oid: pg_sys::Oid) -> Option<u64> {
    let v: Value = serde_json::from_slice(&std::fs::read(path(oid)).ok()?).ok()?;
    v.get("generation").and_then(Value::as_u64)
}

/// Replace the snapshot atomically: a new 0600 temporary file (never one that exists, never
/// through a symbolic link), flushed, renamed over it.
fn write_file(oid: pg_sys::Oid, body: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let dir = dir();
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    if std::fs::symlink_metadata(&dir)?.file_type().is_symlink() {
        return Err(std::io::Error::other("the snapshot directory is a symbolic link"));
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    let target = path(oid);
    let tmp = dir.join(format!(".{}.json.tmp.{}", oid.to_u32(), std::process::id()));
    // A leftover of a job that died in between (same pid, reused): never followed, replaced.
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc_o_nofollow())
        .open(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &target)
}

/// O_NOFOLLOW on Linux.
const fn libc_o_nofollow() -> i32 {
    0o400000
}

/// Remove the snapshot of database `oid` (no longer served).
pub(crate) fn remove(oid: pg_sys::Oid) {
    let _ = std::fs::remove_file(path(oid));
}

/// Remove every snapshot, and any temporary file a job left (the launcher starts or stops: none
/// may be trusted until a job writes it again). Other files of the directory (the launcher's
/// `discovered`) stay.
pub(crate) fn remove_all() {
    if let Ok(entries) = std::fs::read_dir(dir()) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().contains(".json") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// What a login needs from the snapshot: the registry (providers, revocations, deprovisioned
/// directory keys) and when it was written.
pub(crate) struct Loaded {
    /// The providers read (all, or those a login's line admits: `read_for`).
    pub registry: Registry,
    /// Every provider's name and issuer, read or not (to name the provider of a refused token).
    pub issuers: Vec<(String, String)>,
    /// Which write of the launcher's jobs this is (`served::fresh` compares it).
    pub generation: u64,
    pub written_at: f64,
    /// How many revocations and deprovisioned directory keys it holds.
    pub revocations: usize,
    pub deprovisioned: usize,
    /// The owners of the tables with row-level security (role oids).
    pub rls_owners: Vec<u32>,
}

/// Read and parse the snapshot of database `oid`. `Err` says why it cannot be used (never
/// includes a secret: the file's content is not echoed).
pub(crate) fn read(oid: pg_sys::Oid) -> Result<Loaded, String> {
    read_for(oid, &|_| true)
}

/// [`read`], with only the providers whose issuer `keep` admits made ready to verify (a login
/// needs only those of its pg_hba.conf line's issuer; the others' keys are not parsed).
pub(super) fn read_for(oid: pg_sys::Oid, keep: &dyn Fn(&str) -> bool) -> Result<Loaded, String> {
    let p = path(oid);
    let text = std::fs::read(&p).map_err(|e| format!("cannot read the login snapshot {}: {e}", p.display()))?;
    let loaded = parse(&text, keep).map_err(|why| format!("login snapshot {} is not usable: {why}", p.display()))?;
    Ok(loaded)
}

fn parse(text: &[u8], keep: &dyn Fn(&str) -> bool) -> Result<Loaded, String> {
    let v: Value = serde_json::from_slice(text).map_err(|_| "not JSON".to_string())?;
    if v.get("format").and_then(Value::as_i64) != Some(FORMAT) {
        return Err("unknown format".into());
    }
    let configs = v.get("providers").and_then(Value::as_array).ok_or("no providers")?;
    let field = |c: &Value, f: &str| c.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
    let issuers: Vec<(String, String)> = configs.iter().map(|c| (field(c, "provider"), field(c, "issuer"))).collect();
    let providers = configs
        .iter()
        .filter(|c| keep(c.get("issuer").and_then(Value::as_str).unwrap_or_default()))
        .map(|c| parse_provider(c).map_err(|e| format!("a provider's config is invalid ({})", e.field)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut revocations = Revocations::default();
    let mut counts = (0, 0);
    for r in v.get("revocations").and_then(Value::as_array).into_iter().flatten() {
        let s = |i: usize| r.get(i).and_then(Value::as_str);
        match (s(0), s(1), s(2)) {
            (Some(issuer), Some("user"), Some(subject)) => {
                let before = r.get(3).and_then(Value::as_f64).ok_or("a user revocation has no time")?;
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
        issuers,
        rls_owners,
        registry: Registry::new(providers).with_revocations(revocations).with_directory(directory),
        generation: v.get("generation").and_then(Value::as_u64).unwrap_or(0),
        written_at: v.get("written_at").and_then(Value::as_f64).unwrap_or(0.0),
        revocations: counts.0,
        deprovisioned: counts.1,
    })
}

/// `idp.login_snapshot()`: this database's snapshot as the validator would read it now (no
/// secret: counts and times only).
pub(crate) fn status() -> Value {
    // SAFETY: reads a backend global.
    let oid = unsafe { pg_sys::MyDatabaseId };
    let p = path(oid);
    let served = crate::shmem::served::entry(oid.to_u32());
    let state = served.and_then(|e| e.state()).map_or("not_served", |s| s.name());
    let confirmed = served
        .map(|e| e.verified_at())
        .filter(|t| *t > 0)
        .map(|t| (crate::shmem::served::now_ms() - t) as f64 / 1000.0);
    match read(oid) {
        Ok(l) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let usable =
                crate::shmem::served::fresh(oid.to_u32(), l.generation, crate::pg::settings::snapshot_bound_ms());
            json!({
                "path": p.display().to_string(),
                "readable": true,
                "state": state,
                "usable": usable.is_ok(),
                "why_not": usable.err(),
                "confirmed_seconds_ago": confirmed,
                "providers": l.registry.providers().iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                "login_providers": l.registry.providers().iter().filter(|p| p.login.is_some()).map(|p| p.name.clone()).collect::<Vec<_>>(),
                "revocations": l.revocations,
                "deprovisioned": l.deprovisioned,
                "written_at": l.written_at,
                "age_seconds": (now - l.written_at).max(0.0),
            })
        }
        Err(why) => {
            json!({"path": p.display().to_string(), "readable": false, "state": state, "usable": false, "error": why})
        }
    }
}
