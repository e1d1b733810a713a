//! Fetching a provider's JWKS or OpenID configuration: HTTPS with the system's CA roots (or
//! `idp.tls_ca_file`), plain http only to loopback, no redirects, a size limit and a timeout.
//! URLs come only from the registry or from the superuser's `idp.discover` call, never from a
//! token. The proxy, when there is one, is `idp.http_proxy` or the content of
//! `idp.http_proxy_file`, read at each fetch; neither is ever echoed (they may carry credentials).
//!
//! Host names are resolved by `Resolver` below, on a thread that blocks every signal
//! (`pg::threads`): the C library's lookup cannot be given a time limit, so it runs on a thread
//! the fetch stops waiting for at its timeout. ureq's own resolver would start that thread with
//! the caller's signal mask, where a signal sent to the process (a reload, a termination) could
//! run PostgreSQL's handlers off the process's thread. An address needs no lookup and gets no
//! thread.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::pg::errors::FetchFailure;

/// Largest answer accepted, in bytes.
pub(super) const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Largest `idp.http_proxy_file` read, in bytes.
const MAX_PROXY_FILE_BYTES: u64 = 4096;

/// Where Debian's `ca-certificates` keeps the system's roots.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a fetch failed; each has a stable code, and a SQLSTATE through `pg::errors::raise_fetch`.
#[derive(Debug)]
pub(crate) enum FetchError {
    /// The URL itself is not allowed (scheme, host) or not a URL.
    BadUrl(String),
    /// Connecting, TLS, timeout, or a non-200 status.
    Failed(String),
    /// The answer is larger than `MAX_BODY_BYTES`.
    TooLarge,
    /// The answer is not JSON.
    NotJson,
    /// The proxy settings cannot be used (both set, the file unreadable, not a proxy URL); the
    /// message never holds the proxy URL.
    Proxy(String),
}

impl FetchError {
    /// The stable code (in the DETAIL of the raised error).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            FetchError::BadUrl(_) => "url_not_allowed",
            FetchError::Failed(_) => "fetch_failed",
            FetchError::TooLarge => "response_too_large",
            FetchError::NotJson => "invalid_response",
            FetchError::Proxy(_) => "proxy_misconfigured",
        }
    }

    /// Its kind, for the SQLSTATE.
    fn failure(&self) -> FetchFailure {
        match self {
            FetchError::BadUrl(_) | FetchError::NotJson | FetchError::Proxy(_) => FetchFailure::Refused,
            FetchError::Failed(_) => FetchFailure::Failed,
            FetchError::TooLarge => FetchFailure::TooLarge,
        }
    }

    /// Raise it as the failed fetch of `what` (a JWKS or an OpenID configuration) from `url`.
    pub(super) fn raise(self, what: &str, url: &str) -> ! {
        crate::pg::errors::raise_fetch(self.failure(), self.describe(what, url), self.code())
    }

    /// What went wrong fetching `what` (a JWKS, an OpenID configuration) from `url`. The URL is
    /// the registry's, never a token's, so it may be named.
    pub(crate) fn describe(&self, what: &str, url: &str) -> String {
        match self {
            FetchError::BadUrl(why) => format!("{what} URL {url} {why}"),
            FetchError::Failed(why) => format!("{what} at {url} {why}"),
            FetchError::TooLarge => format!("{what} at {url} is larger than {MAX_BODY_BYTES} bytes"),
            FetchError::NotJson => format!("{what} at {url} is not JSON"),
            FetchError::Proxy(why) => format!("{what} at {url} was not fetched: {why}"),
        }
    }
}

pub(crate) struct Fetched {
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server sent one (the worker refreshes sooner then).
    pub max_age: Option<u64>,
}

/// The host of an http(s) URL and whether the URL is https.
fn scheme_and_host(url: &str) -> Result<(bool, String), FetchError> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(FetchError::BadUrl("must start with https:// (or http:// to a loopback address)".into()));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(FetchError::BadUrl("must not carry credentials".into()));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_string()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_string()
    };
    if host.is_empty() {
        return Err(FetchError::BadUrl("has no host".into()));
    }
    Ok((https, host.to_ascii_lowercase()))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Check that `url` may be fetched (https anywhere, plain http only to loopback); true for https.
pub(super) fn check_url(url: &str) -> Result<bool, FetchError> {
    let (https, host) = scheme_and_host(url)?;
    if !https && !is_loopback(&host) {
        return Err(FetchError::BadUrl("plain http is allowed only to loopback addresses; use https".into()));
    }
    Ok(https)
}

fn root_certs(ca_file: Option<&str>) -> Result<RootCerts, FetchError> {
    let path = ca_file.unwrap_or(SYSTEM_CA_FILE);
    let pem = std::fs::read(path).map_err(|e| {
        FetchError::Failed(format!(
            "cannot read CA certificates from {path} ({e}); install ca-certificates or set idp.tls_ca_file"
        ))
    })?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(FetchError::Failed(format!("no CA certificates in {path}")));
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// The proxy of `idp.http_proxy` or `idp.http_proxy_file` (never both), read now.
fn configured_proxy() -> Result<Option<ureq::Proxy>, FetchError> {
    let (url, setting) = match (crate::pg::settings::http_proxy(), crate::pg::settings::http_proxy_file()) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(FetchError::Proxy(
                "idp.http_proxy and idp.http_proxy_file are both set; set only one of them".into(),
            ))
        }
        (Some(url), None) => (url, "idp.http_proxy"),
        (None, Some(path)) => (read_proxy_file(&path)?, "idp.http_proxy_file"),
    };
    parse_proxy(url.trim(), setting).map(Some)
}

/// A proxy URL; the error never holds it (it may carry credentials).
fn parse_proxy(url: &str, setting: &str) -> Result<ureq::Proxy, FetchError> {
    ureq::Proxy::new(url)
        .map_err(|_| FetchError::Proxy(format!("{setting} does not hold an http://[user:password@]host:port URL")))
}

/// The content of `idp.http_proxy_file`; errors name the file, never its content.
fn read_proxy_file(path: &str) -> Result<String, FetchError> {
    use std::io::Read;
    let what = format!("idp.http_proxy_file \"{}\"", path.escape_default());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_PROXY_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| FetchError::Proxy(format!("cannot read {what}: {}", e.kind())))?;
    if bytes.len() as u64 > MAX_PROXY_FILE_BYTES {
        return Err(FetchError::Proxy(format!("{what} is larger than {MAX_PROXY_FILE_BYTES} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| FetchError::Proxy(format!("{what} is not UTF-8 text")))?;
    if text.trim().is_empty() {
        return Err(FetchError::Proxy(format!("{what} is empty")));
    }
    Ok(text)
}

/// How a host name is looked up: `host:port` to its addresses. `system_lookup` but in tests.
pub(super) type Lookup = fn(&str) -> std::io::Result<Vec<SocketAddr>>;

/// The C library's lookup (getaddrinfo: /etc/hosts, DNS, as nsswitch.conf says).
pub(super) fn system_lookup(host_and_port: &str) -> std::io::Result<Vec<SocketAddr>> {
    host_and_port.to_socket_addrs().map(Iterator::collect)
}

/// Host name lookups of this process still running: those a fetch stopped waiting for (at its
/// timeout) go on until the C library gives up (resolv.conf's `timeout` and `attempts`).
static LOOKUPS_RUNNING: AtomicUsize = AtomicUsize::new(0);
/// A process starts no more lookups than this at once: past it, a fetch fails at once rather
/// than leave one more thread behind (a slow resolver and many fetches in one session).
pub(super) const MAX_LOOKUPS_RUNNING: usize = 4;
/// The name of the lookup threads (as /proc and `top -H` show them).
pub(crate) const LOOKUP_THREAD: &str = "pg_idp lookup";

/// ureq's resolver for pg_idp: addresses as they are, host names looked up on a thread that
/// blocks every signal, waited for within the fetch's time.
#[derive(Debug)]
struct Resolver {
    lookup: Lookup,
}

impl ureq::unversioned::resolver::Resolver for Resolver {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let target = match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => DefaultResolver::host_and_port(scheme, authority),
            _ => None,
        };
        let Some(target) = target else {
            return Err(ureq::Error::BadUri(format!("{uri} names no host and port")));
        };
        let found = match target.parse::<SocketAddr>() {
            Ok(address) => vec![address],
            Err(_) => lookup_on_thread(target, *timeout.after, timeout.reason, self.lookup)?,
        };
        let mut addresses = self.empty();
        for a in config.ip_family().keep_wanted(found.into_iter()) {
            if addresses.try_push(a).is_err() {
                break; // ureq keeps the first 16
            }
        }
        if addresses.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(addresses)
    }
}

/// Look `target` up on a thread that blocks every signal, waiting at most `limit`; a lookup
/// not done by then is left to finish on its own (its answer is dropped).
fn lookup_on_thread(
    target: String,
    limit: Duration,
    reason: ureq::Timeout,
    lookup: Lookup,
) -> Result<Vec<SocketAddr>, ureq::Error> {
    if LOOKUPS_RUNNING.fetch_add(1, Ordering::AcqRel) >= MAX_LOOKUPS_RUNNING {
        LOOKUPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
        return Err(ureq::Error::Io(std::io::Error::other(format!(
            "{MAX_LOOKUPS_RUNNING} host name lookups of this process have not ended yet (a slow resolver)"
        ))));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = crate::pg::threads::spawn_blocking_signals(LOOKUP_THREAD, move || {
        let found = lookup(&target);
        LOOKUPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
        // The fetch may have stopped waiting: then nobody receives this.
        let _ = tx.send(found);
    });
    if let Err(e) = spawned {
        LOOKUPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
        return Err(ureq::Error::Io(e));
    }
    match rx.recv_timeout(limit) {
        Ok(found) => found.map_err(ureq::Error::Io),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ureq::Error::Timeout(reason)),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(ureq::Error::Io(std::io::Error::other("the host name lookup ended without an answer")))
        }
    }
}

/// GET `url` and return its body (status 200 only), through `proxy` when one is given.
pub(super) fn fetch(
    url: &str,
    timeout: Duration,
    ca_file: Option<&str>,
    proxy: Option<ureq::Proxy>,
) -> Result<Fetched, FetchError> {
    fetch_with(url, timeout, ca_file, proxy, system_lookup)
}

/// `fetch`, with host names looked up by `lookup`.
pub(crate) fn fetch_with(
    url: &str,
    timeout: Duration,
    ca_file: Option<&str>,
    proxy: Option<ureq::Proxy>,
    lookup: Lookup,
) -> Result<Fetched, FetchError> {
    let https = check_url(url)?;
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    if https {
        tls = tls.root_certs(root_certs(ca_file)?);
    }
    // Only the configured proxy, never one from the server's environment.
    let config = ureq::Agent::config_builder()
        .proxy(proxy)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .https_only(false)
        .tls_config(tls.build())
        .user_agent("pg_idp")
        .build();
    let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), Resolver { lookup });
    let mut response =
        agent.get(url).header("Accept", "application/json").call().map_err(|e| FetchError::Failed(describe(&e)))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(FetchError::Failed(format!("answered {status} (a redirect, which pg_idp does not follow)")));
    }
    if status != 200 {
        return Err(FetchError::Failed(format!("answered HTTP {status}")));
    }
    let max_age = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').find_map(|d| d.trim().strip_prefix("max-age=")?.trim().parse::<u64>().ok()));
    let body = response.body_mut().with_config().limit(MAX_BODY_BYTES).read_to_vec().map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge,
        other => FetchError::Failed(describe(&other)),
    })?;
    Ok(Fetched { body, max_age })
}

/// GET `url` with the session's `idp.http_timeout`, `idp.tls_ca_file` and proxy (`idp.http_proxy`
/// or `idp.http_proxy_file`), and parse the answer as JSON; also `Cache-Control: max-age`, when
/// given.
pub(crate) fn fetch_json(url: &str) -> Result<(serde_json::Value, Option<u64>), FetchError> {
    check_url(url)?;
    let proxy = configured_proxy()?;
    let fetched =
        fetch(url, crate::pg::settings::http_timeout(), crate::pg::settings::tls_ca_file().as_deref(), proxy)?;
    let value = serde_json::from_slice(&fetched.body).map_err(|_| FetchError::NotJson)?;
    Ok((value, fetched.max_age))
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "did not answer in time (idp.http_timeout)".to_string(),
        other => format!("could not be fetched: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lookup that takes 3 s and finds nothing.
    fn slow_lookup(_: &str) -> std::io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(3));
        Err(std::io::Error::other("no such host"))
    }

    fn no_lookup(host_and_port: &str) -> std::io::Result<Vec<SocketAddr>> {
        Err(std::io::Error::other(format!("{host_and_port} was looked up")))
    }

    #[test]
    fn lookups_run_on_a_thread_that_blocks_every_signal() {
        use crate::pg::threads::proc_status::{blocked, this_thread, threads_named, unblocked};
        let own = blocked(this_thread());
        let started = std::time::Instant::now();
        let err = fetch_with("http://localhost:9/jwks.json", Duration::from_millis(300), None, None, slow_lookup)
            .err()
            .expect("a lookup of 3 s, given 300 ms");
        assert!(matches!(&err, FetchError::Failed(m) if m.contains("did not answer in time")), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2), "the fetch waited for the lookup");
        // The lookup goes on, on its own thread, blocking every signal.
        let lookups = threads_named(LOOKUP_THREAD);
        assert!(!lookups.is_empty(), "no {LOOKUP_THREAD} thread");
        for tid in lookups {
            assert_eq!(unblocked(blocked(tid)), Vec::<i32>::new(), "signals thread {tid} does not block");
        }
        // The caller's own mask is as it was.
        assert_eq!(blocked(this_thread()), own);
    }

    #[test]
    fn control_a_thread_started_plainly_blocks_what_its_creator_blocks() {
        use crate::pg::threads::proc_status::{blocked, this_thread, unblocked};
        // This test's thread blocks no signal (the harness's threads block none).
        assert!(unblocked(blocked(this_thread())).contains(&libc::SIGHUP));
        let (tx, rx) = mpsc::channel();
        let plain = std::thread::spawn(move || {
            tx.send(blocked(this_thread())).unwrap();
        });
        let mask = rx.recv().unwrap();
        plain.join().unwrap();
        let open = unblocked(mask);
        for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2] {
            assert!(open.contains(&signal), "signal {signal} is blocked in {mask:x}");
        }
    }

    #[test]
    fn addresses_are_not_looked_up() {
        // 127.0.0.1:9 (discard) refuses the connection; a lookup would fail first, naming it.
        let err = fetch_with("http://127.0.0.1:9/jwks.json", Duration::from_secs(2), None, None, no_lookup)
            .err()
            .expect("nothing listens on 127.0.0.1:9");
        assert!(matches!(&err, FetchError::Failed(m) if !m.contains("was looked up")), "{err:?}");
        let err = fetch_with("http://localhost:9/jwks.json", Duration::from_secs(2), None, None, no_lookup)
            .err()
            .expect("a name is looked up");
        assert!(matches!(&err, FetchError::Failed(m) if m.contains("localhost:9 was looked up")), "{err:?}");
    }

    #[test]
    fn urls() {
        assert!(check_url("https://acme.clerk.accounts.dev/.well-known/jwks.json").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(check_url("http://localhost/jwks.json").is_ok());
        assert!(check_url("http://[::1]:9/jwks.json").is_ok());
        assert!(check_url("http://example.com/jwks.json").is_err());
        assert!(check_url("http://127.0.0.1.evil.com/jwks.json").is_err());
        assert!(check_url("ftp://x/jwks.json").is_err());
        assert!(check_url("https://user:pw@x/jwks.json").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
    }

    #[test]
    fn proxy_errors_never_echo_the_proxy() {
        let Err(FetchError::Proxy(why)) = parse_proxy("ftp://user:hunter2@nowhere", "idp.http_proxy_file") else {
            panic!("an ftp proxy was accepted")
        };
        assert!(!why.contains("hunter2") && !why.contains("nowhere"), "{why}");
        assert!(parse_proxy("http://user:hunter2@127.0.0.1:3128", "idp.http_proxy").is_ok());
        let dir = std::env::temp_dir().join(format!("pg_idp_proxy_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proxy.url");
        std::fs::write(&file, "http://user:hunter2@127.0.0.1:3128\n").unwrap();
        assert_eq!(read_proxy_file(file.to_str().unwrap()).unwrap().trim(), "http://user:hunter2@127.0.0.1:3128");
        std::fs::write(&file, "  \n").unwrap();
        assert!(
            matches!(read_proxy_file(file.to_str().unwrap()), Err(FetchError::Proxy(m)) if m.ends_with("is empty"))
        );
        std::fs::write(&file, "x".repeat(5000)).unwrap();
        assert!(matches!(read_proxy_file(file.to_str().unwrap()), Err(FetchError::Proxy(m)) if !m.contains("xxx")));
        let missing = dir.join("missing");
        assert!(
            matches!(read_proxy_file(missing.to_str().unwrap()), Err(FetchError::Proxy(m)) if m.contains("cannot read"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
