//! What a verification is checked against: the time, and the token size limit.

/// Tokens longer than this are `token_too_large` by default.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 16384;

/// What a verification is checked against.
#[derive(Clone, Copy, Debug)]
pub struct VerifyOptions {
    /// Current time, seconds since the epoch.
    pub now: f64,
    /// Tokens longer than this are `token_too_large` before any parsing.
    pub max_token_bytes: usize,
}

impl VerifyOptions {
    /// Options at a given time (seconds since the epoch).
    pub fn at(now: f64) -> Self {
        VerifyOptions { now, max_token_bytes: DEFAULT_MAX_TOKEN_BYTES }
    }

    /// Options at the current time.
    pub fn now() -> Self {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Self::at(now)
    }
}
