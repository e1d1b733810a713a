//! Key generation and token signing for the `pg-idp` CLI, tests and benchmarks. The extension
//! never signs; it only verifies.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self as sig, KeyPair};
use serde_json::{json, Map, Value};

use crate::alg::{Alg, Family};
use crate::b64;

/// A private signing key with its kid and algorithm.
pub struct SigningKey {
    /// The key id put in minted tokens' headers.
    pub kid: Option<String>,
    /// The key's algorithm.
    pub alg: Alg,
    material: Material,
}

enum Material {
    Hmac(Vec<u8>),
    Rsa(sig::RsaKeyPair, Vec<u8>),
    Ec(sig::EcdsaKeyPair, Vec<u8>),
    Ed(sig::Ed25519KeyPair, Vec<u8>),
}

fn ec_alg(alg: Alg) -> &'static sig::EcdsaSigningAlgorithm {
    match alg {
        Alg::ES384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

impl SigningKey {
    /// Generate a new key for `alg`: a 256-bit random secret (as 43 base64url characters) for
    /// HS*, RSA 2048 for RS*/PS*, P-256/P-384 for ES256/ES384, Ed25519 for EdDSA.
    pub fn generate(alg: Alg, kid: Option<String>) -> Result<SigningKey, String> {
        let material = match alg.family() {
            Family::Hmac => {
                let mut raw = [0u8; 32];
                SystemRandom::new().fill(&mut raw).map_err(|_| "random generator failed")?;
                Material::Hmac(b64::encode(&raw).into_bytes())
            }
            Family::Rsa => {
                let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| "RSA key generation failed")?;
                let der = kp.as_der().map_err(|_| "RSA key encoding failed")?.as_ref().to_vec();
                Material::Rsa(kp, der)
            }
            Family::EcP256 | Family::EcP384 => {
                let kp = sig::EcdsaKeyPair::generate(ec_alg(alg)).map_err(|_| "EC key generation failed")?;
                let der = kp.to_pkcs8v1().map_err(|_| "EC key encoding failed")?.as_ref().to_vec();
                Material::Ec(kp, der)
            }
            Family::Ed25519 => {
                let kp = sig::Ed25519KeyPair::generate().map_err(|_| "Ed25519 key generation failed")?;
                let der = kp.to_pkcs8().map_err(|_| "Ed25519 key encoding failed")?.as_ref().to_vec();
                Material::Ed(kp, der)
            }
        };
        let mut key = SigningKey { kid: None, alg, material };
        key.kid = match kid {
            Some(k) => Some(k),
            None => Some(key.thumbprint()),
        };
        Ok(key)
    }

    /// An HMAC key from a shared secret, taken as its UTF-8 bytes.
    pub fn from_secret(alg: Alg, secret: &[u8], kid: Option<String>) -> Result<SigningKey, String> {
        if alg.family() != Family::Hmac {
            return Err(format!("a shared secret cannot sign {}", alg.name()));
        }
        Ok(SigningKey { kid, alg, material: Material::Hmac(secret.to_vec()) })
    }

    /// The shared secret of an HMAC key.
    pub fn secret(&self) -> Option<&[u8]> {
        match &self.material {
            Material::Hmac(s) => Some(s),
            _ => None,
        }
    }

    /// The public JWK (no private members). `None` for HMAC keys, which have no public half.
    pub fn public_jwk(&self) -> Option<Value> {
        let mut jwk = match &self.material {
            Material::Hmac(_) => return None,
            Material::Rsa(kp, _) => {
                let pk = kp.public_key();
                json!({"kty": "RSA",
                       "n": b64::encode(pk.modulus().big_endian_without_leading_zero()),
                       "e": b64::encode(pk.exponent().big_endian_without_leading_zero())})
            }
            Material::Ec(kp, _) => {
                let point = kp.public_key().as_ref();
                let n = (point.len() - 1) / 2;
                let crv = if self.alg == Alg::ES384 { "P-384" } else { "P-256" };
                json!({"kty": "EC", "crv": crv,
                       "x": b64::encode(&point[1..1 + n]), "y": b64::encode(&point[1 + n..])})
            }
            Material::Ed(kp, _) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64::encode(kp.public_key().as_ref())})
            }
        };
        let o = jwk.as_object_mut().expect("object");
        if let Some(k) = &self.kid {
            o.insert("kid".into(), json!(k));
        }
        o.insert("alg".into(), json!(self.alg.name()));
        o.insert("use".into(), json!("sig"));
        Some(jwk)
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key; for HMAC keys, of the
    /// secret's digest, so that the kid never reveals the secret.
    fn thumbprint(&self) -> String {
        let canonical = match (&self.material, self.public_jwk()) {
            (Material::Hmac(s), _) => {
                let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s);
                format!("{{\"k\":\"{}\",\"kty\":\"oct\"}}", b64::encode(d.as_ref()))
            }
            (_, Some(j)) => match j["kty"].as_str() {
                Some("RSA") => format!(
                    "{{\"e\":\"{}\",\"kty\":\"RSA\",\"n\":\"{}\"}}",
                    j["e"].as_str().unwrap_or(""),
                    j["n"].as_str().unwrap_or("")
                ),
                Some("EC") => format!(
                    "{{\"crv\":\"{}\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
                    j["crv"].as_str().unwrap_or(""),
                    j["x"].as_str().unwrap_or(""),
                    j["y"].as_str().unwrap_or("")
                ),
                _ => format!("{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"{}\"}}", j["x"].as_str().unwrap_or("")),
            },
            (_, None) => String::new(),
        };
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
        b64::encode(d.as_ref())
    }

    /// The private key file written by `pg-idp keygen`.
    pub fn to_file_json(&self) -> Value {
        let mut v = json!({"alg": self.alg.name(), "kid": self.kid});
        let o = v.as_object_mut().expect("object");
        match &self.material {
            Material::Hmac(s) => {
                o.insert("secret".into(), json!(String::from_utf8_lossy(s)));
            }
            Material::Rsa(_, der) | Material::Ec(_, der) | Material::Ed(_, der) => {
                o.insert("pkcs8".into(), json!(b64::encode(der)));
            }
        }
        v
    }

    /// A key from the JSON that `pg-idp keygen` writes.
    pub fn from_file_json(v: &Value) -> Result<SigningKey, String> {
        let alg = v["alg"].as_str().and_then(Alg::parse).ok_or("key file has no valid \"alg\"")?;
        let kid = v["kid"].as_str().map(str::to_string);
        let material = match alg.family() {
            Family::Hmac => {
                Material::Hmac(v["secret"].as_str().ok_or("key file has no \"secret\"")?.as_bytes().to_vec())
            }
            fam => {
                let der = v["pkcs8"].as_str().and_then(b64::decode).ok_or("key file has no valid \"pkcs8\"")?;
                match fam {
                    Family::Rsa => Material::Rsa(
                        sig::RsaKeyPair::from_pkcs8(&der).map_err(|_| "key file holds no valid RSA key")?,
                        der,
                    ),
                    Family::EcP256 | Family::EcP384 => Material::Ec(
                        sig::EcdsaKeyPair::from_pkcs8(ec_alg(alg), &der)
                            .map_err(|_| "key file holds no valid EC key")?,
                        der,
                    ),
                    _ => Material::Ed(
                        sig::Ed25519KeyPair::from_pkcs8(&der).map_err(|_| "key file holds no valid Ed25519 key")?,
                        der,
                    ),
                }
            }
        };
        Ok(SigningKey { kid, alg, material })
    }

    /// Sign `message` with `alg`, which must be of this key's family.
    pub fn sign(&self, alg: Alg, message: &[u8]) -> Result<Vec<u8>, String> {
        if alg.family() != self.alg.family() {
            return Err(format!("a {} key cannot sign {}", self.alg.name(), alg.name()));
        }
        let rng = SystemRandom::new();
        match &self.material {
            Material::Hmac(secret) => {
                let h = match alg {
                    Alg::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
                    Alg::HS512 => aws_lc_rs::hmac::HMAC_SHA512,
                    _ => aws_lc_rs::hmac::HMAC_SHA256,
                };
                Ok(aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(h, secret), message).as_ref().to_vec())
            }
            Material::Rsa(kp, _) => {
                let enc: &'static dyn sig::RsaEncoding = match alg {
                    Alg::RS256 => &sig::RSA_PKCS1_SHA256,
                    Alg::RS384 => &sig::RSA_PKCS1_SHA384,
                    Alg::RS512 => &sig::RSA_PKCS1_SHA512,
                    Alg::PS256 => &sig::RSA_PSS_SHA256,
                    Alg::PS384 => &sig::RSA_PSS_SHA384,
                    _ => &sig::RSA_PSS_SHA512,
                };
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(enc, &rng, message, &mut out).map_err(|_| "RSA signing failed")?;
                Ok(out)
            }
            Material::Ec(kp, _) => Ok(kp.sign(&rng, message).map_err(|_| "EC signing failed")?.as_ref().to_vec()),
            Material::Ed(kp, _) => Ok(kp.sign(message).as_ref().to_vec()),
        }
    }
}

/// Build a compact JWS: header `{"alg", "typ": "JWT", "kid"?}` merged with `extra_header`.
pub fn mint(
    key: &SigningKey,
    alg: Alg,
    claims: &Map<String, Value>,
    extra_header: &Map<String, Value>,
) -> Result<String, String> {
    let mut header = Map::new();
    header.insert("alg".into(), json!(alg.name()));
    header.insert("typ".into(), json!("JWT"));
    if let Some(k) = &key.kid {
        header.insert("kid".into(), json!(k));
    }
    for (k, v) in extra_header {
        if v.is_null() {
            header.remove(k);
        } else {
            header.insert(k.clone(), v.clone());
        }
    }
    let h = b64::encode(serde_json::to_string(&header).map_err(|e| e.to_string())?.as_bytes());
    let p = b64::encode(serde_json::to_string(claims).map_err(|e| e.to_string())?.as_bytes());
    let input = format!("{h}.{p}");
    let s = key.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", b64::encode(&s)))
}
