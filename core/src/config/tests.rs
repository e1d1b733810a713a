//! Unit tests of `config`, beside it so that the module reads as its own code.

use super::*;
use serde_json::json;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn minimal_hs_provider() {
    let p = parse_provider(&json!({"provider":"insforge","issuer":"https://x","secret":SECRET})).unwrap();
    assert_eq!(p.name, "insforge");
    assert_eq!(p.claim_mapping.user_id.source, "sub");
    assert_eq!(p.leeway_seconds, 30);
    assert!(p.has_secret());
}

#[test]
fn errors_name_the_field_and_never_the_secret() {
    let cases = [
        (json!({"provider":"a","secret":SECRET}), "issuer"),
        (json!({"provider":"a","issuer":"https://x"}), "jwks"),
        (json!({"provider":"a","issuer":"https://x","secret":SECRET,"bogus":1}), "bogus"),
        (json!({"issuer":"https://x","secret":SECRET}), "provider"),
        (json!({"provider":"a b","issuer":"https://x","secret":SECRET}), "provider"),
        (json!({"provider":"a","issuer":"https://x","secret":"short-secret-value"}), "secret"),
        (json!({"provider":"a","issuer":"https://x","secret":12345}), "secret"),
        (json!({"provider":"a","issuer":"https://x","secret":SECRET,"audience":7}), "audience"),
        (
            json!({"provider":"a","issuer":"https://x","secret":SECRET,"claim_mapping":{"uid":"sub"}}),
            "claim_mapping.uid",
        ),
        (
            json!({"provider":"a","issuer":"https://x","secret":SECRET,"claim_mapping":{"email":"$["}}),
            "claim_mapping.email",
        ),
        (json!({"provider":"a","issuer":"https://x","secret":SECRET,"leeway_seconds":-1}), "leeway_seconds"),
        (json!("not an object"), "config"),
    ];
    for (cfg, field) in cases {
        let e = parse_provider(&cfg).unwrap_err();
        assert_eq!(e.field, field, "{e}");
        assert!(!e.to_string().contains("short-secret-value") && !e.to_string().contains("12345"), "{e}");
    }
}
