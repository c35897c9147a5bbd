//! Authorizations held by the lock: the durable record, the live channel, the challenges
//! issued to it, and the rules of what each role may do when.

use crate::command::{Grant, LockStatus, Opcode, Role, CHALLENGE_LEN};
use crate::error_code::ErrorCode;
use crate::event::{Event, EventCause, MAX_QUEUED_EVENTS};
use crate::keys::{PublicKey, SessionKey};
use crate::session::{Channel, ChannelState, Direction};
use crate::setup_code::InviteCode;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Most authorizations a lock holds.
pub const MAX_AUTHORIZATIONS: usize = 32;
/// Most challenges outstanding per authorization; a new one evicts the oldest.
pub const MAX_CHALLENGES: usize = 4;
/// Most open invites.
pub const MAX_INVITES: usize = 8;
/// Failed attempts that burn an invite.
pub const MAX_INVITE_FAILURES: u8 = 5;

/// How a frame reached the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Relayed by a gateway (remote use).
    Gateway,
    /// Written by the endpoint itself over BLE.
    Direct,
}

/// What the lock stores per authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRecord {
    /// Authorization id, 1..=0x7FFF_FFFF, never reused.
    pub id: u32,
    /// Name given at pairing or by rename.
    pub name: String,
    /// Rights and validity.
    pub grant: Grant,
    /// The endpoint's static key.
    pub public_key: PublicKey,
    /// The session key agreed at pairing (secret).
    pub session_key: SessionKey,
    /// Counter state.
    pub channel: ChannelState,
}

#[derive(Clone)]
struct Challenge {
    bytes: [u8; CHALLENGE_LEN],
    expires_at: u64,
}

/// A live authorization.
pub struct Authorization {
    /// The durable part (its `channel` field is refreshed on snapshot).
    pub record: AuthRecord,
    /// The session channel.
    pub channel: Channel,
    challenges: Vec<Challenge>,
    /// State events: until when they are wanted (lock clock), and those not yet collected.
    /// Neither is durable: after a restart the endpoint subscribes again.
    subscribed_until: Option<u64>,
    events: VecDeque<Event>,
    next_event_seq: u32,
}

impl Authorization {
    /// Brings a record to life.
    pub fn new(record: AuthRecord) -> Self {
        let channel = Channel::new(
            &record.session_key,
            record.id,
            Direction::LockToEndpoint,
            record.channel,
        );
        Authorization {
            record,
            channel,
            challenges: Vec::new(),
            subscribed_until: None,
            events: VecDeque::new(),
            next_event_seq: 0,
        }
    }

    /// The record with current counters.
    pub fn snapshot(&self) -> AuthRecord {
        AuthRecord {
            channel: self.channel.state(),
            ..self.record.clone()
        }
    }

    /// Checks the validity window and the path against the lock's wall clock.
    pub fn check_valid(&self, wall_ms: Option<u64>, via: Via) -> Result<(), ErrorCode> {
        let grant = &self.record.grant;
        if via == Via::Gateway && !grant.remote_allowed {
            return Err(ErrorCode::RemoteNotAllowed);
        }
        if !grant.is_time_limited() {
            return Ok(());
        }
        let now = wall_ms.ok_or(ErrorCode::ClockNotSet)?;
        if now < grant.not_before {
            return Err(ErrorCode::NotYetValid);
        }
        if now > grant.not_after {
            return Err(ErrorCode::Expired);
        }
        Ok(())
    }

    /// Issues a fresh single-use challenge.
    pub fn issue_challenge(
        &mut self,
        rng: &mut (impl RngCore + CryptoRng),
        now: u64,
        ttl_ms: u64,
    ) -> [u8; CHALLENGE_LEN] {
        let mut bytes = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut bytes);
        self.challenges.retain(|c| c.expires_at > now);
        if self.challenges.len() >= MAX_CHALLENGES {
            self.challenges.remove(0);
        }
        self.challenges.push(Challenge {
            bytes,
            expires_at: now.saturating_add(ttl_ms),
        });
        bytes
    }

    /// Subscribes to state events until `until` (`None` cancels, and drops events not yet
    /// collected).
    pub fn subscribe(&mut self, until: Option<u64>) {
        self.subscribed_until = until;
        if until.is_none() {
            self.events.clear();
        }
    }

    /// Whether events are wanted at `now`.
    pub fn subscribed(&self, now: u64) -> bool {
        self.subscribed_until.is_some_and(|until| now < until)
    }

    /// Queues an event; the oldest goes when the queue is full.
    pub fn queue_event(&mut self, cause: EventCause, status: LockStatus) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event {
            seq: self.next_event_seq,
            cause,
            status,
        });
        self.next_event_seq = self.next_event_seq.wrapping_add(1);
    }

    /// Whether events wait to be collected.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Takes the events waiting, oldest first.
    pub fn take_events(&mut self) -> VecDeque<Event> {
        std::mem::take(&mut self.events)
    }

    /// Forgets every challenge issued.
    pub fn clear_challenges(&mut self) {
        self.challenges.clear();
    }

    /// Consumes a challenge: it must have been issued to this authorization, be unused and
    /// unexpired. Comparison is constant-time.
    pub fn redeem_challenge(
        &mut self,
        bytes: &[u8; CHALLENGE_LEN],
        now: u64,
    ) -> Result<(), ErrorCode> {
        let found = self
            .challenges
            .iter()
            .position(|c| bool::from(c.bytes.ct_eq(bytes)))
            .ok_or(ErrorCode::ChallengeInvalid)?;
        let challenge = self.challenges.remove(found);
        if now >= challenge.expires_at {
            return Err(ErrorCode::ChallengeExpired);
        }
        Ok(())
    }
}

/// Whether `role` may send `opcode` (renaming others is checked separately).
pub fn role_permits(role: Role, opcode: Opcode) -> bool {
    match opcode {
        Opcode::Status
        | Opcode::Challenge
        | Opcode::Lock
        | Opcode::Unlock
        | Opcode::Unlatch
        | Opcode::Subscribe
        | Opcode::AuthRename => true,
        Opcode::InviteCreate | Opcode::AuthList | Opcode::AuthRevoke | Opcode::SetTime => {
            role == Role::Admin
        }
    }
}

/// An open invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Invite id (the first 4 digits of the code).
    pub id: u16,
    /// The 12-digit secret.
    pub secret: u64,
    /// What whoever joins gets.
    pub grant: Grant,
    /// Lock clock (ms) after which the invite is refused.
    pub expires_at: u64,
    /// Failed attempts so far.
    pub failures: u8,
}

impl InviteRecord {
    /// The code.
    pub fn code(&self) -> Option<InviteCode> {
        InviteCode::new(self.id, self.secret)
    }
}

impl Drop for InviteRecord {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::NO_END;
    use rand_chacha::rand_core::SeedableRng;

    fn auth(grant: Grant) -> Authorization {
        Authorization::new(AuthRecord {
            id: 1,
            name: "x".into(),
            grant,
            public_key: PublicKey([1; 32]),
            session_key: SessionKey::from_bytes([2; 32]),
            channel: ChannelState::default(),
        })
    }

    #[test]
    fn users_cannot_manage_authorizations() {
        for op in [
            Opcode::InviteCreate,
            Opcode::AuthList,
            Opcode::AuthRevoke,
            Opcode::SetTime,
        ] {
            assert!(!role_permits(Role::User, op));
            assert!(role_permits(Role::Admin, op));
        }
        assert!(role_permits(Role::User, Opcode::Unlock));
    }

    #[test]
    fn time_limited_authorizations_need_a_set_clock_and_respect_their_window() {
        let a = auth(Grant {
            role: Role::User,
            remote_allowed: true,
            not_before: 1000,
            not_after: 2000,
        });
        assert_eq!(
            a.check_valid(None, Via::Gateway),
            Err(ErrorCode::ClockNotSet)
        );
        assert_eq!(
            a.check_valid(Some(999), Via::Gateway),
            Err(ErrorCode::NotYetValid)
        );
        assert_eq!(a.check_valid(Some(1500), Via::Gateway), Ok(()));
        assert_eq!(
            a.check_valid(Some(2001), Via::Gateway),
            Err(ErrorCode::Expired)
        );
    }

    #[test]
    fn local_only_authorizations_are_refused_through_a_gateway() {
        let a = auth(Grant {
            role: Role::User,
            remote_allowed: false,
            not_before: 0,
            not_after: NO_END,
        });
        assert_eq!(
            a.check_valid(None, Via::Gateway),
            Err(ErrorCode::RemoteNotAllowed)
        );
        assert_eq!(a.check_valid(None, Via::Direct), Ok(()));
    }

    #[test]
    fn challenges_are_single_use_and_expire() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(12);
        let mut a = auth(Grant::unlimited(Role::User));
        let c = a.issue_challenge(&mut rng, 0, 100);
        assert_eq!(a.redeem_challenge(&c, 50), Ok(()));
        assert_eq!(a.redeem_challenge(&c, 51), Err(ErrorCode::ChallengeInvalid));
        let late = a.issue_challenge(&mut rng, 0, 100);
        assert_eq!(
            a.redeem_challenge(&late, 100),
            Err(ErrorCode::ChallengeExpired)
        );
        assert_eq!(
            a.redeem_challenge(&[0; 16], 0),
            Err(ErrorCode::ChallengeInvalid)
        );
    }

    #[test]
    fn only_the_newest_challenges_are_kept() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(13);
        let mut a = auth(Grant::unlimited(Role::User));
        let first = a.issue_challenge(&mut rng, 0, 100);
        for _ in 0..MAX_CHALLENGES {
            a.issue_challenge(&mut rng, 0, 100);
        }
        assert_eq!(
            a.redeem_challenge(&first, 1),
            Err(ErrorCode::ChallengeInvalid)
        );
    }
}
