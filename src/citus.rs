//! Citus: this node's part in a cluster, and the copy of the registry from the coordinator to
//! the workers.
//!
//! The copy travels as the text of SQL commands (Citus's `run_command_on_workers`, one
//! connection per command), which a worker writes to its log when a command fails. So it is
//! sealed (`pg_idp_core::seal`): each worker makes a one-time key pair and keeps the private half
//! in `idp.sync_keys` (`idp._sync_begin()`), the coordinator seals the registry to every public
//! half, and each worker opens it, forgets its key and loads the registry
//! (`idp._load_registry_sealed`). A command that fails shows key ids, public keys and ciphertext,
//! never a secret.
//!
//! Everything here reads only catalogs in `pg_catalog` (writable only by superusers) and pg_idp's
//! own tables, found as members of the extension, with `search_path` pinned and every name
//! schema-qualified; on the coordinator it calls no function that lives in the database except
//! Citus's `pg_catalog.run_command_on_workers`.

use pg_idp_core::registry_copy::{DirectoryGroup, DirectoryMembership, DirectoryUser, RegistryCopy, Revocation};
use pg_idp_core::{parse_provider, seal};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;
use pgrx::JsonB;

use crate::errors::{raise_internal, raise_invalid_config, raise_sync};
use crate::registry;

/// This node's part in a Citus cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CitusRole {
    /// No Citus here (or not one pg_idp trusts: see [`role`]).
    None,
    /// The coordinator: it refreshes keys and copies the registry to the workers.
    Coordinator,
    /// A worker: it gets its registry from the coordinator.
    Worker,
}

impl CitusRole {
    /// `none`, `coordinator` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            CitusRole::None => "none",
            CitusRole::Coordinator => "coordinator",
            CitusRole::Worker => "worker",
        }
    }
}

/// This node's part in a Citus cluster, from the catalogs alone (in a transaction): Citus is
/// there when the `citus` extension is installed, owned by a superuser, with its catalogs
/// `pg_catalog.pg_dist_local_group` and `pg_catalog.pg_dist_node`. Then, as Citus's own
/// `citus_is_coordinator()` decides: the coordinator is the node of group 0 that knows at least
/// one active primary node; any other node is a worker.
pub fn role() -> CitusRole {
    pinned(|| {
        Spi::connect(|client| {
            let owner = client
                .select(
                    "SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'citus'",
                    Some(1),
                    &[],
                )?
                .first()
                .get_one::<pg_sys::Oid>()
                .ok()
                .flatten();
            // SAFETY: a syscache lookup of a role by oid (false for a role that does not exist).
            if !owner.is_some_and(|o| unsafe { pg_sys::superuser_arg(o) }) {
                return Ok(CitusRole::None);
            }
            let catalogs = client
                .select(
                    "SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL \
                        AND pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NOT NULL",
                    None,
                    &[],
                )?
                .first()
                .get_one::<bool>()?;
            if catalogs != Some(true) {
                return Ok(CitusRole::None);
            }
            let group = client
                .select("SELECT g.groupid::pg_catalog.int4 FROM pg_catalog.pg_dist_local_group g", Some(1), &[])?
                .first()
                .get_one::<i32>()
                .ok()
                .flatten();
            if group != Some(0) {
                return Ok(CitusRole::Worker);
            }
            let nodes = client
                .select(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_node n WHERE n.isactive \
                        AND n.noderole::pg_catalog.text OPERATOR(pg_catalog.=) 'primary')",
                    None,
                    &[],
                )?
                .first()
                .get_one::<bool>()?;
            Ok::<_, pgrx::spi::Error>(if nodes == Some(true) { CitusRole::Coordinator } else { CitusRole::Worker })
        })
        .unwrap_or(CitusRole::None)
    })
}

/// One worker's registry after a copy (or a look).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSync {
    /// `host:port`, as Citus names it.
    pub node: String,
    /// Its registry's fingerprint, when it answered.
    pub fingerprint: Option<String>,
    /// Whether that is the coordinator's.
    pub in_sync: bool,
    /// Why it did not answer (its error), if it did not.
    pub error: Option<String>,
}

/// What a copy (or a look) found: the coordinator's fingerprint and every worker, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncOutcome {
    /// The coordinator's registry fingerprint.
    pub fingerprint: String,
    /// Every worker, sorted by name.
    pub workers: Vec<NodeSync>,
}

impl SyncOutcome {
    /// How many workers do not hold the coordinator's registry (for the job's log).
    pub fn behind(&self) -> usize {
        self.workers.iter().filter(|w| !w.in_sync).count()
    }
}

/// On the coordinator: copy the registry to every worker, sealed, and compare fingerprints.
/// Not one transaction across nodes: a worker that failed is listed with its error, and the next
/// call retries it. `Err` when this node is not a Citus coordinator, or when pg_idp's 0.5.0 SQL
/// is not installed here.
pub fn sync_all() -> Result<SyncOutcome, String> {
    pinned(|| {
        require_coordinator()?;
        sync_copy(&read_copy()?)
    })
}

/// On the coordinator: copy `copy` (this node's registry, however it was read) to every worker,
/// sealed; see [`sync_all`].
pub fn sync_copy(copy: &RegistryCopy) -> Result<SyncOutcome, String> {
    pinned(|| {
        require_coordinator()?;
        let fingerprint = copy.fingerprint();
        let mut workers: Vec<NodeSync> = Vec::new();
        // 1. A one-time public key from every worker.
        let mut offers = Vec::new();
        for w in on_workers("SELECT idp._sync_begin()")? {
            match w.answer.map(|a| seal::parse_offer(&a)) {
                Ok(Ok(offer)) => offers.push((w.node, offer)),
                Ok(Err(why)) => workers.push(failed(w.node, why)),
                Err(why) => workers.push(failed(w.node, why)),
            }
        }
        // 2. The registry sealed to all of them, in one command that each worker opens with its
        // own key; each answers its fingerprint after loading.
        if !offers.is_empty() {
            let keys: Vec<seal::Offer> = offers.iter().map(|(_, o)| o.clone()).collect();
            let sealed = seal::seal(&keys, &copy.to_bytes())?;
            let command = format!("SELECT idp._load_registry_sealed({})", pgrx::spi::quote_literal(&sealed));
            for w in on_workers(&command)? {
                if !offers.iter().any(|(node, _)| *node == w.node) {
                    continue; // its key could not be had: that error is listed already
                }
                workers.push(match w.answer {
                    Ok(theirs) => NodeSync {
                        node: w.node,
                        in_sync: theirs == fingerprint,
                        fingerprint: Some(theirs),
                        error: None,
                    },
                    Err(why) => failed(w.node, why),
                });
            }
        }
        workers.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(SyncOutcome { fingerprint, workers })
    })
}

/// On the coordinator: every worker's fingerprint next to this node's, without copying.
pub fn status() -> Result<SyncOutcome, String> {
    pinned(|| {
        require_coordinator()?;
        let fingerprint = read_copy()?.fingerprint();
        let mut workers: Vec<NodeSync> = on_workers("SELECT idp.registry_fingerprint()")?
            .into_iter()
            .map(|w| match w.answer {
                Ok(theirs) => {
                    NodeSync { node: w.node, in_sync: theirs == fingerprint, fingerprint: Some(theirs), error: None }
                }
                Err(why) => failed(w.node, why),
            })
            .collect();
        workers.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(SyncOutcome { fingerprint, workers })
    })
}

/// This node's registry fingerprint (what `idp.registry_fingerprint()` answers).
pub fn fingerprint() -> Result<String, String> {
    pinned(|| Ok(read_copy()?.fingerprint()))
}

fn require_coordinator() -> Result<(), String> {
    match role() {
        CitusRole::Coordinator => Ok(()),
        CitusRole::None => Err("Citus is not installed in this database".into()),
        CitusRole::Worker => Err("this node is a Citus worker: the registry is copied from the coordinator".into()),
    }
}

fn failed(node: String, why: String) -> NodeSync {
    NodeSync { node, fingerprint: None, in_sync: false, error: Some(why) }
}

/// One worker's answer to a command: its result, or its error.
struct Answer {
    node: String,
    answer: Result<String, String>,
}

/// Run `command` on every worker through Citus (`pg_catalog.run_command_on_workers`, each on
/// its own connection, committed there on its own).
fn on_workers(command: &str) -> Result<Vec<Answer>, String> {
    Spi::connect_mut(|client| {
        let rows = client.update(
            "SELECT w.nodename::pg_catalog.text, w.nodeport::pg_catalog.int4, w.success, w.result::pg_catalog.text \
               FROM pg_catalog.run_command_on_workers($1::pg_catalog.text) w",
            None,
            &[command.into()],
        )?;
        let mut out = Vec::new();
        for row in rows {
            let node = format!(
                "{}:{}",
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<i32>(2)?.map(|p| p.to_string()).unwrap_or_default()
            );
            let result = row.get::<String>(4)?.unwrap_or_default();
            let answer = if row.get::<bool>(3)?.unwrap_or(false) { Ok(result) } else { Err(result) };
            out.push(Answer { node, answer });
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(|e| format!("cannot run a command on the Citus workers: {e}"))
}

/// The tables a copy reads and writes, each of which must be a table of the pg_idp extension
/// (0.5.0's SQL): what a schema named `idp` made by someone else holds is never read or sent.
const TABLES: [&str; 6] = [
    "idp.provider_registry",
    "idp.revocation_list",
    "idp.directory_users",
    "idp.directory_groups",
    "idp.directory_memberships",
    "idp.sync_keys",
];

fn check_tables() -> Result<(), String> {
    let members = Spi::get_one_with_args::<i64>(
        "SELECT pg_catalog.count(*) FROM pg_catalog.unnest($1::pg_catalog.text[]) t(name) \
           JOIN pg_catalog.pg_depend d \
             ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass \
            AND d.objid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(t.name) \
            AND d.objsubid OPERATOR(pg_catalog.=) 0 \
            AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass \
            AND d.deptype OPERATOR(pg_catalog.=) 'e' \
           JOIN pg_catalog.pg_extension e ON e.oid OPERATOR(pg_catalog.=) d.refobjid \
                                         AND e.extname OPERATOR(pg_catalog.=) 'pg_idp'",
        &[TABLES.iter().map(|t| t.to_string()).collect::<Vec<_>>().into()],
    )
    .map_err(|e| format!("cannot read the catalogs: {e}"))?;
    if members == Some(TABLES.len() as i64) {
        Ok(())
    } else {
        Err("pg_idp's 0.5.0 SQL is not installed in this database (ALTER EXTENSION pg_idp UPDATE)".into())
    }
}

/// This node's registry, read from pg_idp's tables (as the current user: the extension owner, a
/// superuser or the refresh worker).
pub fn read_copy() -> Result<RegistryCopy, String> {
    pinned(|| {
        check_tables()?;
        let time = |t: Option<TimestampWithTimeZone>| t.map(pg_sys::TimestampTz::from);
        let read = Spi::connect(|client| {
            let mut providers = Vec::new();
            for row in client.select("SELECT r.config FROM idp.provider_registry r", None, &[])? {
                if let Some(JsonB(config)) = row.get::<JsonB>(1)? {
                    providers.push(config);
                }
            }
            let mut revocations = Vec::new();
            for row in client.select(
                "SELECT v.provider, v.kind, v.subject, v.issued_before, v.created_at FROM idp.revocation_list v",
                None,
                &[],
            )? {
                revocations.push(Revocation {
                    provider: row.get(1)?.unwrap_or_default(),
                    kind: row.get(2)?.unwrap_or_default(),
                    subject: row.get(3)?.unwrap_or_default(),
                    issued_before: time(row.get(4)?),
                    created_at: time(row.get(5)?).unwrap_or_default(),
                });
            }
            let mut users = Vec::new();
            for row in client.select(
                "SELECT u.provider, u.id, u.idp_id, u.email, u.email_key, u.first_name, u.last_name, u.state, u.event_at \
                   FROM idp.directory_users u",
                None,
                &[],
            )? {
                users.push(DirectoryUser {
                    provider: row.get(1)?.unwrap_or_default(),
                    id: row.get(2)?.unwrap_or_default(),
                    idp_id: row.get(3)?,
                    email: row.get(4)?,
                    email_key: row.get(5)?,
                    first_name: row.get(6)?,
                    last_name: row.get(7)?,
                    state: row.get(8)?.unwrap_or_default(),
                    event_at: time(row.get(9)?).unwrap_or_default(),
                });
            }
            let mut groups = Vec::new();
            for row in client.select(
                "SELECT g.provider, g.id, g.name, g.deleted, g.event_at FROM idp.directory_groups g",
                None,
                &[],
            )? {
                groups.push(DirectoryGroup {
                    provider: row.get(1)?.unwrap_or_default(),
                    id: row.get(2)?.unwrap_or_default(),
                    name: row.get(3)?,
                    deleted: row.get(4)?.unwrap_or(false),
                    event_at: time(row.get(5)?).unwrap_or_default(),
                });
            }
            let mut memberships = Vec::new();
            for row in client.select(
                "SELECT m.provider, m.group_id, m.user_id, m.member, m.event_at FROM idp.directory_memberships m",
                None,
                &[],
            )? {
                memberships.push(DirectoryMembership {
                    provider: row.get(1)?.unwrap_or_default(),
                    group_id: row.get(2)?.unwrap_or_default(),
                    user_id: row.get(3)?.unwrap_or_default(),
                    member: row.get(4)?.unwrap_or(false),
                    event_at: time(row.get(5)?).unwrap_or_default(),
                });
            }
            Ok::<_, pgrx::spi::Error>((providers, revocations, users, groups, memberships))
        });
        let (providers, revocations, users, groups, memberships) =
            read.map_err(|e| format!("cannot read the pg_idp registry: {e}"))?;
        RegistryCopy::new(providers, revocations, users, groups, memberships)
    })
}

/// On a worker: a one-time key pair for the next copy. The private key is stored in
/// `idp.sync_keys` (readable only by the extension owner and superusers), keys unused for
/// `KEY_LIFETIME_SECS` are deleted; returns the offer (key id and public key) for the
/// coordinator.
pub fn begin() -> String {
    pinned(|| {
        crate::store::ensure_writable(c"idp._sync_begin()");
        if let Err(why) = check_tables() {
            raise_internal(why);
        }
        let key = seal::SyncKey::generate().unwrap_or_else(|why| raise_internal(why));
        let stored = Spi::connect_mut(|client| {
            client.update(
                "DELETE FROM idp.sync_keys k WHERE k.created_at OPERATOR(pg_catalog.<) \
                   (pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1::pg_catalog.float8))",
                None,
                &[(seal::KEY_LIFETIME_SECS as f64).into()],
            )?;
            client.update(
                "INSERT INTO idp.sync_keys (key_id, private_key) VALUES ($1, $2)",
                None,
                &[key.key_id().into(), key.private_key().into()],
            )?;
            Ok::<_, pgrx::spi::Error>(())
        });
        if let Err(e) = stored {
            raise_internal(format!("cannot store a sync key: {e}"));
        }
        key.offer()
    })
}

/// On a worker: open a sealed registry with this node's key (which is deleted: a key opens one
/// message), make this node's registry exactly that copy, and return its fingerprint.
pub fn load_sealed(sealed: &str) -> String {
    pinned(|| {
        crate::store::ensure_writable(c"idp._load_registry_sealed()");
        if let Err(why) = check_tables() {
            raise_internal(why);
        }
        let bytes = match seal::open_once(sealed, &mut SyncKeys) {
            Ok(bytes) => bytes,
            Err(seal::OpenError::UnknownKey) => raise_sync(
                "sync_key_unknown",
                "no key of this node opens it (a key opens one copy, and expires after 10 minutes: \
                 a copy replayed or made for another node is refused)"
                    .into(),
            ),
            Err(seal::OpenError::Invalid(why)) => raise_sync("sync_message_invalid", why),
            Err(seal::OpenError::Store(why)) => raise_internal(why),
        };
        let copy = RegistryCopy::from_bytes(&bytes).unwrap_or_else(|why| raise_sync("sync_message_invalid", why));
        drop(bytes);
        // Nothing is written when this node holds the copy already (the coordinator copies again
        // every refresh interval): no cache of this node is dropped then.
        let current = read_copy().unwrap_or_else(|why| raise_internal(why)).fingerprint();
        if current == copy.fingerprint() {
            return current;
        }
        load(&copy);
        fingerprint().unwrap_or_else(|why| raise_internal(why))
    })
}

/// This node's one-time keys, `idp.sync_keys`: a key is taken (deleted) by the statement that
/// opens a copy with it, so it opens one copy; if that statement fails, the deletion is rolled
/// back with it.
struct SyncKeys;

impl seal::KeyStore for SyncKeys {
    fn take(&mut self, key_ids: &[String]) -> Result<Option<(String, Vec<u8>, i64)>, String> {
        Spi::connect_mut(|client| {
            let rows = client.update(
                "DELETE FROM idp.sync_keys k WHERE k.key_id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]) \
                 RETURNING k.key_id, k.private_key, \
                           pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) k.created_at)\
                               ::pg_catalog.int8",
                None,
                &[key_ids.to_vec().into()],
            )?;
            let mut taken = None;
            for row in rows {
                if let (Some(id), Some(key), Some(age)) = (row.get(1)?, row.get(2)?, row.get(3)?) {
                    taken = Some((id, key, age));
                }
            }
            Ok::<_, pgrx::spi::Error>(taken)
        })
        .map_err(|e| format!("cannot read the sync keys: {e}"))
    }
}

/// Make this node's registry exactly `copy`, in the current transaction: providers validated as
/// `register_provider` does (without fetching) and stored, others removed; revocations and the
/// directory replaced.
fn load(copy: &RegistryCopy) {
    for config in copy.providers() {
        let provider = parse_provider(config).unwrap_or_else(|e| raise_invalid_config(&e));
        crate::store::store(&provider, config.clone());
    }
    let ts = |t: i64| {
        TimestampWithTimeZone::try_from(t)
            .unwrap_or_else(|_| raise_sync("sync_message_invalid", "a time out of range".into()))
    };
    let text = |v: Vec<&str>| v.into_iter().map(str::to_string).collect::<Vec<String>>();
    let opt_text = |v: Vec<&Option<String>>| v.into_iter().cloned().collect::<Vec<Option<String>>>();
    let r = copy.revocations();
    let u = copy.directory_users();
    let g = copy.directory_groups();
    let m = copy.directory_memberships();
    let written = Spi::connect_mut(|client| {
        client.update(
            "DELETE FROM idp.provider_registry r WHERE NOT (r.name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]))",
            None,
            &[copy.provider_names().into()],
        )?;
        client.update("DELETE FROM idp.revocation_list", None, &[])?;
        client.update(
            "INSERT INTO idp.revocation_list (provider, kind, subject, issued_before, created_at) \
             SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), \
                              pg_catalog.unnest($2::pg_catalog.text[]), \
                              pg_catalog.unnest($3::pg_catalog.text[]), \
                              pg_catalog.unnest($4::pg_catalog.timestamptz[]), \
                              pg_catalog.unnest($5::pg_catalog.timestamptz[]))",
            None,
            &[
                text(r.iter().map(|x| x.provider.as_str()).collect()).into(),
                text(r.iter().map(|x| x.kind.as_str()).collect()).into(),
                text(r.iter().map(|x| x.subject.as_str()).collect()).into(),
                r.iter().map(|x| x.issued_before.map(ts)).collect::<Vec<_>>().into(),
                r.iter().map(|x| Some(ts(x.created_at))).collect::<Vec<_>>().into(),
            ],
        )?;
        client.update("DELETE FROM idp.directory_memberships", None, &[])?;
        client.update("DELETE FROM idp.directory_groups", None, &[])?;
        client.update("DELETE FROM idp.directory_users", None, &[])?;
        // Without the raw events (verification does not read them).
        client.update(
            "INSERT INTO idp.directory_users \
                    (provider, id, idp_id, email, email_key, first_name, last_name, state, raw, event_at) \
             SELECT u.provider, u.id, u.idp_id, u.email, u.email_key, u.first_name, u.last_name, u.state, \
                    '{}'::pg_catalog.jsonb, u.event_at \
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), \
                              pg_catalog.unnest($2::pg_catalog.text[]), \
                              pg_catalog.unnest($3::pg_catalog.text[]), \
                              pg_catalog.unnest($4::pg_catalog.text[]), \
                              pg_catalog.unnest($5::pg_catalog.text[]), \
                              pg_catalog.unnest($6::pg_catalog.text[]), \
                              pg_catalog.unnest($7::pg_catalog.text[]), \
                              pg_catalog.unnest($8::pg_catalog.text[]), \
                              pg_catalog.unnest($9::pg_catalog.timestamptz[])) \
                    AS u(provider, id, idp_id, email, email_key, first_name, last_name, state, event_at)",
            None,
            &[
                text(u.iter().map(|x| x.provider.as_str()).collect()).into(),
                text(u.iter().map(|x| x.id.as_str()).collect()).into(),
                opt_text(u.iter().map(|x| &x.idp_id).collect()).into(),
                opt_text(u.iter().map(|x| &x.email).collect()).into(),
                opt_text(u.iter().map(|x| &x.email_key).collect()).into(),
                opt_text(u.iter().map(|x| &x.first_name).collect()).into(),
                opt_text(u.iter().map(|x| &x.last_name).collect()).into(),
                text(u.iter().map(|x| x.state.as_str()).collect()).into(),
                u.iter().map(|x| Some(ts(x.event_at))).collect::<Vec<_>>().into(),
            ],
        )?;
        client.update(
            "INSERT INTO idp.directory_groups (provider, id, name, deleted, raw, event_at) \
             SELECT g.provider, g.id, g.name, g.deleted, '{}'::pg_catalog.jsonb, g.event_at \
               FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), \
                              pg_catalog.unnest($2::pg_catalog.text[]), \
                              pg_catalog.unnest($3::pg_catalog.text[]), \
                              pg_catalog.unnest($4::pg_catalog.bool[]), \
                              pg_catalog.unnest($5::pg_catalog.timestamptz[])) \
                    AS g(provider, id, name, deleted, event_at)",
            None,
            &[
                text(g.iter().map(|x| x.provider.as_str()).collect()).into(),
                text(g.iter().map(|x| x.id.as_str()).collect()).into(),
                opt_text(g.iter().map(|x| &x.name).collect()).into(),
                g.iter().map(|x| x.deleted).collect::<Vec<bool>>().into(),
                g.iter().map(|x| Some(ts(x.event_at))).collect::<Vec<_>>().into(),
            ],
        )?;
        client.update(
            "INSERT INTO idp.directory_memberships (provider, group_id, user_id, member, event_at) \
             SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), \
                              pg_catalog.unnest($2::pg_catalog.text[]), \
                              pg_catalog.unnest($3::pg_catalog.text[]), \
                              pg_catalog.unnest($4::pg_catalog.bool[]), \
                              pg_catalog.unnest($5::pg_catalog.timestamptz[]))",
            None,
            &[
                text(m.iter().map(|x| x.provider.as_str()).collect()).into(),
                text(m.iter().map(|x| x.group_id.as_str()).collect()).into(),
                text(m.iter().map(|x| x.user_id.as_str()).collect()).into(),
                m.iter().map(|x| x.member).collect::<Vec<bool>>().into(),
                m.iter().map(|x| Some(ts(x.event_at))).collect::<Vec<_>>().into(),
            ],
        )?;
        Ok::<_, pgrx::spi::Error>(())
    });
    if let Err(e) = written {
        raise_internal(format!("cannot load the registry copy: {e}"));
    }
    registry::invalidate();
}

/// Run `f` with `search_path = pg_catalog, pg_temp` (restored afterwards).
fn pinned<R>(f: impl FnOnce() -> R) -> R {
    registry::pinned_search_path(f)
}
