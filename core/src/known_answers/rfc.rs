//! The signature layer of the RFC 7520 §4 and RFC 8037 §A.4 worked examples.
//!
//! Their payloads are text, not JWT claim sets ("It’s a dangerous business, Frodo, ..." and
//! "Example of Ed25519 signing"), and pg_idp verifies JWTs: a full verification refuses them as
//! `malformed` when it reads the payload, before any key is looked at (tests/known_answers.rs
//! asserts that through the public API). Here the layers beneath run on the same tokens, through
//! the functions a full verification calls: `token::parse`, `Members::parse` of the header,
//! `header_alg`, and `validation::verify_with`, which picks the provider's keys by `kid` and
//! algorithm and verifies `header.payload`, then checks the claims. It is given an empty claim
//! set in place of the payload, so "no exp claim", the first thing it checks once the signature
//! has verified, means the signature layer accepted the token.

use serde_json::{json, Value};

use crate::alg::Alg;
use crate::b64;
use crate::config::{parse_provider, Provider};
use crate::error::{ErrorCode, VerifyError};
use crate::jwk::parse_jwk;
use crate::options::{VerifyOptions, DEFAULT_MAX_TOKEN_BYTES};
use crate::token::{self, raw_str, Members};
use crate::validation::{header_alg, verify_with};

#[path = "../../tests/rfc_examples/mod.rs"]
mod examples;
use examples::*;

/// The signature layer's verdict on a compact JWS for `provider`: `Ok` when the signature
/// verifies with a key the provider would choose for it.
fn signature_layer(provider: &Provider, compact: &str) -> Result<(), VerifyError> {
    let tok = token::parse(compact, DEFAULT_MAX_TOKEN_BYTES)?;
    let header = Members::parse(&tok.header_json, "header")?;
    let alg = header_alg(&header)?;
    let kid = header.get("kid").and_then(raw_str);
    let no_claims = Members::parse("{}", "payload").expect("an empty object");
    match verify_with(provider, &tok, kid.as_deref(), &no_claims, alg, &VerifyOptions::at(0.0)) {
        Err(e) if e.code == ErrorCode::MissingClaim && e.message == "JWT has no exp claim" => Ok(()),
        Err(e) => Err(e),
        Ok(_) => unreachable!("an empty claim set has no exp"),
    }
}

/// The claim layer's verdict on the token's payload: what a full verification says of it.
fn claim_layer(compact: &str) -> Result<(), VerifyError> {
    let tok = token::parse(compact, DEFAULT_MAX_TOKEN_BYTES)?;
    Members::parse(&tok.payload_json, "payload").map(drop)
}

/// The token with the first octet of its signature changed.
fn tampered(compact: &str) -> String {
    let (input, sig) = compact.rsplit_once('.').expect("a compact JWS");
    let mut sig = b64::decode(sig).expect("base64url");
    sig[0] ^= 0x01;
    format!("{input}.{}", b64::encode(&sig))
}

/// Accepted by the signature layer, refused (as `malformed`, not a JSON object) by the claim
/// layer, and refused by the signature layer once a signature octet is changed.
fn assert_signature_only(provider: &Provider, compact: &str, what: &str) {
    signature_layer(provider, compact).unwrap_or_else(|e| panic!("{what}: signature refused: {e}"));
    let e = claim_layer(compact).expect_err(what);
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Malformed, "JWT payload is not valid JSON"), "{what}");
    let e = signature_layer(provider, &tampered(compact)).expect_err(what);
    assert_eq!(e.code, ErrorCode::InvalidSignature, "{what}: {e}");
}

/// RFC 7520 §3.3, the RSA public key, as its JWK.
fn rsa_jwk() -> Value {
    json!({"kty": "RSA", "kid": RFC7520_KID, "use": "sig", "n": RFC7520_RSA_N, "e": "AQAB"})
}

/// RFC 7520 §3.5, the symmetric key for MAC computation, as its JWK.
fn hmac_jwk() -> Value {
    json!({"kty": "oct", "kid": RFC7520_HMAC_KID, "use": "sig", "alg": "HS256", "k": RFC7520_HMAC_K})
}

/// A provider with the RFC 7520 keys pg_idp can register (§3.3 RSA and §3.5 HMAC; the §3.1 EC
/// P-521 key it cannot, see `rfc7520_es512_is_not_supported`).
fn rfc7520_provider() -> Provider {
    let config = json!({
        "provider": "rfc7520",
        "issuer": "https://hobbiton.example",
        "jwks": {"keys": [rsa_jwk(), hmac_jwk()]},
    });
    parse_provider(&config).unwrap_or_else(|e| panic!("RFC 7520 keys refused: {e}"))
}

#[test]
fn rfc7520_compact_signatures() {
    let p = rfc7520_provider();
    assert_signature_only(&p, RFC7520_4_1, "4.1 RS256");
    assert_signature_only(&p, RFC7520_4_2, "4.2 PS384");
    assert_signature_only(&p, RFC7520_4_4, "4.4 HS256");
}

/// ES512 (P-521) is no algorithm of pg_idp's (alg.rs): the token's `alg` is refused, and so is
/// the key when a provider is registered.
#[test]
fn rfc7520_es512_is_not_supported() {
    let p = rfc7520_provider();
    let e = signature_layer(&p, RFC7520_4_3).expect_err("ES512");
    assert_eq!(e.code, ErrorCode::UnsupportedAlgorithm, "{e}");
    assert_eq!(Alg::parse("ES512"), None);
    let ec =
        json!({"kty": "EC", "kid": RFC7520_KID, "use": "sig", "crv": "P-521", "x": RFC7520_EC_X, "y": RFC7520_EC_Y});
    let e = parse_jwk(&ec, "jwks.keys[0]").expect_err("a P-521 key");
    assert!(e.message.contains("unsupported EC curve \"P-521\""), "{e}");
}

/// §4.5, detached content: the compact form has an empty payload segment, which pg_idp refuses
/// (a JWT carries its claims). With the payload put back it is §4.4's token, and verifies.
#[test]
fn rfc7520_detached_content() {
    let p = rfc7520_provider();
    let e = signature_layer(&p, RFC7520_4_5).expect_err("detached");
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Malformed, "JWT has an empty header or payload segment"));
    let (header, signature) = RFC7520_4_5.split_once("..").expect("an empty payload segment");
    let attached = format!("{header}.{RFC7520_PAYLOAD}.{signature}");
    assert_eq!(attached, RFC7520_4_4);
    assert_signature_only(&p, &attached, "4.5 with its payload");
}

/// §4.6 to §4.8 exist only in the JSON serializations, which pg_idp does not read (a JWT is
/// compact, RFC 7519 §1). What of them a compact JWS can carry is checked here.
#[test]
fn rfc7520_json_only_examples() {
    let p = rfc7520_provider();
    // §4.6: `alg` protected, `kid` unprotected. The protected part alone is a compact JWS
    // without `kid`, and the provider's HS256 key is chosen by algorithm.
    let compact = format!("{RFC7520_4_6_PROTECTED}.{RFC7520_PAYLOAD}.{RFC7520_4_6_SIGNATURE}");
    assert_signature_only(&p, &compact, "4.6 protected header");
    // §4.7: no protected header at all, so no compact form: the empty header segment is refused.
    // The signature itself is right: the HMAC key verifies it over "." || payload.
    let compact = format!(".{RFC7520_PAYLOAD}.{RFC7520_4_7_SIGNATURE}");
    let e = signature_layer(&p, &compact).expect_err("no protected header");
    assert_eq!(e.code, ErrorCode::Malformed);
    let key = parse_jwk(&hmac_jwk(), "jwks.keys[0]").expect("the HMAC key");
    let signature = b64::decode(RFC7520_4_7_SIGNATURE).expect("base64url");
    assert!(key.verifier.verify(Alg::HS256, format!(".{RFC7520_PAYLOAD}").as_bytes(), &signature));
    // §4.8, three signatures over one payload: the RS256 one (protected `alg`, unprotected `kid`)
    // as a compact JWS verifies; the ES512 one has no protected header (and no supported
    // algorithm); the HS256 one is §4.4's signature under §4.4's header.
    let compact = format!("{RFC7520_4_8_RS256_PROTECTED}.{RFC7520_PAYLOAD}.{RFC7520_4_8_RS256_SIGNATURE}");
    assert_signature_only(&p, &compact, "4.8 RS256");
    assert!(RFC7520_4_4.ends_with(&format!(".{RFC7520_4_8_HS256_SIGNATURE}")));
}

/// RFC 8037 §A.4: Ed25519 over "Example of Ed25519 signing", with the §A.2 public key.
#[test]
fn rfc8037_ed25519() {
    let config = json!({
        "provider": "rfc8037",
        "issuer": "https://rfc8037.example",
        "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}]},
    });
    let p = parse_provider(&config).unwrap_or_else(|e| panic!("RFC 8037 key refused: {e}"));
    assert_signature_only(&p, RFC8037_A4, "RFC 8037 A.4");
}
