//! SPAKE2 for support sessions, and its key schedule (docs/SUPPORT.md §4).
//!
//! The client is SPAKE2 side A, the gateway side B, with the identities
//! `"lockgate v1 support client:" || session id (16 hex) || ":" || operator` and
//! `"lockgate v1 support gateway:" || gateway id`, so a run is bound to one gateway and one
//! session. The SPAKE2 key and the transcript hash feed HKDF, which gives two confirmation keys
//! and one data key per direction.
//!
//! [`valid_peer_message`] is the strict check of a received SPAKE2 message that
//! docs/PROTOCOL.md §3.1 defines; `lockgate-e2e`'s pairing uses it too.

use crate::message::SessionId;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a SPAKE2 message: a side byte (`'A'` or `'B'`) and a compressed Edwards point.
pub const SPAKE_MSG_LEN: usize = 33;
/// Length of a confirmation MAC (HMAC-SHA256).
pub const CONFIRM_LEN: usize = 32;
/// Side byte of SPAKE2 side A (the client here, the endpoint in pairing).
pub const SIDE_A: u8 = 0x41;
/// Side byte of SPAKE2 side B (the gateway here, the lock in pairing).
pub const SIDE_B: u8 = 0x42;

const CLIENT_IDENTITY: &[u8] = b"lockgate v1 support client:";
const GATEWAY_IDENTITY: &[u8] = b"lockgate v1 support gateway:";
const TRANSCRIPT_LABEL: &[u8] = b"lockgate v1 support transcript";
const INFO_CONFIRM_GATEWAY: &[u8] = b"lockgate v1 support gateway confirmation";
const INFO_CONFIRM_CLIENT: &[u8] = b"lockgate v1 support client confirmation";
const INFO_CLIENT_TO_GATEWAY: &[u8] = b"lockgate v1 support client to gateway";
const INFO_GATEWAY_TO_CLIENT: &[u8] = b"lockgate v1 support gateway to client";

/// The client's SPAKE2 identity (side A).
pub fn client_identity(session_id: &SessionId, operator: &str) -> Vec<u8> {
    let mut id = CLIENT_IDENTITY.to_vec();
    id.extend_from_slice(session_id.to_string().as_bytes());
    id.push(b':');
    id.extend_from_slice(operator.as_bytes());
    id
}

/// The gateway's SPAKE2 identity (side B).
pub fn gateway_identity(gateway_id: &str) -> Vec<u8> {
    [GATEWAY_IDENTITY, gateway_id.as_bytes()].concat()
}

/// Starts SPAKE2 as side A (`client`) or B with the given identities.
pub fn start(
    client: bool,
    password: &[u8],
    id_a: &[u8],
    id_b: &[u8],
    rng: impl rand_core::RngCore + rand_core::CryptoRng,
) -> (Spake2<Ed25519Group>, [u8; SPAKE_MSG_LEN]) {
    let (pw, a, b) = (
        Password::new(password),
        Identity::new(id_a),
        Identity::new(id_b),
    );
    let (state, msg) = if client {
        Spake2::<Ed25519Group>::start_a_with_rng(&pw, &a, &b, rng)
    } else {
        Spake2::<Ed25519Group>::start_b_with_rng(&pw, &a, &b, rng)
    };
    let mut out = [0u8; SPAKE_MSG_LEN];
    out.copy_from_slice(&msg);
    (state, out)
}

/// Whether a received SPAKE2 message is acceptable (docs/PROTOCOL.md §3.1): the peer's side
/// byte `peer_side`, a canonical encoding of a point of the prime-order subgroup other than
/// the identity, and not a reflection of our own message `own`.
pub fn valid_peer_message(
    msg: &[u8; SPAKE_MSG_LEN],
    peer_side: u8,
    own: &[u8; SPAKE_MSG_LEN],
) -> bool {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::traits::IsIdentity;
    let (side, point) = msg.split_at(1);
    let Ok(bytes) = <[u8; 32]>::try_from(point) else {
        return false;
    };
    let Some(p) = CompressedEdwardsY(bytes).decompress() else {
        return false;
    };
    side == [peer_side]
        && p.compress().to_bytes() == bytes
        && !p.is_identity()
        && p.is_torsion_free()
        && point != &own[1..]
}

/// The transcript hash: `SHA256(label || len(gateway id) (u8) || gateway id || Hello message
/// (all of it, as sent) || msg_B)`.
pub fn transcript(gateway_id: &str, hello: &[u8], msg_b: &[u8; SPAKE_MSG_LEN]) -> [u8; 32] {
    let id = gateway_id.as_bytes();
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update([u8::try_from(id.len()).unwrap_or(u8::MAX)]);
    h.update(id);
    h.update(hello);
    h.update(msg_b);
    h.finalize().into()
}

/// Every key of one support session. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct SessionKeys {
    pub(crate) confirm_gateway: [u8; 32],
    pub(crate) confirm_client: [u8; 32],
    pub(crate) client_to_gateway: [u8; 32],
    pub(crate) gateway_to_client: [u8; 32],
}

impl SessionKeys {
    /// `prk = HKDF-Extract(salt = transcript, ikm = spake2_key)`, then one HKDF-Expand per key.
    pub fn derive(spake_key: &[u8], transcript: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(transcript), spake_key);
        let mut keys = SessionKeys {
            confirm_gateway: [0; 32],
            confirm_client: [0; 32],
            client_to_gateway: [0; 32],
            gateway_to_client: [0; 32],
        };
        // Expanding 32 bytes from SHA-256 HKDF cannot fail.
        let _ = hk.expand(INFO_CONFIRM_GATEWAY, &mut keys.confirm_gateway);
        let _ = hk.expand(INFO_CONFIRM_CLIENT, &mut keys.confirm_client);
        let _ = hk.expand(INFO_CLIENT_TO_GATEWAY, &mut keys.client_to_gateway);
        let _ = hk.expand(INFO_GATEWAY_TO_CLIENT, &mut keys.gateway_to_client);
        keys
    }

    /// The gateway's confirmation: `HMAC(k_confirm_gateway, transcript)`.
    pub fn gateway_confirmation(&self, transcript: &[u8; 32]) -> [u8; CONFIRM_LEN] {
        hmac(&self.confirm_gateway, transcript)
    }

    /// The client's confirmation: `HMAC(k_confirm_client, transcript)`.
    pub fn client_confirmation(&self, transcript: &[u8; 32]) -> [u8; CONFIRM_LEN] {
        hmac(&self.confirm_client, transcript)
    }

    /// The four keys in the order of docs/SUPPORT.md §4, for the published vectors.
    #[cfg(test)]
    pub(crate) fn expose_for_vectors(&self) -> [[u8; 32]; 4] {
        [
            self.confirm_gateway,
            self.confirm_client,
            self.client_to_gateway,
            self.gateway_to_client,
        ]
    }
}

fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Compares two MACs in constant time.
pub fn macs_equal(a: &[u8; CONFIRM_LEN], b: &[u8; CONFIRM_LEN]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn run(client_pw: &[u8], gateway_pw: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let sid = SessionId([7; 8]);
        let (a, b) = (client_identity(&sid, "alice"), gateway_identity("gw"));
        let rng = |s| rand_chacha::ChaCha20Rng::seed_from_u64(s);
        let (client, msg_a) = start(true, client_pw, &a, &b, rng(1));
        let (gateway, msg_b) = start(false, gateway_pw, &a, &b, rng(2));
        assert!(valid_peer_message(&msg_a, SIDE_A, &msg_b));
        assert!(valid_peer_message(&msg_b, SIDE_B, &msg_a));
        (
            client.finish(&msg_b).unwrap(),
            gateway.finish(&msg_a).unwrap(),
        )
    }

    #[test]
    fn both_sides_agree_only_with_the_same_code() {
        let (c, g) = run(b"pw", b"pw");
        assert_eq!(c, g);
        let (c, g) = run(b"pw", b"other");
        assert_ne!(c, g);
    }

    #[test]
    fn every_key_and_confirmation_differs() {
        let keys = SessionKeys::derive(&[5; 32], &[9; 32]);
        let all = keys.expose_for_vectors();
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(all[i], all[j]);
            }
        }
        let t = [1; 32];
        assert_ne!(keys.gateway_confirmation(&t), keys.client_confirmation(&t));
        let other = SessionKeys::derive(&[5; 32], &[8; 32]);
        assert_ne!(
            other.gateway_confirmation(&t),
            keys.gateway_confirmation(&t)
        );
    }

    #[test]
    fn identities_bind_the_session_the_operator_and_the_gateway() {
        let sid = SessionId([0xab; 8]);
        assert_eq!(
            client_identity(&sid, "alice"),
            b"lockgate v1 support client:abababababababab:alice"
        );
        assert_eq!(
            gateway_identity("gw-1"),
            b"lockgate v1 support gateway:gw-1"
        );
    }

    #[test]
    fn reflected_and_wrong_side_messages_are_refused() {
        let sid = SessionId([7; 8]);
        let (a, b) = (client_identity(&sid, "alice"), gateway_identity("gw"));
        let rng = |s| rand_chacha::ChaCha20Rng::seed_from_u64(s);
        let (_, msg_a) = start(true, b"pw", &a, &b, rng(1));
        let (_, msg_b) = start(false, b"pw", &a, &b, rng(2));
        assert!(!valid_peer_message(&msg_a, SIDE_B, &msg_b));
        let mut reflected = msg_a;
        reflected[0] = SIDE_B;
        assert!(!valid_peer_message(&reflected, SIDE_B, &msg_a));
        let mut identity = [0u8; SPAKE_MSG_LEN];
        identity[0] = SIDE_B;
        identity[1] = 1;
        assert!(!valid_peer_message(&identity, SIDE_B, &msg_a));
    }
}
