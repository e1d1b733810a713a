//! A suite: its named checks, its private directory, and the secrets its fixtures made.
//!
//! Each suite is one `#[test]` that calls [`run`]. A check prints `ok - NAME`, or `not ok - NAME`
//! with what was expected and what came, exactly as the bash suites' `check` did; the suite ends
//! with one line `suite NAME: N passed, N failed`, which scripts/integration sums into its
//! `integration: N passed, N failed`, and the `#[test]` fails when any check failed. A panic in
//! the suite (a fixture that could not start, an SQL error where none was expected) counts as one
//! failed check and ends the suite; every fixture is still stopped (their `Drop`), and every
//! cluster's server log is still checked for crashes and leaked secrets as the cluster stops.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// What a suite's fixtures share: its name, directory, counts and secrets. Cheap to clone.
#[derive(Clone)]
pub struct Suite {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    dir: PathBuf,
    passed: AtomicU32,
    failed: AtomicU32,
    secrets: Mutex<Vec<Secret>>,
}

/// Something no server log may hold.
#[derive(Clone)]
struct Secret {
    name: String,
    value: String,
    /// A private key or shared secret (also searched for by a piece of its middle), rather than
    /// a token or another fixture value (also searched for by its signature segment).
    private: bool,
}

/// Run the suite `name`: `body` gets the [`Suite`] its fixtures and checks use. Prints the
/// suite's count line and panics (failing the `#[test]`) when a check failed.
pub fn run(name: &str, body: impl FnOnce(&Suite)) {
    let suite = Suite::new(name);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(&suite)));
    if let Err(payload) = outcome {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        suite.inner.failed.fetch_add(1, Ordering::SeqCst);
        println!("not ok - {name}: the suite stopped early: {}", message.lines().next().unwrap_or(""));
    }
    let (passed, failed) = suite.counts();
    println!("suite {name}: {passed} passed, {failed} failed");
    if std::env::var_os("KEEP_CLUSTER").is_none() {
        let _ = std::fs::remove_dir_all(&suite.inner.dir);
    } else {
        eprintln!("{name}: kept {}", suite.inner.dir.display());
    }
    assert_eq!(failed, 0, "{name}: {failed} check(s) failed");
}

impl Suite {
    fn new(name: &str) -> Suite {
        // Under /tmp (or PG_IDP_ITEST_DIR, where scripts/integration collects every suite's
        // directory so that it can stop what a killed run left): the 17 root binds the host's
        // /tmp, so its server sees the same paths.
        let base = std::env::var_os("PG_IDP_ITEST_DIR").map(PathBuf::from).unwrap_or_else(|| "/tmp".into());
        let dir = tempfile::Builder::new()
            .prefix(&format!("pg_idp_itest.{name}."))
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("cannot make a directory in {}: {e}", base.display()))
            .keep();
        set_mode(&dir, 0o755);
        Suite {
            inner: Arc::new(Inner {
                name: name.into(),
                dir,
                passed: AtomicU32::new(0),
                failed: AtomicU32::new(0),
                secrets: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The suite's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The suite's private directory (0755, removed when the suite ends unless `KEEP_CLUSTER`
    /// is set); every fixture keeps its files under it.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// A new directory `name` under the suite's directory (0755).
    pub fn subdir(&self, name: &str) -> PathBuf {
        let d = self.inner.dir.join(name);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("cannot make {}: {e}", d.display()));
        set_mode(&d, 0o755);
        d
    }

    /// A named check: passes when `actual` is exactly `expected`. Returns whether it passed.
    pub fn check(&self, name: &str, expected: impl AsRef<str>, actual: impl AsRef<str>) -> bool {
        let (expected, actual) = (expected.as_ref(), actual.as_ref());
        if expected == actual {
            self.inner.passed.fetch_add(1, Ordering::SeqCst);
            println!("ok - {name}");
            true
        } else {
            self.inner.failed.fetch_add(1, Ordering::SeqCst);
            println!("not ok - {name}\n    expected: {expected}\n    actual:   {actual}");
            false
        }
    }

    /// Checks passed and failed so far.
    pub fn counts(&self) -> (u32, u32) {
        (self.inner.passed.load(Ordering::SeqCst), self.inner.failed.load(Ordering::SeqCst))
    }

    /// A progress line on standard error (`==> suite: what`).
    pub fn say(&self, what: &str) {
        eprintln!("\x1b[1m==> {}: {what}\x1b[0m", self.inner.name);
    }

    /// Record a fixture value no server log may hold: a token (also searched for by its
    /// signature segment), a JWKS, a secret. Values shorter than 16 characters are not searched
    /// for (as in the bash suites' check).
    pub fn secret_value(&self, name: &str, value: &str) {
        self.push_secret(name, value, false);
    }

    /// Record a private key (PKCS#8, base64url) or a shared secret: searched for whole and by
    /// the 32 characters of its middle.
    pub fn secret_private(&self, name: &str, value: &str) {
        self.push_secret(name, value, true);
    }

    fn push_secret(&self, name: &str, value: &str, private: bool) {
        if value.len() >= 16 {
            let mut s = self.inner.secrets.lock().unwrap_or_else(|e| e.into_inner());
            s.push(Secret { name: name.into(), value: value.into(), private });
        }
    }

    /// The checks every server log gets when its cluster stops: no process terminated by a
    /// signal, and no token, signature, private key or secret of the suite's fixtures in it.
    pub(crate) fn log_checks(&self, label: &str, log: &Path) {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        let suite = self.name();
        let crashes = text.lines().filter(|l| l.contains("terminated by signal")).count();
        self.check(&format!("no backend crashed ({suite} suite, {label})"), "0", crashes.to_string());
        let audit_lines = text.lines().filter(|l| l.contains("pg_idp: token ")).count();
        let leaks = self.leaks_in(&text);
        self.check(
            &format!(
                "no token, signature, private key or secret of the fixtures in the server log ({suite} suite, {label}, {audit_lines} audit lines)"
            ),
            "0",
            leaks.to_string(),
        );
    }

    /// How many of the suite's secrets `log` holds (each one found is described on stderr,
    /// the secret itself masked).
    fn leaks_in(&self, log: &str) -> usize {
        let secrets = self.inner.secrets.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut n = 0;
        for s in &secrets {
            let v = &s.value;
            if s.private {
                let mid = v.len() / 2;
                let piece = v.get(mid.saturating_sub(16)..(mid + 16).min(v.len())).unwrap_or(v);
                if log.contains(v.as_str()) || log.contains(piece) {
                    eprintln!("    a private key or secret ({}) in the log", s.name);
                    n += 1;
                }
                continue;
            }
            if v.matches('.').count() >= 2 {
                let sig = v.rsplit('.').next().unwrap_or("");
                if sig.len() >= 16 && log.contains(sig) {
                    eprintln!("    signature of {} in the log", s.name);
                    n += 1;
                }
            }
            if let Some(line) = log.lines().find(|l| l.contains(v.as_str())) {
                let masked: String = line.replace(v.as_str(), "<token>").chars().take(300).collect();
                eprintln!("    {} in the log, in a line such as (the token masked):\n      {masked}", s.name);
                n += 1;
            }
        }
        n
    }
}

/// chmod.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Give `path` to the postgres OS user when we are root (a directory its server writes in).
pub fn give_to_postgres(path: &Path) {
    if let Some((uid, gid)) = crate::env::postgres_ids() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("cannot chown {} to postgres: {e}", path.display()));
    }
}

/// Write `contents` to `path` (mode 0644), replacing it at once (a rename), so that a server
/// reading it never sees half a file.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    let tmp = path.with_extension("tmp-new");
    std::fs::write(&tmp, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", tmp.display()));
    set_mode(&tmp, 0o644);
    std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Poll `probe` every `every` until it gives `Some` or `bound` has passed: a bounded wait for
/// something the server does on its own (never a timing assertion: the bound only keeps a broken
/// run from hanging). The last `Err`-like answer is what the caller checks.
pub fn wait_for<T>(
    bound: std::time::Duration,
    every: std::time::Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() >= bound {
            return None;
        }
        std::thread::sleep(every);
    }
}
