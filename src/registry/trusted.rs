//! What pg_idp's jobs may trust in a database (they run as the bootstrap superuser), and the
//! settings that code run with the cluster's authority runs under.
//!
//! The rule: nothing done with the cluster's authority reads, runs or trusts an object that a
//! non-superuser can create, replace, rename or drop. So a job serves a database only when
//! - the `pg_idp` extension exists and its owner is a superuser (only a superuser can create it:
//!   the control file says `superuser = true`);
//! - schema `idp` is the extension's own (its schema, or a member), is owned by a superuser, and no
//!   other role may create objects in it;
//! - each table it reads is a member of the extension (`pg_depend`, deptype `e`), an ordinary
//!   table in that schema, owned by a superuser: no one else can add a trigger, a rule or a
//!   policy to it, rename it, or replace it. The directory's other tables, which only a job's
//!   Citus copy reads, are checked alike; one that fails stops the copy, not the serving.
//!
//! The tables are then found by those oids, never by name, and read with heap scans
//! (`tables.rs`, [`Install`]): no SQL, so no function, operator, view or setting of the database
//! is involved, and values are read typed (a time as microseconds, never as text under the
//! database's DateStyle or extra_float_digits). The catalog queries that find them read only
//! `pg_catalog`, which only superusers can change, with every operator schema-qualified, under
//! the pinned settings of `pin_settings`.

use std::collections::BTreeMap;

use pgrx::prelude::*;

/// Where a trusted pg_idp keeps its tables (an oid each; `None`: the installed SQL predates it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Install {
    pub extension: pg_sys::Oid,
    pub providers: pg_sys::Oid,
    pub revocations: Option<pg_sys::Oid>,
    pub directory_users: Option<pg_sys::Oid>,
    /// The directory's other tables, which only a Citus copy reads: verified as the others are,
    /// but one that fails a check does not stop the database from being served (`None` here, and
    /// `copyable` says why).
    pub directory_groups: Option<pg_sys::Oid>,
    pub directory_memberships: Option<pg_sys::Oid>,
    /// Whether a Citus copy can be read from this install: every table it reads and writes is
    /// there (0.5.0's SQL) and passed the checks.
    pub copyable: Result<(), String>,
}

impl Install {
    /// The oid of pg_idp's table `name`, when this install has it (verified).
    pub(super) fn oid_of(&self, name: &str) -> Option<pg_sys::Oid> {
        match name {
            "provider_registry" => Some(self.providers),
            "revocation_list" => self.revocations,
            "directory_users" => self.directory_users,
            "directory_groups" => self.directory_groups,
            "directory_memberships" => self.directory_memberships,
            _ => None,
        }
    }
}

/// What a job finds in its database.
pub(crate) enum Found {
    NotInstalled,
    /// Installed, but some object a job would use could be changed by a non-superuser.
    Untrusted(String),
    Installed(Install),
}

/// The tables a job reads, by their name in the extension.
const TABLES: [&str; 3] = ["provider_registry", "revocation_list", "directory_users"];
/// The other tables a Citus copy reads or writes (`idp.sync_keys` is not read here, only
/// required: it came with 0.5.0's SQL, which a copy needs).
const COPY_TABLES: [&str; 3] = ["directory_groups", "directory_memberships", "sync_keys"];

/// Look at this database's pg_idp (in a transaction).
pub(crate) fn inspect() -> Result<Found, String> {
    Spi::connect(|client| -> Result<Found, pgrx::spi::Error> {
        let ext = client.select(
            "SELECT e.oid, COALESCE(ro.rolsuper, false), n.oid, COALESCE(rn.rolsuper, false), \
                    (n.oid OPERATOR(pg_catalog.=) e.extnamespace OR EXISTS ( \
                        SELECT 1 FROM pg_catalog.pg_depend d \
                         WHERE d.classid OPERATOR(pg_catalog.=) $1 AND d.objid OPERATOR(pg_catalog.=) n.oid \
                           AND d.refclassid OPERATOR(pg_catalog.=) $2 AND d.refobjid OPERATOR(pg_catalog.=) e.oid \
                           AND d.deptype OPERATOR(pg_catalog.=) 'e')), \
                    EXISTS (SELECT 1 FROM pg_catalog.aclexplode(n.nspacl) a \
                             WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' \
                               AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_authid r \
                                                  WHERE r.oid OPERATOR(pg_catalog.=) a.grantee), false)) \
               FROM pg_catalog.pg_extension e \
               LEFT JOIN pg_catalog.pg_authid ro ON ro.oid OPERATOR(pg_catalog.=) e.extowner \
               LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) 'idp' \
               LEFT JOIN pg_catalog.pg_authid rn ON rn.oid OPERATOR(pg_catalog.=) n.nspowner \
              WHERE e.extname OPERATOR(pg_catalog.=) 'pg_idp'",
            None,
            &[pg_sys::NamespaceRelationId.into(), pg_sys::ExtensionRelationId.into()],
        )?;
        if ext.is_empty() {
            return Ok(Found::NotInstalled);
        }
        let row = ext.first();
        let extension: pg_sys::Oid = row.get(1)?.unwrap_or(pg_sys::InvalidOid);
        if !row.get::<bool>(2)?.unwrap_or(false) {
            return Ok(Found::Untrusted("the pg_idp extension is owned by a role that is not a superuser".into()));
        }
        let Some(schema) = row.get::<pg_sys::Oid>(3)? else {
            return Ok(Found::Untrusted("there is no schema idp".into()));
        };
        if !row.get::<bool>(4)?.unwrap_or(false) {
            return Ok(Found::Untrusted("schema idp is owned by a role that is not a superuser".into()));
        }
        if !row.get::<bool>(5)?.unwrap_or(false) {
            return Ok(Found::Untrusted("schema idp is not the pg_idp extension's schema".into()));
        }
        if row.get::<bool>(6)?.unwrap_or(true) {
            return Ok(Found::Untrusted("a role that is not a superuser may create objects in schema idp".into()));
        }
        let members = client.select(
            "SELECT c.relname::pg_catalog.text, c.oid, c.relkind::pg_catalog.text, c.relnamespace, \
                    COALESCE(r.rolsuper, false) \
               FROM pg_catalog.pg_depend d \
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid \
               LEFT JOIN pg_catalog.pg_authid r ON r.oid OPERATOR(pg_catalog.=) c.relowner \
              WHERE d.classid OPERATOR(pg_catalog.=) $1 AND d.refclassid OPERATOR(pg_catalog.=) $2 \
                AND d.refobjid OPERATOR(pg_catalog.=) $3 AND d.deptype OPERATOR(pg_catalog.=) 'e' \
                AND c.relname OPERATOR(pg_catalog.=) ANY ($4)",
            None,
            &[
                pg_sys::RelationRelationId.into(),
                pg_sys::ExtensionRelationId.into(),
                extension.into(),
                TABLES.iter().chain(&COPY_TABLES).map(|t| t.to_string()).collect::<Vec<_>>().into(),
            ],
        )?;
        let mut found: BTreeMap<String, pg_sys::Oid> = BTreeMap::new();
        let mut copy_refused: Option<String> = None;
        for m in members {
            let (Some(name), Some(oid)) = (m.get::<String>(1)?, m.get::<pg_sys::Oid>(2)?) else { continue };
            let refused = if m.get::<String>(3)?.as_deref() != Some("r") {
                Some(format!("idp.{name} is not an ordinary table"))
            } else if m.get::<pg_sys::Oid>(4)? != Some(schema) {
                Some(format!("pg_idp's table {name} is not in schema idp"))
            } else if !m.get::<bool>(5)?.unwrap_or(false) {
                Some(format!("idp.{name} is owned by a role that is not a superuser"))
            } else {
                None
            };
            match refused {
                Some(why) if TABLES.contains(&name.as_str()) => return Ok(Found::Untrusted(why)),
                Some(why) => {
                    copy_refused.get_or_insert(why);
                }
                None => {
                    found.insert(name, oid);
                }
            }
        }
        let Some(providers) = found.get("provider_registry").copied() else {
            return Ok(Found::Untrusted("idp.provider_registry is not a table of the pg_idp extension".into()));
        };
        let copyable = match copy_refused {
            Some(why) => Err(why),
            None if TABLES.iter().chain(&COPY_TABLES).all(|t| found.contains_key(*t)) => Ok(()),
            None => Err("pg_idp's 0.5.0 SQL is not installed in this database (ALTER EXTENSION pg_idp UPDATE)".into()),
        };
        Ok(Found::Installed(Install {
            extension,
            providers,
            revocations: found.get("revocation_list").copied(),
            directory_users: found.get("directory_users").copied(),
            directory_groups: found.get("directory_groups").copied(),
            directory_memberships: found.get("directory_memberships").copied(),
            copyable,
        }))
    })
    .map_err(|e| format!("cannot read the catalogs: {e}"))
}

/// Whether `name` (schema-qualified) still names the trusted table `oid` (before a job writes to
/// it by name through SPI, in the same transaction).
pub(crate) fn names(name: &str, oid: pg_sys::Oid) -> bool {
    Spi::get_one_with_args::<pg_sys::Oid>("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", &[name.into()])
        .ok()
        .flatten()
        == Some(oid)
}

/// The settings a job runs under, whatever the database or its owner set for it (`ALTER
/// DATABASE ... SET`): a database owner may set any user-settable parameter, `role`,
/// `session_authorization` and `search_path` included, and a worker applies them when it
/// connects. Set as overrides right after connecting, in a transaction of their own (the
/// identity needs catalog lookups); `check_identity` confirms the result. Every lock wait is
/// bounded (`lock_timeout`), and so is the job (`statement_timeout`: a background worker does not
/// arm it per statement, so the job arms it once for its whole run, see `workers::job`).
pub(crate) fn pin_settings() {
    const PINNED: &[(&std::ffi::CStr, &std::ffi::CStr)] = &[
        (c"role", c"none"),
        (c"search_path", c"pg_catalog, pg_temp"),
        (c"DateStyle", c"ISO, MDY"),
        (c"IntervalStyle", c"postgres"),
        (c"TimeZone", c"UTC"),
        (c"extra_float_digits", c"3"),
        (c"bytea_output", c"hex"),
        (c"standard_conforming_strings", c"on"),
        (c"default_transaction_read_only", c"off"),
        (c"default_transaction_isolation", c"read committed"),
        (c"idle_in_transaction_session_timeout", c"0"),
        (c"row_security", c"on"),
        (c"transform_null_equals", c"off"),
        (c"check_function_bodies", c"on"),
    ];
    let set = |name: &std::ffi::CStr, value: &std::ffi::CStr| {
        // SAFETY: what a session-level SET does (it outlives the transaction); an ERROR unwinds
        // through pg_guard.
        unsafe {
            pg_sys::SetConfigOption(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_SUSET,
                pg_sys::GucSource::PGC_S_OVERRIDE,
            )
        };
    };
    pgrx::bgworkers::BackgroundWorker::transaction(|| {
        let bootstrap = pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID);
        // SAFETY: reads backend-local state; the name is looked up in the catalog (a copy).
        unsafe {
            if pg_sys::GetSessionUserId() != bootstrap {
                let name = std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(bootstrap, false));
                set(c"session_authorization", name);
            }
        }
        for (name, value) in PINNED {
            set(name, value);
        }
        let ms = |d: std::time::Duration| std::ffi::CString::new(d.as_millis().to_string()).unwrap_or_default();
        set(c"lock_timeout", ms(crate::pg::settings::job_lock_timeout()).as_c_str());
        set(c"statement_timeout", ms(crate::pg::settings::job_timeout()).as_c_str());
    });
}

/// Run `f` as a call from another node must run (a Citus coordinator's, on a worker's connection,
/// through `pg_catalog.pg_idp_node_call`): as the role the connection logged in as, which must be
/// a superuser, and under pinned settings, whatever the database's owner set for it (`ALTER
/// DATABASE ... SET role`, `search_path`, `DateStyle`, ... apply to every connection, the
/// coordinator's too). This is `RESET ROLE; SET SESSION AUTHORIZATION DEFAULT` and the settings
/// of [`pin_settings`] that act inside a statement, set at a GUC nest level of their own as a
/// function's `SET` clauses are, and undone when `f` returns (or by the transaction's abort).
/// PostgreSQL refuses those two commands inside a SECURITY DEFINER function or a
/// security-restricted operation, and so does this (`Err`): code a non-superuser owns that a
/// superuser's session runs there cannot come back to the superuser through it; elsewhere in such
/// a session, any code can run those two commands itself. `lock_timeout` bounds every lock wait of `f`; `statement_timeout` cannot be changed
/// for a statement already running (the coordinator bounds its own wait).
/// `Err` (nothing run) then, and when the connection's role is not a superuser.
pub(crate) fn as_connected_superuser<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    const PINNED: &[(&std::ffi::CStr, &std::ffi::CStr)] = &[
        (c"role", c"none"),
        (c"search_path", c"pg_catalog, pg_temp"),
        (c"DateStyle", c"ISO, MDY"),
        (c"IntervalStyle", c"postgres"),
        (c"TimeZone", c"UTC"),
        (c"extra_float_digits", c"3"),
        (c"bytea_output", c"hex"),
        (c"standard_conforming_strings", c"on"),
        (c"row_security", c"on"),
        (c"transform_null_equals", c"off"),
        (c"check_function_bodies", c"on"),
        (c"lock_timeout", c"5s"),
    ];
    // SAFETY: reads backend-local state.
    if unsafe { pg_sys::InLocalUserIdChange() || pg_sys::InSecurityRestrictedOperation() } {
        return Err("called inside a SECURITY DEFINER function or a security-restricted operation".into());
    }
    // SAFETY: reads backend-local state; the name is looked up in the catalog (a copy, or an
    // ERROR for a role that no longer exists).
    let (authenticated, name) = unsafe {
        let id = pg_sys::GetAuthenticatedUserId();
        (id, std::ffi::CStr::from_ptr(pg_sys::GetUserNameFromId(id, false)).to_owned())
    };
    // SAFETY: a syscache lookup of a role by oid.
    if !unsafe { pg_sys::superuser_arg(authenticated) } {
        return Err(format!(
            "the connection's role \"{}\" is not a superuser",
            name.to_string_lossy().escape_default()
        ));
    }
    // SAFETY: GUC_ACTION_SAVE in a new nest level, as fmgr applies a function's SET clauses;
    // popped by the guard below, or by the transaction's abort if an ERROR escapes. Each
    // set_config_option raises an ERROR (elevel 0 means ERROR) when the setting is refused.
    let nest = unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        let set = |name: &std::ffi::CStr, value: &std::ffi::CStr| {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        };
        set(c"session_authorization", &name);
        for (name, value) in PINNED {
            set(name, value);
        }
        nest
    };
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: pops exactly the nest level pushed above.
            unsafe { pg_sys::AtEOXact_GUC(true, self.0) };
        }
    }
    let _restore = Restore(nest);
    // SAFETY: reads backend-local state.
    let (user, session) = unsafe { (pg_sys::GetUserId(), pg_sys::GetSessionUserId()) };
    if user != authenticated || session != authenticated {
        return Err(format!(
            "the call would not run as the connection's role (user {}, session user {})",
            user.to_u32(),
            session.to_u32()
        ));
    }
    Ok(f())
}

/// That the job runs as the bootstrap superuser, as it connected (a database-level
/// `session_authorization` or `role` it could not undo would leave it as another role).
pub(crate) fn check_identity() -> Result<(), String> {
    // SAFETY: reads backend-local state.
    let (user, session) = unsafe { (pg_sys::GetUserId(), pg_sys::GetSessionUserId()) };
    let bootstrap = pg_sys::Oid::from(pg_sys::BOOTSTRAP_SUPERUSERID);
    if user != bootstrap || session != bootstrap {
        return Err(format!(
            "the database's settings make the worker run as another role (ALTER DATABASE ... SET role or session_authorization: user {}, session user {})",
            user.to_u32(),
            session.to_u32()
        ));
    }
    Ok(())
}

/// The roles that own a table with row-level security enabled (they bypass its policies unless
/// it is forced): a login token may become one only where `login.roles` names it. From the
/// catalog, whoever wrote what into pg_idp's tables.
#[cfg(feature = "pg18")]
pub(crate) fn rls_owners() -> Result<Vec<u32>, String> {
    Spi::connect(|client| {
        let mut out = Vec::new();
        for row in client.select(
            "SELECT DISTINCT c.relowner FROM pg_catalog.pg_class c WHERE c.relrowsecurity ORDER BY 1",
            None,
            &[],
        )? {
            if let Some(o) = row.get::<pg_sys::Oid>(1)? {
                out.push(o.to_u32());
            }
        }
        Ok::<_, pgrx::spi::Error>(out)
    })
    .map_err(|e| format!("cannot read the catalogs: {e}"))
}
