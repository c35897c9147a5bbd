//! The lock's durable state: what a real lock keeps in flash, serialisable so the simulator
//! can store it (mode 0600: it holds the lock's secret key and label code).

use super::auth::{AuthRecord, Authorization, InviteRecord, MAX_AUTHORIZATIONS, MAX_INVITES};
use super::mechanism::Mechanism;
use super::pairing::Pairings;
use super::window::PairingWindow;
use super::{LockConfig, LockMachine};
use crate::command::{is_valid_name, MechanismState};
use crate::keys::StaticSecret;
use crate::setup_code::LabelCode;
use lockgate_wire::LockId;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;
use zeroize::Zeroize;

/// Version of the snapshot format.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// What makes a lock itself: printed on its label or burnt in at the factory.
#[derive(Debug, Clone)]
pub struct LockIdentity {
    /// The lock id.
    pub lock_id: LockId,
    /// The static secret key.
    pub secret: StaticSecret,
    /// The label code.
    pub label: LabelCode,
}

impl LockIdentity {
    /// Draws a new identity with an 8-digit label code.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut id = [0u8; 8];
        rng.fill_bytes(&mut id);
        LockIdentity {
            lock_id: LockId::from_bytes(id),
            secret: StaticSecret::generate(rng),
            label: LabelCode::generate(rng, 8),
        }
    }
}

/// The durable state.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockSnapshot {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// Lock id, 16 hex digits.
    pub lock_id: String,
    /// Static secret key, 64 hex digits.
    pub secret_key: String,
    /// Label code digits.
    pub label_code: String,
    /// The next authorization id to assign.
    pub next_auth_id: u32,
    /// Authorizations with their counters.
    pub authorizations: Vec<AuthRecord>,
    /// Open invites.
    pub invites: Vec<InviteRecord>,
    /// Wall clock minus lock clock, once set.
    pub clock_offset_ms: Option<i64>,
    /// The mechanism at rest.
    pub mechanism: MechanismState,
    /// Battery level.
    pub battery_percent: u8,
}

impl Drop for LockSnapshot {
    fn drop(&mut self) {
        self.secret_key.zeroize();
        self.label_code.zeroize();
    }
}

impl std::fmt::Debug for LockSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockSnapshot")
            .field("lock_id", &self.lock_id)
            .field("authorizations", &self.authorizations.len())
            .finish_non_exhaustive()
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    /// Written by another format version.
    #[error("snapshot format {0} is not supported (expected {SNAPSHOT_FORMAT})")]
    Format(u32),
    /// A field is invalid.
    #[error("snapshot field {0} is invalid")]
    Invalid(&'static str),
}

impl<R: RngCore + CryptoRng> LockMachine<R> {
    /// The durable state, with current counters.
    pub fn snapshot(&self) -> LockSnapshot {
        let secret: String = self
            .key
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        LockSnapshot {
            format: SNAPSHOT_FORMAT,
            lock_id: self.lock_id.to_string(),
            secret_key: secret,
            label_code: self.label.digits().to_owned(),
            next_auth_id: self.next_auth_id,
            authorizations: self.authorizations(),
            invites: self.invites.clone(),
            clock_offset_ms: self.clock_offset_ms,
            mechanism: self.mechanism.state(),
            battery_percent: self.mechanism.battery_percent,
        }
    }

    /// Restores a lock from its durable state (after a reboot). Pairing windows, pairing
    /// attempts and challenges do not survive; counters resume past their reservations.
    pub fn restore(config: LockConfig, s: &LockSnapshot, rng: R) -> Result<Self, RestoreError> {
        if s.format != SNAPSHOT_FORMAT {
            return Err(RestoreError::Format(s.format));
        }
        let lock_id = s
            .lock_id
            .parse()
            .map_err(|_| RestoreError::Invalid("lock_id"))?;
        let key = StaticSecret::from_bytes(
            crate::keys::parse_key_hex(&s.secret_key).ok_or(RestoreError::Invalid("secret_key"))?,
        );
        let label = s
            .label_code
            .parse()
            .map_err(|_| RestoreError::Invalid("label_code"))?;
        if s.authorizations.len() > MAX_AUTHORIZATIONS || s.invites.len() > MAX_INVITES {
            return Err(RestoreError::Invalid("authorizations"));
        }
        let mut auths = BTreeMap::new();
        for record in &s.authorizations {
            let valid = record.id != 0 && record.id < s.next_auth_id && is_valid_name(&record.name);
            if !valid {
                return Err(RestoreError::Invalid("authorizations"));
            }
            let auth = Authorization::new(record.clone());
            if auths.insert(record.id, auth).is_some() {
                return Err(RestoreError::Invalid("authorizations"));
            }
        }
        if s.invites.iter().any(|i| i.code().is_none()) {
            return Err(RestoreError::Invalid("invites"));
        }
        let mut mechanism = Mechanism::new(s.mechanism);
        mechanism.battery_percent = s.battery_percent.min(100);
        Ok(LockMachine {
            config,
            lock_id,
            key,
            label,
            auths,
            next_auth_id: s.next_auth_id,
            invites: s.invites.clone(),
            clock_offset_ms: s.clock_offset_ms,
            window: PairingWindow::default(),
            pairings: Pairings::default(),
            mechanism,
            last_now: 0,
            rng,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn snapshot() -> LockSnapshot {
        let identity = LockIdentity::generate(&mut ChaCha20Rng::seed_from_u64(1));
        let lock = LockMachine::new(
            LockConfig::default(),
            identity,
            ChaCha20Rng::seed_from_u64(2),
        );
        lock.snapshot()
    }

    fn restore(s: &LockSnapshot) -> Result<LockMachine<ChaCha20Rng>, RestoreError> {
        LockMachine::restore(LockConfig::default(), s, ChaCha20Rng::seed_from_u64(3))
    }

    #[test]
    fn a_snapshot_restores_the_same_lock() {
        let s = snapshot();
        let lock = restore(&s).unwrap();
        assert_eq!(lock.snapshot(), s);
    }

    #[test]
    fn corrupt_snapshots_are_refused_with_the_field_named() {
        let mut s = snapshot();
        s.format = 2;
        assert_eq!(restore(&s).err(), Some(RestoreError::Format(2)));
        let mut s = snapshot();
        s.secret_key.truncate(10);
        assert_eq!(restore(&s).err(), Some(RestoreError::Invalid("secret_key")));
        let mut s = snapshot();
        s.lock_id = "not hex".into();
        assert_eq!(restore(&s).err(), Some(RestoreError::Invalid("lock_id")));
        let mut s = snapshot();
        s.label_code = "12345678".into();
        assert_eq!(restore(&s).err(), Some(RestoreError::Invalid("label_code")));
    }

    #[test]
    fn the_snapshot_never_shows_secrets_in_debug_output() {
        let s = snapshot();
        let debug = format!("{s:?}");
        assert!(!debug.contains(&s.secret_key) && !debug.contains(&s.label_code));
    }
}
