//! Encrypted session frames between one endpoint and one lock.
//!
//! A session frame is the 14-byte envelope header (kind `Session`) followed by
//! XSalsa20-Poly1305 under the authorization's session key (derived at pairing from the
//! crypto_box key of the two static keys and the pairing's secret). The 24-byte nonce
//! is `direction || header || 0^9`, so every header field is authenticated and, because each
//! side sends every counter at most once per direction, no nonce is ever reused.
//!
//! Counters survive restarts by reservation: a sender persists `tx_reserved` (a counter it has
//! not used yet) *before* it uses any counter at or above the previous reservation, and after a
//! restart resumes at the reservation. A receiver's window restores with every counter up to
//! its persisted top marked as seen.

use crate::keys::SessionKey;
use crate::replay::{ReplayError, ReplayWindow, REJECT_AFTER_COUNTER};
use crypto_secretbox::aead::{Aead, KeyInit, Payload};
use crypto_secretbox::XSalsa20Poly1305;
use lockgate_wire::envelope::{Header, Kind, HEADER_LEN};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

/// How many counters a sender reserves at a time (one durable write per this many frames).
pub const COUNTER_RESERVATION: u64 = 1024;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

/// Which way a frame travels; the first byte of the nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    /// Endpoint to lock (`'E'`).
    EndpointToLock = 0x45,
    /// Lock to endpoint (`'L'`).
    LockToEndpoint = 0x4C,
}

impl Direction {
    /// The opposite direction.
    pub fn reverse(self) -> Self {
        match self {
            Direction::EndpointToLock => Direction::LockToEndpoint,
            Direction::LockToEndpoint => Direction::EndpointToLock,
        }
    }
}

/// Why a session frame was refused or could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The frame is not a session frame for this authorization.
    #[error("not a session frame for authorization {expected}")]
    WrongAddress {
        /// The authorization id this channel serves.
        expected: u32,
    },
    /// The counter was refused by the replay window.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The body failed authentication (tampered, truncated, or another key).
    #[error("frame failed authentication")]
    Authentication,
    /// This side has used up its counters; the endpoint must pair again.
    #[error("send counters exhausted; pair again")]
    CounterExhausted,
}

/// What a side must keep durably for one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChannelState {
    /// The first send counter not yet covered by a durable reservation.
    pub tx_reserved: u64,
    /// The highest counter received and authenticated.
    pub rx_top: u64,
}

/// A sealed frame, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The complete frame (header and body).
    pub frame: Vec<u8>,
    /// Its counter.
    pub counter: u64,
    /// `Some(state)`: write this durably *before* sending the frame.
    pub persist: Option<ChannelState>,
}

/// The 24-byte nonce for a frame: `direction || header || 0^9`.
pub fn nonce(direction: Direction, header: &Header) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[0] = direction as u8;
    n[1..1 + HEADER_LEN].copy_from_slice(&header.encode());
    n
}

/// One side of an endpoint–lock channel: the shared key, the send counter and the replay
/// window for the other direction.
pub struct Channel {
    key: XSalsa20Poly1305,
    auth_id: u32,
    send: Direction,
    tx_next: u64,
    state: ChannelState,
    rx: ReplayWindow,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("auth_id", &self.auth_id)
            .field("send", &self.send)
            .field("tx_next", &self.tx_next)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Opens a channel as `send`'s sender under `key`, resuming from `state` (the default
    /// for a new pairing).
    pub fn new(key: &SessionKey, auth_id: u32, send: Direction, state: ChannelState) -> Self {
        Channel {
            key: XSalsa20Poly1305::new(key.as_bytes().into()),
            auth_id,
            send,
            tx_next: state.tx_reserved.max(1),
            state,
            rx: ReplayWindow::restored(state.rx_top),
        }
    }

    /// The authorization id this channel serves.
    pub fn auth_id(&self) -> u32 {
        self.auth_id
    }

    /// The state to keep durably.
    pub fn state(&self) -> ChannelState {
        self.state
    }

    /// Encrypts `plaintext` into the next frame.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Sealed, SessionError> {
        let counter = self.tx_next;
        if counter > REJECT_AFTER_COUNTER {
            return Err(SessionError::CounterExhausted);
        }
        let mut persist = None;
        if counter >= self.state.tx_reserved {
            self.state.tx_reserved = counter.saturating_add(COUNTER_RESERVATION);
            persist = Some(self.state);
        }
        self.tx_next = counter + 1;
        let header = Header {
            kind: Kind::Session,
            auth_id: self.auth_id,
            counter,
        };
        let body = self
            .key
            .encrypt(&nonce(self.send, &header).into(), plaintext)
            .map_err(|_| SessionError::Authentication)?;
        let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
        frame.extend_from_slice(&header.encode());
        frame.extend_from_slice(&body);
        Ok(Sealed {
            frame,
            counter,
            persist,
        })
    }

    /// Checks the counter without decrypting: a cheap filter before the AEAD.
    pub fn precheck(&self, header: &Header) -> Result<(), SessionError> {
        if header.kind != Kind::Session || header.auth_id != self.auth_id {
            return Err(SessionError::WrongAddress {
                expected: self.auth_id,
            });
        }
        Ok(self.rx.check(header.counter)?)
    }

    /// Authenticates and decrypts a received frame, then records its counter.
    pub fn open(
        &mut self,
        header: &Header,
        body: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SessionError> {
        self.precheck(header)?;
        let payload = Payload {
            msg: body,
            aad: &[],
        };
        let plaintext = self
            .key
            .decrypt(&nonce(self.send.reverse(), header).into(), payload)
            .map_err(|_| SessionError::Authentication)?;
        self.rx.update(header.counter)?;
        self.state.rx_top = self.rx.top();
        Ok(Zeroizing::new(plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: SessionKey = SessionKey([9; 32]);

    fn pair() -> (Channel, Channel) {
        let endpoint = Channel::new(&KEY, 7, Direction::EndpointToLock, ChannelState::default());
        let lock = Channel::new(&KEY, 7, Direction::LockToEndpoint, ChannelState::default());
        (endpoint, lock)
    }

    fn deliver(to: &mut Channel, frame: &[u8]) -> Result<Vec<u8>, SessionError> {
        let (header, body) = Header::parse(frame).unwrap();
        to.open(&header, body).map(|p| p.to_vec())
    }

    #[test]
    fn frames_open_on_the_other_side_only_once() {
        let (mut e, mut l) = pair();
        let sealed = e.seal(b"status").unwrap();
        assert_eq!(sealed.counter, 1);
        assert_eq!(deliver(&mut l, &sealed.frame).unwrap(), b"status");
        assert_eq!(
            deliver(&mut l, &sealed.frame),
            Err(SessionError::Replay(ReplayError::Replayed(1)))
        );
    }

    #[test]
    fn a_frame_reflected_back_to_its_sender_fails_authentication() {
        let (mut e, _l) = pair();
        let sealed = e.seal(b"status").unwrap();
        // Same key, same counter, but the direction byte in the nonce differs.
        let mut e2 = pair().0;
        assert_eq!(
            deliver(&mut e2, &sealed.frame),
            Err(SessionError::Authentication)
        );
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let (mut e, _) = pair();
        let sealed = e.seal(b"unlock please").unwrap();
        for i in 0..sealed.frame.len() * 8 {
            let mut bad = sealed.frame.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let (_, mut l2) = pair();
            let refused = match Header::parse(&bad) {
                Err(_) => true,
                Ok((h, body)) => l2.open(&h, body).is_err(),
            };
            assert!(refused, "bit {i} flipped was accepted");
        }
    }

    #[test]
    fn the_first_send_and_every_reservation_boundary_ask_to_persist() {
        let (mut e, _) = pair();
        let first = e.seal(b"x").unwrap();
        assert_eq!(
            first.persist,
            Some(ChannelState {
                tx_reserved: 1 + COUNTER_RESERVATION,
                rx_top: 0
            })
        );
        for _ in 1..COUNTER_RESERVATION {
            assert_eq!(e.seal(b"x").unwrap().persist, None);
        }
        assert!(e.seal(b"x").unwrap().persist.is_some());
    }

    #[test]
    fn counters_never_repeat_after_restoring_persisted_state() {
        let mut durable = ChannelState::default();
        let mut used = std::collections::HashSet::new();
        for restart in 0..5 {
            let mut ch = Channel::new(&KEY, 1, Direction::EndpointToLock, durable);
            for _ in 0..(300 * (restart + 1)) {
                let s = ch.seal(b"x").unwrap();
                if let Some(state) = s.persist {
                    durable = state; // written before the frame leaves
                }
                assert!(used.insert(s.counter), "counter {} reused", s.counter);
            }
        }
    }

    #[test]
    fn a_restored_receiver_refuses_frames_it_saw_before_the_restart() {
        let mut tx = Channel::new(&KEY, 1, Direction::EndpointToLock, Default::default());
        let mut rx = Channel::new(&KEY, 1, Direction::LockToEndpoint, Default::default());
        let old = tx.seal(b"rename").unwrap();
        deliver(&mut rx, &old.frame).unwrap();
        let mut restored = Channel::new(&KEY, 1, Direction::LockToEndpoint, rx.state());
        assert!(deliver(&mut restored, &old.frame).is_err());
        let fresh = tx.seal(b"status").unwrap();
        assert_eq!(deliver(&mut restored, &fresh.frame).unwrap(), b"status");
    }

    #[test]
    fn frames_for_another_authorization_are_refused_before_decryption() {
        let (mut e, _) = pair();
        let sealed = e.seal(b"x").unwrap();
        let (mut h, _) = Header::parse(&sealed.frame).unwrap();
        h.auth_id = 8;
        let (_, l) = pair();
        assert_eq!(
            l.precheck(&h),
            Err(SessionError::WrongAddress { expected: 7 })
        );
    }
}
