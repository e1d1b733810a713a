//! Keys and tokens, made fresh for every suite with the core's own signing code
//! (`pg_idp_core::sign`, what the `pg-idp` CLI runs): no committed secret, nothing that expires.
//!
//! Every key's private material and every token minted here is recorded with the suite, so that
//! the log checks (see [`crate::suite`]) look for each of them in every server log.

use pg_idp_core::sign::{mint, SigningKey};
use pg_idp_core::Alg;
use serde_json::{json, Map, Value};

use crate::suite::Suite;

/// A signing key (what `pg-idp keygen` writes), recorded with its suite.
pub struct Key {
    suite: Suite,
    name: String,
    key: SigningKey,
}

impl Key {
    /// A new key for `alg` (RSA 2048 for RS*/PS*, P-256/P-384, Ed25519, or a 256-bit HMAC secret
    /// as 43 base64url characters), with `kid` (or its thumbprint, as `pg-idp keygen`).
    /// `name` is how the log checks speak of it.
    pub fn generate(suite: &Suite, name: &str, alg: Alg, kid: Option<&str>) -> Key {
        let key = SigningKey::generate(alg, kid.map(str::to_string))
            .unwrap_or_else(|e| panic!("cannot generate the {name} key: {e}"));
        Key::record(suite, name, key)
    }

    /// An HMAC key from a shared secret (its UTF-8 bytes), without a kid.
    pub fn from_secret(suite: &Suite, name: &str, alg: Alg, secret: &str) -> Key {
        let key = SigningKey::from_secret(alg, secret.as_bytes(), None)
            .unwrap_or_else(|e| panic!("cannot make the {name} key: {e}"));
        Key::record(suite, name, key)
    }

    fn record(suite: &Suite, name: &str, key: SigningKey) -> Key {
        let file = key.to_file_json();
        for member in ["pkcs8", "secret"] {
            if let Some(v) = file[member].as_str() {
                suite.secret_private(&format!("the {name} key's {member}"), v);
            }
        }
        Key { suite: suite.clone(), name: name.into(), key }
    }

    /// The public JWKS `{"keys": [jwk]}` as compact JSON (what `pg-idp keygen` prints), for
    /// `idp.register_provider`'s `jwks` or a key server's file. Panics for an HMAC key.
    pub fn jwks(&self) -> String {
        let jwk = self.key.public_jwk().unwrap_or_else(|| panic!("the {} key is an HMAC secret: no JWKS", self.name));
        json!({ "keys": [jwk] }).to_string()
    }

    /// The shared secret of an HMAC key, as registered (`"secret"`).
    pub fn secret(&self) -> String {
        String::from_utf8_lossy(
            self.key.secret().unwrap_or_else(|| panic!("the {} key has no shared secret", self.name)),
        )
        .into_owned()
    }

    /// The key's kid.
    pub fn kid(&self) -> Option<&str> {
        self.key.kid.as_deref()
    }

    /// A token with these claims, as `pg-idp mint --claims CLAIMS` makes it (iat now, exp in an
    /// hour unless the claims set them).
    pub fn mint(&self, claims: Value) -> String {
        self.token(claims).mint()
    }

    /// A token to adjust before minting (`exp`, `nbf`, `kid`, `header`...): see [`Mint`].
    pub fn token(&self, claims: Value) -> Mint<'_> {
        let claims = match claims {
            Value::Object(m) => m,
            other => panic!("claims must be a JSON object, not {other}"),
        };
        Mint {
            key: self,
            claims,
            alg: None,
            kid: KidChoice::Key,
            exp: None,
            iat: None,
            nbf: None,
            header: Map::new(),
            name: None,
        }
    }
}

enum KidChoice {
    Key,
    Named(String),
    None,
}

/// A token being minted: the options of `pg-idp mint`.
pub struct Mint<'k> {
    key: &'k Key,
    claims: Map<String, Value>,
    alg: Option<Alg>,
    kid: KidChoice,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    header: Map<String, Value>,
    name: Option<String>,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl Mint<'_> {
    /// Sign with another algorithm of the key's family (`--alg`).
    pub fn alg(mut self, alg: Alg) -> Self {
        self.alg = Some(alg);
        self
    }
    /// Another kid in the header (`--kid`).
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = KidChoice::Named(kid.into());
        self
    }
    /// No kid in the header (`--no-kid`).
    pub fn no_kid(mut self) -> Self {
        self.kid = KidChoice::None;
        self
    }
    /// `exp` this many seconds from now (`--exp`; an hour by default).
    pub fn exp(mut self, seconds: i64) -> Self {
        self.exp = Some(seconds);
        self
    }
    /// `iat` this many seconds from now (`--iat`; now by default).
    pub fn iat(mut self, seconds: i64) -> Self {
        self.iat = Some(seconds);
        self
    }
    /// `nbf` this many seconds from now (`--nbf`).
    pub fn nbf(mut self, seconds: i64) -> Self {
        self.nbf = Some(seconds);
        self
    }
    /// Members merged into the header (`--header`; a null removes one).
    pub fn header(mut self, header: Value) -> Self {
        if let Value::Object(m) = header {
            self.header = m;
        }
        self
    }
    /// How the log checks speak of this token (`clerk_alice`): by default, the key's name.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    fn claims_now(&self) -> Map<String, Value> {
        let mut claims = self.claims.clone();
        let now = now();
        if !claims.contains_key("iat") || self.iat.is_some() {
            claims.insert("iat".into(), json!(now + self.iat.unwrap_or(0)));
        }
        if !claims.contains_key("exp") || self.exp.is_some() {
            claims.insert("exp".into(), json!(now + self.exp.unwrap_or(3600)));
        }
        if let Some(n) = self.nbf {
            claims.insert("nbf".into(), json!(now + n));
        }
        claims
    }

    fn sign(&self, claims: &Map<String, Value>) -> String {
        let k = &self.key.key;
        let alg = self.alg.unwrap_or(k.alg);
        // The key's kid, another, or none: the header's "kid" member set or removed (a null
        // removes it), as the CLI's --kid and --no-kid do.
        let mut header = Map::new();
        match &self.kid {
            KidChoice::Key => {}
            KidChoice::Named(kid) => {
                header.insert("kid".into(), json!(kid));
            }
            KidChoice::None => {
                header.insert("kid".into(), Value::Null);
            }
        }
        header.extend(self.header.clone());
        let token =
            mint(k, alg, claims, &header).unwrap_or_else(|e| panic!("cannot mint with the {} key: {e}", self.key.name));
        let name = self.name.clone().unwrap_or_else(|| format!("a token of the {} key", self.key.name));
        self.key.suite.secret_value(&name, &token);
        token
    }

    /// The token.
    pub fn mint(self) -> String {
        let claims = self.claims_now();
        self.sign(&claims)
    }

    /// `count` tokens (`--count`): every `{n}` in a string claim becomes 1, 2, ... `count`, and
    /// each gets a `jti` unique to this run unless the claims have one.
    pub fn mint_many(self, count: usize) -> Vec<String> {
        let base = self.claims_now();
        let prefix = format!("{:x}-{}", now(), std::process::id());
        (1..=count)
            .map(|i| {
                let mut claims = base.clone();
                for v in claims.values_mut() {
                    fill(v, &i.to_string());
                }
                if !self.claims.contains_key("jti") {
                    claims.insert("jti".into(), json!(format!("{prefix}-{i}")));
                }
                self.sign(&claims)
            })
            .collect()
    }
}

fn fill(v: &mut Value, n: &str) {
    match v {
        Value::String(s) if s.contains("{n}") => *s = s.replace("{n}", n),
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, n)),
        Value::Object(o) => o.values_mut().for_each(|x| fill(x, n)),
        _ => {}
    }
}

/// The issuer of the Clerk fixtures.
pub const CLERK_ISS: &str = "https://acme.clerk.accounts.dev";
/// The issuer of the Auth0 fixtures (with Auth0's trailing slash).
pub const AUTH0_ISS: &str = "https://acme.us.auth0.com/";

/// The keys and tokens of scripts/fixtures that the integration suites use, under the same
/// names and with the same claims.
pub struct Fixtures {
    /// Clerk's RS256 key (kid `clerk-key-1`).
    pub clerk: Key,
    /// The InsForge-style HS256 secret.
    pub insforge: Key,
    /// Auth0's RS256 key (kid `auth0-key-1`).
    pub auth0: Key,
    /// Clerk's public JWKS.
    pub clerk_jwks: String,
    /// Auth0's public JWKS.
    pub auth0_jwks: String,
    /// The InsForge shared secret.
    pub insforge_secret: String,
    /// Clerk session tokens of Alice (`user_2alice`) and Bob (`user_2bob`).
    pub clerk_alice: String,
    pub clerk_bob: String,
    /// Bob's payload under Alice's signature.
    pub tampered_payload: String,
    /// Clerk's key, issuer `https://evil.example.com`.
    pub wrong_issuer: String,
    /// An Auth0 user token (audience `https://api.example.com`, Organizations, a custom claim).
    pub auth0_user: String,
}

fn clerk_claims(sub: &str, email: &str) -> Value {
    json!({"iss": CLERK_ISS, "sub": sub, "email": email, "azp": "http://localhost:3000", "sid": format!("sess_{sub}")})
}

impl Fixtures {
    /// Make them (three keys and their tokens), recorded with `suite`.
    pub fn new(suite: &Suite) -> Fixtures {
        let clerk = Key::generate(suite, "clerk", Alg::RS256, Some("clerk-key-1"));
        let insforge = Key::generate(suite, "insforge", Alg::HS256, None);
        let auth0 = Key::generate(suite, "auth0", Alg::RS256, Some("auth0-key-1"));
        let clerk_alice = clerk.token(clerk_claims("user_2alice", "alice@example.com")).named("clerk_alice").mint();
        let clerk_bob = clerk.token(clerk_claims("user_2bob", "bob@example.com")).named("clerk_bob").mint();
        let a: Vec<&str> = clerk_alice.split('.').collect();
        let b: Vec<&str> = clerk_bob.split('.').collect();
        let tampered_payload = format!("{}.{}.{}", a[0], b[1], a[2]);
        suite.secret_value("tampered_payload", &tampered_payload);
        let wrong_issuer =
            clerk.token(json!({"iss": "https://evil.example.com", "sub": "user_2alice"})).named("wrong_issuer").mint();
        let auth0_user = auth0
            .token(json!({"iss": AUTH0_ISS, "sub": "auth0|abc123",
                "aud": ["https://api.example.com", "https://acme.us.auth0.com/userinfo"],
                "azp": "yOUrAuTh0cLiEnTiD", "scope": "openid profile email", "email": "user@example.com",
                "org_id": "org_TENANT_ID", "https://example.com/roles": ["editor", "viewer"]}))
            .named("auth0_user")
            .mint();
        let clerk_jwks = clerk.jwks();
        let auth0_jwks = auth0.jwks();
        suite.secret_value("clerk_jwks", &clerk_jwks);
        suite.secret_value("auth0_jwks", &auth0_jwks);
        let insforge_secret = insforge.secret();
        Fixtures {
            clerk,
            insforge,
            auth0,
            clerk_jwks,
            auth0_jwks,
            insforge_secret,
            clerk_alice,
            clerk_bob,
            tampered_payload,
            wrong_issuer,
            auth0_user,
        }
    }
}
