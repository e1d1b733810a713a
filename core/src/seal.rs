//! A sealed box, for sending the registry (providers' secrets and keys) from a Citus coordinator
//! to its workers through the text of an SQL command, which a worker writes to its log when the
//! command fails. Each worker first makes a one-time X25519 key pair ([`SyncKey`]) and hands out
//! its public half ([`SyncKey::offer`]); the coordinator seals the registry once for all of them
//! ([`seal`]); each worker opens it with its private half ([`open`]) and then forgets that key.
//!
//! The construction: a random 256-bit content key encrypts the message (AES-256-GCM). For each
//! worker, a fresh ephemeral X25519 key agrees a secret with the worker's public key; HKDF-SHA256
//! of that secret, with the key id and both public keys in its info, gives the key that wraps the
//! content key (AES-256-GCM, the same info as additional data). Every AES key is used once, so
//! the nonces are zero. What travels (key ids, public keys, ciphertext) reveals nothing of the
//! message; who may send a message is decided by who may call the function that opens it, not by
//! the box (there is no sender key).

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::encoding::{AsBigEndian, Curve25519SeedBin};
use aws_lc_rs::{aead, hkdf, rand};
use serde_json::{json, Map, Value};

use crate::b64;

/// How long a worker keeps an unused private key (seconds): older ones are refused and deleted.
pub const KEY_LIFETIME_SECS: i64 = 600;

/// Names the construction: HKDF salt, and part of every key derivation and additional data.
const LABEL: &[u8] = b"pg_idp sealed registry v1";
const FORMAT: &str = "pg_idp sealed registry v1";
const KEY_ID_BYTES: usize = 16;
const PUBLIC_KEY_BYTES: usize = 32;
/// A wrapped content key: 32 bytes and the GCM tag.
const WRAPPED_KEY_BYTES: usize = 32 + 16;

/// A worker's one-time key pair, with the id it is stored and named by.
pub struct SyncKey {
    key_id: String,
    private_key: Vec<u8>,
    public_key: Vec<u8>,
}

impl Drop for SyncKey {
    fn drop(&mut self) {
        // Wiped before the buffer is freed (black_box: the writes are not optimised away).
        self.private_key.fill(0);
        std::hint::black_box(&self.private_key);
    }
}

impl SyncKey {
    /// A fresh key pair and a random key id.
    pub fn generate() -> Result<SyncKey, String> {
        let private = PrivateKey::generate(&X25519).map_err(|_| "cannot generate an X25519 key")?;
        let public = private.compute_public_key().map_err(|_| "cannot compute an X25519 public key")?;
        let seed: Curve25519SeedBin = private.as_be_bytes().map_err(|_| "cannot export an X25519 key")?;
        let mut id = [0u8; KEY_ID_BYTES];
        rand::fill(&mut id).map_err(|_| "no random bytes")?;
        Ok(SyncKey { key_id: hex(&id), private_key: seed.as_ref().to_vec(), public_key: public.as_ref().to_vec() })
    }

    /// The key id (32 lowercase hex digits).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The private key (32 bytes), to be stored where only the worker can read it.
    pub fn private_key(&self) -> &[u8] {
        &self.private_key
    }

    /// What the worker answers the coordinator: the key id and the public key, as one JSON
    /// object (`{"key_id": "...", "public_key": "<base64url>"}`), read by [`parse_offer`].
    pub fn offer(&self) -> String {
        json!({"key_id": self.key_id, "public_key": b64::encode(&self.public_key)}).to_string()
    }
}

/// A worker's public key, as offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The id the worker stored the private key under.
    pub key_id: String,
    public_key: Vec<u8>,
}

/// Read a worker's answer ([`SyncKey::offer`]).
pub fn parse_offer(text: &str) -> Result<Offer, String> {
    let v: Value = serde_json::from_str(text).map_err(|_| "the sync key offer is not JSON")?;
    let o = exact_object(&v, &["key_id", "public_key"]).ok_or("the sync key offer is not {key_id, public_key}")?;
    let key_id = key_id(&o["key_id"]).ok_or("the sync key offer has no valid key_id")?;
    let public_key = bytes(&o["public_key"], PUBLIC_KEY_BYTES).ok_or("the sync key offer has no valid public_key")?;
    Ok(Offer { key_id, public_key })
}

/// Seal `message` for every worker in `to`: one text (a JSON object of base64url values) that
/// [`open`] reads on each of them.
pub fn seal(to: &[Offer], message: &[u8]) -> Result<String, String> {
    let mut content_key = [0u8; 32];
    rand::fill(&mut content_key).map_err(|_| "no random bytes")?;
    let mut recipients = Vec::with_capacity(to.len());
    for offer in to {
        let ephemeral = PrivateKey::generate(&X25519).map_err(|_| "cannot generate an X25519 key")?;
        let ephemeral_public = ephemeral.compute_public_key().map_err(|_| "cannot compute an X25519 public key")?;
        let info = info(&offer.key_id, &offer.public_key, ephemeral_public.as_ref());
        let wrapping_key = agreement::agree(
            &ephemeral,
            UnparsedPublicKey::new(&X25519, &offer.public_key),
            "the worker's public key is not a usable X25519 key".to_string(),
            |shared| derive(shared, &info).map_err(|_| "cannot derive a key".to_string()),
        )?;
        let mut wrapped = content_key.to_vec();
        aes_seal(wrapping_key, &info, &mut wrapped)?;
        recipients.push(json!({
            "key_id": offer.key_id,
            "ephemeral_public": b64::encode(ephemeral_public.as_ref()),
            "wrapped_key": b64::encode(&wrapped),
        }));
    }
    let mut body = message.to_vec();
    let key = aead::UnboundKey::new(&aead::AES_256_GCM, &content_key).map_err(|_| "cannot make an AES key")?;
    content_key.fill(0);
    aes_seal(key, LABEL, &mut body)?;
    Ok(json!({"format": FORMAT, "recipients": recipients, "ciphertext": b64::encode(&body)}).to_string())
}

/// The key ids a sealed text was made for (a worker looks for its own among them).
pub fn key_ids(sealed: &str) -> Result<Vec<String>, String> {
    Ok(parse_sealed(sealed)?.0.into_iter().map(|r| r.key_id).collect())
}

/// Open a sealed text with this worker's key: `key_id` must be one it was sealed for and
/// `private_key` the key stored under it. Any change to the text, or another key, fails.
pub fn open(sealed: &str, key_id: &str, private_key: &[u8]) -> Result<Vec<u8>, String> {
    const CANNOT: &str =
        "the sealed registry cannot be opened with this node's key (altered, or sealed for another key)";
    let (recipients, mut body) = parse_sealed(sealed)?;
    let r = recipients.iter().find(|r| r.key_id == key_id).ok_or("the sealed registry is not for this node's key")?;
    let private =
        PrivateKey::from_private_key(&X25519, private_key).map_err(|_| "the stored sync key is not an X25519 key")?;
    let public = private.compute_public_key().map_err(|_| "the stored sync key is not an X25519 key")?;
    let info = info(key_id, public.as_ref(), &r.ephemeral_public);
    let unwrapping_key = agreement::agree(
        &private,
        UnparsedPublicKey::new(&X25519, &r.ephemeral_public),
        CANNOT.to_string(),
        |shared| derive(shared, &info).map_err(|_| CANNOT.to_string()),
    )?;
    let mut wrapped = r.wrapped_key.clone();
    let content_key = aes_open(unwrapping_key, &info, &mut wrapped).ok_or(CANNOT)?;
    let key = aead::UnboundKey::new(&aead::AES_256_GCM, content_key).map_err(|_| CANNOT)?;
    content_key.fill(0);
    let n = aes_open(key, LABEL, &mut body).ok_or(CANNOT)?.len();
    body.truncate(n);
    Ok(body)
}

/// Where a worker keeps its one-time private keys (PostgreSQL: `idp.sync_keys`).
pub trait KeyStore {
    /// Remove the key stored under one of `key_ids`, and return its id, the private key and its
    /// age in seconds; `None` when this node holds none of them (used, expired and deleted, or
    /// never made here).
    fn take(&mut self, key_ids: &[String]) -> Result<Option<(String, Vec<u8>, i64)>, String>;
}

/// Why a worker refuses a sealed copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// No key of this node opens it: replayed (its key was used), made for another node, or
    /// its key is older than [`KEY_LIFETIME_SECS`].
    UnknownKey,
    /// Not a sealed text, or altered, or not openable with the key named.
    Invalid(String),
    /// The key store failed.
    Store(String),
}

/// What a worker does with a sealed copy: take its key out of `store` (so that the same copy,
/// or any other for that key, never opens again), refuse it when older than
/// [`KEY_LIFETIME_SECS`], and open the copy with it.
pub fn open_once(sealed: &str, store: &mut impl KeyStore) -> Result<Vec<u8>, OpenError> {
    let ids = key_ids(sealed).map_err(OpenError::Invalid)?;
    let (key_id, mut private_key, age) = store.take(&ids).map_err(OpenError::Store)?.ok_or(OpenError::UnknownKey)?;
    let opened = if (0..=KEY_LIFETIME_SECS).contains(&age) {
        open(sealed, &key_id, &private_key).map_err(OpenError::Invalid)
    } else {
        Err(OpenError::UnknownKey)
    };
    private_key.fill(0);
    opened
}

struct Recipient {
    key_id: String,
    ephemeral_public: Vec<u8>,
    wrapped_key: Vec<u8>,
}

fn parse_sealed(sealed: &str) -> Result<(Vec<Recipient>, Vec<u8>), String> {
    const NOT: &str = "not a sealed registry";
    let v: Value = serde_json::from_str(sealed).map_err(|_| NOT)?;
    let o = exact_object(&v, &["format", "recipients", "ciphertext"]).ok_or(NOT)?;
    if o["format"] != FORMAT {
        return Err(format!(
            "{NOT} (format {}, expected {FORMAT:?})",
            crate::quote(o["format"].as_str().unwrap_or("?"))
        ));
    }
    let mut recipients = Vec::new();
    for r in o["recipients"].as_array().ok_or(NOT)? {
        let r = exact_object(r, &["key_id", "ephemeral_public", "wrapped_key"]).ok_or(NOT)?;
        recipients.push(Recipient {
            key_id: key_id(&r["key_id"]).ok_or(NOT)?,
            ephemeral_public: bytes(&r["ephemeral_public"], PUBLIC_KEY_BYTES).ok_or(NOT)?,
            wrapped_key: bytes(&r["wrapped_key"], WRAPPED_KEY_BYTES).ok_or(NOT)?,
        });
    }
    let body = o["ciphertext"].as_str().and_then(b64::decode).filter(|b| b.len() >= 16).ok_or(NOT)?;
    Ok((recipients, body))
}

/// The HKDF info and the wrapped key's additional data: the label, the key id (length first) and
/// both public keys, so that a wrapped key opens only for that key id and that pair of keys.
fn info(key_id: &str, worker_public: &[u8], ephemeral_public: &[u8]) -> Vec<u8> {
    let mut info = LABEL.to_vec();
    info.push(key_id.len() as u8);
    info.extend_from_slice(key_id.as_bytes());
    info.extend_from_slice(worker_public);
    info.extend_from_slice(ephemeral_public);
    info
}

fn derive(shared: &[u8], info: &[u8]) -> Result<aead::UnboundKey, aws_lc_rs::error::Unspecified> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, LABEL).extract(shared);
    let info = [info];
    Ok(prk.expand(&info, &aead::AES_256_GCM)?.into())
}

/// AES-256-GCM with a key used for this one message (hence the zero nonce).
fn aes_seal(key: aead::UnboundKey, aad: &[u8], in_out: &mut Vec<u8>) -> Result<(), String> {
    aead::LessSafeKey::new(key)
        .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key([0; 12]), aead::Aad::from(aad), in_out)
        .map_err(|_| "cannot encrypt".to_string())
}

fn aes_open<'a>(key: aead::UnboundKey, aad: &[u8], in_out: &'a mut [u8]) -> Option<&'a mut [u8]> {
    aead::LessSafeKey::new(key)
        .open_in_place(aead::Nonce::assume_unique_for_key([0; 12]), aead::Aad::from(aad), in_out)
        .ok()
}

/// `v` as an object with exactly these members.
fn exact_object<'a>(v: &'a Value, members: &[&str]) -> Option<&'a Map<String, Value>> {
    let o = v.as_object()?;
    (o.len() == members.len() && members.iter().all(|m| o.contains_key(*m))).then_some(o)
}

fn key_id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    (s.len() == 2 * KEY_ID_BYTES && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then(|| s.to_string())
}

fn bytes(v: &Value, len: usize) -> Option<Vec<u8>> {
    b64::decode(v.as_str()?).filter(|b| b.len() == len)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(k: &SyncKey) -> Offer {
        parse_offer(&k.offer()).unwrap()
    }

    #[test]
    fn round_trip_to_several_workers() {
        let (a, b) = (SyncKey::generate().unwrap(), SyncKey::generate().unwrap());
        assert_ne!(a.key_id(), b.key_id());
        let message = br#"{"providers":[{"secret":"s3cr3t-0123456789abcdef0123456789"}]}"#;
        let sealed = seal(&[offer(&a), offer(&b)], message).unwrap();
        assert_eq!(key_ids(&sealed).unwrap(), vec![a.key_id().to_string(), b.key_id().to_string()]);
        assert_eq!(open(&sealed, a.key_id(), a.private_key()).unwrap(), message);
        assert_eq!(open(&sealed, b.key_id(), b.private_key()).unwrap(), message);
        // What travels holds neither the message nor any private key, in any usual encoding.
        assert!(!sealed.contains("s3cr3t"));
        for k in [&a, &b] {
            assert!(!sealed.contains(&b64::encode(k.private_key())));
            assert!(!sealed.contains(&hex(k.private_key())));
        }
        // An empty message too.
        assert_eq!(open(&seal(&[offer(&a)], b"").unwrap(), a.key_id(), a.private_key()).unwrap(), b"");
    }

    #[test]
    fn wrong_key_refused() {
        let (a, b) = (SyncKey::generate().unwrap(), SyncKey::generate().unwrap());
        let sealed = seal(&[offer(&a)], b"message").unwrap();
        // Another node's key, under this key id or its own.
        assert!(open(&sealed, a.key_id(), b.private_key()).unwrap_err().contains("cannot be opened"));
        assert!(open(&sealed, b.key_id(), b.private_key()).unwrap_err().contains("not for this node's key"));
        // A private key that is not 32 bytes.
        assert!(open(&sealed, a.key_id(), &a.private_key()[..31]).is_err());
    }

    /// Every byte of the ciphertext, the wrapped key and the ephemeral key is covered; so is the
    /// key id (a wrapped key moved under another id does not open).
    #[test]
    fn tampering_refused() {
        let a = SyncKey::generate().unwrap();
        let sealed = seal(&[offer(&a)], b"the registry").unwrap();
        let v: Value = serde_json::from_str(&sealed).unwrap();
        let flip = |s: &str, i: usize| {
            let mut b = b64::decode(s).unwrap();
            b[i] ^= 1;
            b64::encode(&b)
        };
        let body = v["ciphertext"].as_str().unwrap().to_string();
        for i in 0..b64::decode(&body).unwrap().len() {
            let mut t = v.clone();
            t["ciphertext"] = flip(&body, i).into();
            assert!(open(&t.to_string(), a.key_id(), a.private_key()).is_err(), "ciphertext byte {i}");
        }
        for member in ["wrapped_key", "ephemeral_public"] {
            let value = v["recipients"][0][member].as_str().unwrap().to_string();
            for i in 0..b64::decode(&value).unwrap().len() {
                let mut t = v.clone();
                t["recipients"][0][member] = flip(&value, i).into();
                assert!(open(&t.to_string(), a.key_id(), a.private_key()).is_err(), "{member} byte {i}");
            }
        }
        // The same wrapped key under another key id, opened with the right private key.
        let other = "0".repeat(32);
        let mut t = v.clone();
        t["recipients"][0]["key_id"] = other.clone().into();
        assert!(open(&t.to_string(), &other, a.private_key()).is_err());
        // A cut ciphertext, a low-order ephemeral key (all zeros: no shared secret).
        let mut t = v.clone();
        t["ciphertext"] = b64::encode(&b64::decode(&body).unwrap()[..16]).into();
        assert!(open(&t.to_string(), a.key_id(), a.private_key()).is_err());
        let mut t = v.clone();
        t["recipients"][0]["ephemeral_public"] = b64::encode(&[0; 32]).into();
        assert!(open(&t.to_string(), a.key_id(), a.private_key()).is_err());
    }

    /// A worker's keys in memory, as `idp.sync_keys` holds them.
    #[derive(Default)]
    struct Keys(std::collections::HashMap<String, (Vec<u8>, i64)>);

    impl KeyStore for Keys {
        fn take(&mut self, key_ids: &[String]) -> Result<Option<(String, Vec<u8>, i64)>, String> {
            Ok(key_ids.iter().find_map(|id| self.0.remove(id).map(|(k, age)| (id.clone(), k, age))))
        }
    }

    fn worker(keys: &mut Keys, age: i64) -> Offer {
        let k = SyncKey::generate().unwrap();
        keys.0.insert(k.key_id().to_string(), (k.private_key().to_vec(), age));
        offer(&k)
    }

    /// A copy opens once on each worker it was sealed for: replayed, it finds no key.
    #[test]
    fn replay_refused() {
        let (mut w1, mut w2) = (Keys::default(), Keys::default());
        let sealed = seal(&[worker(&mut w1, 0), worker(&mut w2, 5)], b"registry v1").unwrap();
        assert_eq!(open_once(&sealed, &mut w1).unwrap(), b"registry v1");
        assert_eq!(open_once(&sealed, &mut w1), Err(OpenError::UnknownKey));
        assert!(w1.0.is_empty());
        // The other worker opens its own once too; a newer key of the first worker does not open
        // the old copy.
        assert_eq!(open_once(&sealed, &mut w2).unwrap(), b"registry v1");
        assert_eq!(open_once(&sealed, &mut w2), Err(OpenError::UnknownKey));
        worker(&mut w1, 0);
        assert_eq!(open_once(&sealed, &mut w1), Err(OpenError::UnknownKey));
        assert_eq!(w1.0.len(), 1);
    }

    /// A key older than its lifetime is refused (and taken, like a used one).
    #[test]
    fn expired_key_refused() {
        let mut w = Keys::default();
        let sealed = seal(&[worker(&mut w, KEY_LIFETIME_SECS + 1)], b"m").unwrap();
        assert_eq!(open_once(&sealed, &mut w), Err(OpenError::UnknownKey));
        let sealed = seal(&[worker(&mut w, KEY_LIFETIME_SECS)], b"m").unwrap();
        assert_eq!(open_once(&sealed, &mut w).unwrap(), b"m");
        // A clock that went backwards does not make a key young.
        let sealed = seal(&[worker(&mut w, -1)], b"m").unwrap();
        assert_eq!(open_once(&sealed, &mut w), Err(OpenError::UnknownKey));
    }

    /// An altered copy, or garbage, is invalid (not "unknown key").
    #[test]
    fn altered_copy_invalid() {
        let mut w = Keys::default();
        let sealed = seal(&[worker(&mut w, 0)], b"registry").unwrap();
        let mut v: Value = serde_json::from_str(&sealed).unwrap();
        let mut body = b64::decode(v["ciphertext"].as_str().unwrap()).unwrap();
        body[0] ^= 0x80;
        v["ciphertext"] = b64::encode(&body).into();
        assert!(matches!(open_once(&v.to_string(), &mut w), Err(OpenError::Invalid(_))));
        assert!(matches!(open_once("garbage", &mut w), Err(OpenError::Invalid(_))));
    }

    #[test]
    fn malformed_input_refused() {
        let a = SyncKey::generate().unwrap();
        let sealed = seal(&[offer(&a)], b"m").unwrap();
        let v: Value = serde_json::from_str(&sealed).unwrap();
        let mut extra = v.clone();
        extra["more"] = 1.into();
        let mut old = v.clone();
        old["format"] = "pg_idp sealed registry v0".into();
        for bad in ["", "{}", "[]", "not json", &extra.to_string(), &old.to_string()] {
            assert!(key_ids(bad).is_err(), "{bad}");
            assert!(open(bad, a.key_id(), a.private_key()).is_err(), "{bad}");
        }
        for bad in [
            "",
            "{}",
            r#"{"key_id":"00","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
            r#"{"key_id":"000102030405060708090a0b0c0d0e0f","public_key":"AAAA"}"#,
            r#"{"key_id":"000102030405060708090A0B0C0D0E0F","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#,
        ] {
            assert!(parse_offer(bad).is_err(), "{bad}");
        }
        // A low-order public key offered by a "worker" cannot be sealed to.
        let zero = r#"{"key_id":"000102030405060708090a0b0c0d0e0f","public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        assert!(seal(&[parse_offer(zero).unwrap()], b"m").is_err());
    }
}
