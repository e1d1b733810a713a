//! Every registered provider: tokens are routed to the providers of their issuer, and the error
//! of the provider that got furthest is the one reported.

use crate::config::Provider;
use crate::directory::{DirectoryKey, DirectoryRecord};
use crate::error::{quote, ErrorCode, VerifyError};
use crate::identity::Identity;
use crate::options::{Purpose, VerifyOptions};
use crate::revocation::Revocations;
use crate::token::{self, raw_str, Members};
use crate::validation::{directory_key_of, header_alg, verify_with};

/// What a provider's directory says about an identity's key (`None`: the provider has no
/// directory), for [`Registry::verify_with_directory`].
pub type DirectoryLookup<'a> = dyn FnMut(&str, &DirectoryKey) -> Result<Option<DirectoryRecord>, VerifyError> + 'a;

/// Every registered provider, and the revoked users and sessions. (The directory is looked up
/// per identity by the caller: see [`crate::directory::DirectoryRecord`].)
#[derive(Clone, Debug, Default)]
pub struct Registry {
    providers: Vec<Provider>,
    revocations: Revocations,
    /// An in-memory directory, for tests and the CLI.
    directory: crate::directory::Directory,
}

impl Registry {
    /// A registry of these providers, with nothing revoked.
    pub fn new(providers: Vec<Provider>) -> Self {
        Registry { providers, revocations: Revocations::default(), directory: Default::default() }
    }

    /// The same registry with these revocations.
    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = revocations;
        self
    }

    /// Use an in-memory directory (tests, the CLI) for [`Registry::verify`].
    pub fn with_directory(mut self, directory: crate::directory::Directory) -> Self {
        self.directory = directory;
        self
    }

    /// The in-memory directory ([`Registry::with_directory`]; empty unless one was given).
    pub fn in_memory_directory(&self) -> &crate::directory::Directory {
        &self.directory
    }

    /// Every provider.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider of that name.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Verify a compact JWS against every provider whose issuer matches its `iss`, with the
    /// in-memory directory (empty unless [`Registry::with_directory`] gave one).
    pub fn verify(&self, token: &str, opts: &VerifyOptions) -> Result<Identity, VerifyError> {
        self.verify_with_directory(token, opts, &mut |provider, key| Ok(Some(self.directory.lookup(provider, key))))
    }

    /// Verify a compact JWS, asking `directory` what a provider's directory says about the
    /// identity (`None`: it has no directory): a user deprovisioned in the directory of any
    /// provider entry of the token's issuer is refused; an active one gets the groups of the
    /// verifying provider's directory. `directory` is asked about the verifying provider first,
    /// then once per other entry of the issuer and key (see the loop below): a lookup must be
    /// cheap for a provider without a directory.
    pub fn verify_with_directory(
        &self,
        token: &str,
        opts: &VerifyOptions,
        directory: &mut DirectoryLookup<'_>,
    ) -> Result<Identity, VerifyError> {
        self.verify_admitted(token, opts, &|_| Ok(()), directory)
    }

    /// [`Registry::verify_with_directory`], with `admit` deciding first whether the token's
    /// issuer (its `iss`, not verified yet) may be used at all: an error from it is the answer,
    /// and no provider is tried (a login through a pg_hba.conf line that names another issuer).
    pub fn verify_admitted(
        &self,
        token: &str,
        opts: &VerifyOptions,
        admit: &dyn Fn(&str) -> Result<(), VerifyError>,
        directory: &mut DirectoryLookup<'_>,
    ) -> Result<Identity, VerifyError> {
        let tok = token::parse(token, opts.max_token_bytes)?;
        let header = Members::parse(&tok.header_json, "header")?;
        let claims = Members::parse(&tok.payload_json, "payload")?;
        let alg = header_alg(&header)?;
        let kid = header.get("kid").and_then(raw_str);
        let iss = match claims.get("iss") {
            None => return Err(VerifyError::new(ErrorCode::MissingClaim, "JWT has no iss claim")),
            Some(raw) => raw_str(raw)
                .ok_or_else(|| VerifyError::new(ErrorCode::InvalidClaim, "JWT iss claim is not a string"))?,
        };
        admit(&iss)?;
        let mut best: Option<VerifyError> = None;
        let mut any = false;
        for p in self.providers.iter().filter(|p| p.issuer == iss.as_ref()) {
            any = true;
            match verify_with(p, &tok, kid.as_deref(), &claims, alg, opts) {
                // The verified payload moves into the identity: no copy.
                Ok(m) => {
                    // The other entries of this issuer, and what each one's directory would know
                    // this user by (its own directory_match), read while the payload is at hand.
                    let siblings: Vec<(&Provider, Option<DirectoryKey>)> = self
                        .providers
                        .iter()
                        .filter(|q| q.issuer == p.issuer && q.name != p.name)
                        .map(|q| (q, directory_key_of(q, &claims)))
                        .collect();
                    // A login's identity also has the groups of its token (login.groups_claim).
                    let token_groups = match (opts.purpose, &p.login) {
                        (Purpose::Login, Some(login)) => login.groups_in(&claims),
                        _ => Vec::new(),
                    };
                    drop(claims);
                    let mut identity = m.into_identity(p, tok.payload_json);
                    let about = |e: VerifyError| e.for_provider(&p.name);
                    self.revocations.check(&identity).map_err(about)?;
                    if let Some(key) = &identity.directory_key {
                        if let Some(rec) = directory(&p.name, key)? {
                            rec.check(&identity.user_id, &identity.provider).map_err(about)?;
                            identity.groups = rec.groups;
                        }
                    }
                    // Deprovisioning covers the person, as revocations do: a user deprovisioned
                    // in the directory of any entry of this issuer is refused whichever entry
                    // verifies the token. Each sibling's directory is asked by the key it
                    // matches its own tokens with and by this token's key; the groups stay
                    // those of the verifying entry's directory.
                    for (q, theirs) in &siblings {
                        let mut keys: Vec<&DirectoryKey> = theirs.iter().collect();
                        if let Some(ours) = &identity.directory_key {
                            if !keys.contains(&ours) {
                                keys.push(ours);
                            }
                        }
                        for key in keys {
                            if let Some(rec) = directory(&q.name, key)? {
                                rec.check(&identity.user_id, &q.name).map_err(about)?;
                            }
                        }
                    }
                    for g in token_groups {
                        if !identity.groups.contains(&g) {
                            identity.groups.push(g);
                        }
                    }
                    return Ok(identity);
                }
                Err(mut e) => {
                    // Every failure past the issuer is about this provider (the counters of
                    // idp.stats and the audit log name it).
                    if e.provider.is_none() {
                        e.provider = Some(p.name.clone());
                    }
                    if best.as_ref().is_none_or(|b| e.code.stage() > b.code.stage()) {
                        best = Some(e);
                    }
                }
            }
        }
        if !any {
            return Err(VerifyError::new(
                ErrorCode::UnknownIssuer,
                format!("no provider is registered for issuer {}", quote(&iss)),
            ));
        }
        Err(best.expect("at least one provider was tried"))
    }
}
