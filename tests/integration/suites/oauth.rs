//! Logging in with a provider's token (PostgreSQL 18: pg_idp as the OAuth validator); skipped,
//! and said so, on older versions.
//!
//! Which client, and why:
//! - Real clients with tokens a real provider issued (the main path): psql, psycopg 3 and a plain
//!   libpq program (tests/oauth/oauth_client.c with no hook set: PQconnectdb alone) run libpq's
//!   own OAuth flow, the device flow, against the test OpenID Provider (tests/oidc: oidc-provider
//!   over HTTPS, the CA trusted through the system store in a private mount namespace); headless
//!   Chromium plays the person (tests/oidc/person.mjs). Covers: psql's prompt; alice and bob
//!   logged in, RLS on todos showing each their own rows; a login per key family (RS256, ES256,
//!   PS256, EdDSA: one per client); the identity functions and system_user; and the refusals
//!   that happen on the way: a denied consent, an expired device code, a user whose token lacks
//!   the role claim, and a client that does not trust the provider's certificate.
//! - The hook client (tests/oauth/oauth_client.c handing the token over through
//!   PQsetAuthDataHook, as PostgreSQL's own oauth_hook_client does) with tokens minted here by
//!   the core's `sign` feature: wherever the token must be of a shape or a key no provider would
//!   issue on request: expired, forged, wrong audience, unknown issuer, a shared-secret (HS256)
//!   provider, revoked users and deprovisioned ones (a chosen sub and iat), role claims naming
//!   other roles, subs that pg_ident.conf maps to privileged roles, keys rotated with set_jwks
//!   and providers registered after start, and the cases that need many logins or a long-lived
//!   session: the session identity (request tokens override it, a request that sets request.jwt
//!   to '' or PostgREST's headers without a token is anonymous, it expires with the token,
//!   revocation and deprovisioning reach it, parallel workers see it), 20 concurrent logins with
//!   one token, a standby, two databases with different providers, and idp.log_failures (off,
//!   and the bound of idp.log_failures_max lines per window).
//!
//! Authorization, not only authentication (each with its control): the token's issuer must be
//! the one the pg_hba.conf line names (an identifier, or a discovery URL of either kind); a
//! provider with login must name an audience (login.audience, by default its audience), and a
//! login token issued for another API is refused; every scope the line names but OpenID
//! Connect's own must be in the token (scope, scp, or login.scope_claim); role claims that are
//! arrays, groups mapped to roles (login.group_roles), and idp.groups() in the session; members
//! of pg_monitor, pg_read_all_stats, pg_read_all_settings, pg_signal_backend, pg_maintain and
//! pg_create_subscription refused unless named; a login provider stored by 0.5.0 without an
//! audience, refused with a line saying what to set; idp.stats counting logins by reason. With
//! libpq's own flow: a client whose token lacks the line's database scope, a token requested for
//! another resource, and a second issuer on another line (a second OpenID Provider).
//!
//! The hook client's logins go through a line that names the token's issuer ([`Oauth::use_line`]
//! rewrites the oauth lines and reloads), as a correct configuration would; a [`Via`] naming
//! another line overrides it where another issuer's line is the point.
//!
//! Also covered with it: which roles a token may become (delegate_ident_mapping=1 with
//! login.roles and a role claim, a pg_ident.conf map; privileged roles refused unless named:
//! superuser, BYPASSRLS, REPLICATION, CREATEROLE, pg_read_all_data directly and through another
//! role, the owner of a table under enable_rls; the database's owner keeps pg_database_owner);
//! every failure refused with a generic message, one log line with provider, kid and code, and
//! no token or secret in the log; what the validator reads of the connection (src/oauth_shim.c:
//! role, database, the line's mode) against what each client asked for, and a database that
//! does not exist.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use pg_idp_itests::env::{output, repo_root, run_logged};
use pg_idp_itests::suite::give_to_postgres;
use pg_idp_itests::{
    lit, run, todos_app, wait_for, write_file, Alg, Cluster, Fixtures, Key, OpenIdProvider, Person, Pg, Process, Suite,
    Trust,
};
use regex::Regex;
use serde_json::{json, Value};

/// Roles that are privileged (an attribute, a predefined role, a table's ownership): each goes
/// through a `map=oauth` line, and is refused unless login.roles names it.
const PRIVILEGED_ROLES: &str = "repl_login,createrole_login,readall_login,readall_via_login,owner_login,monitor_login,readstats_login,readsettings_login,signal_login,maintain_login,subscription_login,viasuper_login,viabypass_login,viarepl_login,viacreaterole_login";

const IDENT: &str = "oauth  login_ed:user_mapped  mapped_user
oauth  login_ed:user_bypass  bypass_login
oauth  login_ed:user_repl  repl_login
oauth  login_ed:user_createrole  createrole_login
oauth  login_ed:user_readall  readall_login
oauth  login_ed:user_readall_via  readall_via_login
oauth  login_ed:user_owner  owner_login
oauth  login_ed:user_monitor  monitor_login
oauth  login_ed:user_readstats  readstats_login
oauth  login_ed:user_readsettings  readsettings_login
oauth  login_ed:user_signal  signal_login
oauth  login_ed:user_maintain  maintain_login
oauth  login_ed:user_subscription  subscription_login
oauth  login_ed:user_viasuper  viasuper_login
oauth  login_ed:user_viabypass  viabypass_login
oauth  login_ed:user_viarepl  viarepl_login
oauth  login_ed:user_viacreaterole  viacreaterole_login
oauth  /^login_named:(.*_login)$  \\1
";

// ---- text as the bash pipelines made it ----

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("a bad regex {pattern}: {e}"))
}

/// `grep -oE PATTERN`: every match, line by line.
fn grep_o(pattern: &str, text: &str) -> Vec<String> {
    let r = re(pattern);
    text.lines().flat_map(|l| r.find_iter(l).map(|m| m.as_str().to_string()).collect::<Vec<_>>()).collect()
}

/// `grep -oE PATTERN | head -n1`.
fn first(pattern: &str, text: &str) -> String {
    grep_o(pattern, text).into_iter().next().unwrap_or_default()
}

/// `grep -cE PATTERN`: the lines that match.
fn grep_c(pattern: &str, text: &str) -> usize {
    let r = re(pattern);
    text.lines().filter(|l| r.is_match(l)).count()
}

/// `grep -cF NEEDLE`.
fn count_f(needle: &str, text: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

/// `grep -F NEEDLE | tail -n1`.
fn last_with(needle: &str, text: &str) -> String {
    text.lines().rfind(|l| l.contains(needle)).unwrap_or("").to_string()
}

/// The lines of `text` joined by `sep` (`tr '\n' SEP | sed 's/SEP$//'`).
fn joined(text: &str, sep: &str) -> String {
    text.lines().collect::<Vec<_>>().join(sep)
}

/// What `$(cat FILE)` gives: the file without its trailing newlines.
fn cat(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).trim_end_matches('\n').to_string()
}

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    PathBuf::from(format!("{}.{ext}", path.display()))
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A login token's claims: for urn:pg-idp:db with scope "openid db" unless `claims` say
/// otherwise (`"aud": null`, `"scope": null`: none).
fn login_claims(claims: Value) -> Value {
    let Value::Object(mut m) = claims else { panic!("claims must be an object") };
    m.entry("aud").or_insert(json!("urn:pg-idp:db"));
    m.entry("scope").or_insert(json!("openid db"));
    m.retain(|_, v| !v.is_null());
    Value::Object(m)
}

/// The (unverified) iss of a token, empty when it has none.
fn iss_of_token(token: &str) -> String {
    let Some(payload) = token.split('.').nth(1) else { return String::new() };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')) else {
        return String::new();
    };
    match serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v.get("iss").cloned()) {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// What PostgreSQL tells a client of a line's issuer: its discovery URL (libpq maps it back to
/// the issuer, which must be the client's oauth_issuer).
fn discovery_of(issuer: &str) -> String {
    if issuer.contains("/.well-known/") {
        issuer.to_string()
    } else {
        format!("{issuer}/.well-known/openid-configuration")
    }
}

/// `pg_config FLAG` of the PostgreSQL under test.
fn pg_config(flag: &str) -> String {
    let config = std::env::var("PG_CONFIG")
        .ok()
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Pg::get().bin.join("pg_config"));
    output(Command::new(config).arg(flag)).trim().to_string()
}

/// Octal permission bits of a file, as `stat -c %a`.
fn mode_of(path: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| format!("{:o}", m.permissions().mode() & 0o7777)).unwrap_or_default()
}

/// Which pg_hba.conf line a login goes through: by default, one naming its token's issuer and
/// scope "openid db"; `line` names another issuer (or a discovery URL), `scope` another scope.
#[derive(Clone, Copy, Default)]
struct Via<'v> {
    line: Option<&'v str>,
    scope: Option<&'v str>,
}

const PLAIN: Via<'static> = Via { line: None, scope: None };

fn line(issuer: &str) -> Via<'_> {
    Via { line: Some(issuer), scope: None }
}

fn scoped(scope: &str) -> Via<'_> {
    Via { line: None, scope: Some(scope) }
}

/// What the oauth lines name now.
struct Lines {
    issuer: String,
    scope: String,
    /// A line of its own before the oauth lines (the second provider's, for app2).
    extra: String,
}

/// Write pg_hba.conf in `data`: postgres by trust; app_user, super_login, super_named and the
/// others with delegate_ident_mapping=1 (pg_idp decides); mapped_user, bypass_login and the
/// privileged roles through the pg_ident.conf map; the rest by trust. The oauth lines name the
/// issuer and scope of `l`.
fn write_hba(data: &Path, l: &Lines) {
    let opts = format!("issuer=\"{}\" scope=\"{}\"", l.issuer, l.scope);
    let hba = format!(
        "local all postgres trust
local replication postgres trust
{extra}
local all app_user,super_login,super_named,dbowner_login,analyst_login,admin_login,viasuper2_login oauth {opts} delegate_ident_mapping=1
local all mapped_user,bypass_login oauth {opts} map=oauth
local all {PRIVILEGED_ROLES} oauth {opts} map=oauth
local all all trust
",
        extra = l.extra
    );
    let path = data.join("pg_hba.conf");
    write_file(&path, hba);
    give_to_postgres(&path);
}

/// The suite's state: the primary (and the standby while it runs), the hook client, the lines.
struct Oauth<'a> {
    s: &'a Suite,
    primary: &'a Cluster,
    standby: RefCell<Option<Cluster>>,
    client: PathBuf,
    lines: RefCell<Lines>,
    outs: PathBuf,
    n: AtomicUsize,
}

impl Oauth<'_> {
    fn q(&self, db: &str, sql: &str) -> String {
        self.primary.conn(db).q(sql)
    }

    /// As [`Oauth::q`], an error given as its text (what a poll compares and goes on).
    fn try_q(&self, db: &str, sql: &str) -> String {
        self.primary.target().db(db).try_connect().and_then(|mut c| c.try_q(sql)).unwrap_or_else(|e| e)
    }

    fn log(&self) -> String {
        self.primary.log().text()
    }

    fn log_size(&self) -> u64 {
        self.primary.log().offset()
    }

    fn since(&self, off: u64) -> String {
        self.primary.log().since(off)
    }

    /// The first line of the log written since `off` that holds `needle`, waited for (empty if
    /// none came).
    fn log_since(&self, off: u64, needle: &str) -> String {
        self.primary.log().wait_for_line(off, needle, Duration::from_secs(10)).unwrap_or_default()
    }

    /// Wait until `count` lines since `off` hold `needle` (a backend writes its pg_idp lines
    /// before the FATAL that ends it: that line marks that everything before it is written).
    fn wait_lines(&self, off: u64, needle: &str, count: usize) {
        wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
            (count_f(needle, &self.since(off)) >= count).then_some(())
        });
    }

    fn write_hba(&self, data: &Path) {
        write_hba(data, &self.lines.borrow());
    }

    /// pg_reload_conf(), and wait until new sessions have the new files.
    fn reload_and_wait(cluster: &Cluster) {
        let before = cluster.conn("postgres").q("SELECT pg_conf_load_time()");
        cluster.conn("postgres").q("SELECT pg_reload_conf()");
        wait_for(Duration::from_secs(30), Duration::from_millis(50), || {
            (cluster.conn("postgres").q("SELECT pg_conf_load_time()") != before).then_some(())
        });
    }

    /// Write the lines on the primary and, while it runs, the standby, and reload.
    fn rewrite(&self) {
        self.write_hba(&self.primary.data());
        Self::reload_and_wait(self.primary);
        if let Some(sb) = self.standby.borrow().as_ref() {
            self.write_hba(&sb.data());
            Self::reload_and_wait(sb);
        }
    }

    /// The oauth lines name `issuer` and `scope` (rewritten and reloaded if they did not).
    fn use_line(&self, issuer: &str, scope: &str) {
        {
            let mut l = self.lines.borrow_mut();
            if l.issuer == issuer && l.scope == scope {
                return;
            }
            l.issuer = issuer.into();
            l.scope = scope.into();
        }
        self.rewrite();
    }

    fn out_file(&self, what: &str) -> PathBuf {
        self.outs.join(format!("{}.{what}", self.n.fetch_add(1, Ordering::SeqCst)))
    }

    /// The hook client logging in at `host`/`port` to `db` as `role` with `token`, through the
    /// line `via` chooses, running `sqls` (none: statements from its stdin).
    #[allow(clippy::too_many_arguments)]
    fn login_cmd(&self, host: &str, port: u16, via: Via, db: &str, role: &str, token: &str, sqls: &[&str]) -> Command {
        let iss = via.line.map(str::to_string).unwrap_or_else(|| iss_of_token(token));
        if !iss.is_empty() {
            self.use_line(&iss, via.scope.unwrap_or("openid db"));
        }
        let issuer = self.lines.borrow().issuer.clone();
        let mut c = Command::new(&self.client);
        c.arg(format!(
            "host={host} port={port} dbname={db} user={role} oauth_issuer={} oauth_client_id=pg_idp_tests",
            discovery_of(&issuer)
        ))
        .args(sqls)
        .env("PG_IDP_TOKEN", token);
        c
    }

    /// Run `cmd`, its stdout and stderr into one file (as `2>&1`): what it printed, without the
    /// trailing newlines (as `$(...)`).
    fn run_merged(&self, mut cmd: Command) -> String {
        let out = self.out_file("out");
        let f = std::fs::File::create(&out).expect("an output file");
        cmd.stdout(f.try_clone().expect("a handle")).stderr(f).stdin(Stdio::null());
        let _ = cmd.status().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        cat(&out)
    }

    fn login_at(&self, at: &Cluster, via: Via, db: &str, role: &str, token: &str, sqls: &[&str]) -> String {
        let host = at.socket_dir().display().to_string();
        self.run_merged(self.login_cmd(&host, at.port(), via, db, role, token, sqls))
    }

    fn login_via(&self, via: Via, db: &str, role: &str, token: &str, sqls: &[&str]) -> String {
        self.login_at(self.primary, via, db, role, token, sqls)
    }

    fn login(&self, db: &str, role: &str, token: &str, sqls: &[&str]) -> String {
        self.login_via(PLAIN, db, role, token, sqls)
    }

    /// A login on the standby.
    fn slogin(&self, db: &str, role: &str, token: &str, sqls: &[&str]) -> String {
        let (host, port) = {
            let sb = self.standby.borrow();
            let sb = sb.as_ref().expect("the standby runs");
            (sb.socket_dir().display().to_string(), sb.port())
        };
        self.run_merged(self.login_cmd(&host, port, PLAIN, db, role, token, sqls))
    }

    /// Poll a login until it answers `want` (at most `bound`): for changes that reach the
    /// snapshot. Its last answer.
    fn poll(&self, bound: Duration, want: &str, mut login: impl FnMut() -> String) -> String {
        let mut got = String::new();
        wait_for(bound, Duration::from_millis(100), || {
            got = login();
            (got == want).then_some(())
        });
        got
    }

    /// A refused login: the client sees PostgreSQL's generic failure; the log has pg_idp's line
    /// with the code, provider and kid; neither the token nor its signature is logged. Returns
    /// that log line.
    #[allow(clippy::too_many_arguments)]
    fn refused(
        &self,
        via: Via,
        name: &str,
        code: &str,
        provider: &str,
        kid: &str,
        db: &str,
        role: &str,
        token: &str,
    ) -> String {
        let off = self.log_size();
        let out = self.login_via(via, db, role, token, &["SELECT 1"]);
        let line = self.log_since(off, "pg_idp: login refused");
        let sig = token.rsplit('.').next().filter(|s| !s.is_empty()).unwrap_or("no-signature");
        self.s.check(
            &format!("oauth: {name}: refused with a generic message"),
            format!("OAuth bearer authentication failed for user \"{role}\""),
            first(r#"OAuth bearer authentication failed for user "[^"]*""#, &out),
        );
        self.s.check(
            &format!("oauth: {name}: one log line naming provider, kid and code"),
            format!("1 provider \"{provider}\", kid \"{kid}\", pg_idp error code: {code}"),
            format!(
                "{} {}",
                count_f("pg_idp: login refused", &self.since(off)),
                first(r#"provider "[^"]*", kid "[^"]*", pg_idp error code: [a-z_]+"#, &line)
            ),
        );
        let log = self.log();
        self.s.check(
            &format!("oauth: {name}: neither the token nor its signature in the log"),
            "0",
            log.lines().filter(|l| l.contains(token) || l.contains(sig)).count().to_string(),
        );
        line
    }

    /// The reason of the newest refusal line (after the code).
    fn why_refused(&self) -> String {
        let l = last_with("pg_idp: login refused", &self.log());
        match re(r"^.*pg_idp error code: [a-z_]+ \((.*)\)$").captures(&l) {
            Some(c) => c[1].to_string(),
            None => l,
        }
    }

    /// The code of the newest refusal line.
    fn last_refusal_code(&self) -> String {
        let l = last_with("pg_idp: login refused", &self.log());
        first("pg_idp error code: [a-z_]+", &l).rsplit(": ").next().unwrap_or("").to_string()
    }

    /// What idp.login_snapshot() reports under `key` in database `db`, once it is `value`
    /// (waited for).
    fn wait_snapshot(&self, db: &str, key: &str, value: &str) -> String {
        let mut n = String::new();
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            n = self.try_q(db, &format!("SELECT idp.login_snapshot()->>{}", lit(key)));
            (n == value).then_some(())
        });
        n
    }

    /// Wait until `db`'s snapshot has login provider `name`.
    fn wait_login_provider(&self, db: &str, name: &str) {
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            (self.try_q(db, &format!("SELECT idp.login_snapshot()->'login_providers' ? {}", lit(name))) == "t")
                .then_some(())
        });
    }

    /// ALTER SYSTEM SET (RESET with an empty value), reload, and wait until new sessions show
    /// `shown` for it.
    fn log_setting(&self, name: &str, value: &str, shown: &str) {
        if value.is_empty() {
            self.q("app", &format!("ALTER SYSTEM RESET {name}"));
        } else {
            self.q("app", &format!("ALTER SYSTEM SET {name} = {}", lit(value)));
        }
        self.q("app", "SELECT pg_reload_conf()");
        wait_for(Duration::from_secs(30), Duration::from_millis(100), || {
            (self.try_q("app", &format!("SELECT setting FROM pg_settings WHERE name = {}", lit(name))) == shown)
                .then_some(())
        });
    }

    /// A session of the hook client fed statement by statement (`login` reading its stdin):
    /// started with `token`, its output (stdout and stderr) going to a file.
    fn session(&self, token: &str) -> (Process, std::process::ChildStdin, PathBuf) {
        let host = self.primary.socket_dir().display().to_string();
        let mut cmd = self.login_cmd(&host, self.primary.port(), PLAIN, "app", "app_user", token, &[]);
        let out = self.out_file("session");
        let f = std::fs::File::create(&out).expect("an output file");
        cmd.stdout(f.try_clone().expect("a handle")).stderr(f).stdin(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run the hook client: {e}"));
        let stdin = child.stdin.take().expect("its stdin");
        (Process::from_child(child, "a session of the hook client"), stdin, out)
    }

    /// One session asks who it is, `action` runs elsewhere, it asks again: its answers.
    fn session_check(&self, token: &str, action: &str) -> String {
        let (mut p, mut stdin, out) = self.session(token);
        send(&mut stdin, "SELECT 'before', idp.requesting_user_id()");
        wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
            cat(&out).lines().any(|l| l.starts_with("before")).then_some(())
        });
        self.q("app", action);
        send(&mut stdin, "SELECT 'after', idp.requesting_user_id()");
        drop(stdin);
        p.wait_exit(Duration::from_secs(60));
        joined(&cat(&out), " ").replacen(" / pg_idp error code: ", " code ", 1)
    }
}

/// A statement to a session (a write to a session that has ended is ignored: the checks report
/// what it answered).
fn send(stdin: &mut std::process::ChildStdin, sql: &str) {
    let _ = writeln!(stdin, "{sql}");
    let _ = stdin.flush();
}

#[test]
fn suite() {
    run("oauth", |s| {
        s.say("login with a provider token (PostgreSQL 18 OAuth validator)");
        let version = Pg::get().version;
        if version < 18 {
            println!("skip - oauth: skipped on PostgreSQL {version} (<18 has no OAuth validator modules)");
            return;
        }
        if let Err(why) = OpenIdProvider::available() {
            panic!("oauth: {why}");
        }
        suite_18(s);
    });
}

fn suite_18(s: &Suite) {
    let f = Fixtures::new(s);
    let mut primary = Cluster::start(s, "primary", &[]);
    todos_app(&primary, &f);
    // The real provider (tests/oidc/provider.mjs): its issuer is the one pg_hba.conf names.
    let mut idp = OpenIdProvider::new(s, "oauth_idp");
    idp.start(&[]);
    let issuer = idp.issuer();
    let ca = idp.ca().display().to_string();

    let client = s.dir().join("oauth_client");
    let libdir = pg_config("--libdir");
    run_logged(
        Command::new("cc")
            .args(["-O2", &format!("-I{}", pg_config("--includedir"))])
            .arg(repo_root().join("tests/oauth/oauth_client.c"))
            .arg(format!("-L{libdir}"))
            .arg(format!("-Wl,-rpath,{libdir}"))
            .args(["-lpq", "-o"])
            .arg(&client),
        &s.dir().join("cc.log"),
    );

    let rs = Key::generate(s, "RS256", Alg::RS256, Some("RS256-1"));
    let ps = Key::generate(s, "PS256", Alg::PS256, Some("PS256-1"));
    let es = Key::generate(s, "ES256", Alg::ES256, Some("ES256-1"));
    let ed = Key::generate(s, "EdDSA", Alg::EdDSA, Some("EdDSA-1"));
    let rs_b = Key::generate(s, "RS256b", Alg::RS256, Some("RS256-2"));
    let named_key = Key::generate(s, "named", Alg::ES256, Some("named-1"));
    let hs_secret = {
        let mut raw = [0u8; 16];
        let mut r = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
        std::io::Read::read_exact(&mut r, &mut raw).expect("random bytes");
        format!("oauth-login-secret-{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    s.secret_private("the login_hs secret", &hs_secret);
    let hs = Key::from_secret(s, "login_hs", Alg::HS256, &hs_secret);

    // login_rs: the app's provider (roles app_user and super_named; its users' rows are in todos).
    let mut c = primary.conn("app");
    // oidc: the real provider, discovered; its access tokens must carry db_role = the role asked for.
    c.batch(&format!("SET idp.tls_ca_file = {}", lit(&ca)));
    c.q(&format!(
        r#"SELECT idp.discover({}, 'oidc', '{{"audience": "urn:pg-idp:app", "claim_mapping": {{"email": "email"}},
  "login": {{"roles": ["app_user"], "role_claim": "db_role"}}}}')"#,
        lit(&issuer)
    ));
    // The crafted-token providers: their login tokens are for urn:pg-idp:db (login.audience).
    c.batch(&format!(
        r#"SELECT idp.register_provider(jsonb_build_object('provider', 'login_rs', 'issuer', 'https://rs.login.test',
  'claim_mapping', '{{"email": "email"}}'::jsonb, 'jwks', {rs}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user", "super_named"]}}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_ps', 'issuer', 'https://ps.login.test',
  'jwks', {ps}::jsonb, 'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user"]}}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_es', 'issuer', 'https://es.login.test',
  'jwks', {es}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user", "mapped_user"], "role_claim": "db_role"}}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_ed', 'issuer', 'https://ed.login.test',
  'jwks', {ed}::jsonb, 'login', '{{"audience": "urn:pg-idp:db"}}'::jsonb));
SELECT idp.register_provider(jsonb_build_object('provider', 'login_hs', 'issuer', 'https://hs.login.test',
  'audience', 'db-login', 'secret', {hs}, 'leeway_seconds', 0, 'login', '{{"roles": ["app_user"]}}'::jsonb));
CREATE ROLE mapped_user LOGIN;
CREATE ROLE super_login LOGIN SUPERUSER;
CREATE ROLE super_named LOGIN SUPERUSER;
CREATE ROLE bypass_login LOGIN BYPASSRLS;
GRANT USAGE ON SCHEMA idp TO mapped_user, bypass_login;
GRANT SELECT, INSERT ON todos TO mapped_user, bypass_login;
-- Privileged roles, each refused unless login.roles names it: login_ed's tokens
-- (login {{}}) reach them through the pg_ident.conf map; login_named's name them in login.roles.
SELECT idp.register_provider(jsonb_build_object('provider', 'login_named', 'issuer', 'https://named.login.test',
  'jwks', {named}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["repl_login", "createrole_login", "readall_login", "readall_via_login", "owner_login", "monitor_login", "viasuper_login"]}}'::jsonb));
CREATE ROLE repl_login LOGIN REPLICATION;
CREATE ROLE createrole_login LOGIN CREATEROLE;
CREATE ROLE readall_login LOGIN IN ROLE pg_read_all_data;
CREATE ROLE readers NOLOGIN IN ROLE pg_read_all_data;
CREATE ROLE readall_via_login LOGIN IN ROLE readers;
-- The predefined roles added in 0.6.0: each member refused unless named (monitor_login is named
-- by login_named, as the control).
CREATE ROLE monitor_login LOGIN IN ROLE pg_monitor;
CREATE ROLE readstats_login LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE readsettings_login LOGIN IN ROLE pg_read_all_settings;
CREATE ROLE signal_login LOGIN IN ROLE pg_signal_backend;
CREATE ROLE maintain_login LOGIN IN ROLE pg_maintain;
CREATE ROLE subscription_login LOGIN IN ROLE pg_create_subscription;
GRANT USAGE ON SCHEMA idp TO monitor_login;
-- Members of a role with an attribute (SET ROLE reaches it), each refused unless named:
-- viasuper_login is named by login_named, as the control; viasuper2_login is reached through a group.
CREATE ROLE adm_group NOLOGIN SUPERUSER;
CREATE ROLE bypass_group NOLOGIN BYPASSRLS;
CREATE ROLE repl_group NOLOGIN REPLICATION;
CREATE ROLE createrole_group NOLOGIN CREATEROLE;
CREATE ROLE viasuper_login LOGIN IN ROLE adm_group;
CREATE ROLE viabypass_login LOGIN IN ROLE bypass_group;
CREATE ROLE viarepl_login LOGIN IN ROLE repl_group;
CREATE ROLE viacreaterole_login LOGIN IN ROLE createrole_group;
CREATE ROLE viasuper2_login LOGIN IN ROLE adm_group;
-- The owner of a table under enable_rls, with three users' rows in it: owners bypass RLS.
CREATE ROLE owner_login LOGIN;
GRANT USAGE ON SCHEMA idp TO owner_login;
CREATE TABLE owned_notes (id serial PRIMARY KEY, user_id text NOT NULL DEFAULT idp.requesting_user_id(), body text);
INSERT INTO owned_notes (user_id, body) VALUES ('user_2alice', 'a'), ('user_2bob', 'b'), ('user_2carol', 'c');
ALTER TABLE owned_notes OWNER TO owner_login;
SELECT idp.enable_rls('owned_notes');
-- The owner of app2 logs in there (pg_database_owner must stay its own).
CREATE ROLE dbowner_login LOGIN;"#,
        rs = lit(&rs.jwks()),
        ps = lit(&ps.jwks()),
        es = lit(&es.jwks()),
        ed = lit(&ed.jwks()),
        hs = lit(&hs_secret),
        named = lit(&named_key.jwks()),
    ));
    drop(c);
    primary.createdb("app2");
    primary.conn("app2").batch(&format!(
        r#"CREATE EXTENSION pg_idp;
SELECT idp.register_provider(jsonb_build_object('provider', 'other', 'issuer', 'https://other.login.test',
  'jwks', {}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user", "dbowner_login"]}}'::jsonb));
GRANT USAGE ON SCHEMA idp TO app_user, dbowner_login;
ALTER DATABASE app2 OWNER TO dbowner_login;"#,
        lit(&ed.jwks())
    ));
    // Who may log in how: app_user, super_login and super_named with delegate_ident_mapping=1
    // (pg_idp decides), mapped_user and bypass_login through a pg_ident.conf map; postgres and the
    // rest as before. The oauth lines name one issuer and scope at a time: the real provider's to
    // begin with; use_line switches them.
    let outs = s.subdir("logins");
    let oauth_settings: Vec<(&str, &str)> = vec![
        ("shared_preload_libraries", "pg_idp"),
        ("oauth_validator_libraries", "pg_idp"),
        ("idp.worker_database", "app"),
        ("idp.login_databases", "app2"),
        ("idp.check_interval", "1"),
        ("idp.tls_ca_file", &ca),
    ];
    let lines = Lines { issuer: issuer.clone(), scope: "openid db".into(), extra: String::new() };
    write_hba(&primary.data(), &lines);
    let ident = primary.data().join("pg_ident.conf");
    write_file(&ident, IDENT);
    give_to_postgres(&ident);
    primary.restart(&oauth_settings);

    let o = Oauth {
        s,
        primary: &primary,
        standby: RefCell::new(None),
        client,
        lines: RefCell::new(lines),
        outs,
        n: AtomicUsize::new(0),
    };
    let keys = Keys { rs, ps, es, ed, rs_b, named: named_key, hs };
    sections(s, &o, &f, &mut idp, &keys, &oauth_settings, &hs_secret);
}

/// The keys of the crafted-token providers.
struct Keys {
    rs: Key,
    ps: Key,
    es: Key,
    ed: Key,
    rs_b: Key,
    named: Key,
    hs: Key,
}

fn sections(
    s: &Suite,
    o: &Oauth,
    f: &Fixtures,
    idp: &mut OpenIdProvider,
    k: &Keys,
    oauth_settings: &[(&str, &str)],
    hs_secret: &str,
) {
    let data = o.primary.data().display().to_string();

    // The worker has written app's snapshot (and app2's) once it runs.
    let a = o.wait_snapshot("app", "readable", "true");
    let b = o.wait_snapshot("app2", "readable", "true");
    let path = o.q("app", "SELECT idp.login_snapshot()->>'path'");
    s.check(
        "oauth: each login database has its snapshot, owner-only",
        "true true 600 700",
        format!("{a} {b} {} {}", mode_of(&path), mode_of(&format!("{data}/pg_idp"))),
    );

    device_flow(s, o, idp);
    let alice = crafted(s, o, f, k, hs_secret);
    authorization(s, o, k, &alice);
    validator_reads(s, o, k, &alice);
    changes_and_standby(s, o, k, &alice, oauth_settings);
    log_failures(s, o);
    o.q("app", "SELECT idp.unregister_provider('oidc')");
    idp.stop();
}

/// A token of `key` for a login (see [`login_claims`]), to adjust before minting.
fn mint_login(key: &Key, claims: Value) -> String {
    key.token(login_claims(claims)).mint()
}

fn device_flow(s: &Suite, o: &Oauth, idp: &OpenIdProvider) {
    s.say("oauth: psql, psycopg and a plain libpq program log in with libpq's own OAuth flow (device flow; the person in Chromium)");
    // libpq 18's built-in flow (libpq-oauth): it fetches the issuer's discovery document, asks
    // for a device code, prints "Visit URL and enter the code: CODE", and polls the token
    // endpoint until the person has signed in and allowed access; then it logs in with the
    // access token. The person is tests/oidc/person.mjs in headless Chromium; each client runs
    // in a mount namespace whose system CA bundle holds the test CA (OpenIdProvider::trusting:
    // libpq trusts nothing else), or, in a chroot where none can be made, with
    // PGOAUTHDEBUG=UNSAFE and PGOAUTHCAFILE. Each client is registered at the provider with its
    // own signing family: psql RS256, psql-es256 ES256, psycopg PS256, libpq-app EdDSA;
    // idp.log_success's line shows the kid each login's token had.
    let issuer = idp.issuer();
    let dev = s.subdir("device");
    let host = o.primary.socket_dir().display().to_string();
    let port = o.primary.port();
    o.use_line(&issuer, "openid db");
    println!("# oauth: libpq trusts the test CA through: {} (see tests/integration/src/oidc.rs)", Trust::here().name());
    o.q("app", "ALTER SYSTEM SET idp.log_success = on");
    o.q("app", "SELECT pg_reload_conf()");
    let libdir = pg_config("--libdir");
    let conninfo = |client: &str| {
        format!("host={host} port={port} dbname=app user=app_user oauth_issuer={issuer} oauth_client_id={client}")
    };
    const WHO: &str = "SELECT idp.requesting_user_id(), current_user, system_user, count(*) FILTER (WHERE user_id = idp.requesting_user_id()), count(*) FILTER (WHERE user_id <> idp.requesting_user_id()) FROM todos";
    // The kid of idp.log_success's newest line for `sub` from provider oidc.
    let verified_kid = |sub: &str| {
        let pattern = format!(r#"pg_idp: token verified: provider=oidc kid="[^"]*" sub="{}""#, regex::escape(sub));
        let r = re(&pattern);
        let log = o.log();
        let l = log.lines().rfind(|l| r.is_match(l)).unwrap_or("").to_string();
        match re(r#".* kid="([^"]*)".*"#).captures(&l) {
            Some(c) => c[1].to_string(),
            None => l,
        }
    };
    let psql = |client: &str, sqls: &[&str]| {
        let mut c = Pg::get().cmd("psql");
        c.args(["-X", "-qAt"]);
        for sql in sqls {
            c.args(["-c", sql]);
        }
        c.arg(conninfo(client));
        c
    };
    let device_psql = |user: &str, action: Person, out: &Path, client: &str, sqls: &[&str]| {
        idp.device(user, action, out, &psql(client, sqls))
    };
    let err_of = |out: &Path| cat(&with_ext(out, "err"));

    let mut plain = Pg::get().cmd("psql");
    plain.args(["-X", "-At", "-c", "SELECT 1"]).arg(conninfo("psql"));
    let out = o.run_merged(plain);
    let found: Vec<String> =
        grep_o("failed to fetch OpenID discovery document|SSL certificate problem", &out).into_iter().take(2).collect();
    s.check(
        "oauth: control: psql without the test CA in its trust store stops at the discovery document (libcurl's certificate check)",
        "failed to fetch OpenID discovery document: SSL certificate problem",
        found.join(" ").replacen("document ", "document: ", 1),
    );
    let alice = dev.join("alice");
    device_psql("alice", Person::Allow, &alice, "psql", &[WHO]);
    s.check(
        "oauth: psql prints libpq's prompt: visit the provider's device page and enter the code",
        format!("Visit {issuer}/device and enter the code: XXXX-XXXX"),
        grep_o("Visit [^ ]+ and enter the code: [A-Z]{4}-[A-Z]{4}", &err_of(&alice))
            .iter()
            .map(|m| re("[A-Z]{4}-[A-Z]{4}$").replace(m, "XXXX-XXXX").into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    s.check(
        "oauth: the person (Chromium) opens it, enters the code, signs in as alice and allows access",
        "person: last page: \"Signed in\": You are signed in: you can close this page.",
        cat(&with_ext(&alice, "person")).lines().last().unwrap_or(""),
    );
    s.check(
        "oauth: psql is logged in as alice (RS256 token): requesting_user_id, role, system_user; RLS shows her 2 rows and no one else's",
        "user_2alice|app_user|oauth:oidc:user_2alice|2|0 rs-1",
        format!("{} {}", cat(&alice), verified_kid("user_2alice")),
    );
    let bob = dev.join("bob");
    device_psql("bob", Person::Allow, &bob, "psql", &[WHO]);
    s.check(
        "oauth: a second user: psql logged in as bob sees his 3 rows and no one else's",
        "user_2bob|app_user|oauth:oidc:user_2bob|3|0 rs-1",
        format!("{} {}", cat(&bob), verified_kid("user_2bob")),
    );
    let alice_es = dev.join("alice_es");
    device_psql(
        "alice",
        Person::Allow,
        &alice_es,
        "psql-es256",
        &[
            "SELECT idp.provider(), idp.email()",
            "INSERT INTO todos (title) VALUES ('from psql') RETURNING user_id, title",
        ],
    );
    s.check(
        "oauth: psql (client psql-es256, ES256 token): the identity functions, and a row inserted with the default user_id",
        "oidc|alice@example.com user_2alice|from psql es-1",
        format!(
            "{}{}",
            String::from_utf8_lossy(&std::fs::read(&alice_es).unwrap_or_default()).replace('\n', " "),
            verified_kid("user_2alice")
        ),
    );
    let psycopg = dev.join("psycopg");
    let mut py = Command::new(repo_root().join("examples/.venv/bin/python"));
    py.env("PSYCOPG_IMPL", "python")
        .env("LD_LIBRARY_PATH", &libdir)
        .arg(repo_root().join("tests/oidc/psycopg_login.py"))
        .arg(conninfo("psycopg"))
        .arg(WHO);
    idp.device("alice", Person::Allow, &psycopg, &py);
    let libpq_file =
        std::fs::canonicalize(format!("{libdir}/libpq.so.5")).map(|p| p.display().to_string()).unwrap_or_default();
    let py_out = cat(&psycopg);
    let mut py_lines = py_out.lines();
    let head = py_lines.next().unwrap_or("");
    s.check(
        "oauth: psycopg 3 (pure Python, with PostgreSQL 18's libpq) logs in as alice through the same flow (PS256 token)",
        format!(
            "libpq {} {libpq_file} user_2alice|app_user|oauth:oidc:user_2alice|3|0 ps-1",
            o.q("postgres", "SHOW server_version_num")
        ),
        format!("{} {} {}", first("libpq [0-9]+ [^ ]+$", head), py_lines.next().unwrap_or(""), verified_kid("user_2alice")),
    );
    // The plain libpq program: tests/oauth/oauth_client.c without PG_IDP_TOKEN sets no hook at
    // all, so PQconnectdb runs libpq's own flow, as any libpq application does.
    let libpq = dev.join("libpq");
    let mut app = Command::new(&o.client);
    app.env_remove("PG_IDP_TOKEN").arg(conninfo("libpq-app")).arg(WHO);
    idp.device("bob", Person::Allow, &libpq, &app);
    s.check(
        "oauth: a plain libpq program (PQconnectdb, no hook) logs in as bob through the same flow (EdDSA token)",
        "user_2bob|app_user|oauth:oidc:user_2bob|3|0 ed-1",
        format!("{} {}", cat(&libpq), verified_kid("user_2bob")),
    );
    s.check(
        "oauth: the device-flow logins left no access token in the server log",
        "0",
        grep_c(r"eyJ[A-Za-z0-9_-]*\.eyJ", &o.log()).to_string(),
    );

    s.say("oauth: the device flow refused: consent denied, the device code expired, a user whose role is not allowed");
    // Every device-flow login starts with a connection that only asks the server where to get a
    // token (libpq has none yet): PostgreSQL answers with the issuer's discovery URL and the
    // scope of pg_hba.conf, and logs that connection as "FATAL: OAuth bearer authentication
    // failed" (with no "Validator failed" line: no token was presented). When the flow fails at
    // the provider, that is all the server sees.
    // The log since `off`: FATAL lines, validator failures, pg_idp lines, once the discovery
    // connection's FATAL is there.
    let server_saw = |off: u64| {
        o.wait_lines(off, "FATAL:  OAuth bearer authentication failed", 1);
        let t = o.since(off);
        format!(
            "{} FATAL, {} validator, {} pg_idp",
            count_f("FATAL:  OAuth bearer authentication failed", &t),
            count_f("Validator failed", &t),
            count_f("pg_idp: login refused", &t)
        )
    };
    let off = o.log_size();
    let deny = dev.join("deny");
    let rc = device_psql("alice", Person::Deny, &deny, "psql", &["SELECT 1"]);
    s.check(
        "oauth: consent denied: psql fails with the provider's access_denied; the provider logs the denial",
        "2 failed to obtain access token: the user denied access (access_denied) 1",
        format!(
            "{rc} {} {}",
            grep_o(r"failed to obtain access token: .*\(access_denied\)", &err_of(&deny)).join("\n"),
            grep_c("grant.error client=psql error=access_denied", &idp.log())
        ),
    );
    s.check(
        "oauth: ... the server saw the discovery connection only",
        "1 FATAL, 0 validator, 0 pg_idp",
        server_saw(off),
    );
    let off = o.log_size();
    let expired = dev.join("expired");
    let rc = device_psql("nobody", Person::Nobody, &expired, "psql-short", &["SELECT 1"]);
    s.check(
        "oauth: the device code expired (nobody came within 3 s): psql fails with expired_token; the provider logs it",
        "2 (expired_token) 1",
        format!(
            "{rc} {} {}",
            grep_o(r"\(expired_token\)", &err_of(&expired)).join("\n"),
            grep_c("grant.error client=psql-short error=expired_token", &idp.log())
        ),
    );
    s.check(
        "oauth: ... the server saw the discovery connection only",
        "1 FATAL, 0 validator, 0 pg_idp",
        server_saw(off),
    );
    let off = o.log_size();
    let carol = dev.join("carol");
    let rc = device_psql("carol", Person::Allow, &carol, "psql", &["SELECT 1"]);
    s.check(
        "oauth: carol signs in and allows, but her token has no db_role: refused with PostgreSQL's generic message",
        "2 FATAL:  OAuth bearer authentication failed for user \"app_user\"",
        format!("{rc} {}", first(r#"FATAL: +OAuth bearer authentication failed for user "app_user""#, &err_of(&carol))),
    );
    s.check(
        "oauth: ... and the server logs pg_idp's line: provider oidc, kid rs-1, role_not_allowed",
        "provider \"oidc\", kid \"rs-1\", pg_idp error code: role_not_allowed",
        first(
            r#"provider "[^"]*", kid "[^"]*", pg_idp error code: [a-z_]+"#,
            &o.log_since(off, "pg_idp: login refused for role \"app_user\""),
        ),
    );

    s.say("oauth: libpq's own flow, refused where the client is not authorized: the line's scope, another resource, another issuer");
    // A device-flow login (alice allows) that the validator refuses: psql fails with
    // PostgreSQL's generic message, the log has pg_idp's line.
    let device_refusal = |name: &str, out: &str, conninfo: &str, code: &str, provider: &str| {
        let off = o.log_size();
        let out = dev.join(out);
        let mut c = Pg::get().cmd("psql");
        c.args(["-X", "-qAt", "-c", "SELECT 1", conninfo]);
        let rc = idp.device("alice", Person::Allow, &out, &c);
        s.check(
            &format!("oauth: {name}: psql fails with PostgreSQL's generic message"),
            "2 FATAL:  OAuth bearer authentication failed for user \"app_user\"",
            format!(
                "{rc} {}",
                first(r#"FATAL: +OAuth bearer authentication failed for user "app_user""#, &err_of(&out))
            ),
        );
        s.check(
            &format!("oauth: {name}: the server's line names the provider, the kid and {code}"),
            format!("provider \"{provider}\", kid \"rs-1\", pg_idp error code: {code}"),
            first(
                r#"provider "[^"]*", kid "[^"]*", pg_idp error code: [a-z_]+"#,
                &o.log_since(off, "pg_idp: login refused for role \"app_user\""),
            ),
        );
    };
    // The client asks for less than the line's scope (a connection's oauth_scope overrides the
    // scope the server advertises): the provider grants "read", not "db".
    device_refusal(
        "a client whose token lacks the line's database scope (it asked for openid read)",
        "noscope",
        &format!("{} oauth_scope='openid read'", conninfo("psql")),
        "insufficient_scope",
        "oidc",
    );
    s.check(
        "oauth: ... the log line says which scope is missing",
        "1",
        count_f(
            r#"lacks scope "db" that the pg_hba.conf line requires (scope="openid db") in its scope and scp claims: it has "read""#,
            &last_with("pg_idp: login refused for role \"app_user\"", &o.log()),
        )
        .to_string(),
    );
    // A token requested for another resource of the same provider: psql-billing's tokens are for
    // urn:pg-idp:billing.
    device_refusal(
        "a token issued for another resource (urn:pg-idp:billing)",
        "billing",
        &conninfo("psql-billing"),
        "invalid_audience",
        "oidc",
    );
    // A second OpenID Provider (another issuer), registered in both databases (its tokens may
    // log in as app_user); the line for app2 names it, app's names the first. Same TLS
    // certificate, so the person's browser trusts both.
    let mut idp2 = OpenIdProvider::beside(s, "oauth_idp2", idp);
    idp2.start(&[]);
    let issuer2 = idp2.issuer();
    for db in ["app", "app2"] {
        let mut c = o.primary.conn(db);
        c.batch(&format!("SET idp.tls_ca_file = {}", lit(&idp.ca().display().to_string())));
        c.q(&format!(
            r#"SELECT idp.discover({}, 'oidc2', '{{"audience": "urn:pg-idp:app",
      "login": {{"roles": ["app_user"]}}}}')"#,
            lit(&issuer2)
        ));
    }
    o.lines.borrow_mut().extra =
        format!("local app2 app_user oauth issuer=\"{issuer2}\" scope=\"openid db\" delegate_ident_mapping=1");
    o.rewrite();
    for db in ["app", "app2"] {
        o.wait_login_provider(db, "oidc2");
    }
    let conninfo2 = |db: &str, iss: &str| {
        format!("host={host} port={port} dbname={db} user=app_user oauth_issuer={iss} oauth_client_id=psql")
    };
    let second = dev.join("second");
    let mut c = Pg::get().cmd("psql");
    c.args(["-X", "-qAt", "-c", "SELECT current_database(), system_user"]).arg(conninfo2("app2", &issuer2));
    idp2.device("alice", Person::Allow, &second, &c);
    s.check(
        "oauth: control: the second issuer's token logs in through its own line (app2)",
        "app2|oauth:oidc2:user_2alice",
        cat(&second),
    );
    // libpq's own flow never presents the second issuer's token through the first issuer's
    // line: it asks the server first, and stops when the line's issuer is not its oauth_issuer
    // (RFC 9207's mix-up defence), whether oauth_issuer is the issuer or its discovery URL.
    let stops: Vec<String> = [issuer2.clone(), format!("{issuer2}/.well-known/openid-configuration")]
        .iter()
        .map(|i| {
            let mut c = Pg::get().cmd("psql");
            c.args(["-X", "-qAt", "-c", "SELECT 1"]).arg(conninfo2("app", i));
            first("is incompatible with oauth_issuer", &o.run_merged(c))
        })
        .collect();
    s.check(
        "oauth: libpq's own flow to app with the second issuer stops before any token (its mix-up defence)",
        "is incompatible with oauth_issuer is incompatible with oauth_issuer",
        stops.into_iter().filter(|m| !m.is_empty()).collect::<Vec<_>>().join(" "),
    );
    // The server holds the line to it all the same: a token the second provider issued (client
    // credentials), handed over by the hook client through app's line, which names the first
    // issuer.
    let second_token = idp2.token("svc-rs256");
    let refused_line = o.refused(
        line(&issuer),
        "the second issuer's token through the first issuer's line",
        "issuer_mismatch",
        "oidc2",
        "rs-1",
        "app",
        "app_user",
        &second_token,
    );
    let m = first(
        r#"the token.s issuer "[^"]*" is not the one the pg_hba.conf line names \(issuer="[^"]*"\)"#,
        &refused_line,
    );
    s.check(
        "oauth: ... the line names both issuers",
        format!("the token's issuer \"{issuer2}\" is not the one the pg_hba.conf line names (issuer=\"{issuer}\")"),
        if m.is_empty() { refused_line.clone() } else { m },
    );
    s.check(
        "oauth: control: the same token through a line naming the second issuer logs in",
        "svc-rs256|oidc2",
        o.login_via(
            line(&issuer2),
            "app",
            "app_user",
            &second_token,
            &["SELECT idp.requesting_user_id(), idp.provider()"],
        ),
    );
    drop(idp2);
    o.lines.borrow_mut().extra = String::new();
    o.rewrite();
    for db in ["app", "app2"] {
        o.q(db, "SELECT idp.unregister_provider('oidc2')");
    }

    o.q("app", "ALTER SYSTEM RESET idp.log_success");
    o.q("app", "SELECT pg_reload_conf()");
}

/// Tokens later sections use again: alice's login token of login_rs (with her email), and one
/// without it.
struct Alice {
    login: String,
    good: String,
}

fn crafted(s: &Suite, o: &Oauth, f: &Fixtures, k: &Keys, hs_secret: &str) -> Alice {
    s.say("oauth: crafted-token logins (the hook client): a shared-secret provider, a pg_ident.conf map");
    let hs_login = |claims: Value| k.hs.token(login_claims(claims)).no_kid();
    s.check(
        "oauth: HS256 (a shared secret, which no OpenID Provider publishes) login as app_user",
        "user_2alice|app_user|3|0",
        o.login(
            "app",
            "app_user",
            &hs_login(json!({"iss":"https://hs.login.test","sub":"user_2alice","aud":"db-login"})).mint(),
            &["SELECT idp.requesting_user_id(), current_user, count(*) FILTER (WHERE user_id = 'user_2alice'), count(*) FILTER (WHERE user_id <> 'user_2alice') FROM todos"],
        ),
    );
    s.check(
        "oauth: EdDSA login as mapped_user through the pg_ident.conf map",
        "user_mapped|mapped_user|0|0",
        o.login(
            "app",
            "mapped_user",
            &mint_login(&k.ed, json!({"iss":"https://ed.login.test","sub":"user_mapped"})),
            &["SELECT idp.requesting_user_id(), current_user, count(*) FILTER (WHERE user_id = 'user_2alice'), count(*) FILTER (WHERE user_id <> 'user_2alice') FROM todos"],
        ),
    );
    let alice_login =
        mint_login(&k.rs, json!({"iss":"https://rs.login.test","sub":"user_2alice","email":"alice@example.com"}));
    // Parallel workers get the login identity from the leader (idp.login_token is copied to them).
    s.check(
        "oauth: parallel workers see the login identity",
        "user_2alice|3",
        o.login(
            "app",
            "app_user",
            &alice_login,
            &[
                "SET debug_parallel_query = on",
                "SELECT idp.requesting_user_id(), count(*) FROM todos WHERE user_id = idp.requesting_user_id()",
            ],
        ),
    );

    s.say("oauth: the session identity: override, expiry, revocation and deprovisioning");
    let bob = &f.clerk_bob;
    let not_f = |out: String| out.lines().filter(|l| *l != "f").collect::<Vec<_>>().join(" ");
    let set_bob = format!("SELECT set_config('request.jwt', {}, true) IS NULL", lit(bob));
    s.check(
        "oauth: a request token overrides the login identity for its transaction, which then comes back",
        "user_2alice user_2bob user_2alice",
        not_f(o.login(
            "app",
            "app_user",
            &alice_login,
            &[
                "SELECT idp.requesting_user_id()",
                "BEGIN",
                &set_bob,
                "SELECT idp.requesting_user_id()",
                "COMMIT",
                "SELECT idp.requesting_user_id()",
            ],
        )),
    );
    // A request without a token is anonymous, whatever the connection logged in with: one that
    // sets request.jwt to '' (examples/todos without a token) or PostgREST's request.headers
    // without an Authorization header sees no rows; the login identity answers only while the
    // session has set neither (a SET LOCAL ends with its transaction, COMMIT included).
    s.check(
        "oauth: the login identity, then request.jwt = '' (anonymous, no rows), then the login identity again after COMMIT",
        "user_2alice|3 t|0 user_2alice|3",
        not_f(o.login(
            "app",
            "app_user",
            &alice_login,
            &[
                "SELECT idp.requesting_user_id(), count(*) FROM todos",
                "BEGIN",
                "SELECT set_config('request.jwt', '', true) IS NULL",
                "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos",
                "COMMIT",
                "SELECT idp.requesting_user_id(), count(*) FROM todos",
            ],
        )),
    );
    s.check(
        "oauth: PostgREST's request.headers without an Authorization header: anonymous, no rows; then the login identity",
        "t|0 t|0 user_2alice|3",
        not_f(o.login(
            "app",
            "app_user",
            &alice_login,
            &[
                "BEGIN",
                r#"SELECT set_config('request.headers', '{"accept": "application/json", "user-agent": "curl/8"}', true) IS NULL"#,
                "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos",
                "COMMIT",
                "BEGIN",
                r#"SELECT set_config('request.headers', '{"accept": "application/json"}', true) IS NULL"#,
                "SELECT set_config('request.jwt', '', true) IS NULL",
                "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos",
                "ROLLBACK",
                "SELECT idp.requesting_user_id(), count(*) FROM todos",
            ],
        )),
    );
    s.check(
        "oauth: a session-level SET request.jwt = '' stays anonymous until RESET",
        "t|0 t|0 user_2alice",
        joined(
            &o.login(
                "app",
                "app_user",
                &alice_login,
                &[
                    "SET request.jwt = ''",
                    "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos",
                    "BEGIN",
                    "SELECT idp.requesting_user_id() IS NULL, count(*) FROM todos",
                    "COMMIT",
                    "RESET request.jwt",
                    "SELECT idp.requesting_user_id()",
                ],
            ),
            " ",
        ),
    );
    s.check(
        "oauth: the login token cannot be changed (55P02) or read (42501) by the session",
        "error: 55P02 error: 42501",
        grep_o(
            "^error: [0-9A-Z]{5}",
            &o.login("app", "app_user", &alice_login, &["SET idp.login_token = 'x'", "SHOW idp.login_token"]),
        )
        .join(" "),
    );
    // Its stdout only (the client prints its errors there).
    let startup = Command::new(&o.client)
        .env("PG_IDP_TOKEN", "")
        .arg(format!(
            "host={} port={} dbname=app user=postgres options='-c idp.login_token=abc'",
            o.primary.socket_dir().display(),
            o.primary.port()
        ))
        .arg("SELECT 1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("the hook client");
    s.check(
        "oauth: a client cannot give its own login token in the startup options",
        "FATAL",
        first("FATAL", &String::from_utf8_lossy(&startup.stdout)),
    );
    // Short-lived tokens (Clerk's live 60 s): the identity ends with the token, as for a request
    // token.
    let short = hs_login(json!({"iss":"https://hs.login.test","sub":"user_short","aud":"db-login"})).exp(2).mint();
    let minted_at = now_secs();
    let (mut p, mut stdin, out) = o.session(&short);
    send(&mut stdin, "SELECT idp.requesting_user_id()");
    wait_for(Duration::from_secs(20), Duration::from_millis(100), || cat(&out).contains("user_short").then_some(()));
    // The token's own time must pass (its exp, at most 2 s after minted_at, then a second more):
    // a wait for the clock, not for the server.
    while now_secs() < minted_at + 3 {
        std::thread::sleep(Duration::from_millis(200));
    }
    send(&mut stdin, "SELECT idp.requesting_user_id()");
    send(&mut stdin, "SELECT idp.email() IS NULL");
    drop(stdin);
    p.wait_exit(Duration::from_secs(60));
    let expired = re(r"^error: ([0-9A-Z]{5}) .*pg_idp error code: ([a-z_]+)$");
    s.check(
        "oauth: the login identity expires with its token (expired, 28000)",
        "user_short error 28000 expired",
        cat(&out).lines().take(2).map(|l| expired.replace(l, "error $1 $2").into_owned()).collect::<Vec<_>>().join(" "),
    );

    let rev = k.rs.token(login_claims(json!({"iss":"https://rs.login.test","sub":"user_rev"}))).iat(-60).mint();
    s.check(
        "oauth: a revocation reaches a logged-in session",
        "before|user_rev error: 28000 JWT of user \"user_rev\" of issuer \"https://rs.login.test\" was revoked code revoked",
        o.session_check(&rev, "SELECT idp.revoke_user('login_rs', 'user_rev')"),
    );
    let diru = mint_login(&k.rs, json!({"iss":"https://rs.login.test","sub":"dir_user_1"}));
    o.q(
        "app",
        r#"SELECT idp._apply_directory_event('login_rs', '{"event": "dsync.user.created", "data": {"id": "dir_user_1", "email": "d1@acme.test", "state": "active", "raw_attributes": {}}}', now() - interval '1 minute')"#,
    );
    s.check(
        "oauth: deprovisioning in the directory reaches a logged-in session",
        "before|dir_user_1 error: 28000 user \"dir_user_1\" was deprovisioned by the directory of provider \"login_rs\" code deprovisioned",
        o.session_check(
            &diru,
            r#"SELECT idp._apply_directory_event('login_rs', '{"event": "dsync.user.updated", "data": {"id": "dir_user_1", "email": "d1@acme.test", "state": "inactive", "raw_attributes": {}}}', now())"#,
        ),
    );

    s.say("oauth: every refusal: generic to the client, one log line with provider, kid and code, no token");
    // The revocation and the deprovisioning above reach the snapshot within a worker tick.
    let revs = o.wait_snapshot("app", "revocations", "1");
    let deps = o.wait_snapshot("app", "deprovisioned", "2");
    s.check(
        "oauth: the snapshot has the revocation and the deprovisioned keys (id and email)",
        "1 2",
        format!("{revs} {deps}"),
    );
    let refused = |name: &str, code: &str, provider: &str, kid: &str, db: &str, role: &str, token: &str| {
        o.refused(PLAIN, name, code, provider, kid, db, role, token)
    };
    refused(
        "expired",
        "expired",
        "login_rs",
        "RS256-1",
        "app",
        "app_user",
        &k.rs
            .token(login_claims(json!({"iss":"https://rs.login.test","sub":"user_2alice"})))
            .exp(-120)
            .iat(-600)
            .mint(),
    );
    let good = mint_login(&k.rs, json!({"iss":"https://rs.login.test","sub":"user_2alice"}));
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!(r#"{{"iss":"https://rs.login.test","sub":"user_2bob","exp":{}}}"#, now_secs() + 600));
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    s.secret_value("the forged login token", &forged);
    refused(
        "forged (payload swapped under a valid signature)",
        "invalid_signature",
        "login_rs",
        "RS256-1",
        "app",
        "app_user",
        &forged,
    );
    refused(
        "wrong audience",
        "invalid_audience",
        "login_hs",
        "-",
        "app",
        "app_user",
        &hs_login(json!({"iss":"https://hs.login.test","sub":"user_2alice","aud":"another-api"})).mint(),
    );
    refused(
        "unknown issuer",
        "unknown_issuer",
        "-",
        "RS256-1",
        "app",
        "app_user",
        &mint_login(&k.rs, json!({"iss":"https://nobody.login.test","sub":"user_2alice"})),
    );
    refused("revoked user", "revoked", "login_rs", "RS256-1", "app", "app_user", &rev);
    refused("deprovisioned user", "deprovisioned", "login_rs", "RS256-1", "app", "app_user", &diru);
    refused("a provider without login", "role_not_allowed", "clerk", "clerk-key-1", "app", "app_user", &f.clerk_alice);
    refused(
        "a role outside login.roles",
        "role_not_allowed",
        "login_ps",
        "PS256-1",
        "app",
        "mapped_user",
        &mint_login(&k.ps, json!({"iss":"https://ps.login.test","sub":"user_2alice"})),
    );
    refused(
        "a role claim naming another role",
        "role_not_allowed",
        "login_es",
        "ES256-1",
        "app",
        "app_user",
        &mint_login(&k.es, json!({"iss":"https://es.login.test","sub":"user_2alice","db_role":"mapped_user"})),
    );
    refused(
        "a superuser not named in login.roles",
        "role_not_allowed",
        "login_rs",
        "RS256-1",
        "app",
        "super_login",
        &good,
    );
    refused(
        "BYPASSRLS, even through the pg_ident.conf map",
        "role_not_allowed",
        "login_ed",
        "EdDSA-1",
        "app",
        "bypass_login",
        &mint_login(&k.ed, json!({"iss":"https://ed.login.test","sub":"user_bypass"})),
    );
    // Privileged roles: refused through the map, the log line naming the privilege.
    let privileged = |name: &str, role: &str, sub: &str, words: &str| {
        refused(
            &format!("{name}, through the pg_ident.conf map"),
            "role_not_allowed",
            "login_ed",
            "EdDSA-1",
            "app",
            role,
            &mint_login(&k.ed, json!({"iss":"https://ed.login.test","sub":sub})),
        );
        s.check(
            &format!("oauth: {name}: the log line names the privilege"),
            format!("role \"{role}\" is privileged ({words}) and provider \"login_ed\""),
            grep_o(
                r#"role "[^"]*" is privileged \(.*\) and provider "[^"]*""#,
                &last_with(&format!("login refused for role \"{role}\""), &o.log()),
            )
            .join("\n"),
        );
    };
    privileged("REPLICATION", "repl_login", "user_repl", "REPLICATION");
    privileged("CREATEROLE", "createrole_login", "user_createrole", "CREATEROLE");
    privileged("a member of pg_read_all_data", "readall_login", "user_readall", "a member of pg_read_all_data");
    privileged(
        "a member of pg_read_all_data through another role",
        "readall_via_login",
        "user_readall_via",
        "a member of pg_read_all_data",
    );
    privileged(
        "a member of pg_monitor",
        "monitor_login",
        "user_monitor",
        "a member of pg_monitor, a member of pg_read_all_stats, a member of pg_read_all_settings",
    );
    privileged("a member of pg_read_all_stats", "readstats_login", "user_readstats", "a member of pg_read_all_stats");
    privileged(
        "a member of pg_read_all_settings",
        "readsettings_login",
        "user_readsettings",
        "a member of pg_read_all_settings",
    );
    privileged("a member of pg_signal_backend", "signal_login", "user_signal", "a member of pg_signal_backend");
    privileged("a member of pg_maintain", "maintain_login", "user_maintain", "a member of pg_maintain");
    privileged(
        "a member of pg_create_subscription",
        "subscription_login",
        "user_subscription",
        "a member of pg_create_subscription",
    );
    privileged("a member of a superuser role", "viasuper_login", "user_viasuper", "a member of a superuser role");
    privileged("a member of a BYPASSRLS role", "viabypass_login", "user_viabypass", "a member of a BYPASSRLS role");
    privileged("a member of a REPLICATION role", "viarepl_login", "user_viarepl", "a member of a REPLICATION role");
    privileged(
        "a member of a CREATEROLE role",
        "viacreaterole_login",
        "user_viacreaterole",
        "a member of a CREATEROLE role",
    );
    privileged(
        "the owner of a table under enable_rls",
        "owner_login",
        "user_owner",
        "the owner of a table with row-level security (or a member of its owner)",
    );
    refused(
        "registry unavailable (a database without a snapshot)",
        "registry_unavailable",
        "-",
        "RS256-1",
        "postgres",
        "app_user",
        &good,
    );
    refused("malformed token", "malformed", "-", "-", "app", "app_user", "not-a-jwt");
    s.check(
        "oauth: a superuser named in login.roles may log in",
        "super_named|t",
        o.login(
            "app",
            "super_named",
            &good,
            &["SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"],
        ),
    );
    // Controls: each privileged role logs in once login.roles names it (login_named's tokens,
    // whose sub is the role, through the same map); the owner then sees every row of its table.
    let named = |role: &str| mint_login(&k.named, json!({"iss":"https://named.login.test","sub":role}));
    s.check(
        "oauth: REPLICATION named in login.roles may log in",
        "repl_login|t",
        o.login(
            "app",
            "repl_login",
            &named("repl_login"),
            &["SELECT current_user, rolreplication FROM pg_roles WHERE rolname = current_user"],
        ),
    );
    s.check(
        "oauth: a member of a superuser role named in login.roles may log in, and SET ROLE makes it a superuser (why it is privileged)",
        "viasuper_login|off|on",
        joined(
            &o.login(
                "app",
                "viasuper_login",
                &named("viasuper_login"),
                &[
                    "SELECT current_user, current_setting('is_superuser')",
                    "SET ROLE adm_group",
                    "SELECT current_setting('is_superuser')",
                ],
            ),
            "|",
        ),
    );
    s.check(
        "oauth: CREATEROLE named in login.roles may log in",
        "createrole_login|t",
        o.login(
            "app",
            "createrole_login",
            &named("createrole_login"),
            &["SELECT current_user, rolcreaterole FROM pg_roles WHERE rolname = current_user"],
        ),
    );
    for r in ["readall_login", "readall_via_login"] {
        s.check(
            &format!("oauth: {r} (pg_read_all_data) named in login.roles may log in"),
            format!("{r}|t"),
            o.login("app", r, &named(r), &["SELECT current_user, pg_has_role('pg_read_all_data', 'USAGE')"]),
        );
    }
    s.check(
        "oauth: the owner of a table under enable_rls named in login.roles may log in (and sees all 3 rows: why it is privileged)",
        "owner_login|owner_login|3",
        o.login(
            "app",
            "owner_login",
            &named("owner_login"),
            &["SELECT current_user, idp.requesting_user_id(), count(*) FROM owned_notes"],
        ),
    );
    // The owner of app2 logged in with a token keeps pg_database_owner for the session (the
    // membership walk at authentication leaves PostgreSQL's role cache alone): CREATE on app2's
    // public schema.
    s.check(
        "oauth: the database owner logged in with a token keeps pg_database_owner",
        "dbowner_login|t|t",
        o.login(
            "app2",
            "dbowner_login",
            &mint_login(&k.ed, json!({"iss":"https://other.login.test","sub":"user_owner"})),
            &["SELECT current_user, pg_has_role('pg_database_owner', 'MEMBER'), has_schema_privilege('public', 'CREATE')"],
        ),
    );
    s.check(
        "oauth: the pg_ident.conf map decides for mapped roles (no mapping: refused)",
        "OAuth bearer authentication failed",
        first(
            "OAuth bearer authentication failed",
            &o.login(
                "app",
                "mapped_user",
                &mint_login(&k.ed, json!({"iss":"https://ed.login.test","sub":"user_unmapped"})),
                &["SELECT 1"],
            ),
        ),
    );
    s.check("oauth: the HS secret never reaches the log", "0", count_f(hs_secret, &o.log()).to_string());
    Alice { login: alice_login, good }
}

fn authorization(s: &Suite, o: &Oauth, k: &Keys, alice: &Alice) {
    s.say("oauth: a login is authorized: the login audience, the line's scopes and issuer, groups to roles");
    // New providers for this section, each with a key of its own.
    let split = Key::generate(s, "split", Alg::ES256, Some("split-1"));
    let perm = Key::generate(s, "perm", Alg::ES256, Some("perm-1"));
    let slash = Key::generate(s, "slash", Alg::RS256, Some("slash-1"));
    let groups = Key::generate(s, "groups", Alg::EdDSA, Some("groups-1"));
    let claimarr = Key::generate(s, "claimarr", Alg::PS256, Some("claimarr-1"));
    let legacy = Key::generate(s, "legacy", Alg::ES256, Some("legacy-1"));
    o.primary.conn("app").batch(&format!(
        r#"-- Request tokens for urn:pg-idp:api (audience), login tokens for urn:pg-idp:db (login.audience).
SELECT idp.register_provider(jsonb_build_object('provider', 'split', 'issuer', 'https://split.login.test',
  'audience', 'urn:pg-idp:api', 'jwks', {split}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user"]}}'::jsonb));
-- Scopes in another claim (login.scope_claim), as Auth0's RBAC puts them in permissions.
SELECT idp.register_provider(jsonb_build_object('provider', 'perm', 'issuer', 'https://perm.login.test',
  'jwks', {perm}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user"], "scope_claim": "permissions"}}'::jsonb));
-- An issuer that ends in / (as Auth0's does).
SELECT idp.register_provider(jsonb_build_object('provider', 'slash', 'issuer', 'https://slash.login.test/',
  'jwks', {slash}::jsonb, 'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user"]}}'::jsonb));
-- Groups to roles: deny by default; admin_login is a superuser, which a group never unlocks.
SELECT idp.register_provider(jsonb_build_object('provider', 'groups', 'issuer', 'https://groups.login.test',
  'jwks', {groups}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "group_roles": {{"db-analysts": ["analyst_login"], "db-admins": ["analyst_login", "admin_login"], "db-ops": ["viasuper2_login"]}}}}'::jsonb));
-- A role claim that is an array (Keycloak's roles, Entra ID's roles).
SELECT idp.register_provider(jsonb_build_object('provider', 'claimarr', 'issuer', 'https://claimarr.login.test',
  'jwks', {claimarr}::jsonb,
  'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user", "analyst_login"], "role_claim": "roles"}}'::jsonb));
CREATE ROLE analyst_login LOGIN;
CREATE ROLE admin_login LOGIN SUPERUSER;
GRANT USAGE ON SCHEMA idp TO analyst_login;"#,
        split = lit(&split.jwks()),
        perm = lit(&perm.jwks()),
        slash = lit(&slash.jwks()),
        groups = lit(&groups.jwks()),
        claimarr = lit(&claimarr.jwks()),
    ));
    o.wait_login_provider("app", "claimarr");
    let good = &alice.good;
    let refused = |via: Via, name: &str, code: &str, provider: &str, kid: &str, role: &str, token: &str| {
        o.refused(via, name, code, provider, kid, "app", role, token)
    };
    let who =
        |via: Via, role: &str, token: &str| o.login_via(via, "app", role, token, &["SELECT idp.requesting_user_id()"]);

    // 1. The login audience: a token minted for another API of the same issuer is refused.
    refused(
        PLAIN,
        "a login token issued for another API (aud https://billing-api.example)",
        "invalid_audience",
        "login_rs",
        "RS256-1",
        "app_user",
        &mint_login(
            &k.rs,
            json!({"iss":"https://rs.login.test","sub":"user_2alice","aud":"https://billing-api.example"}),
        ),
    );
    s.check(
        "oauth: ... the line says which audience a login token needs",
        "JWT audience does not match the login audience (login.audience) of provider \"login_rs\": a login token must be issued for \"urn:pg-idp:db\" (the client asks its provider for a token for that audience or resource)",
        o.why_refused(),
    );
    refused(
        PLAIN,
        "a login token without aud",
        "invalid_audience",
        "login_rs",
        "RS256-1",
        "app_user",
        &mint_login(&k.rs, json!({"iss":"https://rs.login.test","sub":"user_2alice","aud":null})),
    );
    s.check(
        "oauth: control: a login token whose aud lists urn:pg-idp:db among others logs in",
        "user_2alice",
        who(
            PLAIN,
            "app_user",
            &mint_login(
                &k.rs,
                json!({"iss":"https://rs.login.test","sub":"user_2alice","aud":["https://billing-api.example","urn:pg-idp:db"]}),
            ),
        ),
    );
    let split_db =
        mint_login(&split, json!({"iss":"https://split.login.test","sub":"user_split","aud":"urn:pg-idp:db"}));
    let split_api =
        mint_login(&split, json!({"iss":"https://split.login.test","sub":"user_split","aud":"urn:pg-idp:api"}));
    s.check(
        "oauth: login.audience apart from the request audience: the db token logs in, and the session's identity holds (verified as a login token)",
        "user_split|t|f",
        o.login(
            "app",
            "app_user",
            &split_db,
            &[&format!(
                "SELECT idp.requesting_user_id(), (idp.verify_jwt({})->>'valid')::bool, (idp.verify_jwt({})->>'valid')::bool",
                lit(&split_api),
                lit(&split_db)
            )],
        ),
    );
    refused(
        PLAIN,
        "a request token (aud urn:pg-idp:api) presented as a login token",
        "invalid_audience",
        "split",
        "split-1",
        "app_user",
        &split_api,
    );
    // The session's login token is cached apart from request tokens: no request token, whatever
    // its text, is answered from it (not 'login:' followed by the login token either).
    s.check(
        "oauth: a request token is never answered from the login token's cache",
        "user_split|malformed|malformed",
        joined(
            &o.login(
                "app",
                "app_user",
                &split_db,
                &[
                    "SELECT idp.requesting_user_id()",
                    &format!("SELECT idp.verify_jwt('login:' || {})->>'error'", lit(&split_db)),
                    &format!("SELECT idp.verify_jwt({})->>'error'", lit(&format!("login:{split_db}"))),
                ],
            ),
            "|",
        ),
    );
    // A kid is token-controlled: in the log line it keeps only the characters key ids use.
    let spoof_line = refused(
        PLAIN,
        "a kid that tries to write another field of the log line",
        "unknown_key",
        "login_rs",
        "zz???pg_idp?error?code:?revoked??spoofed???",
        "app_user",
        &k.rs
            .token(login_claims(json!({"iss":"https://rs.login.test","sub":"user_2alice"})))
            .kid("zz\", pg_idp error code: revoked (spoofed) \"")
            .mint(),
    );
    s.check(
        "oauth: ... the line's first error code is the real one (the kid's text appears only escaped, in the reason)",
        "pg_idp error code: unknown_key",
        first("pg_idp error code: [a-z_]+", &spoof_line),
    );

    // 2. The line's scopes: every scope but OpenID Connect's own must be in the token.
    let db_login = scoped("openid db:login");
    for t in ["openid profile", "NONE", "openid db:login-all", "openid DB:LOGIN"] {
        let claims = if t == "NONE" {
            json!({"iss":"https://rs.login.test","sub":"user_2alice","scope":null})
        } else {
            json!({"iss":"https://rs.login.test","sub":"user_2alice","scope":t})
        };
        refused(
            db_login,
            &format!("line scope=\"openid db:login\", token scope \"{t}\""),
            "insufficient_scope",
            "login_rs",
            "RS256-1",
            "app_user",
            &mint_login(&k.rs, claims),
        );
    }
    o.login_via(
        db_login,
        "app",
        "app_user",
        &mint_login(&k.rs, json!({"iss":"https://rs.login.test","sub":"user_2alice","scope":"openid profile"})),
        &["SELECT 1"],
    );
    s.check(
        "oauth: ... the refusal names the missing scope, the line's scope and what the token has",
        "the token lacks scope \"db:login\" that the pg_hba.conf line requires (scope=\"openid db:login\") in its scope and scp claims: it has \"openid\", \"profile\"; the client must ask for it and provider \"login_rs\" grant it",
        o.why_refused(),
    );
    let controls: Vec<String> = [
        json!({"scope":"openid db:login"}),
        json!({"scope":null,"scp":["db:login"]}),
        json!({"scope":null,"scp":"db:read db:login"}),
    ]
    .into_iter()
    .map(|extra| {
        let mut claims = json!({"iss":"https://rs.login.test","sub":"user_2alice"});
        if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
            c.extend(e);
        }
        who(db_login, "app_user", &mint_login(&k.rs, claims))
    })
    .collect();
    s.check(
        "oauth: control: scope \"openid db:login\", scp [\"db:login\"] (Okta) and scp \"db:read db:login\" (Entra ID) log in",
        "user_2alice user_2alice user_2alice",
        joined(&controls.join("\n"), " "),
    );
    let perm_ok = who(
        db_login,
        "app_user",
        &mint_login(
            &perm,
            json!({"iss":"https://perm.login.test","sub":"user_perm","scope":null,"permissions":["db:login"]}),
        ),
    );
    o.login_via(
        db_login,
        "app",
        "app_user",
        &mint_login(&perm, json!({"iss":"https://perm.login.test","sub":"user_perm","scope":"db:login"})),
        &["SELECT 1"],
    );
    s.check(
        "oauth: login.scope_claim: scopes in another claim (permissions) log in, scope there is not enough",
        "user_perm insufficient_scope",
        format!("{perm_ok} {}", o.last_refusal_code()),
    );
    s.check(
        "oauth: a line with only OpenID Connect's scopes requires none of the token",
        "user_2alice",
        who(
            scoped("openid profile email"),
            "app_user",
            &mint_login(&k.rs, json!({"iss":"https://rs.login.test","sub":"user_2alice","scope":null})),
        ),
    );

    // 3. The line's issuer: a token of another issuer does not log in through it.
    refused(
        line("https://es.login.test"),
        "a token of another registered issuer (rs) through es's line",
        "issuer_mismatch",
        "login_rs",
        "RS256-1",
        "app_user",
        good,
    );
    s.check(
        "oauth: ... the refusal names both issuers",
        "the token's issuer \"https://rs.login.test\" is not the one the pg_hba.conf line names (issuer=\"https://es.login.test\"): log in through a line that names it, or with a token of that issuer",
        o.why_refused(),
    );
    refused(
        line("https://es.login.test"),
        "a token of an issuer registered nowhere through es's line",
        "issuer_mismatch",
        "-",
        "RS256-1",
        "app_user",
        &mint_login(&k.rs, json!({"iss":"https://nobody.login.test","sub":"user_2alice"})),
    );
    s.check(
        "oauth: control: the same token through rs's line logs in",
        "user_2alice",
        who(line("https://rs.login.test"), "app_user", good),
    );
    s.check(
        "oauth: a line naming the issuer's discovery URL, OpenID Connect's way and RFC 8414's, admits its tokens",
        "user_2alice user_2alice",
        format!(
            "{} {}",
            who(line("https://rs.login.test/.well-known/openid-configuration"), "app_user", good),
            who(line("https://rs.login.test/.well-known/oauth-authorization-server"), "app_user", good)
        ),
    );
    refused(
        line("https://es.login.test/.well-known/openid-configuration"),
        "a discovery-URL line of another issuer",
        "issuer_mismatch",
        "login_rs",
        "RS256-1",
        "app_user",
        good,
    );
    let slash_token = mint_login(&slash, json!({"iss":"https://slash.login.test/","sub":"user_slash"}));
    s.check(
        "oauth: an issuer ending in / (Auth0's): a line naming it exactly, or its discovery URL, admits its tokens",
        "user_slash user_slash",
        format!(
            "{} {}",
            who(line("https://slash.login.test/"), "app_user", &slash_token),
            who(line("https://slash.login.test/.well-known/openid-configuration"), "app_user", &slash_token)
        ),
    );
    refused(
        line("https://slash.login.test"),
        "an issuer ending in /, through a line naming it without the /",
        "issuer_mismatch",
        "slash",
        "slash-1",
        "app_user",
        &slash_token,
    );

    // 4. Groups to roles (login.group_roles), and a role claim that is an array.
    s.check(
        "oauth: a member of db-analysts logs in as analyst_login; idp.groups() has the token's groups",
        "analyst_login|user_ann|{staff,db-analysts}",
        o.login(
            "app",
            "analyst_login",
            &mint_login(
                &groups,
                json!({"iss":"https://groups.login.test","sub":"user_ann","groups":["staff","db-analysts"]}),
            ),
            &["SELECT current_user, idp.requesting_user_id(), idp.groups()"],
        ),
    );
    refused(
        PLAIN,
        "a token whose groups map to no role (deny by default)",
        "role_not_allowed",
        "groups",
        "groups-1",
        "analyst_login",
        &mint_login(&groups, json!({"iss":"https://groups.login.test","sub":"user_sam","groups":["staff"]})),
    );
    s.check(
        "oauth: ... the refusal names the groups it had",
        "login.group_roles of provider \"groups\" maps no group of the token to role \"analyst_login\": none of the token's groups (\"staff\") does",
        o.why_refused(),
    );
    refused(
        PLAIN,
        "a token without groups",
        "role_not_allowed",
        "groups",
        "groups-1",
        "analyst_login",
        &mint_login(&groups, json!({"iss":"https://groups.login.test","sub":"user_sam"})),
    );
    refused(
        PLAIN,
        "a group mapped to a superuser: the privileged-role guard still applies",
        "role_not_allowed",
        "groups",
        "groups-1",
        "admin_login",
        &mint_login(&groups, json!({"iss":"https://groups.login.test","sub":"user_root","groups":["db-admins"]})),
    );
    let ops_line = refused(
        PLAIN,
        "a group mapped to a member of a superuser role: refused as well",
        "role_not_allowed",
        "groups",
        "groups-1",
        "viasuper2_login",
        &mint_login(&groups, json!({"iss":"https://groups.login.test","sub":"user_ops","groups":["db-ops"]})),
    );
    s.check(
        "oauth: ... the line says it is a member of a superuser role",
        "1",
        count_f("role \"viasuper2_login\" is privileged (a member of a superuser role)", &ops_line).to_string(),
    );
    let arr =
        mint_login(&claimarr, json!({"iss":"https://claimarr.login.test","sub":"user_c","roles":["analyst_login"]}));
    let as_analyst = o.login("app", "analyst_login", &arr, &["SELECT current_user"]);
    o.login("app", "app_user", &arr, &["SELECT 1"]);
    s.check(
        "oauth: a role claim that is an array: the role asked for must be in it",
        "analyst_login role_not_allowed",
        format!("{as_analyst} {}", o.last_refusal_code()),
    );

    // 5. pg_monitor and the like (refused above through the map): why. A pg_monitor member reads
    // other sessions' query text, where a request token passed in it sits.
    let target = o.primary.target().db("app");
    let sleeper = std::thread::spawn(move || {
        let _ = target.connect().try_q("SELECT pg_sleep(3), 'eyJhbGciOi.secret-in-query.sig'");
    });
    wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
        (o.q("app", "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%secret-in-' || 'query%'") != "0")
            .then_some(())
    });
    s.check(
        "oauth: control: pg_monitor named in login.roles logs in, and reads another session's query text (why it is privileged)",
        "monitor_login|1",
        o.login(
            "app",
            "monitor_login",
            &mint_login(&k.named, json!({"iss":"https://named.login.test","sub":"monitor_login"})),
            &["SELECT current_user, count(*) FROM pg_stat_activity WHERE query LIKE '%secret-in-' || 'query%' AND pid <> pg_backend_pid()"],
        ),
    );
    let _ = sleeper.join();

    // A provider stored by 0.5.0 with login and no audience (registration refuses that now: the
    // row is made as 0.5.0 left it): its logins are refused, with a line saying what to set.
    let register_legacy = |login: &str| {
        format!(
            "SELECT idp.register_provider(jsonb_build_object('provider', 'legacy', 'issuer', 'https://legacy.login.test', 'jwks', {}::jsonb, 'login', {}::jsonb))",
            lit(&legacy.jwks()),
            lit(login)
        )
    };
    // The error as psql prints it with VERBOSITY=verbose: ERROR:  CODE: message, then DETAIL
    // and HINT lines.
    let out = match o.primary.conn("app").client().simple_query(&register_legacy(r#"{"roles": ["app_user"]}"#)) {
        Ok(_) => String::new(),
        Err(e) => match e.as_db_error() {
            Some(db) => {
                let mut t = format!("ERROR:  {}: {}\n", db.code().code(), db.message());
                if let Some(d) = db.detail() {
                    t.push_str(&format!("DETAIL:  {d}\n"));
                }
                if let Some(h) = db.hint() {
                    t.push_str(&format!("HINT:  {h}\n"));
                }
                t
            }
            None => e.to_string(),
        },
    };
    s.check(
        "oauth: registering login without an audience is refused (22023), naming login.audience, with a hint",
        "22023 invalid provider config: login.audience: 1",
        format!(
            "{} {} {}",
            grep_o("^ERROR: +[0-9A-Z]{5}", &out)
                .iter()
                .map(|m| first("[0-9A-Z]{5}$", m))
                .collect::<Vec<_>>()
                .join("\n"),
            first(r"invalid provider config: login\.audience:", &out),
            grep_c(r#"^HINT: .*"login": \{"audience""#, &out)
        ),
    );
    let mut c = o.primary.conn("app");
    c.q(&register_legacy(r#"{"roles": ["app_user"], "audience": "urn:pg-idp:db"}"#));
    c.q("UPDATE idp.provider_registry SET config = config #- '{login,audience}' WHERE name = 'legacy'");
    drop(c);
    let legacy_token = mint_login(&legacy, json!({"iss":"https://legacy.login.test","sub":"user_legacy"}));
    o.wait_login_provider("app", "legacy");
    refused(
        PLAIN,
        "a login provider from 0.5.0 without an audience",
        "invalid_audience",
        "legacy",
        "legacy-1",
        "app_user",
        &legacy_token,
    );
    s.check(
        "oauth: ... the line names the provider and what to set",
        "provider \"legacy\" allows logins but names no audience for them (a config from before 0.6.0): set login.audience to the audience its login tokens are issued for",
        o.why_refused(),
    );
    o.q("app", &register_legacy(r#"{"roles": ["app_user"], "audience": "urn:pg-idp:db"}"#));
    s.check(
        "oauth: control: once login.audience is set, it logs in",
        "user_legacy",
        o.poll(Duration::from_secs(30), "user_legacy", || who(PLAIN, "app_user", &legacy_token)),
    );

    // 6. idp.stats counts logins accepted and refused, by reason (groups' logins above: one
    // accepted, four refused for role_not_allowed; rs's: insufficient_scope five times,
    // issuer_mismatch twice).
    s.check(
        "oauth: idp.stats counts logins and refusals by reason",
        "1|4|{\"role_not_allowed\": 4} t t",
        format!(
            "{} {} {}",
            o.q("app", "SELECT logins, logins_refused, login_refusals_by_code FROM idp.stats WHERE datname = 'app' AND provider = 'groups'"),
            o.q("app", "SELECT (login_refusals_by_code->>'insufficient_scope')::int >= 5 AND (login_refusals_by_code->>'issuer_mismatch')::int >= 2 AND logins > 0 FROM idp.stats WHERE datname = 'app' AND provider = 'login_rs'"),
            o.q("app", "SELECT (login_refusals_by_code->>'issuer_mismatch')::int >= 1 FROM idp.stats WHERE datname = 'app' AND provider IS NULL")
        ),
    );
}

fn validator_reads(s: &Suite, o: &Oauth, k: &Keys, alice: &Alice) {
    s.say("oauth: what the validator reads of the connection: the role, the database, the pg_hba.conf line");
    // PostgreSQL's Port and HbaLine are read through src/oauth_shim.c, compiled against this
    // server's headers. At DEBUG1 the validator logs what it read (never the token). Each login
    // below differs from another in the role, the database or the line's mode
    // (delegate_ident_mapping=1 or map=), so a field read from the wrong place, or a constant,
    // fails at least one; the oid is pg_database's.
    o.log_setting("log_min_messages", "debug1", "debug1");
    // What that login's DEBUG1 line says.
    let read_by_validator = |via: Via, db: &str, role: &str, token: &str| {
        let off = o.log_size();
        o.login_via(via, db, role, token, &["SELECT 1"]);
        first("login of role .*", &o.log_since(off, &format!("pg_idp: login of role \"{role}\"")))
    };
    let oid_of = |db: &str| o.q("app", &format!("SELECT oid FROM pg_database WHERE datname = {}", lit(db)));
    let mapped = mint_login(&k.ed, json!({"iss":"https://ed.login.test","sub":"user_mapped"}));
    s.check(
        "oauth: read: app_user to app through the delegate_ident_mapping=1 line (naming rs's issuer)",
        format!("login of role \"app_user\" to database \"app\" (oid {}), pg_hba.conf line: oauth, delegate_ident_mapping=1, issuer \"https://rs.login.test\", scope \"openid db\"", oid_of("app")),
        read_by_validator(PLAIN, "app", "app_user", &alice.login),
    );
    s.check(
        "oauth: read: mapped_user to app through the map= line (naming ed's issuer)",
        format!("login of role \"mapped_user\" to database \"app\" (oid {}), pg_hba.conf line: oauth, user name map, issuer \"https://ed.login.test\", scope \"openid db\"", oid_of("app")),
        read_by_validator(PLAIN, "app", "mapped_user", &mapped),
    );
    s.check(
        "oauth: read: dbowner_login to app2 through the delegate_ident_mapping=1 line (another issuer and scope)",
        format!("login of role \"dbowner_login\" to database \"app2\" (oid {}), pg_hba.conf line: oauth, delegate_ident_mapping=1, issuer \"https://other.login.test\", scope \"openid db db:extra\"", oid_of("app2")),
        read_by_validator(
            scoped("openid db db:extra"),
            "app2",
            "dbowner_login",
            &mint_login(&k.ed, json!({"iss":"https://other.login.test","sub":"user_owner","scope":"db db:extra"})),
        ),
    );
    s.check(
        "oauth: read: mapped_user to app2 through the map= line",
        format!("login of role \"mapped_user\" to database \"app2\" (oid {}), pg_hba.conf line: oauth, user name map, issuer \"https://ed.login.test\", scope \"openid db\"", oid_of("app2")),
        read_by_validator(PLAIN, "app2", "mapped_user", &mapped),
    );
    o.log_setting("log_min_messages", "", "warning");
    // A database that does not exist is refused by the validator (before, PostgreSQL would have
    // said so only after authentication).
    o.refused(
        PLAIN,
        "a database that does not exist",
        "registry_unavailable",
        "-",
        "RS256-1",
        "nosuchdb",
        "app_user",
        &alice.good,
    );
    s.check(
        "oauth: a database that does not exist: the log line says so",
        "(database \"nosuchdb\" does not exist)",
        first(
            r#"\(database "nosuchdb" does not exist\)"#,
            &last_with("login refused for role \"app_user\" to database \"nosuchdb\"", &o.log()),
        ),
    );
}

/// A provider registered now, in database app, whose tokens may log in as app_user, with a key
/// of its own (returned).
fn new_login_provider(s: &Suite, o: &Oauth, name: &str, issuer: &str, alg: Alg, kid: &str) -> Key {
    let key = Key::generate(s, name, alg, Some(kid));
    o.q(
        "app",
        &format!(
            r#"SELECT idp.register_provider(jsonb_build_object('provider', {}, 'issuer', {},
        'jwks', {}::jsonb, 'login', '{{"audience": "urn:pg-idp:db", "roles": ["app_user"]}}'::jsonb))"#,
            lit(name),
            lit(issuer),
            lit(&key.jwks())
        ),
    );
    key
}

fn changes_and_standby(s: &Suite, o: &Oauth, k: &Keys, alice: &Alice, oauth_settings: &[(&str, &str)]) {
    s.say("oauth: registry changes reach logins with no manual step");
    let late = new_login_provider(s, o, "late", "https://late.login.test", Alg::ES256, "late-1");
    let late_token =
        late.mint(json!({"iss":"https://late.login.test","sub":"user_late","aud":"urn:pg-idp:db","scope":"openid db"}));
    let who = "SELECT idp.requesting_user_id()";
    s.check(
        "oauth: a provider registered after the server started logs in",
        "user_late",
        o.poll(Duration::from_secs(30), "user_late", || o.login("app", "app_user", &late_token, &[who])),
    );
    let rotated = k
        .rs_b
        .mint(json!({"iss":"https://rs.login.test","sub":"user_2alice","aud":"urn:pg-idp:db","scope":"openid db"}));
    o.q("app", &format!("SELECT idp.set_jwks('login_rs', {}::jsonb)", lit(&k.rs_b.jwks())));
    s.check(
        "oauth: a key rotated after the server started logs in",
        "user_2alice",
        o.poll(Duration::from_secs(30), "user_2alice", || o.login("app", "app_user", &rotated, &[who])),
    );
    o.refused(PLAIN, "the rotated-out key", "unknown_key", "login_rs", "RS256-1", "app", "app_user", &alice.good);

    s.say("oauth: one token, many concurrent connections; two databases");
    let host = o.primary.socket_dir().display().to_string();
    let mut running = Vec::new();
    for _ in 1..=20 {
        let mut cmd = o.login_cmd(
            &host,
            o.primary.port(),
            PLAIN,
            "app",
            "app_user",
            &rotated,
            &["SELECT idp.requesting_user_id(), pg_sleep(0.5) IS NOT NULL"],
        );
        let out = o.out_file("conc");
        let file = std::fs::File::create(&out).expect("an output file");
        cmd.stdout(file.try_clone().expect("a handle")).stderr(file).stdin(Stdio::null());
        running.push((Process::spawn(cmd, "a concurrent login"), out));
    }
    let mut all = String::new();
    for (mut p, out) in running {
        p.wait_exit(Duration::from_secs(120));
        all.push_str(&String::from_utf8_lossy(&std::fs::read(&out).unwrap_or_default()));
    }
    s.check(
        "oauth: 20 concurrent logins with one token all see their user",
        "20",
        all.lines().filter(|l| *l == "user_2alice|t").count().to_string(),
    );
    let other = mint_login(&k.ed, json!({"iss":"https://other.login.test","sub":"user_other"}));
    s.check(
        "oauth: app2's provider logs in to app2",
        "user_other|other",
        o.login("app2", "app_user", &other, &["SELECT idp.requesting_user_id(), idp.provider()"]),
    );
    o.refused(PLAIN, "app2's provider in app", "unknown_issuer", "-", "EdDSA-1", "app", "app_user", &other);
    o.refused(PLAIN, "app's provider in app2", "unknown_issuer", "-", "RS256-2", "app2", "app_user", &rotated);

    s.say("oauth: a hot standby logs in from its own snapshot");
    let standby = Cluster::standby_of(s, "standby", o.primary, oauth_settings);
    *o.standby.borrow_mut() = Some(standby);
    s.check(
        "oauth: standby: a login sees the user's rows, read-only",
        "user_2alice|3|t",
        o.poll(Duration::from_secs(30), "user_2alice|3|t", || {
            o.slogin(
                "app",
                "app_user",
                &rotated,
                &["SELECT idp.requesting_user_id(), count(*), pg_is_in_recovery() FROM todos"],
            )
        }),
    );
    let replica = new_login_provider(s, o, "replica", "https://replica.login.test", Alg::EdDSA, "replica-1");
    let replica_token = replica.mint(
        json!({"iss":"https://replica.login.test","sub":"user_replica","aud":"urn:pg-idp:db","scope":"openid db"}),
    );
    s.check(
        "oauth: standby: a provider registered on the primary afterwards logs in there",
        "user_replica",
        o.poll(Duration::from_secs(30), "user_replica", || o.slogin("app", "app_user", &replica_token, &[who])),
    );
    s.check(
        "oauth: standby: a login to app2 from its own snapshot",
        "user_other",
        o.slogin("app2", "app_user", &other, &[who]),
    );
    let mut standby = o.standby.borrow_mut().take().expect("the standby");
    s.check(
        "oauth: standby: no backend crashed",
        "0",
        count_f("terminated by signal", &standby.log().text()).to_string(),
    );
    standby.stop();
}

fn log_failures(s: &Suite, o: &Oauth) {
    s.say("oauth: refused logins follow idp.log_failures: off, and at most idp.log_failures_max lines per window");
    let refusals_since = |off: u64| count_f("pg_idp: login refused", &o.since(off));
    // The FATAL line each refused login ends with: once there, that backend's pg_idp lines are
    // written.
    const FATAL: &str = "FATAL:  OAuth bearer authentication failed";
    o.log_setting("idp.log_failures", "off", "off");
    let off = o.log_size();
    let out = o.login("app", "app_user", "not-a-jwt-quiet", &["SELECT 1"]);
    o.wait_lines(off, FATAL, 1);
    s.check(
        "oauth: idp.log_failures = off: a refused login is refused, and not logged",
        "OAuth bearer authentication failed 0",
        format!("{} {}", first("OAuth bearer authentication failed", &out), refusals_since(off)),
    );
    // first: 10 refused logins (distinct tokens, each a backend of its own) in one window of 5 s
    // with idp.log_failures_max = 3 write 3 lines and one saying the limit was reached; the next
    // window's first line comes after one counting the 7 not logged. (The waits of 5.2 s let a
    // window end: the window is time itself, nothing the server does that could be polled.)
    o.log_setting("idp.log_failures", "", "first");
    o.log_setting("idp.log_failures_max", "3", "3");
    o.log_setting("idp.log_failures_window", "5", "5");
    std::thread::sleep(Duration::from_millis(5200));
    let off = o.log_size();
    for i in 1..=10 {
        o.login("app", "app_user", &format!("not-a-jwt-flood-{i}"), &["SELECT 1"]);
    }
    o.wait_lines(off, FATAL, 10);
    s.check(
        "oauth: 10 refused logins with idp.log_failures_max = 3: 3 lines and 1 saying the limit was reached",
        "3 1",
        format!(
            "{} {}",
            refusals_since(off),
            count_f(
                "idp.log_failures_max = 3 rejection lines written in this idp.log_failures_window (in the cluster)",
                &o.since(off)
            )
        ),
    );
    std::thread::sleep(Duration::from_millis(5200));
    let off = o.log_size();
    o.login("app", "app_user", "not-a-jwt-next-window", &["SELECT 1"]);
    let not_logged = o.log_since(
        off,
        "pg_idp: 7 rejections were not logged in the previous idp.log_failures_window (in the cluster)",
    );
    o.wait_lines(off, FATAL, 1);
    s.check(
        "oauth: the next window: the count of refusals not logged, then the refusal",
        "1 1",
        format!("{} {}", usize::from(!not_logged.is_empty()), refusals_since(off)),
    );
    o.log_setting("idp.log_failures_max", "", "100");
    o.log_setting("idp.log_failures_window", "", "600");
}
