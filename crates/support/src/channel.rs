//! The encrypted records of an established support session (docs/SUPPORT.md §5).
//!
//! Each direction has its own key and its own counter, starting at 1. A record is
//! XSalsa20-Poly1305 (`crypto_secretbox`) under the sender's direction key with the nonce
//! `direction || header || counter || 0^5`, so the header and the counter are authenticated
//! and a record reflected back to its sender fails. A receiver accepts only counters above
//! the last one it accepted: replayed and reordered records are refused, lost ones are
//! skipped. The counter is checked before the record is opened and recorded only after it
//! opened, so a forged record never moves it.

use crate::message::{header, Kind, Message, SessionId, COUNTER_LEN, HEADER_LEN, MAX_PLAINTEXT};
use crate::pake::SessionKeys;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use thiserror::Error;
use zeroize::Zeroizing;

/// Which way a record travels; the first byte of its nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Direction {
    /// Client to gateway (`'C'`).
    ClientToGateway = 0x43,
    /// Gateway to client (`'G'`).
    GatewayToClient = 0x47,
}

/// Why a record was refused or could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// The counter is not above the last one accepted (a replay or a reordered record).
    #[error("record {counter} is not newer than record {last}: replayed or reordered")]
    Stale {
        /// The record's counter.
        counter: u64,
        /// The last counter accepted.
        last: u64,
    },
    /// The record failed authentication (tampered, truncated, or under another key).
    #[error("record failed authentication")]
    Authentication,
    /// The plaintext is longer than a record can carry.
    #[error("plaintext of {0} bytes is too long for one record")]
    TooLong(usize),
    /// This side has sent its last counter.
    #[error("send counters exhausted")]
    Exhausted,
}

/// The 24-byte nonce of a record: `direction || version || type || session id || counter ||
/// 0^5`.
pub fn nonce(direction: Direction, session_id: &SessionId, counter: u64) -> [u8; 24] {
    let mut n = [0u8; 24];
    n[0] = direction as u8;
    n[1..1 + HEADER_LEN].copy_from_slice(&header(Kind::Data, session_id));
    n[1 + HEADER_LEN..1 + HEADER_LEN + COUNTER_LEN].copy_from_slice(&counter.to_le_bytes());
    n
}

/// One side of a support session's record layer.
pub struct Channel {
    session_id: SessionId,
    send: Direction,
    send_key: XSalsa20Poly1305,
    receive_key: XSalsa20Poly1305,
    tx_next: u64,
    rx_last: u64,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("session_id", &self.session_id)
            .field("send", &self.send)
            .field("tx_next", &self.tx_next)
            .field("rx_last", &self.rx_last)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// The client's side of the session.
    pub fn client(keys: &SessionKeys, session_id: SessionId) -> Self {
        Self::new(
            session_id,
            Direction::ClientToGateway,
            &keys.client_to_gateway,
            &keys.gateway_to_client,
        )
    }

    /// The gateway's side of the session.
    pub fn gateway(keys: &SessionKeys, session_id: SessionId) -> Self {
        Self::new(
            session_id,
            Direction::GatewayToClient,
            &keys.gateway_to_client,
            &keys.client_to_gateway,
        )
    }

    fn new(session_id: SessionId, send: Direction, tx: &[u8; 32], rx: &[u8; 32]) -> Self {
        Channel {
            session_id,
            send,
            send_key: XSalsa20Poly1305::new(tx.into()),
            receive_key: XSalsa20Poly1305::new(rx.into()),
            tx_next: 1,
            rx_last: 0,
        }
    }

    /// The counter the next sealed record will carry.
    pub fn next_counter(&self) -> u64 {
        self.tx_next
    }

    /// Seals `plaintext` as the next record; returns the whole message.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(ChannelError::TooLong(plaintext.len()));
        }
        if self.tx_next == u64::MAX {
            return Err(ChannelError::Exhausted);
        }
        let counter = self.tx_next;
        let n = nonce(self.send, &self.session_id, counter);
        let sealed = self
            .send_key
            .encrypt(&n.into(), plaintext)
            .map_err(|_| ChannelError::TooLong(plaintext.len()))?;
        self.tx_next += 1;
        Ok(Message::Data {
            session_id: self.session_id,
            counter,
            sealed,
        }
        .encode())
    }

    /// Opens a received record of this session, refusing stale counters.
    pub fn open(
        &mut self,
        counter: u64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ChannelError> {
        if counter <= self.rx_last {
            return Err(ChannelError::Stale {
                counter,
                last: self.rx_last,
            });
        }
        let direction = match self.send {
            Direction::ClientToGateway => Direction::GatewayToClient,
            Direction::GatewayToClient => Direction::ClientToGateway,
        };
        let n = nonce(direction, &self.session_id, counter);
        let plain = self
            .receive_key
            .decrypt(&n.into(), sealed)
            .map_err(|_| ChannelError::Authentication)?;
        self.rx_last = counter;
        Ok(Zeroizing::new(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Channel, Channel) {
        let keys = SessionKeys::derive(&[3; 32], &[4; 32]);
        let sid = SessionId([9; 8]);
        (Channel::client(&keys, sid), Channel::gateway(&keys, sid))
    }

    fn parts(bytes: &[u8]) -> (u64, Vec<u8>) {
        match Message::decode(bytes).unwrap() {
            Message::Data {
                counter, sealed, ..
            } => (counter, sealed),
            other => panic!("not data: {other:?}"),
        }
    }

    #[test]
    fn records_travel_both_ways_with_their_own_counters() {
        let (mut client, mut gateway) = pair();
        for i in 1..=3u64 {
            let (c, s) = parts(&client.seal(b"ping").unwrap());
            assert_eq!(c, i);
            assert_eq!(&*gateway.open(c, &s).unwrap(), b"ping");
        }
        let (c, s) = parts(&gateway.seal(b"pong").unwrap());
        assert_eq!(c, 1);
        assert_eq!(&*client.open(c, &s).unwrap(), b"pong");
    }

    #[test]
    fn replayed_and_reordered_records_are_refused() {
        let (mut client, mut gateway) = pair();
        let first = parts(&client.seal(b"one").unwrap());
        let second = parts(&client.seal(b"two").unwrap());
        gateway.open(second.0, &second.1).unwrap();
        assert_eq!(
            gateway.open(first.0, &first.1),
            Err(ChannelError::Stale {
                counter: 1,
                last: 2
            })
        );
        assert!(matches!(
            gateway.open(second.0, &second.1),
            Err(ChannelError::Stale { .. })
        ));
    }

    #[test]
    fn a_forged_record_does_not_move_the_counter() {
        let (mut client, mut gateway) = pair();
        let (c, mut s) = parts(&client.seal(b"one").unwrap());
        s[0] ^= 1;
        assert_eq!(gateway.open(c + 5, &s), Err(ChannelError::Authentication));
        s[0] ^= 1;
        assert_eq!(&*gateway.open(c, &s).unwrap(), b"one");
    }

    #[test]
    fn a_record_is_bound_to_its_counter_and_direction() {
        let (mut client, mut gateway) = pair();
        let (c, s) = parts(&client.seal(b"one").unwrap());
        assert_eq!(gateway.open(c + 1, &s), Err(ChannelError::Authentication));
        // Reflected back to the client, which expects the other direction's key.
        assert_eq!(client.open(c, &s), Err(ChannelError::Authentication));
    }

    #[test]
    fn oversized_plaintexts_are_refused() {
        let (mut client, _) = pair();
        assert!(client.seal(&vec![0; MAX_PLAINTEXT]).is_ok());
        assert_eq!(
            client.seal(&vec![0; MAX_PLAINTEXT + 1]),
            Err(ChannelError::TooLong(MAX_PLAINTEXT + 1))
        );
    }
}
