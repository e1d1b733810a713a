//! Signature verification with keys prepared once, when a provider is registered: HMAC keys
//! with their inner and outer pads already hashed, public keys already parsed (aws-lc). A
//! verification then only hashes the signing input and checks the signature. An RSA key may
//! serve six algorithms: it is parsed for RS256 when registered (which proves it usable) and for
//! each other algorithm the first time a token of that algorithm needs it, so a login, which reads
//! its providers afresh, parses each key once.

use aws_lc_rs::hmac;
use std::sync::OnceLock;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};

use crate::alg::Alg;

// Hmac holds three prepared keys inline; boxing them would add a pointer chase to every HS
// verification, and a provider holds only a handful of keys.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(crate) enum Verifier {
    /// An HMAC secret, keyed for each hash (a secret may serve HS256, HS384 and HS512).
    Hmac { sha256: hmac::Key, sha384: hmac::Key, sha512: hmac::Key },
    /// An RSA public key (PKCS#1 DER), parsed for each of the six algorithms it may serve when
    /// first needed (`RSA_ALGS` order; RS256 at once).
    Rsa { der: Box<[u8]>, parsed: Box<[OnceLock<ParsedPublicKey>; 6]> },
    /// An EC (P-256 or P-384) or Ed25519 public key: one algorithm each.
    Single(Alg, ParsedPublicKey),
}

fn public_algorithm(alg: Alg) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match alg {
        Alg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Alg::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Alg::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Alg::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Alg::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Alg::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        // JWS carries ECDSA signatures as fixed-length r || s (RFC 7518 §3.4).
        Alg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        Alg::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
        Alg::EdDSA => &signature::ED25519,
        Alg::HS256 | Alg::HS384 | Alg::HS512 => return None,
    })
}

impl Verifier {
    pub(crate) fn hmac(secret: &[u8]) -> Verifier {
        Verifier::Hmac {
            sha256: hmac::Key::new(hmac::HMAC_SHA256, secret),
            sha384: hmac::Key::new(hmac::HMAC_SHA384, secret),
            sha512: hmac::Key::new(hmac::HMAC_SHA512, secret),
        }
    }

    /// An RSA key from its big-endian modulus and exponent (already range-checked). Parsed for
    /// RS256 now: every RSA algorithm takes the same keys (2048 to 8192 bits), so a key that
    /// parses for one parses for all.
    pub(crate) fn rsa(n: &[u8], e: &[u8]) -> Result<Verifier, String> {
        let der = rsa_public_key_der(n, e).into_boxed_slice();
        let first = rsa_parse(Alg::RS256, &der)?;
        let parsed: Box<[OnceLock<ParsedPublicKey>; 6]> = Box::new(std::array::from_fn(|_| OnceLock::new()));
        let _ = parsed[0].set(first);
        Ok(Verifier::Rsa { der, parsed })
    }

    /// An EC point (uncompressed, 0x04 || x || y) for ES256/ES384, or a raw Ed25519 key.
    pub(crate) fn single(alg: Alg, key: &[u8]) -> Result<Verifier, String> {
        let algorithm = public_algorithm(alg).ok_or_else(|| format!("{} has no public key", alg.name()))?;
        let parsed = ParsedPublicKey::new(algorithm, key).map_err(|e| format!("is not a valid public key ({e})"))?;
        Ok(Verifier::Single(alg, parsed))
    }

    /// True when `signature` is a valid `alg` signature of `message`. An algorithm the key does
    /// not serve is simply false (callers select keys by algorithm first).
    pub(crate) fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Verifier::Hmac { sha256, sha384, sha512 } => {
                let key = match alg {
                    Alg::HS256 => sha256,
                    Alg::HS384 => sha384,
                    Alg::HS512 => sha512,
                    _ => return false,
                };
                // Constant-time comparison of the tag.
                hmac::verify(key, message, signature).is_ok()
            }
            Verifier::Rsa { der, parsed } => {
                let Some(i) = RSA_ALGS.iter().position(|a| *a == alg) else { return false };
                let key = match parsed[i].get() {
                    Some(k) => k,
                    None => match rsa_parse(alg, der) {
                        Ok(k) => parsed[i].get_or_init(|| k),
                        Err(_) => return false,
                    },
                };
                key.verify_sig(message, signature).is_ok()
            }
            Verifier::Single(a, k) => *a == alg && k.verify_sig(message, signature).is_ok(),
        }
    }
}

/// The algorithms an RSA key may serve, in the order of `Verifier::Rsa`'s slots.
const RSA_ALGS: [Alg; 6] = [Alg::RS256, Alg::RS384, Alg::RS512, Alg::PS256, Alg::PS384, Alg::PS512];

fn rsa_parse(alg: Alg, der: &[u8]) -> Result<ParsedPublicKey, String> {
    let algorithm = public_algorithm(alg).expect("RSA algorithms have a verification algorithm");
    ParsedPublicKey::new(algorithm, der).map_err(|e| format!("is not a usable RSA public key ({e})"))
}

/// DER of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn strip(b: &[u8]) -> &[u8] {
        let i = b.iter().position(|&x| x != 0).unwrap_or(b.len().saturating_sub(1));
        &b[i..]
    }
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(v: &[u8]) -> Vec<u8> {
        let v = strip(v);
        let pad = v.first().is_some_and(|&b| b & 0x80 != 0);
        let mut out = vec![0x02];
        push_len(&mut out, v.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    }
    let body = [integer(n), integer(e)].concat();
    let mut der = vec![0x30];
    push_len(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integers_are_minimal_and_positive() {
        // n with its high bit set gets a leading zero; e = 65537.
        let der = rsa_public_key_der(&[0x00, 0x80, 0x01], &[0x01, 0x00, 0x01]);
        assert_eq!(der, vec![0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01]);
        // Long-form lengths for a 2048-bit modulus.
        let n = vec![0xff; 256];
        let der = rsa_public_key_der(&n, &[0x01, 0x00, 0x01]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x0a]);
        assert_eq!(&der[4..8], &[0x02, 0x82, 0x01, 0x01]);
    }

    #[test]
    fn hmac_verifies_only_its_own_algorithm_and_tag() {
        let v = Verifier::hmac(b"0123456789abcdef0123456789abcdef");
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"0123456789abcdef0123456789abcdef"), b"msg");
        assert!(v.verify(Alg::HS256, b"msg", tag.as_ref()));
        assert!(!v.verify(Alg::HS384, b"msg", tag.as_ref()));
        assert!(!v.verify(Alg::HS256, b"msh", tag.as_ref()));
        assert!(!v.verify(Alg::RS256, b"msg", tag.as_ref()));
    }
}
