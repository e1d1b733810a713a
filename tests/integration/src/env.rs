//! Which PostgreSQL the suites run against, and how its programs are run.
//!
//! scripts/integration selects the server (`--pg N`, `--pg-config PATH`, scripts/lib.sh's
//! `select_pg`) and exports what it selected: `PG_VERSION`, `PGBIN`, `PG_CONFIG` and `PG_CHROOT`
//! (17 only: its programs in `PGBIN` are wrappers that run them in a Debian 13 root, see
//! scripts/servers). Run directly (`cargo test -p pg_idp_itests`), the suites take the same
//! variables, `PGBIN` from `PG_CONFIG --bindir` when only that is set, and the system's 15
//! otherwise; the extension must already be installed into that server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The PostgreSQL under test.
#[derive(Debug)]
pub struct Pg {
    /// Its major version (15, 16, 17, 18).
    pub version: u32,
    /// Its programs (initdb, pg_ctl, pg_basebackup, pgbench, ...), as the host runs them.
    pub bin: PathBuf,
    /// The root its programs run in (PostgreSQL 17), when `bin` holds the wrappers that chroot.
    pub chroot: Option<PathBuf>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Pg {
    /// The PostgreSQL scripts/integration selected (see the module's comment).
    pub fn get() -> &'static Pg {
        static PG: OnceLock<Pg> = OnceLock::new();
        PG.get_or_init(|| {
            let bin = match (env_nonempty("PGBIN"), env_nonempty("PG_CONFIG")) {
                (Some(b), _) => PathBuf::from(b),
                (None, Some(c)) => PathBuf::from(output(Command::new(c).arg("--bindir")).trim()),
                (None, None) => PathBuf::from("/usr/lib/postgresql/15/bin"),
            };
            let version = match env_nonempty("PG_VERSION") {
                Some(v) => v.parse().expect("PG_VERSION is a major version such as 15"),
                None => {
                    // "postgres (PostgreSQL) 15.10 (Debian ...)"
                    let v = output(Command::new(bin.join("postgres")).arg("--version"));
                    let n = v.split_whitespace().nth(2).unwrap_or("");
                    n.split('.')
                        .next()
                        .and_then(|m| m.parse().ok())
                        .expect("a PostgreSQL version in postgres --version")
                }
            };
            Pg { version, bin, chroot: env_nonempty("PG_CHROOT").map(PathBuf::from) }
        })
    }

    /// A program of this PostgreSQL, run as the caller (root on the test machines): pgbench,
    /// psql, createdb.
    pub fn cmd(&self, program: &str) -> Command {
        Command::new(self.bin.join(program))
    }

    /// A server program (initdb, pg_ctl, pg_basebackup, postgres) run as the `postgres` OS user
    /// when we are root, since PostgreSQL refuses to run as root: in the 17 root through its
    /// wrapper (`PG17_AS=postgres`), elsewhere with runuser (scripts/lib.sh's `as_pg`).
    pub fn cmd_as_postgres(&self, program: &str) -> Command {
        as_postgres(&self.bin.join(program), self.chroot.is_some())
    }
}

/// `program` run as the `postgres` OS user when we are root (see [`Pg::cmd_as_postgres`]);
/// `chroot_wrapper`: the program is one of the 17 root's wrappers.
pub fn as_postgres(program: &Path, chroot_wrapper: bool) -> Command {
    if chroot_wrapper {
        let mut c = Command::new(program);
        c.env("PG17_AS", "postgres");
        c
    } else if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The uid and gid of the `postgres` OS user, when we are root (directories the server writes
/// are given to it); `None` otherwise.
pub fn postgres_ids() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| {
        if !is_root() {
            return None;
        }
        let id = |flag: &str| -> u32 {
            output(Command::new("id").args([flag, "postgres"])).trim().parse().expect("the postgres OS user exists")
        };
        Some((id("-u"), id("-g")))
    })
}

/// The repository's root (this crate is tests/integration).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root")
}

/// The standard output of a command that must succeed.
pub fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!("{cmd:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command that must succeed, its output kept in `log` (shown when it fails).
pub fn run_logged(cmd: &mut Command, log: &Path) {
    let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let status = cmd
        .stdout(file.try_clone().expect("a log file handle"))
        .stderr(file)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !status.success() {
        panic!("{cmd:?} failed ({status}); its output:\n{}", std::fs::read_to_string(log).unwrap_or_default());
    }
}

/// An integer setting from the environment (the suites' sizes, e.g. `SOAK_TXNS`), or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    env_nonempty(name).map(|v| v.parse().unwrap_or_else(|_| panic!("{name} must be a number"))).unwrap_or(default)
}

/// `pgbench` of the PostgreSQL under test, as the caller: `connection` (`-h`, `-p`) then `args`.
/// Returns its exit code and its output (stdout and stderr).
pub fn pgbench(connection: &[&str], args: &[&str]) -> (i32, String) {
    let out = Pg::get()
        .cmd("pgbench")
        .args(connection)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pgbench: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}
