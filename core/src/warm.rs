//! Warming the verifier up once, before any token comes: the first verification in a process
//! pays for work done once (the crypto library's CPU feature detection and tables, key parsing
//! paths, JSON parsing), which every login would pay again in the backend PostgreSQL forks for
//! it. Run in the postmaster (`_PG_init` when preloaded), it is done once for every backend.
//!
//! The keys and tokens below were made for this alone (`pg-idp keygen` and `pg-idp mint`): public
//! keys, and tokens signed by their private keys, which were thrown away. They prove nothing and
//! are never registered anywhere.

use crate::config::parse_provider;
use crate::options::VerifyOptions;
use crate::registry::Registry;

/// The time the tokens are verified at (their `iat` is 1700000000, their `exp` years later).
const AT: f64 = 1_700_000_100.0;
const ISSUER: &str = "https://warm.invalid";
/// An HMAC secret for HS256 (not a secret: it is here for everyone to read).
const HS256_SECRET: &str = "warm-up-secret-0123456789abcdef0123";

/// (algorithm, public JWKS, a token it verifies).
const KEYS: [(&str, &str, &str); 5] = [
    (
        "RS256",
        r#"{"keys":[{"alg":"RS256","e":"AQAB","kid":"warm-RS256","kty":"RSA","n":"noGumcAAls7iGonnyylbcgL_Nx8aVCrQtYBbgska7pvifPTOrBIVPhxpNNvwAy3ob3nfKdrw2eR47VklHZneFMR4LJsWunVeNs6OLSjuj0BawbRjx7G5LAKPV-sGBrKgNwE2GGzXbJaCbS8QJpHJNK2abFWdEaO0oKOdWNniSsuRQfSpPBRPzXAITEdwHgYP0t4sUP221SuOUM7XJo-vS5XD3iLyq8awg7SMKgWVgWXvQvwj7ElCDP2P1A1TdwzcLHlbc7cvvCL2NO8NauooSSQIDzdfNMb8BGP3mCEB_FRu1JFqxzPTtUMmXkHbcWcvlok4s5I06sAY2sp9V0sMUw","use":"sig"}]}"#,
        "eyJhbGciOiJSUzI1NiIsImtpZCI6Indhcm0tUlMyNTYiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTY2Nzk4MzIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJzdWIiOiJ3YXJtIn0.iSh66zESMx88W0_mMAMbFxAQJN6uTpzuXmRXC4bbE6Moho1yldTkWdyAyeJ7lTxwg2g5G1cGY-E4xGSjSVi6f4NFxh9xfFs4Bu7E-hSymj72aKj4EgxSMLuzYAvkA4uZSbVLQuZcuzFnOEX36hRro-VL_MUxgK3SIVEfKmCKJQ3xbMLKGhZ-scZqJ9HgG9vIYh4lhglkM9wf7z80hI-WoVxMrDXdgH11dwP8Dqzdr24XlGDH9jvMaln8s2WctuBWIZCBIiohXBtgTNesaZqytjSYK2D-Xua1nPbexqJrMWHCTbR8L_n-x3rXNBvSaz_ocM41lCnnOoaZeV1AoiThGA",
    ),
    (
        "PS256",
        r#"{"keys":[{"alg":"PS256","e":"AQAB","kid":"warm-PS256","kty":"RSA","n":"s2kQaM54wW_ksIJKzOPIhpWJU0-z5X5475hesxgkN9jv7JERw0avvu799mN3UJDYQgIULzn5ZYvMcnd76ZU8EiAI3iz0HZhap9gU4wWNSrl5XaDae1xp0oj-vjcS06ckgH5tkf_jBZaw2wZkTEiu3O6HFwjC8vGdugx3Quo0mJXzdnRLfotNkk4W1fF-Qd5-VzwUBZn9PC988CXFsuqm_MAJuooJel7xdwS83e1-uA7axGciRjCditcbuoPp1nOVNUfwijnHRtn7VcAoo8QM4Icd8z4rQQlJVziNNCfXdwg6HzvZhwF_YiyvfY2CVbPfzVe7b_pk7jdYpwtPW25eHw","use":"sig"}]}"#,
        "eyJhbGciOiJQUzI1NiIsImtpZCI6Indhcm0tUFMyNTYiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTY2Nzk4MzIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJzdWIiOiJ3YXJtIn0.Dz4ULBuJcOhQ8QJ3b0IBPc88X_7kQzBfC6dp6hyq_rOcoNPrElMZjSVK9f5kCVHUKZG_7NVo0-39jIQimXR2wGG52h3cKfXA6HEfxFThDSNNls6tzfDXiPnCfS7H7PdrDHqvYT6fr00vlrvOI-wNPjcoCjewOANHlV6AcpdudVQsGa95Uts8Msj-SGW8D3yWb5eKrlARLGIJa2L7_88KsPiNgdP54wGQyZCP9h0QjTKxZoLpaakGIaSi0SeZdUMPlP2HqcpLn8ahkC40_n4DmBS-cmm_iot82_Gq7NyIiM0n7Bv3fcYOBpTPYFjUcvsusL0W--kTNE6xJqSIAsEwnw",
    ),
    (
        "ES256",
        r#"{"keys":[{"alg":"ES256","crv":"P-256","kid":"warm-ES256","kty":"EC","use":"sig","x":"G6P-RZkmA0DSP1G8CHq6P05K_RlI-F6rFTnj9qr0Etg","y":"gLaXAlTZdNtvAMIxX81nsp2rZOywq_MA7HukqN8w0dc"}]}"#,
        "eyJhbGciOiJFUzI1NiIsImtpZCI6Indhcm0tRVMyNTYiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTY2Nzk4MzIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJzdWIiOiJ3YXJtIn0.c8oRG6FRbMVKkETjRz2qVx5A3gNQdXaBWg8RYUJ857_bQj3odZB7ZRtCPW0ctJr6z1Vi54S0k1mBg-2JvYT8uw",
    ),
    (
        "ES384",
        r#"{"keys":[{"alg":"ES384","crv":"P-384","kid":"warm-ES384","kty":"EC","use":"sig","x":"maRrhgiJnDclCn884L8szZvQHSd7gbljXxq9FfrDL7mKLoP7V-gpN3RBxHyDZFeg","y":"QRaq6O-BASUD0X7aO-1gP_Ok6d9RJI0Fv75WrO_LgdOiM6AWkgIqKqhZ5O-6Qlgz"}]}"#,
        "eyJhbGciOiJFUzM4NCIsImtpZCI6Indhcm0tRVMzODQiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTY2Nzk4MzIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJzdWIiOiJ3YXJtIn0.IXM5hjUL_19z6pa-o_GXznJ6b462LDU3DO9bRMLxwbIw2vZwTDnEkrpZI1uQW7BJVyPSVlSXvw1mxg2nAsYAu14HQMPpUOk1cqVrA5bilkVGkoEBHFYSvSELOgg1SjTe",
    ),
    (
        "EdDSA",
        r#"{"keys":[{"alg":"EdDSA","crv":"Ed25519","kid":"warm-EdDSA","kty":"OKP","use":"sig","x":"BDaAXpzrJSutZw4lfLe-8I1GirSkOgoMdV4-gavHIzo"}]}"#,
        "eyJhbGciOiJFZERTQSIsImtpZCI6Indhcm0tRWREU0EiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE3OTY2Nzk4MzIsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJzdWIiOiJ3YXJtIn0.bakwlvvGETd6friL2VrEWZ44em00_35JBbVVM48Moww_CqqKJUmNPHK169uJeofAb5cekfr6YIymEa5imIa9Dw",
    ),
];
const HS256_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3OTY2Nzk4NDEsImlhdCI6MTcwMDAwMDAwMCwiaXNzIjoiaHR0cHM6Ly93YXJtLmludmFsaWQiLCJzdWIiOiJ3YXJtIn0.SflcfwBlenTVP03dyxmyMsSGg8KursCCo35jv5NM07o";

/// Verify one token of each algorithm family (RSA PKCS#1 and PSS, ECDSA P-256 and P-384,
/// Ed25519, HMAC) the way a login does; true when every one verified (a unit test checks it).
pub fn warm_up() -> bool {
    let opts = VerifyOptions::at(AT).for_login();
    let mut ok = true;
    for (alg, jwks, token) in KEYS {
        let config = serde_json::json!({
            "provider": format!("warm_{}", alg.to_ascii_lowercase()),
            "issuer": ISSUER,
            "jwks": serde_json::from_str::<serde_json::Value>(jwks).unwrap_or_default(),
        });
        ok &= match parse_provider(&config) {
            Ok(p) => Registry::new(vec![p]).verify(token, &opts).is_ok(),
            Err(_) => false,
        };
    }
    let hs = serde_json::json!({"provider": "warm_hs256", "issuer": ISSUER, "secret": HS256_SECRET});
    ok &= parse_provider(&hs).is_ok_and(|p| Registry::new(vec![p]).verify(HS256_TOKEN, &opts).is_ok());
    ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_family_verifies() {
        assert!(super::warm_up());
    }
}
