//! The worked examples of RFC 7515 Appendix A, RFC 7520 §4 and RFC 8037 §A.4, verified as whole
//! tokens through the public API (`parse_provider`, `Registry::verify`) at a fixed time.
//!
//! What pg_idp verifies is a JWT: a compact JWS whose payload is a JSON claim set with `iss` and
//! `exp`. RFC 7515's A.1 to A.3 are JWTs, and verify. The others are refused, each with its code:
//!
//! - RFC 7515 A.4 and RFC 7520 §4.3 use ES512 (P-521), no algorithm of pg_idp's (alg.rs);
//! - RFC 7515 A.5 is unsecured (`alg: none`), never accepted;
//! - RFC 7520 §4 and RFC 8037 §A.4 sign text, not a claim set: `malformed` when the payload is
//!   read, before any key is looked at. Their signature layer runs inside the crate
//!   (src/known_answers/rfc.rs), through the functions a verification calls, and verifies;
//! - RFC 7520 §4.5 detaches its payload (an empty payload segment: `malformed`), and §4.6 to
//!   §4.8 exist only in the JSON serializations, which pg_idp does not read (a JWT is compact,
//!   RFC 7519 §1). What of them a compact JWS can carry is checked in src/known_answers/rfc.rs.

use pg_idp_core::{b64, parse_provider, ErrorCode, Provider, Registry, VerifyError, VerifyOptions};
use serde_json::{json, Value};

mod rfc_examples;
use rfc_examples::*;

/// Before the RFC 7515 claims' `exp` (1300819380, 2011-03-22T18:43:00Z).
const NOW: i64 = 1_300_819_000;

fn at(now: i64) -> VerifyOptions {
    VerifyOptions::at(now as f64)
}

fn provider(config: Value) -> Provider {
    parse_provider(&config).unwrap_or_else(|e| panic!("provider refused: {e}"))
}

/// The RFC 7515 keys, as one provider for the examples' issuer `joe`: the A.1 HMAC key as its
/// `secret` (base64url, as the RFC gives it), the A.2 RSA and A.3 EC P-256 public keys as its
/// JWKS. The claims have no `sub`, so `claim_mapping` takes the user id from `iss`; no `aud`
/// either, and the provider asks for none (an audience is checked only when one is configured).
fn rfc7515_config() -> Value {
    json!({
        "provider": "rfc7515",
        "issuer": "joe",
        "secret": RFC7515_A1_K,
        "secret_encoding": "base64",
        "jwks": {"keys": [
            {"kty": "RSA", "n": RFC7515_A2_N, "e": "AQAB"},
            {"kty": "EC", "crv": "P-256", "x": RFC7515_A3_X, "y": RFC7515_A3_Y},
        ]},
        "claim_mapping": {"user_id": "iss"},
    })
}

fn rfc7515_registry() -> Registry {
    Registry::new(vec![provider(rfc7515_config())])
}

fn refused(reg: &Registry, token: &str, now: i64) -> VerifyError {
    match reg.verify(token, &at(now)) {
        Ok(id) => panic!("accepted as {id:?}"),
        Err(e) => e,
    }
}

/// The token with the first octet of its signature changed.
fn tampered(token: &str) -> String {
    let (input, sig) = token.rsplit_once('.').expect("a compact JWS");
    let mut sig = b64::decode(sig).expect("base64url");
    sig[0] ^= 0x01;
    format!("{input}.{}", b64::encode(&sig))
}

#[test]
fn rfc7515_jwts_verify() {
    let reg = rfc7515_registry();
    for (example, token) in [("A.1 HS256", RFC7515_A1), ("A.2 RS256", RFC7515_A2), ("A.3 ES256", RFC7515_A3)] {
        let id = reg.verify(token, &at(NOW)).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!((id.provider.as_str(), id.user_id.as_str(), id.issuer.as_str()), ("rfc7515", "joe", "joe"));
        assert_eq!(id.expires_at, RFC7515_EXP as f64, "{example}");
        assert_eq!(id.issued_at, None, "{example}");
        // One octet of the signature changed.
        let e = refused(&reg, &tampered(token), NOW);
        assert_eq!(e.code, ErrorCode::InvalidSignature, "{example}: {e}");
        // The default leeway is 30 seconds: at exp + 30 it is over.
        let e = refused(&reg, token, RFC7515_EXP + 30);
        assert_eq!(e.code, ErrorCode::Expired, "{example}: {e}");
        assert!(reg.verify(token, &at(RFC7515_EXP + 29)).is_ok(), "{example}: within the leeway");
    }
}

/// With the default mapping the user id is `sub`, which the RFC 7515 claims lack: the signature
/// verifies, and the claim layer refuses the token.
#[test]
fn rfc7515_claims_have_no_sub() {
    let mut config = rfc7515_config();
    config.as_object_mut().unwrap().remove("claim_mapping");
    let reg = Registry::new(vec![provider(config)]);
    for token in [RFC7515_A1, RFC7515_A2, RFC7515_A3] {
        let e = refused(&reg, token, NOW);
        assert_eq!(e.code, ErrorCode::MissingClaim, "{e}");
        assert!(e.message.contains("\"sub\""), "{e}");
    }
}

/// A.4 is ES512 over a text payload; pg_idp verifies neither (the payload is read first).
/// ES512 is refused as a token's algorithm and as a key: see `es512_is_not_supported`.
#[test]
fn rfc7515_es512_is_refused() {
    let reg = rfc7515_registry();
    let e = refused(&reg, RFC7515_A4, NOW);
    assert_eq!((e.code, e.message.as_str()), (ErrorCode::Malformed, "JWT payload is not valid JSON"));
    // Its header with a claim set in place of "Payload": the algorithm is refused, whatever the
    // signature.
    let claims = b64::encode(br#"{"iss":"joe","exp":1300819380}"#);
    let (header, rest) = RFC7515_A4.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let e = refused(&reg, &format!("{header}.{claims}.{signature}"), NOW);
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::UnsupportedAlgorithm, "JWT algorithm \"ES512\" is not supported")
    );
}

/// A.5, unsecured: `alg: none` is never an algorithm pg_idp accepts, with any provider.
#[test]
fn rfc7515_unsecured_is_refused() {
    let e = refused(&rfc7515_registry(), RFC7515_A5, NOW);
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::UnsupportedAlgorithm, "JWT algorithm \"none\" is not supported")
    );
}

/// The P-521 keys of RFC 7515 A.4 and RFC 7520 §3.1 cannot be registered.
#[test]
fn es512_is_not_supported() {
    for (x, y, kid) in [(RFC7515_A4_X, RFC7515_A4_Y, None), (RFC7520_EC_X, RFC7520_EC_Y, Some(RFC7520_KID))] {
        let mut key = json!({"kty": "EC", "crv": "P-521", "x": x, "y": y});
        if let Some(kid) = kid {
            key["kid"] = json!(kid);
        }
        let config = json!({"provider": "p521", "issuer": "joe", "jwks": {"keys": [key]}});
        let e = parse_provider(&config).expect_err("a P-521 key");
        assert!(e.message.contains("unsupported EC curve \"P-521\""), "{e}");
    }
}

/// RFC 7520 §4.1 to §4.5 and RFC 8037 §A.4, with providers holding their keys (which register):
/// every token is `malformed`, for a payload that is not a claim set (§4.5: for its empty payload
/// segment).
#[test]
fn text_payloads_are_not_jwts() {
    let rfc7520 = provider(json!({
        "provider": "rfc7520",
        "issuer": "https://hobbiton.example",
        "jwks": {"keys": [
            {"kty": "RSA", "kid": RFC7520_KID, "use": "sig", "n": RFC7520_RSA_N, "e": "AQAB"},
            {"kty": "oct", "kid": RFC7520_HMAC_KID, "use": "sig", "alg": "HS256", "k": RFC7520_HMAC_K},
        ]},
    }));
    let rfc8037 = provider(json!({
        "provider": "rfc8037",
        "issuer": "https://rfc8037.example",
        "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}]},
    }));
    let reg = Registry::new(vec![rfc7520, rfc8037]);
    let not_json = "JWT payload is not valid JSON";
    for (example, token, message) in [
        ("RFC 7520 4.1 RS256", RFC7520_4_1, not_json),
        ("RFC 7520 4.2 PS384", RFC7520_4_2, not_json),
        ("RFC 7520 4.3 ES512", RFC7520_4_3, not_json),
        ("RFC 7520 4.4 HS256", RFC7520_4_4, not_json),
        ("RFC 7520 4.5 detached", RFC7520_4_5, "JWT has an empty header or payload segment"),
        ("RFC 8037 A.4 EdDSA", RFC8037_A4, not_json),
    ] {
        let e = refused(&reg, token, NOW);
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::Malformed, message), "{example}");
        assert_eq!(e.provider, None, "{example}: refused before any provider");
    }
}
