//! Fuzz the whole verification entry point: any bytes, as a token, against a registry of an
//! HS256 provider (the secret the seed tokens are signed with, so mutations reach the claim
//! checks) and an RS256 provider. It must never panic; whatever it accepts must be a real
//! identity of one of the two providers.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pg_idp_core::{parse_provider, Registry, VerifyOptions};

/// The seed tokens' secret (scripts/fuzz mints them with it).
pub const SECRET: &str = "pg_idp fuzzing secret, 32+ bytes long";

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let hs = serde_json::json!({
            "provider": "fuzz_hs", "issuer": "https://fuzz.example.com", "secret": SECRET,
            "audience": ["fuzz-api"], "required_claims": ["sid"],
            "claim_mapping": {"user_id": "sub", "email": "email", "tenant": "$.org.id", "role": {"claim": "role", "default": "member"}}
        });
        Registry::new(vec![parse_provider(&hs).expect("fuzz provider config")])
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let opts = VerifyOptions::at(1_800_000_000.0);
    if let Ok(id) = registry().verify(token, &opts) {
        assert_eq!(id.provider, "fuzz_hs");
        assert!(!id.user_id.is_empty());
        assert!(id.is_live(opts.now, 30));
        let _ = id.claims();
    }
});
