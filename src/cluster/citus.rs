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
//! Those commands run as the coordinator's role (a superuser) in a database on another node, which
//! a role that is not a superuser may own: she may have made a schema `idp` of her own there, with
//! functions of those names. So no command names a function of the worker's database: each calls
//! `pg_catalog.pg_idp_node_call(function, argument)` ([`node_call`]), which only a superuser can
//! have created there (with `CREATE EXTENSION pg_idp`). On the worker it runs as the connection's
//! superuser under pinned settings ([`crate::registry::trusted::as_connected_superuser`]), verifies
//! the install as a job does ([`crate::registry::trusted::inspect`]) and more (every object in
//! schema `idp` a superuser's, every table the copy writes a member of the extension), finds the
//! function as a member of the extension and calls it by its oid. A worker whose install is not
//! trusted runs nothing and is sent no registry; its error says why.
//!
//! Everything here reads only catalogs in `pg_catalog` (writable only by superusers) and pg_idp's
//! own tables, found as members of the extension, with `search_path` pinned and every name
//! schema-qualified; on the coordinator it calls no function that lives in the database except
//! Citus's `pg_catalog.run_command_on_workers`. The registry is read by `registry::tables`: by a
//! job, from the install it verified, by oid with heap scans ([`read_copy_of`]); by the SQL
//! functions, through SQL as their caller ([`read_copy`]).

use pg_idp_core::registry_copy::RegistryCopy;
use pg_idp_core::{parse_provider, seal};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

use crate::pg::errors::{
    raise_internal, raise_invalid_argument, raise_invalid_config, raise_node_refused, raise_node_untrusted, raise_sync,
};
use crate::registry::cache;
use crate::registry::tables::{self, Access};
use crate::registry::trusted::Install;

/// This node's part in a Citus cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CitusRole {
    /// No Citus here (or not one pg_idp trusts: see [`role`]).
    None,
    /// The coordinator: it refreshes keys and copies the registry to the workers.
    Coordinator,
    /// A worker: it gets its registry from the coordinator.
    Worker,
}

impl CitusRole {
    /// `none`, `coordinator` or `worker`.
    pub(crate) fn as_str(self) -> &'static str {
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
pub(crate) fn role() -> CitusRole {
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
pub(crate) struct NodeSync {
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
pub(crate) struct SyncOutcome {
    /// The coordinator's registry fingerprint.
    pub fingerprint: String,
    /// Every worker, sorted by name.
    pub workers: Vec<NodeSync>,
}

impl SyncOutcome {
    /// How many workers do not hold the coordinator's registry (for the job's log).
    pub(crate) fn behind(&self) -> usize {
        self.workers.iter().filter(|w| !w.in_sync).count()
    }

    /// Each worker that does not hold the coordinator's registry, and why (for the job's
    /// WARNING): `host:port: its error`, separated by `; `.
    pub(crate) fn why_behind(&self) -> String {
        self.workers
            .iter()
            .filter(|w| !w.in_sync)
            .map(|w| format!("{}: {}", w.node, w.error.as_deref().unwrap_or("it holds another registry")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// On the coordinator: copy the registry to every worker, sealed, and compare fingerprints.
/// Not one transaction across nodes: a worker that failed is listed with its error, and the next
/// call retries it. `Err` when this node is not a Citus coordinator, or when pg_idp's 0.5.0 SQL
/// is not installed here.
pub(crate) fn sync_all() -> Result<SyncOutcome, String> {
    pinned(|| {
        require_coordinator()?;
        sync_copy(&read_copy()?)
    })
}

/// On the coordinator: copy `copy` (this node's registry, however it was read) to every worker,
/// sealed; see [`sync_all`].
pub(crate) fn sync_copy(copy: &RegistryCopy) -> Result<SyncOutcome, String> {
    pinned(|| {
        require_coordinator()?;
        let fingerprint = copy.fingerprint();
        let mut workers: Vec<NodeSync> = Vec::new();
        // 1. A one-time public key from every worker.
        let mut offers = Vec::new();
        for w in on_workers(&node_command("_sync_begin", None))? {
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
            for w in on_workers(&node_command("_load_registry_sealed", Some(&sealed)))? {
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
pub(crate) fn status() -> Result<SyncOutcome, String> {
    pinned(|| {
        require_coordinator()?;
        let fingerprint = read_copy()?.fingerprint();
        let mut workers: Vec<NodeSync> = on_workers(&node_command("registry_fingerprint", None))?
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
pub(crate) fn fingerprint() -> Result<String, String> {
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

/// The command that calls pg_idp's `function` (with `argument`) in a worker's database, through
/// [`node_call`]: it names no function of that database, only `pg_catalog`'s.
fn node_command(function: &str, argument: Option<&str>) -> String {
    let function = pgrx::spi::quote_literal(function);
    match argument {
        None => format!("SELECT pg_catalog.pg_idp_node_call({function}::pg_catalog.text)"),
        Some(a) => format!(
            "SELECT pg_catalog.pg_idp_node_call({function}::pg_catalog.text, {}::pg_catalog.text)",
            pgrx::spi::quote_literal(a)
        ),
    }
}

/// A worker's error, said plainly when the worker's database has no `pg_idp_node_call` (pg_idp
/// is not installed there, or is of a version before it): PostgreSQL's own message names only
/// the function.
fn worker_error(why: String) -> String {
    // Citus gives libpq's message, "ERROR:  ..." (the simulated Citus of the tests gives it bare).
    let why = why.trim().strip_prefix("ERROR:").map(|w| w.trim_start().to_string()).unwrap_or(why);
    if why.contains("pg_idp_node_call") && !why.contains("pg_idp:") {
        format!(
            "nothing was run there: this version of pg_idp is not installed in that database by a superuser \
             (CREATE EXTENSION pg_idp, or ALTER EXTENSION pg_idp UPDATE): {}",
            why.trim()
        )
    } else {
        why.trim().to_string()
    }
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
            let answer = if row.get::<bool>(3)?.unwrap_or(false) { Ok(result) } else { Err(worker_error(result)) };
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

/// This node's registry, read from pg_idp's tables with SQL, as the current user (the extension
/// owner or a superuser calling the SQL functions; on a worker, the coordinator's superuser
/// through [`node_call`]), once each is found to be a table of the extension.
pub(super) fn read_copy() -> Result<RegistryCopy, String> {
    pinned(|| {
        check_tables()?;
        tables::copy(&Access::Sql)
    })
}

/// A job's copy of this node's registry: the tables of the install it verified, by oid, with heap
/// scans (`registry::tables`), as it reads everything else.
pub(crate) fn read_copy_of(install: &Install) -> Result<RegistryCopy, String> {
    install.copyable.clone()?;
    tables::copy(&Access::Trusted(install))
}

/// On a worker: a one-time key pair for the next copy. The private key is stored in
/// `idp.sync_keys` (readable only by the extension owner and superusers), keys unused for
/// `KEY_LIFETIME_SECS` are deleted; returns the offer (key id and public key) for the
/// coordinator.
pub(crate) fn begin() -> String {
    pinned(|| {
        crate::registry::store::ensure_writable(c"idp._sync_begin()");
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
pub(crate) fn load_sealed(sealed: &str) -> String {
    pinned(|| {
        crate::registry::store::ensure_writable(c"idp._load_registry_sealed()");
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

/// What a coordinator may call on a worker through `pg_catalog.pg_idp_node_call`: pg_idp's
/// functions in schema `idp`, by name, and whether each takes one text argument.
const NODE_FUNCTIONS: [(&str, bool); 3] =
    [("_sync_begin", false), ("_load_registry_sealed", true), ("registry_fingerprint", false)];

/// On a worker, for its coordinator (`pg_catalog.pg_idp_node_call`): call pg_idp's `function`
/// (one of [`NODE_FUNCTIONS`]) with `argument`, by its oid, once this database's install is
/// verified, as the connection's superuser under pinned settings. Nothing is run, and the ERROR
/// says why (55000, code `node_untrusted`; 42501 when the connection's role is not a superuser),
/// when any check fails.
pub(crate) fn node_call(function: &str, argument: Option<&str>) -> String {
    let Some((_, takes_argument)) = NODE_FUNCTIONS.iter().find(|(f, _)| *f == function) else {
        raise_invalid_argument(format!(
            "pg_idp: \"{}\" is not a function a Citus coordinator calls (_sync_begin, _load_registry_sealed, registry_fingerprint)",
            function.escape_default()
        ))
    };
    if *takes_argument != argument.is_some() {
        raise_invalid_argument(format!(
            "pg_idp: idp.{function} takes {} argument",
            if *takes_argument { "one" } else { "no" }
        ));
    }
    let called = crate::registry::trusted::as_connected_superuser(|| {
        let oid = verify_node(function, *takes_argument).unwrap_or_else(|why| raise_node_untrusted(why));
        call_by_oid(oid, argument)
    });
    called.unwrap_or_else(|why| raise_node_refused(why))
}

/// Call the function `oid` (verified by [`verify_node`]: pg_idp's, taking no argument or one of
/// type text, returning text) with `argument`. An ERROR it raises is raised again as it was
/// (SQLSTATE, message, detail, hint), without what pgrx adds to an ERROR that crosses Rust code
/// (a backtrace in the detail, when the server's environment asks Rust for one).
fn call_by_oid(oid: pg_sys::Oid, argument: Option<&str>) -> String {
    let argument =
        argument.map(|a| a.into_datum().unwrap_or_else(|| raise_internal("pg_idp: the argument as text".into())));
    pgrx::PgTryBuilder::new(|| {
        // SAFETY: fmgr calls `oid` as SQL would, with one text datum when it takes an argument
        // (checked by `verify_node`); an ERROR it raises is caught below; a NULL answer is an
        // ERROR of fmgr's.
        unsafe {
            let answer = match argument {
                None => pg_sys::OidFunctionCall0Coll(oid, pg_sys::InvalidOid),
                Some(a) => pg_sys::OidFunctionCall1Coll(oid, pg_sys::InvalidOid, a),
            };
            String::from_datum(answer, false).unwrap_or_default()
        }
    })
    .catch_others(|caught| match caught {
        pgrx::pg_sys::panic::CaughtError::PostgresError(e) => {
            let mut report =
                pgrx::pg_sys::panic::ErrorReport::new(e.sql_error_code(), e.message().to_string(), "pg_idp");
            if let Some(detail) = e.detail() {
                report = report.set_detail(detail.to_string());
            }
            if let Some(hint) = e.hint() {
                report = report.set_hint(hint.to_string());
            }
            report.report(PgLogLevel::ERROR);
            unreachable!("ERROR does not return")
        }
        other => other.rethrow(),
    })
    .execute()
}

/// Whether this database's pg_idp may be run for a coordinator, and the oid of its `function`: the
/// install a job would serve ([`crate::registry::trusted::inspect`]: the extension and schema `idp`
/// owned by superusers, no one else may create in the schema, its tables the extension's); no
/// function, relation, type or operator in schema `idp` owned by a role that is not a superuser
/// (one planted while another role could create there, or handed to one, would run or be read as
/// the superuser: a copy runs SQL, triggers and defaults, where a job only scans tables); every
/// table a copy writes a member of the extension; and `function` a member of the extension, in
/// schema `idp`, returning text.
fn verify_node(function: &str, takes_argument: bool) -> Result<pg_sys::Oid, String> {
    let install = match crate::registry::trusted::inspect()? {
        crate::registry::trusted::Found::Installed(install) => install,
        crate::registry::trusted::Found::NotInstalled => return Err("pg_idp is not installed in this database".into()),
        crate::registry::trusted::Found::Untrusted(why) => return Err(why),
    };
    let checked = Spi::connect(|client| {
        let mut foreign = Vec::new();
        for row in client.select(
            "SELECT x.kind, x.ident, COALESCE(r.rolname::pg_catalog.text, x.owner::pg_catalog.text) \
               FROM (SELECT 'function' AS kind, p.oid::pg_catalog.regprocedure::pg_catalog.text AS ident, \
                            p.proowner AS owner \
                       FROM pg_catalog.pg_proc p, pg_catalog.pg_namespace n \
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' AND p.pronamespace OPERATOR(pg_catalog.=) n.oid \
                     UNION ALL \
                     SELECT 'relation', c.oid::pg_catalog.regclass::pg_catalog.text, c.relowner \
                       FROM pg_catalog.pg_class c, pg_catalog.pg_namespace n \
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' AND c.relnamespace OPERATOR(pg_catalog.=) n.oid \
                     UNION ALL \
                     SELECT 'type', t.oid::pg_catalog.regtype::pg_catalog.text, t.typowner \
                       FROM pg_catalog.pg_type t, pg_catalog.pg_namespace n \
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' AND t.typnamespace OPERATOR(pg_catalog.=) n.oid \
                     UNION ALL \
                     SELECT 'operator', o.oid::pg_catalog.regoperator::pg_catalog.text, o.oprowner \
                       FROM pg_catalog.pg_operator o, pg_catalog.pg_namespace n \
                      WHERE n.nspname OPERATOR(pg_catalog.=) 'idp' AND o.oprnamespace OPERATOR(pg_catalog.=) n.oid) x \
               LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) x.owner \
              WHERE NOT COALESCE(r.rolsuper, false)",
            None,
            &[],
        )? {
            foreign.push((
                row.get::<String>(1)?.unwrap_or_default(),
                row.get::<String>(2)?.unwrap_or_default(),
                row.get::<String>(3)?.unwrap_or_default(),
            ));
        }
        let found = client
            .select(
                "SELECT p.oid FROM pg_catalog.pg_depend d \
                   JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid \
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace \
                  WHERE d.classid OPERATOR(pg_catalog.=) $1 AND d.refclassid OPERATOR(pg_catalog.=) $2 \
                    AND d.refobjid OPERATOR(pg_catalog.=) $3 AND d.deptype OPERATOR(pg_catalog.=) 'e' \
                    AND n.nspname OPERATOR(pg_catalog.=) 'idp' AND p.proname OPERATOR(pg_catalog.=) $4 \
                    AND p.prokind OPERATOR(pg_catalog.=) 'f' AND NOT p.proretset \
                    AND p.prorettype OPERATOR(pg_catalog.=) $5 AND p.pronargs OPERATOR(pg_catalog.=) $6 \
                    AND (p.pronargs OPERATOR(pg_catalog.=) 0 OR p.proargtypes[0] OPERATOR(pg_catalog.=) $5)",
                None,
                &[
                    pg_sys::ProcedureRelationId.into(),
                    pg_sys::ExtensionRelationId.into(),
                    install.extension.into(),
                    function.into(),
                    pg_sys::TEXTOID.into(),
                    (takes_argument as i16).into(),
                ],
            )?
            .first()
            .get_one::<pg_sys::Oid>()
            .ok()
            .flatten();
        Ok::<_, pgrx::spi::Error>((foreign, found))
    });
    let (mut foreign, found) = checked.map_err(|e| format!("cannot read the catalogs: {e}"))?;
    foreign.sort();
    if let Some((kind, ident, owner)) = foreign.into_iter().next() {
        return Err(format!(
            "{kind} {ident} in schema idp is owned by role \"{}\", which is not a superuser",
            owner.escape_default()
        ));
    }
    check_tables()?;
    found.ok_or_else(|| {
        format!(
            "idp.{function}({}) is not a function of the pg_idp extension (ALTER EXTENSION pg_idp UPDATE)",
            if takes_argument { "text" } else { "" }
        )
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
        crate::registry::store::store(&provider, config.clone());
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
    cache::invalidate();
}

/// Run `f` with `search_path = pg_catalog, pg_temp` (restored afterwards).
fn pinned<R>(f: impl FnOnce() -> R) -> R {
    crate::pg::spi::pinned_search_path(f)
}
