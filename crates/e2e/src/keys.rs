//! Static X25519 keys of locks and endpoints, and the shared crypto_box key between two of them.
//!
//! The shared key is NaCl's `crypto_box_beforenm`: HSalsa20 over the X25519 shared secret.
//! A peer key that yields the all-zero shared secret (a low-order point) is refused.

use crypto_box::{PublicKey as BoxPublicKey, SalsaBox, SecretKey};
use curve25519_dalek::montgomery::MontgomeryPoint;
use rand_core::{CryptoRng, RngCore};
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

    /// The crypto_box shared key with `peer`, refusing low-order peer keys.
    pub fn shared_box(&self, peer: &PublicKey) -> Result<SalsaBox, KeyError> {
        let shared = Zeroizing::new(MontgomeryPoint(peer.0).mul_clamped(*self.to_bytes()));
        if shared.0 == [0u8; KEY_LEN] {
            return Err(KeyError::WeakPublicKey);
        }
        Ok(SalsaBox::new(&BoxPublicKey::from_bytes(peer.0), &self.0))
    }
}

impl fmt::Debug for StaticSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticSecret(public {})", self.public_key())
    }
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
    use crypto_box::aead::Aead;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn both_sides_derive_the_same_box() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let a = StaticSecret::generate(&mut rng);
        let b = StaticSecret::generate(&mut rng);
        let ab = a.shared_box(&b.public_key()).unwrap();
        let ba = b.shared_box(&a.public_key()).unwrap();
        let nonce = [7u8; 24].into();
        let sealed = ab.encrypt(&nonce, &b"hello"[..]).unwrap();
        assert_eq!(ba.decrypt(&nonce, sealed.as_slice()).unwrap(), b"hello");
    }

    #[test]
    fn low_order_peer_keys_are_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let a = StaticSecret::generate(&mut rng);
        let mut one = [0u8; 32];
        one[0] = 1;
        for weak in [[0u8; 32], one] {
            assert_eq!(
                a.shared_box(&PublicKey(weak)).err(),
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
