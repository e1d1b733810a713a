//! What the request token resolves to: the per-backend caches of verified identities (the token
//! itself is `token.rs`'s).
//!
//! A policy such as `user_id = idp.requesting_user_id()` may be evaluated once per row, so:
//! - the identity of the current request is remembered with the request-settings generation
//!   (bumped by every assignment of `request.jwt` or `request.headers`) and the registry epoch;
//!   while both are unchanged a call only re-checks `exp`/`nbf` against the statement's start
//!   time: no parsing, no hashing, no SPI, no allocation;
//! - every verified token is kept in a bounded LRU cache (`idp.cache_size` entries), so a backend
//!   serving many users (a pooled connection) verifies each token once. A hit re-checks `exp`.
//!
//! Both are dropped whenever the registry changes.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::rc::Rc;

use lru::LruCache;
use pg_idp_core::{Identity, Purpose, Registry, VerifyError, VerifyOptions};

use super::token::{request_token, statement_now, verify_options};
use crate::pg::settings;
use crate::registry::cache;

struct Entry {
    identity: Rc<Identity>,
    leeway_seconds: i64,
}

/// What the current request's token resolved to.
enum Resolved {
    /// No token: an anonymous request.
    Anonymous,
    /// A verified identity and the leeway it was verified with.
    Valid(Rc<Identity>, i64),
    /// A rejected token, and the statement time it was rejected at: within that statement the
    /// answer cannot change, so a per-row policy verifies a bad token once too (whether
    /// `idp.on_invalid_token` makes it an error or anonymous).
    Invalid(VerifyError, f64),
}

/// The identity of the current request, and what it was computed from.
struct Current {
    generation: u64,
    epoch: u64,
    max_token_bytes: usize,
    resolved: Resolved,
}

/// Full verifications (cache misses) done by this backend: for tests and `idp.cache_stats()`.
static VERIFICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    static IDENTITIES: RefCell<Option<LruCache<Box<str>, Entry>>> = const { RefCell::new(None) };
    /// The session's login token (PostgreSQL 18), verified as a login token: apart from the
    /// request tokens' cache.
    static LOGIN: RefCell<Option<(Box<str>, Entry)>> = const { RefCell::new(None) };
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

fn with_cache<R>(f: impl FnOnce(&mut LruCache<Box<str>, Entry>) -> R) -> Option<R> {
    let size = NonZeroUsize::new(settings::cache_size());
    IDENTITIES.with(|c| {
        let mut c = c.borrow_mut();
        match (size, c.as_mut()) {
            (None, _) => {
                *c = None;
                None
            }
            (Some(n), Some(cache)) => {
                if cache.cap() != n {
                    cache.resize(n);
                }
                Some(f(cache))
            }
            (Some(n), None) => Some(f(c.insert(LruCache::new(n)))),
        }
    })
}

/// Verify `token` through the LRU cache of verified tokens.
pub(crate) fn lookup(
    registry: &Registry,
    token: &str,
    opts: &VerifyOptions,
) -> Result<(Rc<Identity>, i64), VerifyError> {
    // The limit may have been lowered since the token was cached.
    pg_idp_core::token::check_size(token, opts.max_token_bytes)?;
    // A login token is verified as one (its login audience, its groups): cached apart, in a
    // cache of its own (the session's one login token), so no request token, whatever its text,
    // is ever answered from it.
    let live =
        |e: &Entry| e.identity.is_live(opts.now, e.leeway_seconds).then(|| (e.identity.clone(), e.leeway_seconds));
    let hit = match opts.purpose {
        Purpose::Request => with_cache(|cache| cache.get(token).and_then(live)).flatten(),
        Purpose::Login if settings::cache_size() > 0 => {
            LOGIN.with(|l| l.borrow().as_ref().filter(|(t, _)| **t == *token).and_then(|(_, e)| live(e)))
        }
        Purpose::Login => None,
    };
    if let Some(h) = hit {
        crate::shmem::stats::cache_hit(&h.0.provider);
        return Ok(h);
    }
    VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let identity = match registry.verify_with_directory(token, opts, &mut crate::registry::directory::directory_record)
    {
        Ok(id) => {
            crate::shmem::audit::verified(token, &id);
            Rc::new(id)
        }
        Err(e) => {
            crate::shmem::audit::rejected(token, &e);
            // A kid the provider does not have (yet), or no keys at all yet: ask the worker for an
            // early refresh.
            if matches!(e.code, pg_idp_core::ErrorCode::UnknownKey | pg_idp_core::ErrorCode::NoKeys) {
                if let Some(p) = &e.provider {
                    crate::shmem::served::request_refresh(p);
                }
            }
            return Err(e);
        }
    };
    let leeway_seconds = registry.provider(&identity.provider).map(|p| p.leeway_seconds).unwrap_or(0);
    let entry = Entry { identity: identity.clone(), leeway_seconds };
    match opts.purpose {
        Purpose::Request => {
            with_cache(|cache| cache.put(token.into(), entry));
        }
        Purpose::Login if settings::cache_size() > 0 => LOGIN.with(|l| *l.borrow_mut() = Some((token.into(), entry))),
        Purpose::Login => {}
    }
    Ok((identity, leeway_seconds))
}

/// The registry, dropping every derived cache when it was (re)read.
fn fresh_registry() -> Rc<Registry> {
    let (registry, changed) = cache::current();
    if changed {
        LOGIN.with(|l| *l.borrow_mut() = None);
        IDENTITIES.with(|c| {
            if let Some(c) = c.borrow_mut().as_mut() {
                c.clear()
            }
        });
        CURRENT.with(|c| *c.borrow_mut() = None);
    }
    registry
}

/// Verify any token through the cache.
pub(crate) fn verify_token(token: &str) -> Result<Rc<Identity>, VerifyError> {
    let registry = fresh_registry();
    lookup(&registry, token, &verify_options()).map(|(id, _)| id)
}

/// Answer `f` about the identity of the current request (`None`: anonymous). An invalid token
/// raises SQLSTATE 28000, or is anonymous when `idp.on_invalid_token = null`.
///
/// The hot path (same request settings, same registry, same limits) is a few comparisons and
/// an expiry check; `f` borrows the cached identity, so nothing is copied.
#[inline]
pub(super) fn with_request_identity<R>(f: impl FnOnce(Option<&Rc<Identity>>) -> R) -> R {
    let generation = settings::request_generation();
    let max_token_bytes = settings::max_token_bytes();
    let now = statement_now();
    if cache::is_fresh() {
        let epoch = cache::epoch();
        let hit = CURRENT.with(|c| {
            let c = c.borrow();
            let c = c.as_ref()?;
            if c.generation != generation || c.epoch != epoch || c.max_token_bytes != max_token_bytes {
                return None;
            }
            match &c.resolved {
                Resolved::Anonymous => Some(Ok(None)),
                Resolved::Valid(id, leeway) if id.is_live(now, *leeway) => Some(Ok(Some(id.clone()))),
                Resolved::Valid(..) => None,
                Resolved::Invalid(e, at) if *at == now => Some(Err(e.clone())),
                Resolved::Invalid(..) => None,
            }
        });
        match hit {
            Some(Ok(id)) => return f(id.as_ref()),
            Some(Err(e)) => return rejected(e, f),
            None => {}
        }
    }
    let resolved = resolve_request_identity(now);
    let answer = match &resolved {
        Resolved::Anonymous => Ok(None),
        Resolved::Valid(id, _) => Ok(Some(id.clone())),
        Resolved::Invalid(e, _) => Err(e.clone()),
    };
    CURRENT.with(|c| *c.borrow_mut() = Some(Current { generation, epoch: cache::epoch(), max_token_bytes, resolved }));
    match answer {
        Ok(id) => f(id.as_ref()),
        Err(e) => rejected(e, f),
    }
}

/// A rejected request token: SQLSTATE 28000, or anonymous under `idp.on_invalid_token = null`.
fn rejected<R>(e: VerifyError, f: impl FnOnce(Option<&Rc<Identity>>) -> R) -> R {
    if settings::invalid_token_is_null() {
        f(None)
    } else {
        crate::pg::errors::raise_invalid_token(&e)
    }
}

/// What the request token resolves to at statement time `now`.
fn resolve_request_identity(now: f64) -> Resolved {
    let Some((token, purpose)) = request_token() else { return Resolved::Anonymous };
    let registry = fresh_registry();
    let opts = VerifyOptions { now, max_token_bytes: settings::max_token_bytes(), purpose };
    match lookup(&registry, &token, &opts) {
        Ok((id, leeway)) => Resolved::Valid(id, leeway),
        Err(e) => Resolved::Invalid(e, now),
    }
}

/// The identity of the current request: `None` without a token.
pub(crate) fn request_identity() -> Option<Rc<Identity>> {
    with_request_identity(|id| id.cloned())
}

/// A text field of the current request's identity, as a text datum made while the identity is
/// borrowed: every identity function answers its text this way, with one copy and no other
/// allocation on the hot path.
pub(crate) fn request_identity_text(field: impl FnOnce(&Identity) -> Option<&str>) -> Option<crate::pg::datum::Text> {
    with_request_identity(|id| id.and_then(|id| field(id)).map(crate::pg::datum::Text::new))
}

/// What the caches of this backend hold: (tokens in the LRU, its capacity, full verifications
/// done so far).
pub(crate) fn cache_stats() -> (usize, usize, u64) {
    let (len, cap) = IDENTITIES.with(|c| c.borrow().as_ref().map(|c| (c.len(), c.cap().get())).unwrap_or((0, 0)));
    (len, cap, VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed))
}
