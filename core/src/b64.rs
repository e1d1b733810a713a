//! Strict base64url (RFC 7515 §2): URL-safe alphabet, no padding, no whitespace, canonical
//! trailing bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Strict base64url without padding (RFC 7515): `None` for anything else.
pub fn decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input.as_bytes()).ok()
}

/// base64url without padding.
pub fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}
