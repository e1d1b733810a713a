//! The pg_hba.conf line that matched a login: the issuer it names (an issuer identifier, or the
//! URL of its discovery document) and the scopes it requires of a token.

use crate::error::quote;

/// OpenID Connect's own scopes (OpenID Connect Core 1.0, §5.4 and §11): a pg_hba.conf line may
/// name them so that the client gets an ID token and the user's claims, but they say nothing
/// about the database, so they are not required of an access token.
pub const OIDC_SCOPES: [&str; 6] = ["openid", "profile", "email", "address", "phone", "offline_access"];

/// The well-known suffixes a discovery URL may end in (OpenID Connect Discovery 1.0 §4, RFC 8414
/// §3), as PostgreSQL and libpq accept them.
const WELL_KNOWN_PREFIX: &str = "/.well-known/";
const WELL_KNOWN_SUFFIXES: [&str; 2] = ["openid-configuration", "oauth-authorization-server"];

/// The `issuer` option of the pg_hba.conf line: an issuer identifier, or the URL of its
/// discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineIssuer {
    /// An issuer identifier: the token's `iss` must be exactly it.
    Identifier(String),
    /// A discovery document's URL: the token's `iss` must be an issuer whose document is at
    /// exactly this URL, built the way the URL is (the suffix appended to the issuer, OpenID
    /// Connect's way, or inserted between its host and its path, RFC 8414's), each removing one
    /// terminating `/` of the issuer first, as both specifications require.
    Discovery {
        /// The URL, as the line has it.
        url: String,
        /// `openid-configuration` or `oauth-authorization-server`.
        suffix: &'static str,
    },
}

impl LineIssuer {
    /// Read the line's `issuer`. A URL with `/.well-known/` in it must be a discovery URL of one
    /// of the two kinds PostgreSQL's client accepts (libpq's own rules: http(s), no query or
    /// fragment, the suffix a whole path segment, at the end of the path or at its start).
    pub fn parse(issuer: &str) -> Result<LineIssuer, String> {
        if issuer.is_empty() {
            return Err("the pg_hba.conf line has no issuer".into());
        }
        let lower = issuer.get(..8).unwrap_or_default().to_ascii_lowercase();
        let authority_start = if lower.starts_with("https://") {
            8
        } else if lower.starts_with("http://") {
            7
        } else {
            // Not a URL: only ever an identifier, compared as is.
            return Ok(LineIssuer::Identifier(issuer.to_string()));
        };
        let rest = &issuer[authority_start..];
        let Some(wk) = rest.find(WELL_KNOWN_PREFIX) else {
            return Ok(LineIssuer::Identifier(issuer.to_string()));
        };
        let bad = |why: &str| Err(format!("the pg_hba.conf line's issuer {} {why}", quote(issuer)));
        if rest.contains(['?', '#']) {
            return bad("is a discovery URL with a query or a fragment");
        }
        let after = &rest[wk + WELL_KNOWN_PREFIX.len()..];
        let Some(suffix) = WELL_KNOWN_SUFFIXES
            .iter()
            .copied()
            .find(|s| after.strip_prefix(s).is_some_and(|tail| tail.is_empty() || tail.starts_with('/')))
        else {
            return bad("names a .well-known document other than openid-configuration or oauth-authorization-server");
        };
        let at_end = after.len() == suffix.len();
        let at_path_start = rest.find('/') == Some(wk);
        if !at_end && !at_path_start {
            return bad("has its .well-known part neither at the end of its path nor at its start");
        }
        Ok(LineIssuer::Discovery { url: issuer.to_string(), suffix })
    }

    /// Whether `iss` is the issuer this line names.
    pub fn admits(&self, iss: &str) -> bool {
        match self {
            LineIssuer::Identifier(id) => id == iss,
            LineIssuer::Discovery { url, suffix } => discovery_urls(iss, suffix).iter().any(|u| u == url),
        }
    }

    /// As the line has it.
    pub fn as_str(&self) -> &str {
        match self {
            LineIssuer::Identifier(s) => s,
            LineIssuer::Discovery { url, .. } => url,
        }
    }
}

/// Where the discovery document (`suffix`) of issuer `iss` is: OpenID Connect's way (the issuer
/// without one terminating `/`, then `/.well-known/<suffix>`) and RFC 8414's (the suffix between
/// the host and the path, the path without one terminating `/`). Empty for an issuer that is
/// not an http(s) URL, or has a query or fragment (which an issuer identifier never has).
fn discovery_urls(iss: &str, suffix: &str) -> Vec<String> {
    let lower = iss.get(..8).unwrap_or_default().to_ascii_lowercase();
    let authority_start = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Vec::new();
    };
    if iss.contains(['?', '#']) {
        return Vec::new();
    }
    let trimmed = iss.strip_suffix('/').unwrap_or(iss);
    let oidc = format!("{trimmed}{WELL_KNOWN_PREFIX}{suffix}");
    let path_at = iss[authority_start..].find('/').map_or(iss.len(), |i| authority_start + i);
    let (origin, path) = iss.split_at(path_at);
    let path = path.strip_suffix('/').unwrap_or(path);
    let rfc8414 = format!("{origin}{WELL_KNOWN_PREFIX}{suffix}{path}");
    if oidc == rfc8414 {
        vec![oidc]
    } else {
        vec![oidc, rfc8414]
    }
}

/// What the pg_hba.conf line that matched the connection says: its issuer and the scopes it
/// requires of a token.
#[derive(Clone, Debug)]
pub struct Line {
    /// The line's `issuer`.
    pub issuer: LineIssuer,
    /// The line's `scope`, as written (for messages).
    pub scope: String,
    /// The scopes of `scope` a token must carry: all but OpenID Connect's own.
    pub required_scopes: Vec<String>,
}

impl Line {
    /// Read the line's `issuer` and `scope` (absent: `""`).
    pub fn new(issuer: &str, scope: &str) -> Result<Line, String> {
        let issuer = LineIssuer::parse(issuer)?;
        let mut required_scopes: Vec<String> = Vec::new();
        for s in scope.split([' ', '\t']).filter(|s| !s.is_empty()) {
            if !OIDC_SCOPES.contains(&s) && !required_scopes.iter().any(|r| r == s) {
                required_scopes.push(s.to_string());
            }
        }
        Ok(Line { issuer, scope: scope.to_string(), required_scopes })
    }
}
