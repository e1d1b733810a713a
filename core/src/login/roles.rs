//! The database roles a login may not become unless `login.roles` names them: what makes a role
//! privileged, as the caller (the validator, reading the shared catalogs) reports it.

/// The predefined roles whose members are privileged: refused unless `login.roles` names the
/// role. Where the server has them (`pg_maintain` is PostgreSQL 17's, `pg_create_subscription`
/// 16's); the validator runs only on 18 and later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Predefined {
    /// Reads every table and view without a grant (the registry's secrets among them).
    ReadAllData,
    /// Writes every table.
    WriteAllData,
    /// Runs programs on the server as its OS user.
    ExecuteServerProgram,
    /// Reads the server's files (the data files hold every row).
    ReadServerFiles,
    /// Writes the server's files.
    WriteServerFiles,
    /// Monitoring: a member of pg_read_all_stats, pg_read_all_settings and pg_stat_scan_tables.
    Monitor,
    /// Reads every session's `pg_stat_activity.query`: the request tokens of other sessions that
    /// pass them in the query text.
    ReadAllStats,
    /// Reads every setting, superuser-only ones included (`idp.http_proxy`, file paths).
    ReadAllSettings,
    /// Cancels and terminates other sessions.
    SignalBackend,
    /// VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW and LOCK TABLE on every
    /// table (PostgreSQL 17).
    Maintain,
    /// Creates subscriptions: connections out of the server, and every row they replicate in
    /// (PostgreSQL 16).
    CreateSubscription,
}

impl Predefined {
    /// Every predefined role whose members are privileged.
    pub const ALL: [Predefined; 11] = [
        Predefined::ReadAllData,
        Predefined::WriteAllData,
        Predefined::ExecuteServerProgram,
        Predefined::ReadServerFiles,
        Predefined::WriteServerFiles,
        Predefined::Monitor,
        Predefined::ReadAllStats,
        Predefined::ReadAllSettings,
        Predefined::SignalBackend,
        Predefined::Maintain,
        Predefined::CreateSubscription,
    ];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Predefined::ReadAllData => "pg_read_all_data",
            Predefined::WriteAllData => "pg_write_all_data",
            Predefined::ExecuteServerProgram => "pg_execute_server_program",
            Predefined::ReadServerFiles => "pg_read_server_files",
            Predefined::WriteServerFiles => "pg_write_server_files",
            Predefined::Monitor => "pg_monitor",
            Predefined::ReadAllStats => "pg_read_all_stats",
            Predefined::ReadAllSettings => "pg_read_all_settings",
            Predefined::SignalBackend => "pg_signal_backend",
            Predefined::Maintain => "pg_maintain",
            Predefined::CreateSubscription => "pg_create_subscription",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of [`Predefined`] roles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memberships(u32);

impl Memberships {
    /// No membership.
    pub const NONE: Memberships = Memberships(0);

    /// Add one.
    pub fn insert(&mut self, role: Predefined) {
        self.0 |= role.bit();
    }

    /// Whether it has `role`.
    pub fn contains(self, role: Predefined) -> bool {
        self.0 & role.bit() != 0
    }

    /// The same set with `role`.
    pub fn with(mut self, role: Predefined) -> Self {
        self.insert(role);
        self
    }
}

/// The attributes of the roles a role is a member of (itself aside), directly or through other
/// roles: what `SET ROLE` can give its session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reached {
    /// A superuser role.
    pub superuser: bool,
    /// A role with BYPASSRLS.
    pub bypassrls: bool,
    /// A role with REPLICATION.
    pub replication: bool,
    /// A role with CREATEROLE.
    pub createrole: bool,
}

/// What the database says about the role a login asks for. Every fact but `exists` makes the
/// role privileged: refused unless `login.roles` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoleFacts {
    /// The role exists.
    pub exists: bool,
    /// It is a superuser.
    pub superuser: bool,
    /// It bypasses row-level security.
    pub bypassrls: bool,
    /// It has REPLICATION: logical decoding (`pg_logical_slot_get_changes`) reads every row.
    pub replication: bool,
    /// It has CREATEROLE: it creates roles and changes those it administers.
    pub createrole: bool,
    /// The privileged predefined roles it is a member of, directly or through other roles.
    pub member_of: Memberships,
    /// It is a member, directly or through other roles, of a role that is a superuser, or has
    /// BYPASSRLS, REPLICATION or CREATEROLE (attributes are not inherited, but `SET ROLE` to
    /// that role gives them to the session): each, as [`Reached`].
    pub reaches: Reached,
    /// It owns a table with row-level security, or is a member of a role that owns one.
    pub owns_rls_table: bool,
}

impl RoleFacts {
    /// What makes the role privileged, in words (empty: nothing).
    pub fn privileges(&self) -> Vec<String> {
        let mut out: Vec<String> = [
            (self.superuser, "a superuser"),
            (self.bypassrls, "BYPASSRLS"),
            (self.replication, "REPLICATION"),
            (self.createrole, "CREATEROLE"),
        ]
        .into_iter()
        .filter(|(has, _)| *has)
        .map(|(_, what)| what.to_string())
        .collect();
        out.extend(
            Predefined::ALL
                .iter()
                .filter(|p| self.member_of.contains(**p))
                .map(|p| format!("a member of {}", p.name())),
        );
        out.extend(
            [
                (self.reaches.superuser, "a member of a superuser role"),
                (self.reaches.bypassrls, "a member of a BYPASSRLS role"),
                (self.reaches.replication, "a member of a REPLICATION role"),
                (self.reaches.createrole, "a member of a CREATEROLE role"),
            ]
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, what)| what.to_string()),
        );
        if self.owns_rls_table {
            out.push("the owner of a table with row-level security (or a member of its owner)".into());
        }
        out
    }
}
