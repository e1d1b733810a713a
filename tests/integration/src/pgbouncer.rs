//! PgBouncer in front of a cluster, in transaction pooling mode with ONE server connection:
//! clients take turns on it transaction by transaction. Stopped when dropped.

use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::conn::{Conn, Target};
use crate::env::{as_postgres, run_logged};
use crate::suite::{give_to_postgres, wait_for, write_file, Suite};

/// A running PgBouncer (see the module's comment).
pub struct PgBouncer {
    dir: PathBuf,
    port: u16,
    dbname: String,
    user: String,
}

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

impl PgBouncer {
    /// Start PgBouncer on 127.0.0.1 for database `dbname` of `cluster`, every client served by
    /// one server connection as `user` (trust authentication, `pool_mode = transaction`,
    /// `default_pool_size = 1`, no reset query), and wait until it answers.
    pub fn start(suite: &Suite, cluster: &Cluster, dbname: &str, user: &str) -> PgBouncer {
        assert!(std::path::Path::new(PGBOUNCER).exists(), "{PGBOUNCER} is missing (run scripts/setup)");
        let dir = suite.subdir("pgbouncer");
        let port = crate::net::free_port();
        let ini = format!(
            "[databases]
{dbname} = host={host} port={cport} dbname={dbname} user={user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {dir}/userlist.txt
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 20
server_reset_query =
logfile = {dir}/pgbouncer.log
pidfile = {dir}/pgbouncer.pid
",
            host = cluster.socket_dir().display(),
            cport = cluster.port(),
            dir = dir.display(),
        );
        write_file(&dir.join("pgbouncer.ini"), ini);
        write_file(&dir.join("userlist.txt"), format!("\"{user}\" \"\"\n"));
        for f in ["", "pgbouncer.ini", "userlist.txt"] {
            give_to_postgres(&dir.join(f));
        }
        suite.say(&format!("PgBouncer on 127.0.0.1:{port} (transaction pooling, one server connection)"));
        let b = PgBouncer { dir: dir.clone(), port, dbname: dbname.into(), user: user.into() };
        run_logged(
            as_postgres(PGBOUNCER.as_ref(), false).arg("-d").arg(dir.join("pgbouncer.ini")),
            &dir.join("start.log"),
        );
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(100), || {
            b.target().try_connect().ok().and_then(|mut c| c.try_q("SELECT 1").ok())
        });
        if up.is_none() {
            panic!(
                "PgBouncer does not answer; its log:\n{}",
                std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default()
            );
        }
        b
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where a client connects: its database, as its user.
    pub fn target(&self) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port: self.port,
            user: self.user.clone(),
            dbname: self.dbname.clone(),
            application_name: None,
        }
    }

    /// A new client session through it.
    pub fn conn(&self) -> Conn {
        self.target().connect()
    }

    /// `pgbench` of the PostgreSQL under test through it, as the caller (root): `args` after
    /// `-h 127.0.0.1 -p PORT`. Returns its exit code and its output (stdout and stderr).
    pub fn pgbench(&self, args: &[&str]) -> (i32, String) {
        crate::env::pgbench(&["-h", "127.0.0.1", "-p", &self.port.to_string()], args)
    }

    fn pid(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("pgbouncer.pid"))
            .ok()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill").arg(&pid).status();
            let alive =
                || std::process::Command::new("kill").args(["-0", &pid]).stderr(std::process::Stdio::null()).status();
            wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
                (!alive().map(|s| s.success()).unwrap_or(false)).then_some(())
            });
        }
    }
}
