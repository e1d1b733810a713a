//! What a verification is checked against: the time, the token size limit, and what the token is
//! for (a request, or a login).

/// Tokens longer than this are `token_too_large` by default.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16384;

/// What a token is verified for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    /// A request token (`request.jwt`, PostgREST's header): the provider's `audience`, when it
    /// has one, is checked.
    #[default]
    Request,
    /// A login token (PostgreSQL 18's OAuth validator, and the session it opened): a provider
    /// with `login` checks its login audience instead (`login.audience`, by default its
    /// `audience`), and the groups of `login.groups_claim` join the identity's groups.
    Login,
}

/// What a verification is checked against.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// Current time, seconds since the epoch.
    pub now: f64,
    /// Tokens longer than this are `token_too_large` before any parsing.
    pub max_token_bytes: usize,
    /// What the token is for.
    pub purpose: Purpose,
}

impl VerifyOptions {
    /// Options at a given time (seconds since the epoch), for a request token.
    pub fn at(now: f64) -> Self {
        VerifyOptions { now, max_token_bytes: DEFAULT_MAX_TOKEN_BYTES, purpose: Purpose::Request }
    }

    /// Options at the current time, for a request token.
    pub fn now() -> Self {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Self::at(now)
    }

    /// The same options for a login token.
    pub fn for_login(self) -> Self {
        VerifyOptions { purpose: Purpose::Login, ..self }
    }
}
