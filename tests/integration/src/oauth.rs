//! PostgreSQL 18 logins with a bearer token, the way an application using libpq does:
//! tests/oauth/oauth_client.c (libpq's `PQsetAuthDataHook` hands the token over), built once per
//! suite against the libpq of the PostgreSQL under test. The token goes through the environment
//! (`PG_IDP_TOKEN`), never the command line.
//!
//! Only PostgreSQL 18 has OAuth logins: the suites that log in gate those checks on
//! `Pg::get().version >= 18`, and build the client only there.

use std::path::PathBuf;
use std::process::Command;

use crate::cluster::Cluster;
use crate::env::{output, repo_root, Pg};
use crate::suite::Suite;

/// The hook client, built (see the module's comment).
pub struct OAuthClient {
    program: PathBuf,
}

/// What `pg_config FLAG` of the PostgreSQL under test prints (`PG_CONFIG`, or the one beside
/// its programs).
fn pg_config(flag: &str) -> String {
    let config = std::env::var_os("PG_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Pg::get().bin.join("pg_config"));
    output(Command::new(config).arg(flag)).trim().to_string()
}

impl OAuthClient {
    /// Build it into the suite's directory (`cc` with the server's libpq headers and library,
    /// the library's directory as its rpath).
    pub fn build(suite: &Suite) -> OAuthClient {
        let program = suite.dir().join("oauth_client");
        let (include, lib) = (pg_config("--includedir"), pg_config("--libdir"));
        output(
            Command::new("cc")
                .args(["-O2", &format!("-I{include}")])
                .arg(repo_root().join("tests/oauth/oauth_client.c"))
                .args([&format!("-L{lib}"), &format!("-Wl,-rpath,{lib}"), "-lpq", "-o"])
                .arg(&program),
        );
        OAuthClient { program }
    }

    /// Log in to `cluster`'s database `db` as `role` with `token`, naming `issuer` (its
    /// discovery document's URL is what the client is told, as libpq needs), with the client id
    /// `pg_idp_tests`; run each of `sql`. What it printed (stdout, then stderr), without the
    /// lines that begin with `WARNING:` (the suites' `2>&1 | grep -v '^WARNING:'`): each
    /// statement's rows (`|` between fields), or `error: ...`.
    pub fn login(&self, cluster: &Cluster, db: &str, role: &str, issuer: &str, token: &str, sql: &[&str]) -> String {
        let conninfo = format!(
            "host={} port={} dbname={db} user={role} oauth_issuer={issuer}/.well-known/openid-configuration oauth_client_id=pg_idp_tests",
            cluster.socket_dir().display(),
            cluster.port()
        );
        let out = Command::new(&self.program)
            .arg(conninfo)
            .args(sql)
            .env("PG_IDP_TOKEN", token)
            .output()
            .unwrap_or_else(|e| panic!("cannot run the OAuth client: {e}"));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("WARNING:")).collect();
        kept.join("\n")
    }
}
