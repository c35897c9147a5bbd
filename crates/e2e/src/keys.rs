//! Static X25519 keys of locks and endpoints, the crypto_box key between two of them, and the
//! per-pairing session key.
//!
//! The box key is NaCl's `crypto_box_beforenm`: HSalsa20 over the X25519 shared secret. A peer
//! key that yields the all-zero shared secret (a low-order point) is refused. Sessions use a
//! key derived from the box key and the pairing that created the authorization (see
//! `pairing::session_key`), so every pairing starts fresh counters under a fresh key.

use crypto_box::SecretKey;
use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::{CryptoRng, RngCore};
use salsa20::cipher::consts::U10;
use std::fmt;
use thiserror::Error;
use zeroize::Zeroizing;

/// Length of keys in bytes.
pub const KEY_LEN: usize = 32;

/// A key was unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The peer's public key is a low-order point: it would give a predictable shared key.
    #[error("the peer's public key is weak (low order); refusing it")]
    WeakPublicKey,
}

/// A static X25519 secret key. Zeroized on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct StaticSecret(SecretKey);

impl StaticSecret {
    /// Draws a new key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        StaticSecret(SecretKey::from_bytes(*bytes))
    }

    /// Loads a stored key.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        StaticSecret(SecretKey::from_bytes(bytes))
    }

    /// The key bytes, for storage (mode 0600).
    pub fn to_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.public_key().to_bytes())
    }

    /// The crypto_box key with `peer` (`crypto_box_beforenm`: HSalsa20 over the X25519
    /// shared secret, zero input), refusing low-order peer keys.
    pub fn box_key(&self, peer: &PublicKey) -> Result<SessionKey, KeyError> {
        let shared = Zeroizing::new(MontgomeryPoint(peer.0).mul_clamped(*self.to_bytes()));
        if shared.0 == [0u8; KEY_LEN] {
            return Err(KeyError::WeakPublicKey);
        }
        let mut key = salsa20::hsalsa::<U10>(&shared.0.into(), &[0u8; 16].into());
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(&key);
        zeroize::Zeroize::zeroize(key.as_mut_slice());
        Ok(SessionKey(out))
    }
}

impl fmt::Debug for StaticSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticSecret(public {})", self.public_key())
    }
}

/// A 32-byte symmetric key (a box key or a session key). Zeroized on drop; `Debug` is
/// redacted; serialised as hex for durable state (mode 0600).
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct SessionKey(pub(crate) [u8; KEY_LEN]);

impl SessionKey {
    /// Loads a stored key.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        SessionKey(bytes)
    }

    /// The key bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(<redacted>)")
    }
}

impl serde::Serialize for SessionKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex: Zeroizing<String> =
            Zeroizing::new(self.0.iter().map(|b| format!("{b:02x}")).collect());
        s.serialize_str(&hex)
    }
}

impl<'de> serde::Deserialize<'de> for SessionKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        parse_key_hex(&text)
            .map(SessionKey)
            .ok_or_else(|| serde::de::Error::custom("a key is 64 hex digits"))
    }
}

/// Parses a 32-byte key written as 64 hex digits (as durable state stores keys).
pub fn parse_key_hex(text: &str) -> Option<[u8; KEY_LEN]> {
    let mut out = [0u8; KEY_LEN];
    if text.len() != 2 * KEY_LEN || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A static X25519 public key.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl PublicKey {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_box::aead::{Aead, KeyInit};
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn both_sides_derive_the_same_box_key_as_nacl_crypto_box() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let a = StaticSecret::generate(&mut rng);
        let b = StaticSecret::generate(&mut rng);
        let ab = a.box_key(&b.public_key()).unwrap();
        assert_eq!(ab, b.box_key(&a.public_key()).unwrap());
        // crypto_box's SalsaBox (crypto_box_easy) opens with a secretbox under our box key.
        let nacl = crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from_bytes(b.public_key().0),
            &SecretKey::from_bytes(*a.to_bytes()),
        );
        let nonce = [7u8; 24].into();
        let sealed = nacl.encrypt(&nonce, &b"hello"[..]).unwrap();
        let ours = crypto_secretbox::XSalsa20Poly1305::new(&ab.0.into());
        assert_eq!(ours.decrypt(&nonce, sealed.as_slice()).unwrap(), b"hello");
    }

    #[test]
    fn session_keys_serialise_as_hex_and_refuse_anything_else() {
        let k = SessionKey([0xab; 32]);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<SessionKey>(&json).unwrap(), k);
        assert!(serde_json::from_str::<SessionKey>("\"abcd\"").is_err());
        assert!(!format!("{k:?}").contains("abab"));
    }

    #[test]
    fn low_order_peer_keys_are_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let a = StaticSecret::generate(&mut rng);
        let mut one = [0u8; 32];
        one[0] = 1;
        for weak in [[0u8; 32], one] {
            assert_eq!(
                a.box_key(&PublicKey(weak)).err(),
                Some(KeyError::WeakPublicKey)
            );
        }
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = StaticSecret::from_bytes([0xab; 32]);
        assert!(!format!("{s:?}").contains("abababab"));
    }
}
