//! The binary messages of the support channel (docs/SUPPORT.md §3), and their codec.
//!
//! Every message starts with a 10-byte header: version ([`VERSION`]), type ([`Kind`]), and
//! the 8-byte session id the client chose. Decoding never panics: any length, type or value
//! this module does not define is a [`DecodeError`]; trailing bytes are never ignored.

use crate::pake::{CONFIRM_LEN, SPAKE_MSG_LEN};
use std::fmt;
use thiserror::Error;

/// The version byte of every support message.
pub const VERSION: u8 = 1;
/// Length of the header: version, type, session id.
pub const HEADER_LEN: usize = 10;
/// Longest message accepted or sent (the gateway's MQTT packets are at most 16 KiB).
pub const MAX_MESSAGE: usize = 12 * 1024;
/// Length of a data record's counter.
pub const COUNTER_LEN: usize = 8;
/// Length of the Poly1305 tag in front of a data record's ciphertext.
pub const TAG_LEN: usize = 16;
/// Longest plaintext a data record can carry.
pub const MAX_PLAINTEXT: usize = MAX_MESSAGE - HEADER_LEN - COUNTER_LEN - TAG_LEN;
/// Longest operator name (bytes of UTF-8).
pub const MAX_OPERATOR_LEN: usize = 32;
/// Length of a refusal: header, reason, retry-after seconds.
pub const REFUSAL_LEN: usize = HEADER_LEN + 1 + 4;

/// The id of one support session (and of the handshake that opens it), chosen at random by
/// the client. Shown as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub [u8; 8]);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// The message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Client → gateway: operator name and SPAKE2 message A.
    Hello = 1,
    /// Gateway → client: SPAKE2 message B and the gateway's confirmation.
    Reply = 2,
    /// Client → gateway: the client's confirmation.
    Confirm = 3,
    /// Either way: an encrypted record.
    Data = 4,
    /// Gateway → client: a cleartext refusal.
    Refusal = 5,
    /// Client → gateway: the client gives up its handshake (wrong code).
    Abort = 6,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Kind::Hello,
            2 => Kind::Reply,
            3 => Kind::Confirm,
            4 => Kind::Data,
            5 => Kind::Refusal,
            6 => Kind::Abort,
            _ => return None,
        })
    }
}

/// Why the gateway refused, in a cleartext [`Message::Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// No support code is active: the owner must run `lockgate support start`.
    NoCode = 1,
    /// Too many failed attempts lately: try again after `retry_after_secs`.
    Throttled = 2,
    /// Another handshake or session is in progress.
    Busy = 3,
    /// The code was burned by failed attempts: the owner must start a new one.
    CodeBurned = 4,
    /// The confirmation failed: a wrong code, or the messages were tampered with.
    Failed = 5,
    /// The message was malformed.
    Malformed = 6,
    /// No handshake or session with this id is in progress.
    NoSession = 7,
    /// The owner stopped remote support.
    Stopped = 8,
}

impl Reason {
    /// Every reason, by code.
    pub const ALL: [Reason; 8] = [
        Reason::NoCode,
        Reason::Throttled,
        Reason::Busy,
        Reason::CodeBurned,
        Reason::Failed,
        Reason::Malformed,
        Reason::NoSession,
        Reason::Stopped,
    ];

    fn from_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| *r as u8 == b)
    }

    /// The name used in docs and logs (`no_code`, `throttled`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Reason::NoCode => "no_code",
            Reason::Throttled => "throttled",
            Reason::Busy => "busy",
            Reason::CodeBurned => "code_burned",
            Reason::Failed => "failed",
            Reason::Malformed => "malformed",
            Reason::NoSession => "no_session",
            Reason::Stopped => "stopped",
        }
    }
}

/// One support message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Starts a handshake.
    Hello {
        /// The new session's id.
        session_id: SessionId,
        /// Who is asking (for the gateway's audit trail): 1 to 32 bytes, no control characters.
        operator: String,
        /// SPAKE2 message A.
        spake: [u8; SPAKE_MSG_LEN],
    },
    /// Answers a [`Message::Hello`].
    Reply {
        /// The session.
        session_id: SessionId,
        /// SPAKE2 message B.
        spake: [u8; SPAKE_MSG_LEN],
        /// The gateway's key confirmation.
        confirm: [u8; CONFIRM_LEN],
    },
    /// Finishes the handshake.
    Confirm {
        /// The session.
        session_id: SessionId,
        /// The client's key confirmation.
        confirm: [u8; CONFIRM_LEN],
    },
    /// An encrypted record.
    Data {
        /// The session.
        session_id: SessionId,
        /// The sender's counter, from 1.
        counter: u64,
        /// Tag and ciphertext (XSalsa20-Poly1305).
        sealed: Vec<u8>,
    },
    /// A cleartext refusal.
    Refusal {
        /// The session refused.
        session_id: SessionId,
        /// Why.
        reason: Reason,
        /// For [`Reason::Throttled`]: seconds to wait; 0 otherwise.
        retry_after_secs: u32,
    },
    /// The client abandons its handshake.
    Abort {
        /// The session.
        session_id: SessionId,
    },
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Shorter than a header.
    #[error("message too short ({0} bytes)")]
    TooShort(usize),
    /// Longer than [`MAX_MESSAGE`].
    #[error("message too long ({0} bytes)")]
    TooLong(usize),
    /// Unknown version byte.
    #[error("unsupported version {0}")]
    Version(u8),
    /// Unknown type byte.
    #[error("unknown message type {0}")]
    Kind(u8),
    /// The body's length does not fit its type.
    #[error("a {kind:?} message cannot be {len} bytes long")]
    Length {
        /// The type.
        kind: Kind,
        /// The whole message's length.
        len: usize,
    },
    /// A field holds a value the protocol does not define.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Whether `name` is a valid operator name: 1 to 32 bytes, no control character.
pub fn is_valid_operator(name: &str) -> bool {
    (1..=MAX_OPERATOR_LEN).contains(&name.len()) && !name.chars().any(char::is_control)
}

impl Message {
    /// The session the message belongs to.
    pub fn session_id(&self) -> SessionId {
        match self {
            Message::Hello { session_id, .. }
            | Message::Reply { session_id, .. }
            | Message::Confirm { session_id, .. }
            | Message::Data { session_id, .. }
            | Message::Refusal { session_id, .. }
            | Message::Abort { session_id } => *session_id,
        }
    }

    /// The message's type.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Hello { .. } => Kind::Hello,
            Message::Reply { .. } => Kind::Reply,
            Message::Confirm { .. } => Kind::Confirm,
            Message::Data { .. } => Kind::Data,
            Message::Refusal { .. } => Kind::Refusal,
            Message::Abort { .. } => Kind::Abort,
        }
    }

    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = header(self.kind(), &self.session_id()).to_vec();
        match self {
            Message::Hello {
                operator, spake, ..
            } => {
                let name = operator.as_bytes();
                let name = &name[..name.len().min(MAX_OPERATOR_LEN)];
                out.push(name.len() as u8);
                out.extend_from_slice(name);
                out.extend_from_slice(spake);
            }
            Message::Reply { spake, confirm, .. } => {
                out.extend_from_slice(spake);
                out.extend_from_slice(confirm);
            }
            Message::Confirm { confirm, .. } => out.extend_from_slice(confirm),
            Message::Data {
                counter, sealed, ..
            } => {
                out.extend_from_slice(&counter.to_le_bytes());
                out.extend_from_slice(sealed);
            }
            Message::Refusal {
                reason,
                retry_after_secs,
                ..
            } => {
                out.push(*reason as u8);
                out.extend_from_slice(&retry_after_secs.to_le_bytes());
            }
            Message::Abort { .. } => {}
        }
        out
    }

    /// Decodes a whole message.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(DecodeError::TooLong(bytes.len()));
        }
        let (head, body) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(DecodeError::TooShort(bytes.len()))?;
        let (kind, session_id) = read_header(head)?;
        let wrong_length = || DecodeError::Length {
            kind,
            len: bytes.len(),
        };
        Ok(match kind {
            Kind::Hello => decode_hello(session_id, body).ok_or_else(wrong_length)??,
            Kind::Reply => {
                let (spake, confirm) =
                    split_exact::<SPAKE_MSG_LEN, CONFIRM_LEN>(body).ok_or_else(wrong_length)?;
                Message::Reply {
                    session_id,
                    spake,
                    confirm,
                }
            }
            Kind::Confirm => Message::Confirm {
                session_id,
                confirm: body.try_into().map_err(|_| wrong_length())?,
            },
            Kind::Data => {
                let (counter, sealed) = body
                    .split_first_chunk::<COUNTER_LEN>()
                    .filter(|(_, sealed)| sealed.len() >= TAG_LEN)
                    .ok_or_else(wrong_length)?;
                let counter = u64::from_le_bytes(*counter);
                if counter == 0 {
                    return Err(DecodeError::Invalid("counter 0"));
                }
                Message::Data {
                    session_id,
                    counter,
                    sealed: sealed.to_vec(),
                }
            }
            Kind::Refusal => decode_refusal(session_id, body).ok_or_else(wrong_length)??,
            Kind::Abort if body.is_empty() => Message::Abort { session_id },
            Kind::Abort => return Err(wrong_length()),
        })
    }
}

/// The 10-byte header.
pub fn header(kind: Kind, session_id: &SessionId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0] = VERSION;
    h[1] = kind as u8;
    h[2..].copy_from_slice(&session_id.0);
    h
}

/// Reads the header of `bytes` alone: the type and session of a message that may not decode.
pub fn peek_header(bytes: &[u8]) -> Result<(Kind, SessionId), DecodeError> {
    let head = bytes
        .first_chunk::<HEADER_LEN>()
        .ok_or(DecodeError::TooShort(bytes.len()))?;
    read_header(head)
}

fn read_header(head: &[u8; HEADER_LEN]) -> Result<(Kind, SessionId), DecodeError> {
    if head[0] != VERSION {
        return Err(DecodeError::Version(head[0]));
    }
    let kind = Kind::from_byte(head[1]).ok_or(DecodeError::Kind(head[1]))?;
    let mut id = [0u8; 8];
    id.copy_from_slice(&head[2..]);
    Ok((kind, SessionId(id)))
}

/// Splits `body` into exactly `A` then `B` bytes.
fn split_exact<const A: usize, const B: usize>(body: &[u8]) -> Option<([u8; A], [u8; B])> {
    let (a, b) = body.split_first_chunk::<A>()?;
    Some((*a, b.try_into().ok()?))
}

/// `None`: wrong length; `Some(Err)`: a bad value.
fn decode_hello(session_id: SessionId, body: &[u8]) -> Option<Result<Message, DecodeError>> {
    let (&len, rest) = body.split_first()?;
    let len = usize::from(len);
    if rest.len() != len + SPAKE_MSG_LEN {
        return None;
    }
    let (name, spake) = rest.split_at(len);
    let operator = match std::str::from_utf8(name) {
        Ok(name) if is_valid_operator(name) => name.to_owned(),
        _ => return Some(Err(DecodeError::Invalid("operator name"))),
    };
    Some(Ok(Message::Hello {
        session_id,
        operator,
        spake: spake.try_into().ok()?,
    }))
}

fn decode_refusal(session_id: SessionId, body: &[u8]) -> Option<Result<Message, DecodeError>> {
    let (&reason, retry) = body.split_first()?;
    let retry_after_secs = u32::from_le_bytes(retry.try_into().ok()?);
    let Some(reason) = Reason::from_byte(reason) else {
        return Some(Err(DecodeError::Invalid("refusal reason")));
    };
    if reason != Reason::Throttled && retry_after_secs != 0 {
        return Some(Err(DecodeError::Invalid("retry-after without throttling")));
    }
    Some(Ok(Message::Refusal {
        session_id,
        reason,
        retry_after_secs,
    }))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
