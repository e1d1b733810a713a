//! A throwaway PostgreSQL cluster, and a hot standby of one.
//!
//! `initdb` and the server run as the `postgres` OS user (PostgreSQL refuses root), in a
//! directory of the suite's, listening only on a unix socket there (`listen_addresses = ''`),
//! with trust authentication. When the [`Cluster`] is dropped (at the end of the suite, or while
//! a panic unwinds), its server log gets the suite's log checks (no crash, no fixture secret),
//! then the server is stopped (`-m immediate`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::conn::{Conn, Target};
use crate::env::{run_logged, Pg};
use crate::suite::{give_to_postgres, set_mode, write_file, Suite};

/// A running cluster (see the module's comment).
pub struct Cluster {
    suite: Suite,
    label: String,
    dir: PathBuf,
    port: u16,
    settings: Vec<(String, String)>,
    running: bool,
}

/// A port number for a server that listens only on a unix socket: it names the socket file,
/// which lives in the cluster's own directory, so any number will do; a free TCP port is taken
/// anyway, so that the number means the same to someone reading a log.
fn socket_port() -> u16 {
    crate::net::free_port()
}

impl Cluster {
    /// `initdb` and start a new cluster named `label` (its directory, and its name in the log
    /// checks), with `settings` given to the server on its command line (`-c name=value`).
    pub fn start(suite: &Suite, label: &str, settings: &[(&str, &str)]) -> Cluster {
        let pg = Pg::get();
        let dir = suite.subdir(label);
        give_to_postgres(&dir);
        let mut c = Cluster {
            suite: suite.clone(),
            label: label.into(),
            dir: dir.clone(),
            port: socket_port(),
            settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            running: false,
        };
        suite.say(&format!("{label}: initdb and start PostgreSQL {}", pg.version));
        run_logged(
            pg.cmd_as_postgres("initdb").arg("-D").arg(c.data()).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-instructions",
                "-E",
                "UTF8",
                "--locale=C",
            ]),
            &dir.join("initdb.log"),
        );
        c.pg_ctl_start();
        c
    }

    /// A hot standby of `primary`, made with `pg_basebackup -R -X stream -c fast` and started
    /// with `hot_standby = on` and `settings`.
    pub fn standby_of(suite: &Suite, label: &str, primary: &Cluster, settings: &[(&str, &str)]) -> Cluster {
        let pg = Pg::get();
        let dir = suite.subdir(label);
        give_to_postgres(&dir);
        let mut all = vec![("hot_standby".to_string(), "on".to_string())];
        all.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut c = Cluster {
            suite: suite.clone(),
            label: label.into(),
            dir: dir.clone(),
            port: socket_port(),
            settings: all,
            running: false,
        };
        suite.say(&format!("{label}: pg_basebackup of {} and start as a hot standby", primary.label));
        run_logged(
            pg.cmd_as_postgres("pg_basebackup")
                .arg("-h")
                .arg(primary.socket_dir())
                .args(["-p", &primary.port.to_string(), "-U", "postgres", "-D"])
                .arg(c.data())
                .args(["-R", "-X", "stream", "-c", "fast"]),
            &dir.join("basebackup.log"),
        );
        c.pg_ctl_start();
        c
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The directory of its unix socket (its `host`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The port (names the socket file).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its label (its directory's name under the suite's).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The server's command-line options: the private socket, no TCP, and the settings.
    fn options(&self) -> String {
        let mut o =
            format!("-c listen_addresses='' -c unix_socket_directories='{}' -p {}", self.dir.display(), self.port);
        for (k, v) in &self.settings {
            // pg_ctl hands -o to a shell: one single-quoted word per setting.
            o.push_str(&format!(" -c '{}={}'", k, v.replace('\'', r"'\''")));
        }
        o
    }

    fn pg_ctl_start(&mut self) {
        let pg = Pg::get();
        run_logged(
            pg.cmd_as_postgres("pg_ctl").arg("-D").arg(self.data()).arg("-l").arg(self.log_path()).args([
                "-w",
                "-t",
                "60",
                "-o",
                &self.options(),
                "start",
            ]),
            &self.dir.join("pg_ctl.log"),
        );
        self.running = true;
    }

    /// Take these settings instead of the ones it has (from its next start): a setting given
    /// with an empty value is dropped.
    fn change_settings(&mut self, settings: &[(&str, &str)]) {
        for (k, v) in settings {
            self.settings.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.settings.push((k.to_string(), v.to_string()));
            }
        }
    }

    /// Restart (`pg_ctl restart -m fast`) with these settings instead of the ones it has: a
    /// setting given here with an empty value is dropped. For example
    /// `restart(&[("shared_preload_libraries", "pg_idp")])`.
    pub fn restart(&mut self, settings: &[(&str, &str)]) {
        self.change_settings(settings);
        self.suite.say(&format!("{}: restart with {:?}", self.label, self.settings));
        let pg = Pg::get();
        run_logged(
            pg.cmd_as_postgres("pg_ctl").arg("-D").arg(self.data()).arg("-l").arg(self.log_path()).args([
                "-w",
                "-t",
                "60",
                "-m",
                "fast",
                "-o",
                &self.options(),
                "restart",
            ]),
            &self.dir.join("pg_ctl.log"),
        );
        self.running = true;
    }

    /// Start the server again after [`Cluster::stop`], with `settings` changed as
    /// [`Cluster::restart`] changes them, its `pg_ctl start` (run as postgres, as always) given
    /// as the last arguments to `wrapper`: a program and its first arguments that prepare
    /// something for the postmaster and then exec the rest, such as `unshare --mount ... sh -c
    /// '...; exec "$@"'` (a mount namespace of its own, which the postmaster keeps; the signals
    /// suite's private /etc/resolv.conf); with no wrapper, started as usual. The server log goes
    /// on in the same file.
    pub fn start_through(&mut self, wrapper: &[&OsStr], settings: &[(&str, &str)]) {
        assert!(!self.running, "{}: start_through needs a stopped server", self.label);
        self.change_settings(settings);
        self.suite.say(&format!("{}: start through {:?} with {:?}", self.label, wrapper, self.settings));
        let mut pg_ctl = Pg::get().cmd_as_postgres("pg_ctl");
        pg_ctl.arg("-D").arg(self.data()).arg("-l").arg(self.log_path()).args([
            "-w",
            "-t",
            "60",
            "-o",
            &self.options(),
            "start",
        ]);
        match wrapper.split_first() {
            Some((program, first)) => {
                let mut cmd = Command::new(program);
                cmd.args(first).args(command_line(&pg_ctl));
                run_logged(&mut cmd, &self.dir.join("pg_ctl.log"));
            }
            None => run_logged(&mut pg_ctl, &self.dir.join("pg_ctl.log")),
        }
        self.running = true;
    }

    /// Stop the server now (`-m fast`); dropping the cluster does it anyway.
    pub fn stop(&mut self) {
        if self.running {
            let pg = Pg::get();
            run_logged(
                pg.cmd_as_postgres("pg_ctl").arg("-D").arg(self.data()).args(["-m", "fast", "-w", "stop"]),
                &self.dir.join("pg_ctl.log"),
            );
            self.running = false;
        }
    }

    /// Stop the server now (`pg_ctl -m fast -w -t 60 stop`) where the stop itself is under test:
    /// pg_ctl's exit code (0: stopped), its output in the cluster's `pg_ctl.log`. A server that
    /// still runs after a failed stop is stopped at once when the cluster is dropped.
    pub fn try_stop(&mut self) -> i32 {
        let rc = self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"]);
        self.running = rc != 0 && self.postmaster_pid().is_some();
        rc
    }

    /// `pg_ctl -D DATA ARGS` as postgres, for what an operator does by hand (`reload`): its exit
    /// code, its output appended to the cluster's `pg_ctl.log`.
    pub fn pg_ctl(&self, args: &[&str]) -> i32 {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("pg_ctl.log"))
            .and_then(|f| Ok((f.try_clone()?, f)));
        let mut cmd = Pg::get().cmd_as_postgres("pg_ctl");
        cmd.arg("-D").arg(self.data()).args(args);
        match log {
            Ok((out, err)) => cmd.stdout(out).stderr(err),
            Err(_) => cmd.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        cmd.status().ok().and_then(|s| s.code()).unwrap_or(-1)
    }

    /// The postmaster's pid (the first line of `postmaster.pid`), while it runs.
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Where to connect: `postgres` in database `postgres`; see [`Target`]'s `db`, `user`, `app`.
    pub fn target(&self) -> Target {
        Target {
            host: self.dir.display().to_string(),
            port: self.port,
            user: "postgres".into(),
            dbname: "postgres".into(),
            application_name: None,
        }
    }

    /// A session as `postgres` in database `db`.
    pub fn conn(&self, db: &str) -> Conn {
        self.target().db(db).connect()
    }

    /// A session as `user` in database `db`.
    pub fn conn_as(&self, db: &str, user: &str) -> Conn {
        self.target().db(db).user(user).connect()
    }

    /// `CREATE DATABASE name` (as createdb does).
    pub fn createdb(&self, name: &str) {
        self.conn("postgres").batch(&format!("CREATE DATABASE {name}"));
    }

    /// Its pg_hba.conf as it is now.
    pub fn hba(&self) -> String {
        let path = self.data().join("pg_hba.conf");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// Replace its pg_hba.conf with `contents` (the postgres OS user's, 0600, replaced at once);
    /// it takes effect at the next reload (`SELECT pg_reload_conf()`) or restart.
    pub fn set_hba(&self, contents: &str) {
        let path = self.data().join("pg_hba.conf");
        write_file(&path, contents);
        set_mode(&path, 0o600);
        give_to_postgres(&path);
    }

    /// What pg_idp's launcher says of database `db` (`column` of its row of
    /// `idp.served_databases()`, read through database `via`, which has pg_idp); empty when the
    /// launcher keeps no entry for it.
    pub fn served(&self, via: &str, db: &str, column: &str) -> String {
        self.conn(via).q(&format!(
            "SELECT {column} FROM idp.served_databases() WHERE datid = (SELECT oid FROM pg_database WHERE datname = {})",
            crate::conn::lit(db)
        ))
    }

    /// The server log.
    pub fn log(&self) -> ServerLog {
        ServerLog { path: self.log_path() }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// `pgbench` of this PostgreSQL against this cluster's socket, as the caller (root):
    /// `args` after the connection options; the script files must be readable (0644). Returns
    /// its exit code and its output (stdout and stderr).
    pub fn pgbench(&self, args: &[&str]) -> (i32, String) {
        crate::env::pgbench(&["-h", &self.dir.display().to_string(), "-p", &self.port.to_string()], args)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The checks run while the server still runs (as the bash suites' final checks did),
        // then it is stopped at once. Nothing here may panic: this may run while a panic unwinds.
        self.suite.log_checks(&self.label, &self.log_path());
        if self.running {
            let _ = Pg::get()
                .cmd_as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// A server log: read it whole, or from an offset (its size before something was done).
pub struct ServerLog {
    path: PathBuf,
}

impl ServerLog {
    /// Its size now: an offset to read from later ([`ServerLog::since`]).
    pub fn offset(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// All of it.
    pub fn text(&self) -> String {
        self.since(0)
    }

    /// What was written after `offset`.
    pub fn since(&self, offset: u64) -> String {
        let bytes = std::fs::read(&self.path).unwrap_or_default();
        let from = (offset as usize).min(bytes.len());
        String::from_utf8_lossy(&bytes[from..]).into_owned()
    }

    /// How many lines hold `needle` (as `grep -cF`).
    pub fn count(&self, needle: &str) -> usize {
        count_lines(&self.text(), needle)
    }

    /// How many lines written after `offset` hold `needle`.
    pub fn count_since(&self, offset: u64, needle: &str) -> usize {
        count_lines(&self.since(offset), needle)
    }

    /// The first line written after `offset` that holds `needle`, waiting for it up to `bound`
    /// (`None` if none came).
    pub fn wait_for_line(&self, offset: u64, needle: &str, bound: std::time::Duration) -> Option<String> {
        crate::suite::wait_for(bound, std::time::Duration::from_millis(100), || {
            self.since(offset).lines().find(|l| l.contains(needle)).map(str::to_string)
        })
    }
}

/// A command as one argument list (`env NAME=VALUE ... PROGRAM ARGS`), to be run by another
/// program (see [`Cluster::start_through`]).
fn command_line(cmd: &Command) -> Vec<OsString> {
    let mut argv = Vec::new();
    let envs: Vec<OsString> = cmd
        .get_envs()
        .filter_map(|(k, v)| {
            v.map(|v| {
                let mut kv = k.to_os_string();
                kv.push("=");
                kv.push(v);
                kv
            })
        })
        .collect();
    if !envs.is_empty() {
        argv.push(OsString::from("env"));
        argv.extend(envs);
    }
    argv.push(cmd.get_program().to_os_string());
    argv.extend(cmd.get_args().map(OsStr::to_os_string));
    argv
}

/// How many lines of `text` hold `needle` (as `grep -cF`).
pub fn count_lines(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}
