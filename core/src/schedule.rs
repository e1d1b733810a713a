//! The launcher's decisions, as pure functions of what it knows and the time. The extension's
//! launcher (`src/launcher.rs`) gathers the facts (the cluster's databases, the served table in
//! shared memory, its running jobs) and carries the decisions out:
//!
//! - [`membership`]: which databases have an entry in the served table. Only databases where
//!   pg_idp is recorded as installed (a record only a superuser can write) or that are being
//!   looked at once, at most [`Limits::per_owner`] of one owner that is not a superuser, and at
//!   most [`Limits::max_databases`] in all;
//! - [`plan`]: for one database, whether the launcher confirms its login snapshot itself (no job
//!   needed while nothing can have changed there), what a job there is due for, and whether its
//!   running job is past its deadline;
//! - [`assign`]: which due databases get a job now, and in which lane: one lane is kept for the
//!   looks of databases whose last job did not fail, and no owner that is not a superuser has
//!   more than one job at a time;
//! - [`candidate`]: a database with a job due, as [`assign`] ranks it (a first look at a database
//!   nothing records yet waits behind everything else);
//! - [`job_outcome`]: how a job that stopped ended, from what it recorded and whether the
//!   launcher ended it; [`after_job`]: how that changes the database's failures and its next try
//!   (backoff);
//! - [`Discovery`]: once after an upgrade from 0.5.0, which databases with no record are looked
//!   at, and how many at a time.
//!
//! The state machine these functions make is drawn in CONTRIBUTING.md ("The launcher's state
//! machine"), one function per transition. Times are Unix milliseconds.

/// A primary's periodic look at a served database, in check intervals (the owners of its tables
/// under row-level security, which nothing tells the launcher of, are read again then).
pub const CHECK_INTERVALS: i64 = 6;
/// On a primary, the launcher confirms a database's snapshot only while its last look is at
/// most this many check intervals old: a periodic look that cannot run makes logins wait for it
/// rather than trust owners read long ago.
pub const LOOK_MAX_INTERVALS: i64 = 12;
/// A database that is not installed or not trustworthy is looked at again this often: on a
/// standby (where nothing is told) while its WAL replay moves, and always when untrusted.
pub const PROBE_AGAIN_MS: i64 = 60_000;
/// The longest wait before a failed database is tried again (unless the check interval is
/// longer).
pub const BACKOFF_CAP_MS: i64 = 300_000;
/// A job ends itself at the job timeout; the launcher terminates one still running this much
/// later (one that hung before it could arm its own timer, or in code that does not look at
/// interrupts).
pub const DEADLINE_GRACE_MS: i64 = 5_000;

/// What the last look at a database found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Found {
    /// Not looked at yet.
    #[default]
    Unknown,
    /// pg_idp is not installed there.
    NotInstalled,
    /// Installed by a superuser and verified: served.
    Serving,
    /// pg_idp is there, but something a job would use could be changed by a non-superuser.
    Untrusted,
}

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It finished its look.
    Succeeded,
    /// It raised an error, or exited without finishing.
    Failed,
    /// It waited for a lock longer than its `lock_timeout`.
    LockTimeout,
    /// It ran past its deadline (it ended itself, or the launcher ended it).
    TimedOut,
}

impl Outcome {
    /// As `idp.served_databases()` names it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::LockTimeout => "lock_timeout",
            Outcome::TimedOut => "timed_out",
        }
    }

    /// Whether the database must wait for its next try.
    pub fn is_failure(self) -> bool {
        self != Outcome::Succeeded
    }
}

/// What the decisions depend on besides one database.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `idp.check_interval`.
    pub check_interval_ms: i64,
    /// `idp.job_timeout`: how long a job may run.
    pub job_timeout_ms: i64,
    /// `idp.max_workers`: how many jobs run at once.
    pub max_workers: usize,
    /// The server is a standby (in recovery): nothing tells the launcher of a change, and no
    /// keys are fetched.
    pub recovery: bool,
}

impl Settings {
    fn interval(&self) -> i64 {
        self.check_interval_ms.max(1)
    }
}

/// A job running in a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    /// When the launcher started it.
    pub started_ms: i64,
    /// It was started for a change told (it may be rewriting the snapshot).
    pub for_changes: bool,
    /// The launcher already asked it to end.
    pub terminated: bool,
}

/// One database's entry, as the launcher sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Entry {
    /// What its last successful look found.
    pub found: Found,
    /// When that look finished (0: never).
    pub looked_at: i64,
    /// A change was told since the last job started (a registry change, pg_idp created,
    /// updated or dropped).
    pub changes: bool,
    /// When a provider's keys are next due (0: nothing scheduled).
    pub refresh_due: i64,
    /// A backend asked for an early refresh (a token named a kid it does not have).
    pub requests: bool,
    /// On a standby: WAL was replayed since the last look (the position is the cluster's).
    pub wal_moved: bool,
    /// Jobs that failed in a row.
    pub failures: u32,
    /// When the next try is due, after a failure.
    pub retry_at: i64,
    /// The job running there now.
    pub job: Option<Job>,
}

/// Why a database needs a job, most urgent first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// A change was told, or the database was never looked at.
    Now,
    /// A provider's keys are due, or were asked for.
    Refresh,
    /// Time for the periodic look.
    Check,
    /// Its last job failed, and its wait is over.
    Retry,
    /// Looked at once, to learn whether pg_idp is installed (a database nothing recorded yet).
    Probe,
}

/// What to do about one database now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    /// The launcher confirms the database's login snapshot itself: nothing can have changed
    /// since its last look.
    pub vouch: bool,
    /// A job is due there.
    pub due: Option<Due>,
    /// Since when that job is due (older first within a kind).
    pub since: i64,
    /// Its running job is past its deadline: end it.
    pub terminate: bool,
}

/// When the launcher ends a job started at `started_ms`.
pub fn deadline(started_ms: i64, s: &Settings) -> i64 {
    started_ms.saturating_add(s.job_timeout_ms.max(1)).saturating_add(DEADLINE_GRACE_MS)
}

/// How long a database waits after its `failures`-th failure in a row: one check interval,
/// doubled at each further failure, up to [`BACKOFF_CAP_MS`] (or the interval, if longer).
pub fn backoff(failures: u32, s: &Settings) -> i64 {
    let interval = s.interval();
    let cap = BACKOFF_CAP_MS.max(interval);
    let shift = failures.saturating_sub(1).min(20);
    interval.saturating_mul(1i64 << shift).min(cap)
}

/// Whether nothing the database holds can have changed since its last look, as far as the
/// launcher can tell without a job: no change told (the caller checks), on a standby no WAL
/// replayed, on a primary a last look recent enough.
fn settled(e: &Entry, now: i64, s: &Settings) -> bool {
    if s.recovery {
        !e.wal_moved
    } else {
        now - e.looked_at <= LOOK_MAX_INTERVALS * s.interval()
    }
}

/// What to do about the database of entry `e` at `now`.
pub fn plan(e: &Entry, now: i64, s: &Settings) -> Plan {
    let interval = s.interval();
    let served = e.found == Found::Serving && e.failures == 0;
    if let Some(job) = e.job {
        // A job that took a change may be writing a new snapshot: the old one is not
        // confirmed meanwhile. One started for a refresh or a periodic look changes nothing the
        // snapshot holds until it commits (which tells a change).
        return Plan {
            vouch: served && !job.for_changes && !e.changes && settled(e, now, s),
            due: None,
            since: 0,
            terminate: !job.terminated && now >= deadline(job.started_ms, s),
        };
    }
    if e.failures > 0 {
        // A change told (only a superuser can make one: a registration, `idp._launcher_notify()`)
        // ends the wait: whoever fixed what made the job fail need not wait for the backoff.
        let due = (now >= e.retry_at || e.changes).then_some(Due::Retry);
        return Plan { vouch: false, due, since: e.retry_at, terminate: false };
    }
    let since_look = now - e.looked_at;
    let (due, since) = match e.found {
        Found::Unknown => (Some(Due::Now), e.looked_at),
        Found::NotInstalled | Found::Untrusted => {
            if e.changes || (s.recovery && e.wal_moved && since_look >= PROBE_AGAIN_MS) {
                (Some(Due::Now), e.looked_at)
            } else if e.found == Found::Untrusted && since_look >= PROBE_AGAIN_MS {
                (Some(Due::Check), e.looked_at + PROBE_AGAIN_MS)
            } else {
                (None, 0)
            }
        }
        Found::Serving if e.changes => (Some(Due::Now), e.looked_at),
        Found::Serving if s.recovery => {
            if e.wal_moved && since_look >= interval {
                (Some(Due::Check), e.looked_at + interval)
            } else {
                (None, 0)
            }
        }
        Found::Serving => {
            if e.requests {
                (Some(Due::Refresh), now)
            } else if e.refresh_due != 0 && now >= e.refresh_due {
                (Some(Due::Refresh), e.refresh_due)
            } else if since_look >= CHECK_INTERVALS * interval {
                (Some(Due::Check), e.looked_at + CHECK_INTERVALS * interval)
            } else {
                (None, 0)
            }
        }
    };
    Plan { vouch: served && !e.changes && settled(e, now, s), due, since, terminate: false }
}

/// The database's failures in a row and its next try, after a job that ended with `outcome`.
pub fn after_job(failures: u32, outcome: Outcome, now: i64, s: &Settings) -> (u32, i64) {
    if outcome.is_failure() {
        let n = failures.saturating_add(1);
        (n, now.saturating_add(backoff(n, s)))
    } else {
        (0, 0)
    }
}

/// How the job started at `started_ms` ended, once its process is gone: timed out when the
/// launcher ended it (`terminated`), succeeded when it recorded its look as done since it
/// started (`looked_at`), else as it said (`reported`: it raised an error, it waited too long for
/// a lock, it ran past its own deadline), or failed (it exited without a word).
pub fn job_outcome(terminated: bool, looked_at: i64, started_ms: i64, reported: Option<Outcome>) -> Outcome {
    if terminated {
        Outcome::TimedOut
    } else if looked_at >= started_ms {
        Outcome::Succeeded
    } else {
        reported.unwrap_or(Outcome::Failed)
    }
}

/// Where a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Any job: looks, key refreshes, Citus copies, retries, first looks.
    General,
    /// Kept for looks (no key fetch, no Citus copy) at databases whose last job did not fail:
    /// a change to write into the snapshot, or a periodic look. A database whose job failed or
    /// timed out is retried in the general lanes only.
    Confirm,
}

impl Lane {
    /// A job of this lane only looks (no key fetch, no Citus copy).
    pub fn look_only(self) -> bool {
        self == Lane::Confirm
    }
}

/// How many general and confirmation lanes `max_workers` jobs make: one is kept for
/// confirmation once there are two.
pub fn lanes(max_workers: usize) -> (usize, usize) {
    let w = max_workers.max(1);
    if w >= 2 {
        (w - 1, 1)
    } else {
        (1, 0)
    }
}

/// A database with a job due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The database.
    pub oid: u32,
    /// Its owner, when that is not a superuser (`None`: no limit per owner).
    pub owner: Option<u32>,
    /// Why.
    pub due: Due,
    /// Since when (older first within a kind).
    pub since: i64,
    /// Its last job did not fail.
    pub healthy: bool,
}

/// The database `oid`, whose entry is `e` and whose plan is `p`, as a candidate for a job (`None`:
/// nothing is due). A first look at a database nothing records yet (`probing`, not `recorded`)
/// is a [`Due::Probe`], and never counts as healthy: it waits behind every other job and never
/// takes the confirmation lane. `owner`: its owner when that is not a superuser.
pub fn candidate(
    oid: u32,
    e: &Entry,
    p: &Plan,
    probing: bool,
    recorded: bool,
    owner: Option<u32>,
) -> Option<Candidate> {
    let due = p.due?;
    let first_probe = probing && !recorded && due == Due::Now;
    Some(Candidate {
        oid,
        owner,
        due: if first_probe { Due::Probe } else { due },
        since: p.since,
        healthy: e.failures == 0 && !first_probe,
    })
}

/// A job running now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy {
    /// Its database's owner, when that is not a superuser.
    pub owner: Option<u32>,
    /// Where it runs.
    pub lane: Lane,
}

/// Which candidates get a job now, and where: changes and first looks first, once-only looks
/// last, and the rest (key refreshes, periodic looks, retries) longest waiting first, so that a
/// database due again as soon as its job ended waits behind the others; each into a free
/// general lane, else, for a look at a healthy database, into a free confirmation lane; never a
/// second job for an owner that is not a superuser.
pub fn assign(mut candidates: Vec<Candidate>, busy: &[Busy], max_workers: usize) -> Vec<(u32, Lane)> {
    let rank = |d: Due| match d {
        Due::Now => 0,
        Due::Refresh | Due::Check | Due::Retry => 1,
        Due::Probe => 2,
    };
    candidates.sort_by_key(|c| (rank(c.due), c.since, c.oid));
    let (general_cap, confirm_cap) = lanes(max_workers);
    let mut general = busy.iter().filter(|b| b.lane == Lane::General).count();
    let mut confirm = busy.iter().filter(|b| b.lane == Lane::Confirm).count();
    let mut owners: Vec<u32> = busy.iter().filter_map(|b| b.owner).collect();
    let mut out = Vec::new();
    for c in candidates {
        if c.owner.is_some_and(|o| owners.contains(&o)) {
            continue;
        }
        let lane = if general < general_cap {
            general += 1;
            Lane::General
        } else if confirm < confirm_cap && c.healthy && matches!(c.due, Due::Now | Due::Check) {
            confirm += 1;
            Lane::Confirm
        } else {
            continue;
        };
        if let Some(o) = c.owner {
            owners.push(o);
        }
        out.push((c.oid, lane));
    }
    out
}

/// A database of the cluster, as the shared catalogs show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Database {
    /// `pg_database.oid`.
    pub oid: u32,
    /// Its owner (`pg_database.datdba`).
    pub owner: u32,
    /// That owner is a superuser.
    pub owner_is_superuser: bool,
    /// Not a template, allows connections, not half dropped.
    pub servable: bool,
    /// Named by the allow-lists, or no allow-list is set.
    pub allowed: bool,
    /// pg_idp is recorded as installed there (`idp.installed`, which only a superuser sets).
    pub recorded: bool,
}

/// How many entries the served table gives.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `idp.max_databases`.
    pub max_databases: usize,
    /// `idp.max_databases_per_owner`: databases of one owner that is not a superuser.
    pub per_owner: usize,
}

/// The owner of database `oid` when it is not a superuser (limits per owner apply to it); `None`
/// for a superuser's database, or one not in `dbs`.
pub fn owner_limited(dbs: &[Database], oid: u32) -> Option<u32> {
    dbs.iter().find(|d| d.oid == oid).filter(|d| !d.owner_is_superuser).map(|d| d.owner)
}

/// Changes to the served table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Databases to take an entry for, in order.
    pub add: Vec<u32>,
    /// Entries to free, and whether the database is gone (its counters are then forgotten).
    pub remove: Vec<(u32, bool)>,
    /// Databases left out because their owner has as many entries as the limit: by owner.
    pub over_owner: Vec<(u32, Vec<u32>)>,
    /// Databases left out because the table is full.
    pub over_table: Vec<u32>,
}

/// Which databases keep, get or lose an entry. `entries`: the databases with one now; `busy`:
/// those with a job running (never removed until it ends); `probing`: those being looked at
/// once although nothing records pg_idp there. An entry is never taken from a database that has
/// one to make room (lowering a limit leaves the entries there).
pub fn membership(dbs: &[Database], entries: &[u32], busy: &[u32], probing: &[u32], limits: &Limits) -> Membership {
    let mut m = Membership::default();
    let wanted = |d: &Database| d.servable && d.allowed && (d.recorded || probing.contains(&d.oid));
    let mut kept: Vec<u32> = Vec::new();
    for &oid in entries {
        match dbs.iter().find(|d| d.oid == oid) {
            Some(d) if wanted(d) => kept.push(oid),
            _ if busy.contains(&oid) => kept.push(oid),
            found => m.remove.push((oid, found.is_none())),
        }
    }
    let owner_of = |oid: u32| owner_limited(dbs, oid);
    let mut per_owner: Vec<(u32, usize)> = Vec::new();
    for &oid in &kept {
        if let Some(o) = owner_of(oid) {
            match per_owner.iter_mut().find(|(x, _)| *x == o) {
                Some((_, n)) => *n += 1,
                None => per_owner.push((o, 1)),
            }
        }
    }
    let mut total = kept.len();
    let mut new: Vec<&Database> = dbs.iter().filter(|d| wanted(d) && !kept.contains(&d.oid)).collect();
    new.sort_by_key(|d| d.oid);
    for d in new {
        if !d.owner_is_superuser {
            let n = per_owner.iter().find(|(x, _)| *x == d.owner).map_or(0, |(_, n)| *n);
            if n >= limits.per_owner {
                match m.over_owner.iter_mut().find(|(x, _)| *x == d.owner) {
                    Some((_, v)) => v.push(d.oid),
                    None => m.over_owner.push((d.owner, vec![d.oid])),
                }
                continue;
            }
        }
        if total >= limits.max_databases {
            m.over_table.push(d.oid);
            continue;
        }
        total += 1;
        if !d.owner_is_superuser {
            match per_owner.iter_mut().find(|(x, _)| *x == d.owner) {
                Some((_, n)) => *n += 1,
                None => per_owner.push((d.owner, 1)),
            }
        }
        m.add.push(d.oid);
    }
    m
}

/// The once-only look, after an upgrade from 0.5.0 (which recorded nothing), at the databases
/// that have no record of pg_idp: a job in each (a [`Due::Probe`]) finds whether pg_idp is
/// installed there and records it. Begun on a primary only (a standby cannot record), once per
/// cluster (the launcher keeps a marker file once it is done).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The databases still to look at (the last one first).
    pub left: Vec<u32>,
    /// The databases being looked at now: each has an entry until its job ends.
    pub probing: Vec<u32>,
}

impl Discovery {
    /// The databases to look at: every servable database the allow-lists name that has no
    /// record.
    pub fn start(dbs: &[Database]) -> Discovery {
        Discovery {
            left: dbs.iter().filter(|d| d.servable && d.allowed && !d.recorded).map(|d| d.oid).collect(),
            probing: Vec::new(),
        }
    }

    /// One round: databases that are gone (or no longer servable) are dropped from what is left,
    /// and more are looked at while fewer are than there are general lanes (none on a standby).
    /// True when it is done: nothing left, nothing being looked at.
    pub fn advance(&mut self, dbs: &[Database], s: &Settings) -> bool {
        self.left.retain(|oid| dbs.iter().any(|d| d.oid == *oid && d.servable));
        let (general, _) = lanes(s.max_workers);
        while self.probing.len() < general && !s.recovery {
            let Some(oid) = self.left.pop() else { break };
            self.probing.push(oid);
        }
        self.left.is_empty() && self.probing.is_empty()
    }

    /// The job in `oid` ended, or its entry was removed: whether it was being looked at.
    pub fn finished(&mut self, oid: u32) -> bool {
        let was = self.probing.contains(&oid);
        self.probing.retain(|o| *o != oid);
        was
    }
}

/// Whether a setting's value reads as true the way PostgreSQL reads a boolean (`on`, `true`,
/// `yes`, `1`, and unique prefixes of them, in any case).
pub fn setting_is_true(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return false;
    }
    v == "1" || v == "on" || "true".starts_with(&v) || "yes".starts_with(&v)
}

/// The value of `name` in a `pg_db_role_setting.setconfig` array item (`name=value`).
pub fn setting_value<'a>(item: &'a str, name: &str) -> Option<&'a str> {
    let (n, v) = item.split_once('=')?;
    (n.eq_ignore_ascii_case(name)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    const INTERVAL: i64 = 10_000;

    fn settings() -> Settings {
        Settings { check_interval_ms: INTERVAL, job_timeout_ms: 60_000, max_workers: 2, recovery: false }
    }

    fn serving(looked_at: i64) -> Entry {
        Entry { found: Found::Serving, looked_at, ..Entry::default() }
    }

    #[test]
    fn a_new_database_is_looked_at_at_once_and_not_vouched_for() {
        let p = plan(&Entry::default(), T0, &settings());
        assert_eq!(p.due, Some(Due::Now));
        assert!(!p.vouch);
    }

    #[test]
    fn a_served_database_with_nothing_due_is_vouched_for_without_a_job() {
        let p = plan(&serving(T0 - 1_000), T0, &settings());
        assert_eq!(p, Plan { vouch: true, due: None, since: 0, terminate: false });
    }

    #[test]
    fn a_registry_change_needs_a_job_and_stops_the_vouching() {
        let e = Entry { changes: true, ..serving(T0 - 1_000) };
        let p = plan(&e, T0, &settings());
        assert_eq!(p.due, Some(Due::Now));
        assert!(!p.vouch);
    }

    #[test]
    fn keys_due_need_a_job_but_the_snapshot_stays_vouched_for() {
        let e = Entry { refresh_due: T0 - 5, ..serving(T0 - 1_000) };
        let p = plan(&e, T0, &settings());
        assert_eq!((p.due, p.since, p.vouch), (Some(Due::Refresh), T0 - 5, true));
        let asked = Entry { requests: true, ..serving(T0 - 1_000) };
        assert_eq!(plan(&asked, T0, &settings()).due, Some(Due::Refresh));
        let later = Entry { refresh_due: T0 + 5, ..serving(T0 - 1_000) };
        assert_eq!(plan(&later, T0, &settings()).due, None);
    }

    #[test]
    fn the_periodic_look_comes_every_six_intervals_and_vouching_stops_at_twelve() {
        let s = settings();
        assert_eq!(plan(&serving(T0 - 6 * INTERVAL + 1), T0, &s).due, None);
        let p = plan(&serving(T0 - 6 * INTERVAL), T0, &s);
        assert_eq!((p.due, p.vouch), (Some(Due::Check), true));
        let p = plan(&serving(T0 - 12 * INTERVAL), T0, &s);
        assert!(p.vouch);
        let p = plan(&serving(T0 - 12 * INTERVAL - 1), T0, &s);
        assert_eq!((p.due, p.vouch), (Some(Due::Check), false));
    }

    #[test]
    fn a_standby_vouches_only_while_no_wal_was_replayed() {
        let s = Settings { recovery: true, ..settings() };
        assert!(plan(&serving(T0 - 100 * INTERVAL), T0, &s).vouch);
        let moved = Entry { wal_moved: true, ..serving(T0 - 1_000) };
        assert_eq!(plan(&moved, T0, &s), Plan::default());
        let moved = Entry { wal_moved: true, ..serving(T0 - INTERVAL) };
        assert_eq!(plan(&moved, T0, &s).due, Some(Due::Check));
        // Nothing is fetched on a standby.
        let keys = Entry { refresh_due: T0 - 5, requests: true, ..serving(T0 - 1_000) };
        assert_eq!(plan(&keys, T0, &s).due, None);
    }

    #[test]
    fn a_failed_job_is_retried_with_backoff_and_its_database_is_not_vouched_for() {
        let s = settings();
        let (failures, retry_at) = after_job(0, Outcome::Failed, T0, &s);
        assert_eq!((failures, retry_at), (1, T0 + INTERVAL));
        let e = Entry { failures, retry_at, ..serving(T0 - 1_000) };
        assert_eq!(
            plan(&e, T0 + INTERVAL - 1, &s),
            Plan { vouch: false, due: None, since: retry_at, terminate: false }
        );
        assert_eq!(plan(&e, T0 + INTERVAL, &s).due, Some(Due::Retry));
        // A change told ends the wait.
        let told = Entry { changes: true, ..e };
        assert_eq!(plan(&told, T0 + 1, &s).due, Some(Due::Retry));
        // A success clears it.
        assert_eq!(after_job(failures, Outcome::Succeeded, T0, &s), (0, 0));
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let s = settings();
        let waits: Vec<i64> = (1..=8).map(|n| backoff(n, &s)).collect();
        assert_eq!(waits, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
        assert_eq!(backoff(u32::MAX, &s), BACKOFF_CAP_MS);
        let slow = Settings { check_interval_ms: 600_000, ..s };
        assert_eq!(backoff(5, &slow), 600_000);
    }

    #[test]
    fn a_job_past_its_deadline_is_ended_once_and_counts_as_a_failure() {
        let s = settings();
        let job = Job { started_ms: T0, for_changes: false, terminated: false };
        let e = Entry { job: Some(job), ..serving(T0 - 1_000) };
        assert!(!plan(&e, T0 + 60_000 + DEADLINE_GRACE_MS - 1, &s).terminate);
        assert!(plan(&e, T0 + 60_000 + DEADLINE_GRACE_MS, &s).terminate);
        let e = Entry { job: Some(Job { terminated: true, ..job }), ..e };
        assert!(!plan(&e, T0 + 600_000, &s).terminate);
        let (failures, retry_at) = after_job(2, Outcome::TimedOut, T0, &s);
        assert_eq!((failures, retry_at), (3, T0 + 40_000));
        assert!(Outcome::LockTimeout.is_failure() && Outcome::TimedOut.is_failure());
    }

    #[test]
    fn a_running_job_keeps_the_vouching_unless_it_took_a_change() {
        let s = settings();
        let job = Job { started_ms: T0, for_changes: false, terminated: false };
        let e = Entry { job: Some(job), ..serving(T0 - 1_000) };
        assert_eq!(plan(&e, T0 + 1, &s), Plan { vouch: true, due: None, since: 0, terminate: false });
        let e = Entry { job: Some(Job { for_changes: true, ..job }), ..e };
        assert!(!plan(&e, T0 + 1, &s).vouch);
        let e = Entry { job: Some(job), changes: true, ..serving(T0 - 1_000) };
        assert!(!plan(&e, T0 + 1, &s).vouch);
    }

    #[test]
    fn untrusted_and_not_installed_databases_are_never_vouched_for() {
        let s = settings();
        let untrusted = Entry { found: Found::Untrusted, looked_at: T0 - 1_000, ..Entry::default() };
        assert_eq!(plan(&untrusted, T0, &s), Plan::default());
        let p = plan(&Entry { looked_at: T0 - PROBE_AGAIN_MS, ..untrusted }, T0, &s);
        assert_eq!((p.due, p.vouch), (Some(Due::Check), false));
        let told = Entry { changes: true, ..untrusted };
        assert_eq!(plan(&told, T0, &s).due, Some(Due::Now));
        let absent = Entry { found: Found::NotInstalled, looked_at: T0 - 10 * PROBE_AGAIN_MS, ..Entry::default() };
        assert_eq!(plan(&absent, T0, &s), Plan::default());
        let standby = Settings { recovery: true, ..s };
        assert_eq!(plan(&Entry { wal_moved: true, ..absent }, T0, &standby).due, Some(Due::Now));
    }

    fn db(oid: u32, owner: u32, recorded: bool) -> Database {
        Database { oid, owner, owner_is_superuser: owner == 10, servable: true, allowed: true, recorded }
    }

    fn limits(max_databases: usize, per_owner: usize) -> Limits {
        Limits { max_databases, per_owner }
    }

    #[test]
    fn only_recorded_databases_get_an_entry() {
        let dbs = [db(1, 10, true), db(2, 20, false), db(3, 20, true)];
        let m = membership(&dbs, &[], &[], &[], &limits(10, 10));
        assert_eq!(m, Membership { add: vec![1, 3], ..Membership::default() });
        // ... or one being looked at once.
        assert_eq!(membership(&dbs, &[1, 3], &[], &[2], &limits(10, 10)).add, vec![2]);
        // Templates, databases that refuse connections and those the allow-lists leave out: none.
        let shut = [Database { servable: false, ..db(4, 10, true) }, Database { allowed: false, ..db(5, 10, true) }];
        assert_eq!(membership(&shut, &[], &[], &[], &limits(10, 10)), Membership::default());
    }

    #[test]
    fn a_dropped_database_loses_its_entry_once_its_job_ended() {
        let dbs = [db(1, 10, true)];
        assert_eq!(membership(&dbs, &[1, 2], &[2], &[], &limits(10, 10)), Membership::default());
        let m = membership(&dbs, &[1, 2], &[], &[], &limits(10, 10));
        assert_eq!(m.remove, vec![(2, true)]);
        // A record removed (DROP EXTENSION): the entry goes, the database stays.
        let m = membership(&[db(1, 10, false)], &[1], &[], &[], &limits(10, 10));
        assert_eq!(m.remove, vec![(1, false)]);
    }

    #[test]
    fn no_owner_fills_the_table() {
        // Owner 20 (not a superuser) has 5 recorded databases; the limit is 2 per owner.
        let mut dbs: Vec<Database> = (100..105).map(|oid| db(oid, 20, true)).collect();
        dbs.push(db(200, 10, true));
        dbs.push(db(201, 30, true));
        let m = membership(&dbs, &[], &[], &[], &limits(10, 2));
        assert_eq!(m.add, vec![100, 101, 200, 201]);
        assert_eq!(m.over_owner, vec![(20, vec![102, 103, 104])]);
        // A superuser's databases have no limit per owner; the table's limit holds for all.
        let mut many: Vec<Database> = (300..310).map(|oid| db(oid, 10, true)).collect();
        many.push(db(400, 20, true));
        let m = membership(&many, &[300, 301], &[], &[], &limits(4, 2));
        assert_eq!(m.add, vec![302, 303]);
        assert_eq!(m.over_table, (304..310).chain([400]).collect::<Vec<u32>>());
        // Existing entries count, and keep their places.
        let m = membership(&dbs, &[103, 104], &[], &[], &limits(10, 2));
        assert_eq!(m.add, vec![200, 201]);
        assert_eq!(m.over_owner, vec![(20, vec![100, 101, 102])]);
    }

    fn cand(oid: u32, owner: Option<u32>, due: Due, healthy: bool) -> Candidate {
        Candidate { oid, owner, due, since: i64::from(oid), healthy }
    }

    #[test]
    fn one_lane_is_kept_for_the_looks_of_healthy_databases() {
        assert_eq!(lanes(1), (1, 0));
        assert_eq!(lanes(2), (1, 1));
        assert_eq!(lanes(5), (4, 1));
        // The general lane takes the longest waiting; the kept lane only a healthy look.
        let c =
            vec![cand(1, None, Due::Retry, false), cand(2, None, Due::Refresh, true), cand(3, None, Due::Check, true)];
        assert_eq!(assign(c, &[], 2), vec![(1, Lane::General), (3, Lane::Confirm)]);
        let c = vec![cand(1, None, Due::Refresh, true), cand(2, None, Due::Retry, false)];
        assert_eq!(assign(c, &[], 2), vec![(1, Lane::General)]);
        // A retry never takes the kept lane, nor a refresh, nor a first look at a database that
        // nothing recorded.
        let c =
            vec![cand(1, None, Due::Retry, false), cand(2, None, Due::Refresh, true), cand(3, None, Due::Probe, true)];
        let busy = [Busy { owner: None, lane: Lane::General }];
        assert_eq!(assign(c, &busy, 2), vec![]);
        // A change is written before a key refresh, even one waiting longer.
        let c = vec![cand(2, None, Due::Refresh, true), cand(3, None, Due::Now, true)];
        assert_eq!(assign(c, &busy, 2), vec![(3, Lane::Confirm)]);
        let c = vec![cand(2, None, Due::Refresh, true), cand(3, None, Due::Now, true)];
        assert_eq!(assign(c, &[], 1), vec![(3, Lane::General)]);
        // A database due again as soon as its job ended (a refresh left for the next job) waits
        // behind a retry due for longer; a once-only look waits behind everything.
        let again = Candidate { since: 100, ..cand(4, None, Due::Refresh, true) };
        let retry = Candidate { since: 50, ..cand(5, Some(20), Due::Retry, false) };
        let probe = Candidate { since: 0, ..cand(6, None, Due::Probe, true) };
        assert_eq!(assign(vec![again, retry, probe], &[], 1), vec![(5, Lane::General)]);
    }

    #[test]
    fn no_owner_holds_more_than_one_lane() {
        let c =
            vec![cand(1, Some(20), Due::Now, true), cand(2, Some(20), Due::Now, true), cand(3, None, Due::Now, true)];
        assert_eq!(assign(c.clone(), &[], 2), vec![(1, Lane::General), (3, Lane::Confirm)]);
        let busy = [Busy { owner: Some(20), lane: Lane::General }];
        assert_eq!(assign(c, &busy, 3), vec![(3, Lane::General)]);
        // Within a kind, the longest waiting first.
        let mut older = cand(9, None, Due::Check, true);
        older.since = 0;
        assert_eq!(assign(vec![cand(5, None, Due::Check, true), older], &[], 1), vec![(9, Lane::General)]);
    }

    #[test]
    fn a_job_that_stopped_ended_as_it_recorded_or_as_the_launcher_ended_it() {
        // Recorded its look as done after it started: succeeded.
        assert_eq!(job_outcome(false, T0 + 5, T0, None), Outcome::Succeeded);
        assert_eq!(job_outcome(false, T0, T0, Some(Outcome::Failed)), Outcome::Succeeded);
        // Ended by the launcher past its deadline: timed out, whatever it recorded.
        assert_eq!(job_outcome(true, T0 + 5, T0, None), Outcome::TimedOut);
        // Gone without finishing: as it said, or failed when it said nothing (a crash).
        assert_eq!(job_outcome(false, T0 - 1, T0, Some(Outcome::LockTimeout)), Outcome::LockTimeout);
        assert_eq!(job_outcome(false, T0 - 1, T0, Some(Outcome::TimedOut)), Outcome::TimedOut);
        assert_eq!(job_outcome(false, 0, T0, None), Outcome::Failed);
    }

    #[test]
    fn a_job_that_timed_out_waits_like_a_failed_one() {
        let s = settings();
        let outcome = job_outcome(true, 0, T0, None);
        let (failures, retry_at) = after_job(0, outcome, T0 + 65_000, &s);
        assert_eq!((failures, retry_at), (1, T0 + 65_000 + INTERVAL));
        let e = Entry { failures, retry_at, ..serving(T0 - 1_000) };
        assert_eq!(plan(&e, retry_at - 1, &s).due, None);
        assert_eq!(plan(&e, retry_at, &s).due, Some(Due::Retry));
    }

    #[test]
    fn the_confirmation_lane_only_looks() {
        assert!(Lane::Confirm.look_only());
        assert!(!Lane::General.look_only());
    }

    #[test]
    fn a_first_look_at_an_unrecorded_database_waits_behind_everything() {
        let due_now = Plan { vouch: false, due: Some(Due::Now), since: 7, terminate: false };
        let fresh = Entry::default();
        let c = candidate(4, &fresh, &due_now, true, false, Some(20)).unwrap();
        assert_eq!(c, Candidate { oid: 4, owner: Some(20), due: Due::Probe, since: 7, healthy: false });
        // Recorded meanwhile (its job found pg_idp), or not being probed: an ordinary first look.
        assert_eq!(candidate(4, &fresh, &due_now, true, true, None).unwrap().due, Due::Now);
        assert_eq!(candidate(4, &fresh, &due_now, false, false, None).unwrap().due, Due::Now);
        // A database whose jobs fail is not healthy; nothing due, no candidate.
        let failing = Entry { failures: 2, ..fresh };
        let retry = Plan { due: Some(Due::Retry), ..due_now };
        assert!(!candidate(4, &failing, &retry, false, true, None).unwrap().healthy);
        assert_eq!(candidate(4, &fresh, &Plan::default(), true, false, None), None);
    }

    #[test]
    fn limits_per_owner_apply_to_owners_that_are_not_superusers() {
        let dbs = [db(1, 10, true), db(2, 20, true)];
        assert_eq!(owner_limited(&dbs, 1), None);
        assert_eq!(owner_limited(&dbs, 2), Some(20));
        assert_eq!(owner_limited(&dbs, 3), None);
    }

    #[test]
    fn databases_without_a_record_are_looked_at_once_a_lane_at_a_time() {
        let s = Settings { max_workers: 3, ..settings() };
        let shut = Database { servable: false, ..db(5, 20, false) };
        let elsewhere = Database { allowed: false, ..db(6, 20, false) };
        let dbs = [db(1, 10, true), db(2, 20, false), db(3, 20, false), db(4, 30, false), shut, elsewhere];
        let mut d = Discovery::start(&dbs);
        assert_eq!(d.left, vec![2, 3, 4]);
        // Two general lanes of three workers: two at a time, the rest waits.
        assert!(!d.advance(&dbs, &s));
        assert_eq!((d.left.clone(), d.probing.clone()), (vec![2], vec![4, 3]));
        assert!(!d.advance(&dbs, &s));
        assert_eq!(d.probing, vec![4, 3]);
        // A job ends: the next one starts; a database dropped meanwhile is not looked at.
        assert!(d.finished(4));
        assert!(!d.finished(4));
        let dropped: Vec<Database> = dbs.iter().copied().filter(|x| x.oid != 2).collect();
        assert!(!d.advance(&dropped, &s));
        assert_eq!((d.left.clone(), d.probing.clone()), (vec![], vec![3]));
        d.finished(3);
        assert!(d.advance(&dropped, &s));
        // Nothing to look at: done at once. A standby starts no look.
        assert!(Discovery::start(&[db(1, 10, true)]).advance(&dbs, &s));
        let mut standby = Discovery::start(&dbs);
        assert!(!standby.advance(&dbs, &Settings { recovery: true, ..s }));
        assert!(standby.probing.is_empty());
    }

    #[test]
    fn settings_read_as_postgresql_reads_booleans() {
        for v in ["on", "ON", "true", "t", "yes", "y", "1"] {
            assert!(setting_is_true(v), "{v}");
        }
        for v in ["off", "false", "no", "0", "", "of", "2"] {
            assert!(!setting_is_true(v), "{v}");
        }
        assert_eq!(setting_value("idp.installed=on", "idp.installed"), Some("on"));
        assert_eq!(setting_value("IDP.Installed=true", "idp.installed"), Some("true"));
        assert_eq!(setting_value("search_path=idp.installed", "idp.installed"), None);
        assert_eq!(setting_value("idp.installed", "idp.installed"), None);
    }
}
