//! pg_idp as PostgreSQL 18's OAuth validator module: a client presenting a provider's JWT as its
//! bearer token (SASL OAUTHBEARER, an `oauth` line in pg_hba.conf, `oauth_validator_libraries =
//! 'pg_idp'`) logs in when the token is of the issuer the line names, verifies against the target
//! database's providers, was issued for the provider's login audience, carries the scopes the
//! line names, and its identity may become the role asked for (`pg_idp_core::login`, which runs
//! every check in a documented order).
//!
//! Authentication runs before the backend opens its database: the providers and the owners of its
//! tables under row-level security come from the database's login snapshot (`snapshot.rs`, this
//! folder), the role's attributes and memberships from the shared catalogs pg_authid and
//! pg_auth_members (through the syscache, as password authentication reads them), and the
//! database's oid and owner from the shared catalog pg_database.
//!
//! Every refusal is `authorized = false` (the client gets PostgreSQL's generic "OAuth bearer
//! authentication failed") and one server-log line naming the role, database, provider, kid and
//! pg_idp error code, never the token (as `idp.log_failures` and its bound allow: `shmem::audit`).
//! The verification itself runs under `catch_unwind`, so a hostile token cannot take the backend
//! down.
//!
//! On success the token is kept as `idp.login_token` (a setting only this module can give a
//! value, copied by PostgreSQL into parallel workers): identity functions answer it while the
//! session sets neither request setting (`request::token`).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::time::{Duration, Instant};

use pg_idp_core::login::{self, Attempt, Line, Memberships, Predefined, Reached, RoleFacts};
use pg_idp_core::{ErrorCode, VerifyError, VerifyOptions};
use pgrx::prelude::*;

// --- the ABI of src/include/libpq/oauth.h (PostgreSQL 18) ------------------------------------

/// `ValidatorModuleState`.
#[repr(C)]
pub(super) struct ValidatorModuleState {
    pub sversion: c_int,
    pub private_data: *mut c_void,
}

/// `ValidatorModuleResult`.
#[repr(C)]
pub(super) struct ValidatorModuleResult {
    pub authorized: bool,
    pub authn_id: *mut c_char,
}

type StartupCb = unsafe extern "C-unwind" fn(*mut ValidatorModuleState);
type ShutdownCb = unsafe extern "C-unwind" fn(*mut ValidatorModuleState);
type ValidateCb = unsafe extern "C-unwind" fn(
    *const ValidatorModuleState,
    *const c_char,
    *const c_char,
    *mut ValidatorModuleResult,
) -> bool;

/// `OAuthValidatorCallbacks`.
#[repr(C)]
pub(crate) struct OAuthValidatorCallbacks {
    pub magic: u32,
    pub startup_cb: Option<StartupCb>,
    pub shutdown_cb: Option<ShutdownCb>,
    pub validate_cb: Option<ValidateCb>,
}

/// `PG_OAUTH_VALIDATOR_MAGIC`.
const PG_OAUTH_VALIDATOR_MAGIC: u32 = 0x2025_0220;

static CALLBACKS: OAuthValidatorCallbacks = OAuthValidatorCallbacks {
    magic: PG_OAUTH_VALIDATOR_MAGIC,
    startup_cb: None,
    shutdown_cb: None,
    validate_cb: Some(validate),
};

/// Called by PostgreSQL when it loads pg_idp as a validator (`oauth_validator_libraries`).
#[unsafe(no_mangle)]
pub extern "C-unwind" fn _PG_oauth_validator_module_init() -> *const OAuthValidatorCallbacks {
    &CALLBACKS
}

// --- what the backend knows while authenticating ---------------------------------------------

// `Port` (libpq/libpq-be.h) and `HbaLine` (libpq/hba.h), which pgrx declares opaque, are read
// through src/oauth_shim.c, compiled by build.rs against the same server headers as pgrx's
// bindings: the fields are where this PostgreSQL 18 build put them.

/// PostgreSQL's `HbaLine`, only ever handled by pointer.
#[repr(C)]
struct HbaLine {
    _opaque: [u8; 0],
}

unsafe extern "C" {
    fn pg_idp_shim_port_user_name(port: *const pg_sys::Port) -> *const c_char;
    fn pg_idp_shim_port_database_name(port: *const pg_sys::Port) -> *const c_char;
    fn pg_idp_shim_port_hba(port: *const pg_sys::Port) -> *const HbaLine;
    fn pg_idp_shim_hba_is_oauth(hba: *const HbaLine) -> bool;
    fn pg_idp_shim_hba_delegated(hba: *const HbaLine) -> bool;
    fn pg_idp_shim_hba_issuer(hba: *const HbaLine) -> *const c_char;
    fn pg_idp_shim_hba_scope(hba: *const HbaLine) -> *const c_char;
}

/// The connection being authenticated.
struct Connection {
    /// The database the client asked for, which exists: the one InitPostgres opens.
    database: CString,
    /// Its oid and its owner (pg_database).
    oid: pg_sys::Oid,
    datdba: pg_sys::Oid,
    /// The pg_hba.conf line has `delegate_ident_mapping=1`.
    delegated: bool,
    /// The line's issuer and scopes, or why they cannot be used.
    line: Result<Line, String>,
}

/// Why the connection cannot be authenticated by pg_idp (before any token is looked at).
enum Unreadable {
    /// No `MyProcPort`, a user name other than the role PostgreSQL passed, or not an `oauth` line.
    Port,
    /// No database: a physical replication connection.
    NoDatabase,
    /// The database asked for does not exist.
    NoSuchDatabase(CString),
}

/// Read the role, the database asked for and the hba line's mode from `MyProcPort`, and check
/// them against what PostgreSQL passed and the catalog.
///
/// What can be checked here: PostgreSQL 18 passes the validator the token and `Port.user_name`
/// (auth-oauth.c), so the user name read must be that role. The line is the one check_hba
/// matched, so it must be an `oauth` line. MyDatabaseId is not set yet (InitPostgres selects
/// the database after authentication): the database name read is the startup packet's, which
/// PostgresMain hands to InitPostgres, which opens the database of that name once
/// authentication succeeds; the line was matched on it too. It must name a database that
/// exists (pg_database, as InitPostgres's GetDatabaseTuple looks it up), and its oid selects the
/// login snapshot. What cannot be checked here: that InitPostgres's own lookup, after this one,
/// finds the same oid. Only a rename in between could change that (ALTER DATABASE ... RENAME,
/// by a superuser or by the owner of both databases with CREATEDB, neither of them in use), and
/// the session verifies its login token again against the registry of the database it opened.
///
/// # Safety
///
/// Only during authentication, with `role` the role PostgreSQL passed to the validator.
unsafe fn connection(role: &CStr) -> Result<Connection, Unreadable> {
    // SAFETY: MyProcPort is the connection's Port while the backend authenticates it (or NULL,
    // which the shim answers with NULL); the shim reads its fields by PostgreSQL's own
    // declarations, and the strings are NUL-terminated, allocated for the backend's life.
    let (user, db, hba) = unsafe {
        let port = pg_sys::MyProcPort as *const pg_sys::Port;
        (pg_idp_shim_port_user_name(port), pg_idp_shim_port_database_name(port), pg_idp_shim_port_hba(port))
    };
    // SAFETY: NULL or a NUL-terminated string (above).
    if user.is_null() || unsafe { CStr::from_ptr(user) } != role {
        return Err(Unreadable::Port);
    }
    // SAFETY: NULL or the HbaLine of the connection (above); the issuer and scope are NULL or
    // NUL-terminated strings of the parsed pg_hba.conf, kept for the backend's life.
    let (oauth, delegated, issuer, scope) = unsafe {
        (
            pg_idp_shim_hba_is_oauth(hba),
            pg_idp_shim_hba_delegated(hba),
            pg_idp_shim_hba_issuer(hba),
            pg_idp_shim_hba_scope(hba),
        )
    };
    if !oauth {
        return Err(Unreadable::Port);
    }
    // SAFETY: NULL or NUL-terminated strings (above).
    let text = |p: *const c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
    let line = match text(issuer) {
        Some(issuer) => Line::new(&issuer, &text(scope).unwrap_or_default()),
        None => Err("the pg_hba.conf line names no issuer".to_string()),
    };
    if db.is_null() {
        return Err(Unreadable::Port);
    }
    // SAFETY: a NUL-terminated string (above).
    let database = unsafe { CStr::from_ptr(db) }.to_owned();
    if database.is_empty() {
        return Err(Unreadable::NoDatabase);
    }
    let (oid, datdba) = database_oid(&database);
    if oid == pg_sys::InvalidOid {
        return Err(Unreadable::NoSuchDatabase(database));
    }
    debug1!(
        "pg_idp: login of role \"{}\" to database \"{}\" (oid {}), pg_hba.conf line: oauth, {}, issuer \"{}\", scope \"{}\"",
        shown(&role.to_string_lossy()),
        shown(&database.to_string_lossy()),
        oid.to_u32(),
        if delegated { "delegate_ident_mapping=1" } else { "user name map" },
        text(issuer).map(|s| shown(&s)).unwrap_or_default(),
        text(scope).map(|s| shown(&s)).unwrap_or_default()
    );
    Ok(Connection { database, oid, datdba, delegated, line })
}

/// The oid and the owner of the database named `name` (InvalidOid: none), as InitPostgres's own
/// GetDatabaseTuple finds it before the backend has selected a database: a scan of the shared
/// catalog pg_database that uses its name index only when the shared relcache entries are
/// built (get_database_oid always would, and fails while the relcache init file is missing).
fn database_oid(name: &CStr) -> (pg_sys::Oid, pg_sys::Oid) {
    // SAFETY: what GetDatabaseTuple does, during authentication (inside the transaction
    // InitPostgres starts for it); the scan and the relation are closed before returning.
    unsafe {
        let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
        pg_sys::ScanKeyInit(
            &mut key,
            pg_sys::Anum_pg_database_datname as pg_sys::AttrNumber,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::RegProcedure::from(pg_sys::F_NAMEEQ),
            pg_sys::Datum::from(name.as_ptr()),
        );
        let rel = pg_sys::table_open(pg_sys::DatabaseRelationId, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let scan = pg_sys::systable_beginscan(
            rel,
            pg_sys::Oid::from(pg_sys::DatabaseNameIndexId),
            pg_sys::criticalSharedRelcachesBuilt,
            std::ptr::null_mut(),
            1,
            &mut key,
        );
        let tup = pg_sys::systable_getnext(scan);
        let oid = if tup.is_null() {
            (pg_sys::InvalidOid, pg_sys::InvalidOid)
        } else {
            let header = (*tup).t_data;
            let form = (header as *const u8).add((*header).t_hoff as usize) as *const pg_sys::FormData_pg_database;
            ((*form).oid, (*form).datdba)
        };
        pg_sys::systable_endscan(scan);
        pg_sys::table_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        oid
    }
}

/// The role asked for, as the shared catalogs describe it.
struct Role {
    /// Its attributes and memberships (`owns_rls_table` is set once the snapshot is read).
    facts: RoleFacts,
    /// Every role it is a member of, directly or through others, itself included.
    member_of: Vec<pg_sys::Oid>,
}

/// The role's attributes from pg_authid and its memberships from pg_auth_members (shared
/// catalogs, read through the syscache as password authentication reads pg_authid); `datdba`
/// is the owner of the database asked for.
fn role_facts(role: &CStr, datdba: pg_sys::Oid) -> Role {
    // SAFETY: a syscache lookup by name during authentication (inside the transaction
    // InitPostgres starts for it); the tuple is released before returning.
    let (mut facts, oid) = unsafe {
        let tup =
            pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::AUTHNAME as c_int, pg_sys::Datum::from(role.as_ptr()));
        if tup.is_null() {
            return Role { facts: RoleFacts::default(), member_of: Vec::new() };
        }
        let header = (*tup).t_data;
        let form = (header as *const u8).add((*header).t_hoff as usize) as *const pg_sys::FormData_pg_authid;
        let facts = RoleFacts {
            exists: true,
            superuser: (*form).rolsuper,
            bypassrls: (*form).rolbypassrls,
            replication: (*form).rolreplication,
            createrole: (*form).rolcreaterole,
            ..RoleFacts::default()
        };
        let oid = (*form).oid;
        pg_sys::ReleaseSysCache(tup);
        (facts, oid)
    };
    let member_of = member_of(oid, datdba);
    // The predefined roles whose members are privileged.
    facts.member_of = Predefined::ALL
        .iter()
        .filter(|p| member_of.contains(&pg_sys::Oid::from(predefined_oid(**p))))
        .fold(Memberships::NONE, |m, p| m.with(*p));
    // The attributes of every role it reaches: attributes are not inherited, but SET ROLE to a
    // role it is a member of gives the session that role's.
    for &r in member_of.iter().filter(|r| **r != oid) {
        let a = attributes(r);
        facts.reaches.superuser |= a.superuser;
        facts.reaches.bypassrls |= a.bypassrls;
        facts.reaches.replication |= a.replication;
        facts.reaches.createrole |= a.createrole;
    }
    Role { facts, member_of }
}

/// The attributes (pg_authid) of the role with this oid; none for a role that is gone.
fn attributes(role: pg_sys::Oid) -> Reached {
    // SAFETY: a syscache lookup by oid during authentication (inside the transaction InitPostgres
    // starts for it); the tuple is released before returning.
    unsafe {
        let tup = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::AUTHOID as c_int, pg_sys::Datum::from(role));
        if tup.is_null() {
            return Reached::default();
        }
        let header = (*tup).t_data;
        let form = (header as *const u8).add((*header).t_hoff as usize) as *const pg_sys::FormData_pg_authid;
        let a = Reached {
            superuser: (*form).rolsuper,
            bypassrls: (*form).rolbypassrls,
            replication: (*form).rolreplication,
            createrole: (*form).rolcreaterole,
        };
        pg_sys::ReleaseSysCache(tup);
        a
    }
}

/// The oid of a predefined role (catalog/pg_authid.dat, as PostgreSQL 18 numbers them).
fn predefined_oid(role: Predefined) -> u32 {
    match role {
        Predefined::ReadAllData => pg_sys::ROLE_PG_READ_ALL_DATA,
        Predefined::WriteAllData => pg_sys::ROLE_PG_WRITE_ALL_DATA,
        Predefined::ExecuteServerProgram => pg_sys::ROLE_PG_EXECUTE_SERVER_PROGRAM,
        Predefined::ReadServerFiles => pg_sys::ROLE_PG_READ_SERVER_FILES,
        Predefined::WriteServerFiles => pg_sys::ROLE_PG_WRITE_SERVER_FILES,
        Predefined::Monitor => pg_sys::ROLE_PG_MONITOR,
        Predefined::ReadAllStats => pg_sys::ROLE_PG_READ_ALL_STATS,
        Predefined::ReadAllSettings => pg_sys::ROLE_PG_READ_ALL_SETTINGS,
        Predefined::SignalBackend => pg_sys::ROLE_PG_SIGNAL_BACKEND,
        Predefined::Maintain => pg_sys::ROLE_PG_MAINTAIN,
        Predefined::CreateSubscription => pg_sys::ROLE_PG_CREATE_SUBSCRIPTION,
    }
}

/// Every role `role` is a member of, directly or through other roles, itself first: every
/// membership counts, whatever its INHERIT and SET options (any of them may lead to the role's
/// privileges). The owner of the database is a member of pg_database_owner, as in the database.
///
/// Walked here over the syscache rather than with is_member_of_role()/has_privs_of_role(): those
/// keep their answer for the backend's life in a cache that does not depend on the database,
/// and before InitPostgres has selected the database they would compute (and keep) it without
/// pg_database_owner.
fn member_of(role: pg_sys::Oid, datdba: pg_sys::Oid) -> Vec<pg_sys::Oid> {
    let mut roles = vec![role];
    let mut next = 0;
    while next < roles.len() {
        let member = roles[next];
        next += 1;
        if member == datdba && datdba != pg_sys::InvalidOid {
            let owner = pg_sys::Oid::from(pg_sys::ROLE_PG_DATABASE_OWNER);
            if !roles.contains(&owner) {
                roles.push(owner);
            }
        }
        // SAFETY: a syscache list search of pg_auth_members by member (its member_role index)
        // during authentication, inside the transaction InitPostgres starts for it; every entry
        // is read before the list is released. A failed lookup raises an ERROR: no login.
        unsafe {
            let list = pg_sys::SearchSysCacheList(
                pg_sys::SysCacheIdentifier::AUTHMEMMEMROLE as c_int,
                1,
                pg_sys::Datum::from(member),
                pg_sys::Datum::from(0usize),
                pg_sys::Datum::from(0usize),
            );
            let mut layout_ok = true;
            for entry in (*list).members.as_slice((*list).n_members as usize) {
                let header = (**entry).tuple.t_data;
                let form = (header as *const u8).add((*header).t_hoff as usize) as *const AuthMembersHead;
                layout_ok &= (*form).member == member;
                let granted = (*form).roleid;
                if !roles.contains(&granted) {
                    roles.push(granted);
                }
            }
            pg_sys::ReleaseCatCacheList(list);
            if !layout_ok {
                // Not the catalog this was written for: no login rather than a wrong answer.
                error!("pg_idp: pg_auth_members does not have the layout of PostgreSQL 18");
            }
        }
    }
    roles
}

/// The first columns of `FormData_pg_auth_members` (catalog/pg_auth_members.h), which pgrx does
/// not declare: the row's oid, the role granted and its member. Each row read is checked to be
/// a membership of the role searched for.
#[repr(C)]
struct AuthMembersHead {
    _oid: pg_sys::Oid,
    roleid: pg_sys::Oid,
    member: pg_sys::Oid,
}

/// A string member of the token's header (`part` 0) or payload (1), unverified: only for naming
/// things in the log.
fn claim_of(token: &str, part: usize, name: &str) -> Option<String> {
    let segment = token.split('.').nth(part)?;
    if segment.len() > 16384 {
        return None;
    }
    let v = serde_json::from_slice::<serde_json::Value>(&pg_idp_core::b64::decode(segment)?).ok()?;
    v.get(name)?.as_str().map(str::to_string)
}

/// A `kid` fit for the log: the token header's, at most 64 characters, each one that key ids use
/// (letters, digits and `-_.:/+=`) kept and any other shown as `?`, so that no quote or space
/// lets a token write what reads as another field of the line (`kid "x", pg_idp error code: …`).
fn kid_of(token: &str) -> String {
    match claim_of(token, 0, "kid") {
        Some(k) => k
            .chars()
            .take(64)
            .map(|c| if c.is_ascii_alphanumeric() || "-_.:/+=".contains(c) { c } else { '?' })
            .collect(),
        None => "-".into(),
    }
}

fn shown(s: &str) -> String {
    s.chars().take(64).collect::<String>().escape_default().to_string()
}

/// Every check of the login (`pg_idp_core::login::login`) against the snapshot of the
/// connection's database: the identity's `authn_id`, or why not. Pure Rust: nothing here can
/// raise a PostgreSQL error.
fn decide(
    token: &str,
    role: &str,
    who: &Role,
    conn: &Connection,
    timing: &mut Timing,
) -> Result<login::Login, VerifyError> {
    let line = conn.line.as_ref().map_err(|why| VerifyError::new(ErrorCode::IssuerMismatch, why.clone()))?;
    let oid = conn.oid;
    // Only the providers of the line's issuer are made ready: no other one can verify the token.
    let started = Instant::now();
    let loaded = crate::login::snapshot::read_for(oid, &|iss| line.issuer.admits(iss))
        .map_err(|why| VerifyError::new(ErrorCode::RegistryUnavailable, why))?;
    timing.snapshot = started.elapsed();
    // Only a snapshot the launcher keeps for a database it serves, and has vouched for lately.
    crate::shmem::served::fresh(oid.to_u32(), loaded.generation, crate::pg::settings::snapshot_bound_ms())
        .map_err(|why| VerifyError::new(ErrorCode::RegistryUnavailable, why))?;
    // Table owners are per database: the snapshot has this database's.
    let facts = RoleFacts {
        owns_rls_table: who.member_of.iter().any(|r| loaded.rls_owners.contains(&r.to_u32())),
        ..who.facts
    };
    let opts = VerifyOptions { max_token_bytes: crate::pg::settings::max_token_bytes(), ..VerifyOptions::now() };
    let attempt = Attempt { line, role, facts, delegated: conn.delegated };
    let registry = &loaded.registry;
    let directory = registry.in_memory_directory();
    let mut lookup = |provider: &str, key: &pg_idp_core::DirectoryKey| Ok(Some(directory.lookup(provider, key)));
    let checked = Instant::now();
    let decided = login::login(registry, token, &opts, attempt, &mut lookup);
    timing.checks = checked.elapsed();
    decided.map_err(|mut e| {
        // Name the provider(s) of the token's issuer when the error itself does not.
        if e.provider.is_none() {
            let names: Vec<&str> = claim_of(token, 1, "iss")
                .map(|iss| loaded.issuers.iter().filter(|(_, i)| *i == iss).map(|(n, _)| n.as_str()).collect())
                .unwrap_or_default();
            if !names.is_empty() {
                e.provider = Some(names.join(","));
            }
        }
        // A kid the provider does not have (yet): ask the refresh worker for its keys, as a
        // request token does.
        if matches!(e.code, ErrorCode::UnknownKey | ErrorCode::NoKeys) {
            if let Some(p) = &e.provider {
                crate::shmem::served::request_refresh(p);
            }
        }
        e
    })
}

/// The validator: decide, then answer PostgreSQL. Returns true (a decision was made) except
/// when nothing could be decided at all.
#[pg_guard]
unsafe extern "C-unwind" fn validate(
    _state: *const ValidatorModuleState,
    token: *const c_char,
    role: *const c_char,
    result: *mut ValidatorModuleResult,
) -> bool {
    if token.is_null() || role.is_null() || result.is_null() {
        return false;
    }
    // SAFETY: PostgreSQL passes NUL-terminated strings and a zeroed result it owns.
    let (token, role, result) = unsafe { (CStr::from_ptr(token), CStr::from_ptr(role), &mut *result) };
    result.authorized = false;
    let role_text = role.to_string_lossy();
    let token_text = token.to_str().unwrap_or("");
    let started = Instant::now();
    let mut timing = Timing::default();
    // SAFETY: called during authentication with the role PostgreSQL passed.
    let conn = match unsafe { connection(role) } {
        Ok(conn) => conn,
        Err(why) => {
            if !crate::shmem::audit::login_refusal_logged() {
                return true;
            }
            match why {
                Unreadable::Port => log!(
                    "pg_idp: login refused for role \"{}\": the connection cannot be read (no connection, a user name other than the role PostgreSQL passed, or not an oauth line of pg_hba.conf), pg_idp error code: registry_unavailable",
                    shown(&role_text)
                ),
                Unreadable::NoDatabase => log!(
                    "pg_idp: login refused for role \"{}\": a connection without a database (physical replication) has no providers, pg_idp error code: registry_unavailable",
                    shown(&role_text)
                ),
                Unreadable::NoSuchDatabase(db) => {
                    let db = db.to_string_lossy();
                    let why = VerifyError::new(ErrorCode::RegistryUnavailable, format!("database \"{}\" does not exist", shown(&db)));
                    log_refusal(&role_text, &db, token_text, &why);
                }
            }
            return true;
        }
    };
    timing.connection = started.elapsed();
    let who = role_facts(role, conn.datdba);
    timing.role = started.elapsed() - timing.connection;
    let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decide(token_text, &role_text, &who, &conn, &mut timing)
    }))
    .unwrap_or_else(|_| {
        Err(VerifyError::new(
            ErrorCode::Malformed,
            "the token could not be verified (internal error, see the log above)",
        ))
    });
    let why = match decided {
        Ok(allowed) => {
            if crate::pg::settings::set_login_token(token) {
                let id = CString::new(allowed.authn_id).unwrap_or_default();
                // SAFETY: a palloc'd copy, as the API asks.
                result.authn_id = unsafe { pg_sys::pstrdup(id.as_ptr()) };
                result.authorized = true;
                crate::shmem::stats::login_accepted(conn.oid.to_u32(), &allowed.identity.provider);
                timing.log(&role_text, started.elapsed());
                return true;
            }
            VerifyError::new(ErrorCode::RegistryUnavailable, "the session's login token could not be recorded")
        }
        Err(e) => e,
    };
    crate::shmem::stats::login_refused(conn.oid.to_u32(), &why);
    timing.log(&role_text, started.elapsed());
    // idp.log_failures and its bound apply to refused logins too.
    if !crate::shmem::audit::login_refusal_logged() {
        return true;
    }
    log_refusal(&role_text, &conn.database.to_string_lossy(), token_text, &why);
    true
}

/// Where a login's time goes, at `log_min_messages = debug2` (scripts/bench's B7 reads it): the
/// connection (the hba line, pg_database), the role (pg_authid, pg_auth_members), the login
/// snapshot (read, and the line's issuer's providers parsed), the checks (the token verified and
/// authorized).
#[derive(Default)]
struct Timing {
    connection: Duration,
    role: Duration,
    snapshot: Duration,
    checks: Duration,
}

impl Timing {
    fn log(&self, role: &str, total: Duration) {
        // SAFETY: reads the backend's log settings.
        if !unsafe { pg_sys::message_level_is_interesting(pg_sys::DEBUG2 as c_int) } {
            return;
        }
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        debug2!(
            "pg_idp: login timing of role \"{}\": connection {:.0} us, role {:.0} us, snapshot {:.0} us, checks {:.0} us, total {:.0} us",
            shown(role),
            us(self.connection),
            us(self.role),
            us(self.snapshot),
            us(self.checks),
            us(total)
        );
    }
}

/// The one log line of a refused login: role, database, provider, kid and code, never the token.
fn log_refusal(role: &str, database: &str, token: &str, why: &VerifyError) {
    log!(
        "pg_idp: login refused for role \"{}\" to database \"{}\": provider \"{}\", kid \"{}\", pg_idp error code: {} ({})",
        shown(role),
        shown(database),
        why.provider.as_deref().map(shown).unwrap_or_else(|| "-".into()),
        kid_of(token),
        why.code.as_str(),
        why.message
    );
}
