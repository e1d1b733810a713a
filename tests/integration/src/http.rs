//! Key servers on loopback: scripts/http_fixture.py over HTTP or HTTPS (a CA made for the
//! suite), and its CONNECT proxy. Stopped when dropped.
//!
//! The server serves the files of its `www` directory; its special paths (`/slow/NAME` answers
//! after 3 s, `/maxage/N/NAME` with `Cache-Control: max-age=N`, `/redirect/NAME` answers 302,
//! `/status/CODE`; a folder named like the request's Host) are described in the script. Every
//! GET is one line of its request log ([`HttpServer::requests`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::env::{output, repo_root};
use crate::suite::{set_mode, wait_for, write_file, Suite};

/// A CA made for the suite and a server certificate it signs (scripts/lib.sh's
/// `make_test_tls`): `ca.pem`, `server.pem`, `server.key`, readable by the server, which trusts
/// the CA only where a test says so (`idp.tls_ca_file`).
pub struct Tls {
    pub dir: PathBuf,
}

impl Tls {
    /// Make them in `dir` for the names in `san` (an openssl subjectAltName list such as
    /// `IP:127.0.0.1,DNS:localhost`).
    pub fn make(dir: &Path, san: &str) -> Tls {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        let d = |f: &str| dir.join(f);
        output(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
                .arg(d("ca.key"))
                .arg("-out")
                .arg(d("ca.pem"))
                .args(["-days", "2", "-subj", "/CN=pg_idp test CA"]),
        );
        output(
            Command::new("openssl")
                .args(["req", "-newkey", "rsa:2048", "-nodes", "-keyout"])
                .arg(d("server.key"))
                .arg("-out")
                .arg(d("server.csr"))
                .args(["-subj", "/CN=pg_idp test server"]),
        );
        std::fs::write(d("san.ext"), format!("subjectAltName={san}\n")).expect("san.ext");
        output(
            Command::new("openssl")
                .args(["x509", "-req", "-in"])
                .arg(d("server.csr"))
                .arg("-CA")
                .arg(d("ca.pem"))
                .arg("-CAkey")
                .arg(d("ca.key"))
                .args(["-CAcreateserial", "-out"])
                .arg(d("server.pem"))
                .args(["-days", "2", "-extfile"])
                .arg(d("san.ext")),
        );
        set_mode(dir, 0o755);
        for f in std::fs::read_dir(dir).expect("the TLS directory").flatten() {
            set_mode(&f.path(), 0o644);
        }
        Tls { dir: dir.into() }
    }

    /// The CA's certificate (for `idp.tls_ca_file`).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

/// A child process killed (and waited for) when dropped.
pub struct Process {
    child: Option<Child>,
    what: String,
}

impl Process {
    /// Start `cmd` (its output going where `cmd` says).
    pub fn spawn(mut cmd: Command, what: &str) -> Process {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Process { child: Some(child), what: what.into() }
    }

    /// Start `cmd` and write its pid to `pid_file` (`process.pid` in the fixture's directory),
    /// where scripts/integration finds it to stop it if the test process itself is killed.
    pub fn spawn_with_pid_file(cmd: Command, what: &str, pid_file: &Path) -> Process {
        let p = Process::spawn(cmd, what);
        std::fs::write(pid_file, format!("{}\n", p.pid()))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", pid_file.display()));
        p
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Stop it now (SIGKILL) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// What it is (for messages).
    pub fn what(&self) -> &str {
        &self.what
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start a loopback server with `start(port)` on a free port, retrying with another port when
/// the process exits before it listens (a port taken meanwhile).
fn start_listening(what: &str, mut start: impl FnMut(u16) -> Process) -> (Process, u16) {
    for _ in 0..3 {
        let port = crate::net::free_port();
        let mut p = start(port);
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            if crate::net::listening(port) {
                Some(true)
            } else if !p.running() {
                Some(false)
            } else {
                None
            }
        });
        if up == Some(true) {
            return (p, port);
        }
    }
    panic!("{what} did not start listening");
}

/// scripts/http_fixture.py serving a directory over HTTP or HTTPS on 127.0.0.1.
pub struct HttpServer {
    process: Process,
    port: u16,
    www: PathBuf,
    requests: PathBuf,
    tls: bool,
}

impl HttpServer {
    /// Start one named `name` (its directory under the suite's: `www/` it serves, the request
    /// log); over HTTPS with `tls`'s certificate when given.
    pub fn start(suite: &Suite, name: &str, tls: Option<&Tls>) -> HttpServer {
        let dir = suite.subdir(name);
        let www = dir.join("www");
        std::fs::create_dir_all(&www).expect("the www directory");
        set_mode(&www, 0o755);
        let requests = dir.join("requests.log");
        let script = repo_root().join("scripts/http_fixture.py");
        let (process, port) = start_listening(name, |port| {
            let log = std::fs::File::create(&requests).expect("the request log");
            let mut cmd = Command::new("python3");
            cmd.arg(&script).arg(&www).arg(port.to_string());
            if let Some(t) = tls {
                cmd.arg(t.dir.join("server.pem")).arg(t.dir.join("server.key"));
            }
            cmd.stdout(log).stderr(Stdio::null()).stdin(Stdio::null());
            Process::spawn_with_pid_file(cmd, name, &dir.join("process.pid"))
        });
        suite.say(&format!("{name}: {} on 127.0.0.1:{port}", if tls.is_some() { "https" } else { "http" }));
        HttpServer { process, port, www, requests, tls: tls.is_some() }
    }

    /// `http://127.0.0.1:PORT` or `https://...`.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "https" } else { "http" }, self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory it serves.
    pub fn www(&self) -> &Path {
        &self.www
    }

    /// Serve `contents` at `path` (relative to the root, e.g. `auto.json` or
    /// `.well-known/openid-configuration`); replaced at once.
    pub fn put(&self, path: &str, contents: impl AsRef<[u8]>) {
        let file = self.www.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("a directory under www");
            set_mode(parent, 0o755);
        }
        write_file(&file, contents);
    }

    /// Stop serving `path` (a 404 from now on).
    pub fn remove(&self, path: &str) {
        let _ = std::fs::remove_file(self.www.join(path));
    }

    /// The requests so far, one `UNIX-TIME PATH` line each.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.requests).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// Its process's pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// scripts/http_fixture.py's CONNECT proxy: every CONNECT tunnelled to 127.0.0.1:TARGET;
/// with credentials, only a CONNECT that carries them.
pub struct ConnectProxy {
    _process: Process,
    port: u16,
}

impl ConnectProxy {
    /// Start it in front of `target_port`; `credentials` as `USER:PASSWORD`.
    pub fn start(suite: &Suite, target_port: u16, credentials: Option<&str>) -> ConnectProxy {
        let dir = suite.subdir("connect-proxy");
        let script = repo_root().join("scripts/http_fixture.py");
        let (process, port) = start_listening("the CONNECT proxy", |port| {
            let log = std::fs::File::create(dir.join("proxy.log")).expect("the proxy log");
            let mut cmd = Command::new("python3");
            cmd.arg(&script).arg("--connect-proxy").arg(port.to_string()).arg(target_port.to_string());
            if let Some(c) = credentials {
                cmd.arg(c);
            }
            cmd.stdout(log).stderr(Stdio::null()).stdin(Stdio::null());
            Process::spawn_with_pid_file(cmd, "the CONNECT proxy", &dir.join("process.pid"))
        });
        ConnectProxy { _process: process, port }
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }
}
