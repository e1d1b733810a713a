//! JWS algorithms pg_idp verifies, and which kind of key serves each.

/// A JWS algorithm pg_idp verifies (`none` is never one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

/// The kind of key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// A shared secret (HS256, HS384, HS512).
    Hmac,
    /// An RSA key (RS* and PS*).
    Rsa,
    /// An EC key on P-256 (ES256).
    EcP256,
    /// An EC key on P-384 (ES384).
    EcP384,
    /// An Ed25519 key (EdDSA).
    Ed25519,
}

impl Alg {
    /// Every algorithm, in the order they are listed to users.
    pub const ALL: [Alg; 12] = [
        Alg::HS256,
        Alg::HS384,
        Alg::HS512,
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// Exact, case-sensitive match (RFC 7515 §4.1.1: `alg` values are case-sensitive).
    pub fn parse(name: &str) -> Option<Alg> {
        Alg::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// The name a JWS header and the config use (`RS256`).
    pub fn name(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The kind of key that serves it.
    pub fn family(self) -> Family {
        match self {
            Alg::HS256 | Alg::HS384 | Alg::HS512 => Family::Hmac,
            Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512 => Family::Rsa,
            Alg::ES256 => Family::EcP256,
            Alg::ES384 => Family::EcP384,
            Alg::EdDSA => Family::Ed25519,
        }
    }
}

impl Family {
    /// The algorithms a key of this family can serve.
    pub fn algorithms(self) -> &'static [Alg] {
        match self {
            Family::Hmac => &[Alg::HS256, Alg::HS384, Alg::HS512],
            Family::Rsa => &[Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512],
            Family::EcP256 => &[Alg::ES256],
            Family::EcP384 => &[Alg::ES384],
            Family::Ed25519 => &[Alg::EdDSA],
        }
    }

    /// The family as named in messages ("an RSA key").
    pub fn describe(self) -> &'static str {
        match self {
            Family::Hmac => "a shared secret",
            Family::Rsa => "an RSA key",
            Family::EcP256 => "an EC P-256 key",
            Family::EcP384 => "an EC P-384 key",
            Family::Ed25519 => "an Ed25519 key",
        }
    }
}
