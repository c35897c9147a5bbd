//! Pairing messages and their key schedule, shared by the endpoint and lock sides.
//!
//! Four messages travel in `Pairing` envelopes (the header counter is the message number, the
//! auth id field the endpoint's pairing id):
//!
//! 1. `PairStart` (endpoint → lock): code kind, invite id, endpoint name, SPAKE2 message A.
//! 2. `PairReply` (lock → endpoint): SPAKE2 message B, the lock's static key sealed under the
//!    PAKE key.
//! 3. `PairConfirm` (endpoint → lock): the endpoint's static key sealed, its confirmation MAC.
//! 4. `PairDone` (lock → endpoint): the granted authorization sealed, the lock's confirmation
//!    MAC.
//!
//! An endpoint that finds the code wrong (the reply does not open) sends `PairAbort` (5, empty
//! body) so the lock frees the attempt at once instead of waiting for it to time out.
//!
//! The exact bytes are in `docs/PROTOCOL.md`, "Pairing".

use crate::codec::{DecodeError, Reader};
use crate::command::{Grant, MAX_NAME_LEN};
use crate::keys::{PublicKey, SessionKey, KEY_LEN};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use lockgate_support::pake;
use lockgate_wire::LockId;
use sha2::{Digest, Sha256};
use spake2::{Ed25519Group, Spake2};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of a SPAKE2 message: a side byte (`'A'` or `'B'`) and a compressed Edwards point.
pub const SPAKE_MSG_LEN: usize = pake::SPAKE_MSG_LEN;
/// Length of a sealed static key: the Poly1305 tag and the 32-byte key.
pub const SEALED_KEY_LEN: usize = 16 + KEY_LEN;
/// Length of a confirmation MAC (HMAC-SHA256).
pub const CONFIRM_LEN: usize = 32;
/// Length of the `PairDone` plaintext ([`PairGrant`]).
pub const PAIR_GRANT_LEN: usize = 22;
/// Length of the sealed [`PairGrant`].
pub const SEALED_GRANT_LEN: usize = 16 + PAIR_GRANT_LEN;

const EXTRACT_SALT: &[u8] = b"lockgate v1 pairing";
const INFO_ENCRYPTION: &[u8] = b"lockgate v1 pairing encryption";
const INFO_CONFIRM_ENDPOINT: &[u8] = b"lockgate v1 endpoint confirmation";
const INFO_CONFIRM_LOCK: &[u8] = b"lockgate v1 lock confirmation";
const INFO_SESSION_SEED: &[u8] = b"lockgate v1 session seed";
const INFO_SESSION_KEY: &[u8] = b"lockgate v1 session key";
const TRANSCRIPT_LABEL: &[u8] = b"lockgate v1 pairing transcript";

/// Pairing message numbers, carried in the envelope's counter field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// `PairStart`.
    Start = 1,
    /// `PairReply`.
    Reply = 2,
    /// `PairConfirm`.
    Confirm = 3,
    /// `PairDone`.
    Done = 4,
    /// `PairAbort`: the endpoint gives up (empty body).
    Abort = 5,
}

impl Step {
    /// Decodes the envelope counter of a pairing frame.
    pub fn from_counter(counter: u64) -> Option<Self> {
        match counter {
            1 => Some(Step::Start),
            2 => Some(Step::Reply),
            3 => Some(Step::Confirm),
            4 => Some(Step::Done),
            5 => Some(Step::Abort),
            _ => None,
        }
    }
}

/// Which kind of code keys the pairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CodeKind {
    /// The lock's label code.
    Label = 1,
    /// An invite code.
    Invite = 2,
}

/// Message 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairStart {
    /// The code kind.
    pub code_kind: CodeKind,
    /// The invite id (0 for label codes).
    pub invite_id: u16,
    /// The endpoint's name, 1 to 32 UTF-8 bytes.
    pub name: String,
    /// SPAKE2 message A.
    pub spake: [u8; SPAKE_MSG_LEN],
}

impl PairStart {
    /// Encodes the body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.code_kind as u8];
        out.extend_from_slice(&self.invite_id.to_le_bytes());
        crate::codec::put_short_str(&mut out, &self.name);
        out.extend_from_slice(&self.spake);
        out
    }

    /// Decodes the body.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let code_kind = match r.u8("code kind")? {
            1 => CodeKind::Label,
            2 => CodeKind::Invite,
            v => {
                return Err(DecodeError::InvalidValue {
                    field: "code kind",
                    value: u64::from(v),
                })
            }
        };
        let invite_id = r.u16("invite id")?;
        let id_fits = match code_kind {
            CodeKind::Label => invite_id == 0,
            CodeKind::Invite => invite_id < crate::setup_code::INVITE_ID_LIMIT,
        };
        if !id_fits {
            return Err(DecodeError::InvalidValue {
                field: "invite id",
                value: u64::from(invite_id),
            });
        }
        let name = r.short_str("name", 1, MAX_NAME_LEN)?;
        if !crate::command::is_valid_name(&name) {
            return Err(DecodeError::InvalidText("name"));
        }
        let spake = r.array("spake2 message")?;
        r.finish()?;
        Ok(PairStart {
            code_kind,
            invite_id,
            name,
            spake,
        })
    }
}

/// Message 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairReply {
    /// SPAKE2 message B.
    pub spake: [u8; SPAKE_MSG_LEN],
    /// The lock's static public key, sealed.
    pub sealed_lock_key: [u8; SEALED_KEY_LEN],
}

/// Message 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairConfirm {
    /// The endpoint's static public key, sealed.
    pub sealed_endpoint_key: [u8; SEALED_KEY_LEN],
    /// HMAC over the transcript with the endpoint confirmation key.
    pub confirm: [u8; CONFIRM_LEN],
}

/// Message 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairDone {
    /// Auth id and grant, sealed.
    pub sealed_grant: [u8; SEALED_GRANT_LEN],
    /// HMAC over the transcript and the grant with the lock confirmation key.
    pub confirm: [u8; CONFIRM_LEN],
}

macro_rules! fixed_message {
    ($ty:ident, $a:ident: $alen:expr, $b:ident: $blen:expr) => {
        impl $ty {
            /// Encodes the body.
            pub fn encode(&self) -> Vec<u8> {
                [self.$a.as_slice(), self.$b.as_slice()].concat()
            }

            /// Decodes the body (exact length).
            pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(body);
                let $a = r.array::<{ $alen }>(stringify!($a))?;
                let $b = r.array::<{ $blen }>(stringify!($b))?;
                r.finish()?;
                Ok($ty { $a, $b })
            }
        }
    };
}

fixed_message!(PairReply, spake: SPAKE_MSG_LEN, sealed_lock_key: SEALED_KEY_LEN);
fixed_message!(PairConfirm, sealed_endpoint_key: SEALED_KEY_LEN, confirm: CONFIRM_LEN);
fixed_message!(PairDone, sealed_grant: SEALED_GRANT_LEN, confirm: CONFIRM_LEN);

/// The SPAKE2 identity of an endpoint: `"lockgate v1 endpoint:" || name`.
pub fn endpoint_identity(name: &str) -> Vec<u8> {
    [b"lockgate v1 endpoint:".as_slice(), name.as_bytes()].concat()
}

/// The SPAKE2 identity of a lock: `"lockgate v1 lock:" || lock id as 16 lowercase hex`.
pub fn lock_identity(lock_id: &LockId) -> Vec<u8> {
    [
        b"lockgate v1 lock:".as_slice(),
        lock_id.to_string().as_bytes(),
    ]
    .concat()
}

/// Starts SPAKE2 on the side given by `endpoint` (`true`: side A).
pub fn spake_start(
    endpoint: bool,
    password: &[u8],
    name: &str,
    lock_id: &LockId,
    rng: impl rand_core::RngCore + rand_core::CryptoRng,
) -> (Spake2<Ed25519Group>, [u8; SPAKE_MSG_LEN]) {
    let (id_a, id_b) = (endpoint_identity(name), lock_identity(lock_id));
    pake::start(endpoint, password, &id_a, &id_b, rng)
}

/// Keys derived from the SPAKE2 key alone: they seal the static keys in flight.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PairingKeys {
    pub(crate) enc: [u8; 32],
    pub(crate) session_seed: [u8; 32],
}

impl PairingKeys {
    /// Derives the keys from the 32-byte SPAKE2 output with HKDF-SHA256.
    pub fn derive(spake_key: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(EXTRACT_SALT), spake_key);
        let mut keys = PairingKeys {
            enc: [0; 32],
            session_seed: [0; 32],
        };
        // Expanding 32 bytes from SHA-256 HKDF cannot fail.
        let _ = hk.expand(INFO_ENCRYPTION, &mut keys.enc);
        let _ = hk.expand(INFO_SESSION_SEED, &mut keys.session_seed);
        keys
    }

    /// Binds the PAKE secret to the two static keys: `box_key` needs one side's static
    /// secret, so a confirmation under these keys proves possession of the code *and* of that
    /// side's static secret key. This is what stops a code holder from pairing (or re-pairing)
    /// someone else's public key.
    pub fn bind(&self, box_key: &SessionKey) -> BoundKeys {
        let hk = Hkdf::<Sha256>::new(Some(&self.session_seed), box_key.as_bytes());
        let mut session_key = [0u8; 32];
        let mut bound = BoundKeys {
            session_key: SessionKey::from_bytes([0; 32]),
            confirm_endpoint: [0; 32],
            confirm_lock: [0; 32],
        };
        let _ = hk.expand(INFO_SESSION_KEY, &mut session_key);
        let _ = hk.expand(INFO_CONFIRM_ENDPOINT, &mut bound.confirm_endpoint);
        let _ = hk.expand(INFO_CONFIRM_LOCK, &mut bound.confirm_lock);
        bound.session_key = SessionKey::from_bytes(session_key);
        session_key.zeroize();
        bound
    }

    fn nonce(step: Step) -> [u8; 24] {
        let mut n = [0u8; 24];
        n[0] = step as u8;
        n
    }

    /// Seals the payload of message `step`; `N` is the plaintext length plus the 16-byte tag.
    pub fn seal<const N: usize>(&self, step: Step, plaintext: &[u8]) -> [u8; N] {
        let cipher = XSalsa20Poly1305::new(&self.enc.into());
        let mut out = [0u8; N];
        // XSalsa20-Poly1305 without associated data cannot fail, and every caller passes the
        // matching `N`; a mismatch would leave zeros, which the peer rejects.
        if let Ok(sealed) = cipher.encrypt(&Self::nonce(step).into(), plaintext) {
            if let Some(dst) = out.get_mut(..sealed.len()) {
                dst.copy_from_slice(&sealed);
            }
        }
        out
    }

    /// Opens the payload of message `step`; `None` if it fails authentication.
    pub fn open(&self, step: Step, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let cipher = XSalsa20Poly1305::new(&self.enc.into());
        cipher
            .decrypt(&Self::nonce(step).into(), sealed)
            .ok()
            .map(Zeroizing::new)
    }
}

/// Keys that need the PAKE secret and a static secret key: the session key of the
/// authorization and the two confirmation keys.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct BoundKeys {
    /// The session key of the authorization this pairing creates.
    pub session_key: SessionKey,
    pub(crate) confirm_endpoint: [u8; 32],
    pub(crate) confirm_lock: [u8; 32],
}

impl BoundKeys {
    /// The endpoint's confirmation: HMAC-SHA256(k_confirm_endpoint, transcript).
    pub fn endpoint_confirmation(&self, transcript: &[u8; 32]) -> [u8; CONFIRM_LEN] {
        hmac(&self.confirm_endpoint, &[transcript])
    }

    /// The lock's confirmation: HMAC-SHA256(k_confirm_lock, transcript || pair_grant).
    pub fn lock_confirmation(&self, transcript: &[u8; 32], grant: &[u8]) -> [u8; CONFIRM_LEN] {
        hmac(&self.confirm_lock, &[transcript, grant])
    }
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// Compares two MACs in constant time.
pub fn macs_equal(a: &[u8; CONFIRM_LEN], b: &[u8; CONFIRM_LEN]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// The transcript hash both confirmations cover:
/// `SHA-256(label || pairing id || lock id || PairStart body || SPAKE2 B || lock key ||
/// endpoint key)`.
pub fn transcript(
    pairing_id: u32,
    lock_id: &LockId,
    start_body: &[u8],
    spake_b: &[u8; SPAKE_MSG_LEN],
    lock_key: &PublicKey,
    endpoint_key: &PublicKey,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TRANSCRIPT_LABEL);
    h.update(pairing_id.to_le_bytes());
    h.update(lock_id.as_bytes());
    h.update(start_body);
    h.update(spake_b);
    h.update(lock_key.as_bytes());
    h.update(endpoint_key.as_bytes());
    h.finalize().into()
}

/// The `PairDone` plaintext: the authorization granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairGrant {
    /// The authorization id.
    pub auth_id: u32,
    /// Rights and validity.
    pub grant: Grant,
}

impl PairGrant {
    /// Encodes the 22-byte plaintext.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.auth_id.to_le_bytes().to_vec();
        self.grant.write(&mut out);
        out
    }

    /// Decodes the plaintext.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let auth_id = r.u32("auth id")?;
        let grant = Grant::read(&mut r)?;
        r.finish()?;
        if !lockgate_wire::envelope::is_authorization_id(auth_id) {
            return Err(DecodeError::InvalidValue {
                field: "auth id",
                value: u64::from(auth_id),
            });
        }
        Ok(PairGrant { auth_id, grant })
    }
}

/// Whether a received SPAKE2 message is acceptable: the peer's side byte (`'A'` from an
/// endpoint, `'B'` from a lock), a canonical encoding of a point of the prime-order subgroup
/// other than the identity, and not a reflection of our own message.
pub fn valid_spake_message(
    msg: &[u8; SPAKE_MSG_LEN],
    from_endpoint: bool,
    own: &[u8; SPAKE_MSG_LEN],
) -> bool {
    let side = if from_endpoint {
        pake::SIDE_A
    } else {
        pake::SIDE_B
    };
    pake::valid_peer_message(msg, side, own)
}

#[cfg(test)]
#[path = "pairing_tests.rs"]
mod tests;
