//! Project Wycheproof's vectors for every algorithm pg_idp verifies, through the functions a
//! token's verification uses: each vector's key is registered as the JWK a provider would
//! publish (`jwk::parse_jwk`; an HMAC key also as a provider's `secret`, `config::parse_provider`),
//! and its message and signature go to `Key::serves` and `Verifier::verify`, as
//! `validation::verify_with` sends `header.payload` and the decoded signature.
//!
//! Every vector lands in exactly one [`Category`] and the tests assert the count of each, per
//! test set, so that no vector is skipped and no category grows unnoticed:
//!
//! - valid in Wycheproof: accepted;
//! - invalid in Wycheproof: refused;
//! - a [`Difference`]: a vector on which pg_idp and Wycheproof differ on purpose, because JWS
//!   (RFC 7518) or pg_idp's key rules say so: valid (or "acceptable") in Wycheproof and refused,
//!   or, once, invalid for its test set's parameters and a valid JWS signature. Each has its
//!   reason below.
//!
//! Test sets run: ECDSA P-256/SHA-256 and P-384/SHA-384 in the IEEE P1363 encoding (r || s,
//! what JWS carries); Ed25519; RSA PKCS#1 v1.5 with SHA-256/384/512 for 2048, 3072, 4096 and
//! 8192-bit keys (pg_idp accepts 2048 to 8192 bits); RSA-PSS with the JWS parameters (MGF1 with
//! the same hash, salt as long as the hash), plus the PSS sets whose parameters JWS does not
//! allow, to show they are refused; HMAC-SHA-256/384/512. Sets of other algorithms (SHA-1,
//! SHA-224, SHA-3, other curves, DER-encoded ECDSA, PSS keys carrying their parameters in the
//! key) are not loaded: a JWK cannot name them.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use wycheproof::{ecdsa, eddsa, mac, rsa_pkcs1_verify, rsa_pss_verify, HashFunction, Mgf, TestResult};

use crate::alg::Alg;
use crate::b64;
use crate::config::parse_provider;
use crate::error::ConfigError;
use crate::jwk::{parse_jwk, Key, MIN_SECRET_BYTES};

/// Where one vector lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    /// Valid in Wycheproof; its key registers and its signature verifies.
    ValidAccepted,
    /// Invalid in Wycheproof; its key registers and its signature does not verify.
    InvalidRefused,
    /// A verdict pg_idp and Wycheproof differ on, on purpose.
    Differs(Difference),
}

/// A kind of vector on which pg_idp's verdict differs from Wycheproof's on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Difference {
    /// An HMAC tag shorter than the hash output (Wycheproof checks truncated HMACs, valid as
    /// MACs). RFC 7518 §3.2: the JWS Signature of HS256/384/512 is the whole HMAC output; a
    /// truncated tag is refused by every HS algorithm.
    HmacTagTruncated,
    /// An HMAC key shorter than pg_idp's minimum secret (`MIN_SECRET_BYTES`, 32 bytes: RFC 7518
    /// §3.2 asks for a key at least as long as the HS256 hash output). The key is refused when
    /// the provider is registered, as a `secret` and as an `oct` JWK.
    HmacKeyBelowMinimum,
    /// An RSA PKCS#1 v1.5 signature whose DigestInfo lacks the NULL parameters ("acceptable"
    /// in Wycheproof: some legacy signers omit it). RFC 8017 §9.2 fixes the encoding, with the
    /// NULL, and RFC 7518 §3.3 uses it as is; JWS has no legacy signers to humour.
    RsaDigestInfoWithoutNull,
    /// RSA-PSS with a salt that is not as long as the hash. RFC 7518 §3.5: the salt length
    /// equals the hash output (32, 48, 64 bytes for PS256, PS384, PS512); refused by every
    /// algorithm the key serves.
    PssSaltNotHashLength,
    /// RSA-PSS whose mask generation uses another hash than the message (or not MGF1). RFC 7518
    /// §3.5: MGF1 with the same hash; refused by every algorithm the key serves.
    PssMgfHashDiffers,
    /// RSA-PSS over SHA-1 or SHA-224: no JWS algorithm; refused by every algorithm the key
    /// serves.
    PssHashNotJws,
    /// Invalid in a set of other PSS parameters, and by construction a valid signature with the
    /// JWS ones: in `rsa_pss_2048_sha256_mgf1_0` (salt length 0), tcId 69 is "s_len changed to
    /// 32", a PS256 signature. PS256 accepts it, and no other algorithm the key serves.
    /// Listed one by one in [`PSS_VALID_WITH_JWS_PARAMETERS`].
    PssValidWithJwsParameters,
}

/// The vectors of [`Difference::PssValidWithJwsParameters`]: test set, tcId, the algorithm that
/// accepts it, and the vector's comment.
const PSS_VALID_WITH_JWS_PARAMETERS: &[(&str, usize, Alg, &str)] =
    &[("rsa_pss_2048_sha256_mgf1_0", 69, Alg::PS256, "s_len changed to 32")];

/// What pg_idp does with a vector of a [`Difference`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// The key is refused when the provider is registered.
    KeyRefused,
    /// The key registers, and no algorithm it serves accepts the signature.
    SignatureRefused,
    /// The key registers, and this algorithm accepts the signature, no other it serves.
    AcceptedOnlyBy(Alg),
}

impl Difference {
    fn verdict(self, set: &str, tc_id: usize) -> Verdict {
        match self {
            Difference::HmacKeyBelowMinimum => Verdict::KeyRefused,
            Difference::HmacTagTruncated
            | Difference::RsaDigestInfoWithoutNull
            | Difference::PssSaltNotHashLength
            | Difference::PssMgfHashDiffers
            | Difference::PssHashNotJws => Verdict::SignatureRefused,
            Difference::PssValidWithJwsParameters => {
                let (.., alg, _) = PSS_VALID_WITH_JWS_PARAMETERS
                    .iter()
                    .find(|(s, t, ..)| *s == set && *t == tc_id)
                    .unwrap_or_else(|| panic!("{set} tcId {tc_id} is not listed"));
                Verdict::AcceptedOnlyBy(*alg)
            }
        }
    }

    /// Whether it is about vectors of that result (a difference of parameters covers the valid
    /// and acceptable vectors of a group; its invalid ones stay invalid).
    fn covers(self, result: TestResult) -> bool {
        match self {
            Difference::PssValidWithJwsParameters => result == TestResult::Invalid,
            _ => result != TestResult::Invalid,
        }
    }
}

use Category::{Differs, InvalidRefused, ValidAccepted};
use Difference::*;

/// What a test set is expected to give: its name, its size, and the count of each category.
type Expected<'a> = (&'static str, usize, &'a [(Category, usize)]);

/// Vectors counted per (test set, category), and the size of each test set loaded.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<(&'static str, Category), usize>,
    loaded: BTreeMap<&'static str, usize>,
}

/// One vector: `difference` what sets it apart (if it [`Difference::covers`] the vector's
/// result), `keys` the key as registered each way it can be (each must agree), `alg` the JWS
/// algorithm of its test group's hash and primitive (`None`: there is none, and an invalid
/// vector must be refused by every algorithm the key serves).
struct Vector<'a> {
    set: &'static str,
    tc_id: usize,
    result: TestResult,
    difference: Option<Difference>,
    keys: &'a [Result<Key, ConfigError>],
    alg: Option<Alg>,
    msg: &'a [u8],
    sig: &'a [u8],
}

/// Whether `key` serves `alg` and the signature verifies, as `verify_with` checks it.
fn verifies(key: &Key, alg: Alg, msg: &[u8], sig: &[u8]) -> bool {
    key.serves(alg) && key.verifier.verify(alg, msg, sig)
}

/// The algorithms `key` serves that accept the signature.
fn accepted_by(key: &Key, msg: &[u8], sig: &[u8]) -> Vec<Alg> {
    Alg::ALL.iter().copied().filter(|&a| verifies(key, a, msg, sig)).collect()
}

impl Tally {
    /// Note a test set's size, as Wycheproof gives it.
    fn load(&mut self, set: &'static str, number_of_tests: usize) {
        assert_eq!(self.loaded.insert(set, number_of_tests), None, "{set} loaded twice");
    }

    /// Check one vector against its category, and count it.
    fn check(&mut self, v: Vector<'_>) {
        let Vector { set, tc_id, result, difference, keys, alg, msg, sig } = v;
        let category = match (result, difference.filter(|d| d.covers(result))) {
            (_, Some(d)) => Differs(d),
            (TestResult::Valid, None) => ValidAccepted,
            (TestResult::Invalid, None) => InvalidRefused,
            (TestResult::Acceptable, None) => {
                panic!("{set} tcId {tc_id}: an acceptable vector that no listed difference covers")
            }
        };
        assert!(!keys.is_empty());
        for key in keys {
            let registered = |what: &str| -> &Key {
                key.as_ref().unwrap_or_else(|e| panic!("{set} tcId {tc_id} ({what}): key refused: {e}"))
            };
            match category {
                ValidAccepted => {
                    let alg = alg.expect("a valid vector has a JWS algorithm");
                    assert!(
                        verifies(registered("valid"), alg, msg, sig),
                        "{set} tcId {tc_id}: a valid vector is refused by {}",
                        alg.name()
                    );
                }
                InvalidRefused => {
                    let key = registered("invalid");
                    match alg {
                        Some(alg) => assert!(
                            !verifies(key, alg, msg, sig),
                            "{set} tcId {tc_id}: an invalid vector is accepted by {}",
                            alg.name()
                        ),
                        None => assert_eq!(accepted_by(key, msg, sig), vec![], "{set} tcId {tc_id}: invalid"),
                    }
                }
                Differs(d) => match d.verdict(set, tc_id) {
                    Verdict::KeyRefused => {
                        assert!(key.is_err(), "{set} tcId {tc_id}: {d:?}: the key registered")
                    }
                    Verdict::SignatureRefused => assert_eq!(
                        accepted_by(registered("difference"), msg, sig),
                        vec![],
                        "{set} tcId {tc_id}: {d:?}: accepted"
                    ),
                    Verdict::AcceptedOnlyBy(alg) => assert_eq!(
                        accepted_by(registered("difference"), msg, sig),
                        vec![alg],
                        "{set} tcId {tc_id}: {d:?}"
                    ),
                },
            }
        }
        *self.counts.entry((set, category)).or_default() += 1;
    }

    /// Assert the counts, and that every vector of each set loaded was counted.
    fn assert_counts(&self, expected: &[Expected<'_>]) {
        let mut want = BTreeMap::new();
        for (set, total, rows) in expected {
            assert_eq!(self.loaded.get(set), Some(total), "{set}: vectors in the test set");
            assert_eq!(rows.iter().map(|(_, n)| n).sum::<usize>(), *total, "{set}: rows do not add up");
            let counted: usize = self.counts.iter().filter(|((s, _), _)| s == set).map(|(_, n)| n).sum();
            assert_eq!(counted, *total, "{set}: vectors counted");
            for (category, n) in *rows {
                want.insert((*set, *category), *n);
            }
        }
        assert_eq!(self.loaded.len(), expected.len(), "test sets loaded");
        assert_eq!(self.counts, want, "counts per (test set, category)");
    }
}

/// A JWK member: unpadded base64url.
fn b64u(bytes: &[u8]) -> Value {
    Value::String(b64::encode(bytes))
}

/// A big-endian integer without its leading zero octets (RFC 7518 §6.3.1: `n` and `e` are
/// minimal), as a JWKS has it.
fn unsigned(be: &[u8]) -> &[u8] {
    let i = be.iter().position(|&b| b != 0).unwrap_or(be.len() - 1);
    &be[i..]
}

fn jwk(v: Value) -> Result<Key, ConfigError> {
    parse_jwk(&v, "wycheproof")
}

fn rsa_jwk(n: &[u8], e: &[u8]) -> Result<Key, ConfigError> {
    jwk(json!({"kty": "RSA", "n": b64u(unsigned(n)), "e": b64u(unsigned(e))}))
}

/// An HMAC key registered as a provider's `secret` (base64url, `secret_encoding: "base64"`)
/// and as an `oct` JWK: the two ways a provider gets a shared secret.
fn hmac_keys(secret: &[u8]) -> [Result<Key, ConfigError>; 2] {
    let config = json!({
        "provider": "wycheproof",
        "issuer": "https://wycheproof.invalid",
        "secret": b64::encode(secret),
        "secret_encoding": "base64",
    });
    let from_config = parse_provider(&config).map(|p| {
        assert_eq!(p.keys.len(), 1);
        p.keys.into_iter().next().expect("the secret")
    });
    [from_config, jwk(json!({"kty": "oct", "k": b64u(secret)}))]
}

#[test]
fn ecdsa_p1363() {
    let sets = [
        (ecdsa::TestName::EcdsaSecp256r1Sha256P1363, "ecdsa_secp256r1_sha256_p1363", Alg::ES256, "P-256", 32),
        (ecdsa::TestName::EcdsaSecp384r1Sha384P1363, "ecdsa_secp384r1_sha384_p1363", Alg::ES384, "P-384", 48),
    ];
    let mut tally = Tally::default();
    for (name, set, alg, crv, len) in sets {
        let tests = ecdsa::TestSet::load(name).expect("test set");
        tally.load(set, tests.number_of_tests);
        for group in &tests.test_groups {
            assert_eq!(group.test_type, ecdsa::TestGroupTypeId::EcdsaP1363);
            // The uncompressed point 04 || x || y: x and y at full length, as RFC 7518 §6.2.1
            // has them in a JWK.
            let point = &group.key.key;
            assert!(point.len() == 1 + 2 * len && point[0] == 4, "{set}: an uncompressed point");
            let key = jwk(json!({
                "kty": "EC",
                "crv": crv,
                "x": b64u(&point[1..1 + len]),
                "y": b64u(&point[1 + len..]),
            }));
            for t in &group.tests {
                tally.check(Vector {
                    set,
                    tc_id: t.tc_id,
                    result: t.result,
                    difference: None,
                    keys: std::slice::from_ref(&key),
                    alg: Some(alg),
                    msg: &t.msg,
                    sig: &t.sig,
                });
            }
        }
    }
    tally.assert_counts(&[
        ("ecdsa_secp256r1_sha256_p1363", 262, &[(ValidAccepted, 173), (InvalidRefused, 89)]),
        ("ecdsa_secp384r1_sha384_p1363", 280, &[(ValidAccepted, 193), (InvalidRefused, 87)]),
    ]);
}

#[test]
fn ed25519() {
    let set = "ed25519";
    let tests = eddsa::TestSet::load(eddsa::TestName::Ed25519).expect("test set");
    let mut tally = Tally::default();
    tally.load(set, tests.number_of_tests);
    for group in &tests.test_groups {
        let key = jwk(json!({"kty": "OKP", "crv": "Ed25519", "x": b64u(&group.key.pk)}));
        for t in &group.tests {
            tally.check(Vector {
                set,
                tc_id: t.tc_id,
                result: t.result,
                difference: None,
                keys: std::slice::from_ref(&key),
                alg: Some(Alg::EdDSA),
                msg: &t.msg,
                sig: &t.sig,
            });
        }
    }
    tally.assert_counts(&[("ed25519", 151, &[(ValidAccepted, 88), (InvalidRefused, 63)])]);
}

#[test]
fn rsa_pkcs1_v15() {
    use rsa_pkcs1_verify::TestName::*;
    let sets = [
        (Rsa2048Sha256, "rsa_signature_2048_sha256", Alg::RS256),
        (Rsa2048Sha384, "rsa_signature_2048_sha384", Alg::RS384),
        (Rsa2048Sha512, "rsa_signature_2048_sha512", Alg::RS512),
        (Rsa3072Sha256, "rsa_signature_3072_sha256", Alg::RS256),
        (Rsa3072Sha384, "rsa_signature_3072_sha384", Alg::RS384),
        (Rsa3072Sha512, "rsa_signature_3072_sha512", Alg::RS512),
        (Rsa4096Sha256, "rsa_signature_4096_sha256", Alg::RS256),
        (Rsa4096Sha384, "rsa_signature_4096_sha384", Alg::RS384),
        (Rsa4096Sha512, "rsa_signature_4096_sha512", Alg::RS512),
        (Rsa8192Sha256, "rsa_signature_8192_sha256", Alg::RS256),
        (Rsa8192Sha384, "rsa_signature_8192_sha384", Alg::RS384),
        (Rsa8192Sha512, "rsa_signature_8192_sha512", Alg::RS512),
    ];
    let mut tally = Tally::default();
    for (name, set, alg) in sets {
        let tests = rsa_pkcs1_verify::TestSet::load(name).expect("test set");
        tally.load(set, tests.number_of_tests);
        for group in &tests.test_groups {
            let key = rsa_jwk(&group.key.n, &group.key.e);
            for t in &group.tests {
                let missing_null = t.flags.contains(&rsa_pkcs1_verify::TestFlag::MissingNull);
                tally.check(Vector {
                    set,
                    tc_id: t.tc_id,
                    result: t.result,
                    difference: missing_null.then_some(RsaDigestInfoWithoutNull),
                    keys: std::slice::from_ref(&key),
                    alg: Some(alg),
                    msg: &t.msg,
                    sig: &t.sig,
                });
            }
        }
    }
    // Each set has one "acceptable" vector, a DigestInfo without its NULL.
    let sizes: [(&str, usize, usize, usize); 12] = [
        ("rsa_signature_2048_sha256", 259, 9, 249),
        ("rsa_signature_2048_sha384", 258, 7, 250),
        ("rsa_signature_2048_sha512", 259, 8, 250),
        ("rsa_signature_3072_sha256", 259, 8, 250),
        ("rsa_signature_3072_sha384", 259, 7, 251),
        ("rsa_signature_3072_sha512", 260, 8, 251),
        ("rsa_signature_4096_sha256", 258, 7, 250),
        ("rsa_signature_4096_sha384", 259, 7, 251),
        ("rsa_signature_4096_sha512", 259, 7, 251),
        ("rsa_signature_8192_sha256", 258, 7, 250),
        ("rsa_signature_8192_sha384", 259, 7, 251),
        ("rsa_signature_8192_sha512", 259, 7, 251),
    ];
    let rows: Vec<[(Category, usize); 3]> = sizes
        .iter()
        .map(|&(_, _, valid, invalid)| {
            [(ValidAccepted, valid), (InvalidRefused, invalid), (Differs(RsaDigestInfoWithoutNull), 1)]
        })
        .collect();
    let expected: Vec<Expected<'_>> =
        sizes.iter().zip(&rows).map(|(&(set, total, _, _), rows)| (set, total, &rows[..])).collect();
    tally.assert_counts(&expected);
}

/// The PS algorithm of a hash, with its output length (the JWS salt length).
fn pss_alg(hash: HashFunction) -> Option<(Alg, usize)> {
    match hash {
        HashFunction::Sha2_256 => Some((Alg::PS256, 32)),
        HashFunction::Sha2_384 => Some((Alg::PS384, 48)),
        HashFunction::Sha2_512 => Some((Alg::PS512, 64)),
        _ => None,
    }
}

#[test]
fn rsa_pss() {
    use rsa_pss_verify::TestName::*;
    let sets = [
        // The JWS parameters: MGF1 with the same hash, salt as long as the hash.
        (RsaPss2048Sha256Mgf1SaltLen32, "rsa_pss_2048_sha256_mgf1_32"),
        (RsaPss2048Sha384Mgf1SaltLen48, "rsa_pss_2048_sha384_mgf1_48"),
        (RsaPss3072Sha256Mgf1SaltLen32, "rsa_pss_3072_sha256_mgf1_32"),
        (RsaPss4096Sha256Mgf1SaltLen32, "rsa_pss_4096_sha256_mgf1_32"),
        (RsaPss4096Sha384Mgf1SaltLen48, "rsa_pss_4096_sha384_mgf1_48"),
        (RsaPss4096Sha512Mgf1SaltLen64, "rsa_pss_4096_sha512_mgf1_64"),
        // Parameters JWS does not allow: their valid signatures must be refused.
        (RsaPss2048Sha256Mgf1SaltLen0, "rsa_pss_2048_sha256_mgf1_0"),
        (RsaPss4096Sha512Mgf1SaltLen32, "rsa_pss_4096_sha512_mgf1_32"),
        (RsaPss2048Sha256Mgf1Sha1_20, "rsa_pss_2048_sha256_mgf1sha1_20"),
        // One group per combination of SHA-1/224/256/384/512, MGF1 hash and salt length.
        (RsaPssmisc, "rsa_pss_misc"),
    ];
    let mut tally = Tally::default();
    for (name, set) in sets {
        let tests = rsa_pss_verify::TestSet::load(name).expect("test set");
        tally.load(set, tests.number_of_tests);
        for group in &tests.test_groups {
            let key = rsa_jwk(&group.key.n, &group.key.e);
            let jws = pss_alg(group.hash);
            let difference = match jws {
                None => Some(PssHashNotJws),
                Some(_) if group.mgf != Mgf::Mgf1 || group.mgf_hash != Some(group.hash) => Some(PssMgfHashDiffers),
                Some((_, hash_len)) if group.salt_size != hash_len => Some(PssSaltNotHashLength),
                Some(_) => None,
            };
            // The invalid vectors of a group of other parameters are checked with the PS
            // algorithm of their hash (one is a valid PKCS#1 v1.5 signature, which RS256 would
            // accept, as it should: a token's algorithm is the one its header names).
            let alg = jws.map(|(alg, _)| alg);
            for t in &group.tests {
                let listed = PSS_VALID_WITH_JWS_PARAMETERS.iter().find(|(s, tc, ..)| *s == set && *tc == t.tc_id);
                if let Some((.., comment)) = listed {
                    assert_eq!(t.comment, *comment, "{set} tcId {}", t.tc_id);
                }
                tally.check(Vector {
                    set,
                    tc_id: t.tc_id,
                    result: t.result,
                    difference: if listed.is_some() { Some(PssValidWithJwsParameters) } else { difference },
                    keys: std::slice::from_ref(&key),
                    alg,
                    msg: &t.msg,
                    sig: &t.sig,
                });
            }
        }
    }
    tally.assert_counts(&[
        ("rsa_pss_2048_sha256_mgf1_32", 108, &[(ValidAccepted, 63), (InvalidRefused, 45)]),
        ("rsa_pss_2048_sha384_mgf1_48", 141, &[(ValidAccepted, 95), (InvalidRefused, 46)]),
        ("rsa_pss_3072_sha256_mgf1_32", 108, &[(ValidAccepted, 63), (InvalidRefused, 45)]),
        ("rsa_pss_4096_sha256_mgf1_32", 108, &[(ValidAccepted, 63), (InvalidRefused, 45)]),
        ("rsa_pss_4096_sha384_mgf1_48", 141, &[(ValidAccepted, 95), (InvalidRefused, 46)]),
        ("rsa_pss_4096_sha512_mgf1_64", 179, &[(ValidAccepted, 132), (InvalidRefused, 47)]),
        (
            "rsa_pss_2048_sha256_mgf1_0",
            103,
            &[(InvalidRefused, 41), (Differs(PssSaltNotHashLength), 61), (Differs(PssValidWithJwsParameters), 1)],
        ),
        ("rsa_pss_4096_sha512_mgf1_32", 177, &[(InvalidRefused, 45), (Differs(PssSaltNotHashLength), 132)]),
        ("rsa_pss_2048_sha256_mgf1sha1_20", 108, &[(InvalidRefused, 45), (Differs(PssMgfHashDiffers), 63)]),
        (
            "rsa_pss_misc",
            150,
            &[
                // SHA-256/384/512, each with MGF1 of the same hash and the hash's salt length.
                (ValidAccepted, 3),
                (Differs(PssSaltNotHashLength), 15),
                (Differs(PssMgfHashDiffers), 72),
                (Differs(PssHashNotJws), 60),
            ],
        ),
    ]);
}

#[test]
fn hmac() {
    let sets = [
        (mac::TestName::HmacSha256, "hmac_sha256", Alg::HS256, 256),
        (mac::TestName::HmacSha384, "hmac_sha384", Alg::HS384, 384),
        (mac::TestName::HmacSha512, "hmac_sha512", Alg::HS512, 512),
    ];
    let mut tally = Tally::default();
    for (name, set, alg, hash_bits) in sets {
        let tests = mac::TestSet::load(name).expect("test set");
        tally.load(set, tests.number_of_tests);
        for group in &tests.test_groups {
            for t in &group.tests {
                let difference = if t.key.len() < MIN_SECRET_BYTES {
                    Some(HmacKeyBelowMinimum)
                } else if group.tag_size < hash_bits {
                    Some(HmacTagTruncated)
                } else {
                    None
                };
                tally.check(Vector {
                    set,
                    tc_id: t.tc_id,
                    result: t.result,
                    difference,
                    keys: &hmac_keys(&t.key),
                    alg: Some(alg),
                    msg: &t.msg,
                    sig: &t.tag,
                });
            }
        }
    }
    // Keys of 16 (SHA-256) and 24 (SHA-384) bytes are below the minimum; the 32-byte keys of the
    // SHA-512 set are not (pg_idp asks 32 bytes of every secret, whichever HS algorithm it
    // serves), so those vectors are valid and accepted.
    tally.assert_counts(&[
        (
            "hmac_sha256",
            174,
            &[
                (ValidAccepted, 30),
                (InvalidRefused, 108),
                (Differs(HmacTagTruncated), 30),
                (Differs(HmacKeyBelowMinimum), 6),
            ],
        ),
        (
            "hmac_sha384",
            174,
            &[
                (ValidAccepted, 30),
                (InvalidRefused, 108),
                (Differs(HmacTagTruncated), 30),
                (Differs(HmacKeyBelowMinimum), 6),
            ],
        ),
        ("hmac_sha512", 174, &[(ValidAccepted, 33), (InvalidRefused, 108), (Differs(HmacTagTruncated), 33)]),
    ]);
}
