//! The envelope header: the 14 cleartext bytes in front of every end-to-end frame, and the
//! only part of a frame the gateway reads.
//!
//! Layout: `0` version ([`VERSION`]), `1` kind ([`Kind`]), `2..6` auth id (u32 little-endian),
//! `6..14` counter (u64 little-endian), then the body (ciphertext, opaque here). In `Pairing`
//! frames the auth id is a pairing id chosen by the endpoint, with [`PAIRING_ID_FLAG`] set;
//! otherwise it is an authorization id assigned by the lock, `1..=0x7FFF_FFFF`. 0 is never
//! valid.

use crate::frag::MAX_FRAME;

/// The envelope version this crate reads and writes.
pub const VERSION: u8 = 1;

/// Length of the header in bytes.
pub const HEADER_LEN: usize = 14;

/// Top bit of the auth id: set on pairing ids, clear on authorization ids.
pub const PAIRING_ID_FLAG: u32 = 0x8000_0000;

/// What a frame carries, and so which kind of id its auth id field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A pairing (SPAKE2) message; the auth id is a pairing id.
    Pairing = 1,
    /// A message of an established session; the auth id is an authorization id.
    Session = 2,
    /// A cleartext error report from a lock; the auth id names the pairing or authorization it
    /// answers.
    Error = 3,
}

impl Kind {
    /// The kind byte.
    pub const fn to_byte(self) -> u8 {
        self as u8
    }

    /// The kind for a kind byte, if it is one.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Pairing),
            2 => Some(Self::Session),
            3 => Some(Self::Error),
            _ => None,
        }
    }
}

/// The decoded envelope header (the version is implied: [`VERSION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// What the frame carries.
    pub kind: Kind,
    /// A pairing id (`Pairing`) or an authorization id (`Session`); either for `Error`.
    pub auth_id: u32,
    /// The sender's explicit message counter for this direction.
    pub counter: u64,
}

/// Why a frame has no valid envelope header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Fewer than [`HEADER_LEN`] bytes.
    #[error("frame of {len} bytes is shorter than the 14-byte envelope header")]
    TooShort {
        /// Length of the frame.
        len: usize,
    },
    /// More than [`MAX_FRAME`] bytes.
    #[error("frame of {len} bytes is longer than the maximum of {max} bytes")]
    TooLong {
        /// Length of the frame.
        len: usize,
        /// The limit, [`MAX_FRAME`].
        max: usize,
    },
    /// The version byte is not [`VERSION`].
    #[error("envelope version {version} is not supported (this build speaks version 1); update this side")]
    UnsupportedVersion {
        /// The version byte seen.
        version: u8,
    },
    /// The kind byte is not a [`Kind`].
    #[error("unknown frame kind {kind} (known: 1 pairing, 2 session, 3 error)")]
    UnknownKind {
        /// The kind byte seen.
        kind: u8,
    },
    /// The auth id does not fit the kind (see [`is_pairing_id`], [`is_authorization_id`]).
    #[error("auth id {auth_id:#010x} is not valid in a {kind:?} frame")]
    InvalidAuthId {
        /// The frame's kind.
        kind: Kind,
        /// The auth id seen.
        auth_id: u32,
    },
}

/// True for pairing ids: the top bit ([`PAIRING_ID_FLAG`]) is set.
pub const fn is_pairing_id(id: u32) -> bool {
    id & PAIRING_ID_FLAG != 0
}

/// True for authorization ids: `1..=0x7FFF_FFFF`.
pub const fn is_authorization_id(id: u32) -> bool {
    id != 0 && !is_pairing_id(id)
}

/// True if `auth_id` may appear in a frame of `kind`.
pub const fn auth_id_fits(kind: Kind, auth_id: u32) -> bool {
    match kind {
        Kind::Pairing => is_pairing_id(auth_id),
        Kind::Session => is_authorization_id(auth_id),
        Kind::Error => auth_id != 0,
    }
}

impl Header {
    /// The 14 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let (head, rest) = out.split_at_mut(2);
        let (auth_id, counter) = rest.split_at_mut(4);
        head.copy_from_slice(&[VERSION, self.kind.to_byte()]);
        auth_id.copy_from_slice(&self.auth_id.to_le_bytes());
        counter.copy_from_slice(&self.counter.to_le_bytes());
        out
    }

    /// Splits a frame into its header and body.
    ///
    /// Checks, in this order: length (at least [`HEADER_LEN`], at most [`MAX_FRAME`]),
    /// version, kind, and that the auth id fits the kind ([`auth_id_fits`]).
    pub fn parse(frame: &[u8]) -> Result<(Header, &[u8]), EnvelopeError> {
        if frame.len() > MAX_FRAME {
            return Err(EnvelopeError::TooLong {
                len: frame.len(),
                max: MAX_FRAME,
            });
        }
        let Some((header, body)) = frame.split_first_chunk::<HEADER_LEN>() else {
            return Err(EnvelopeError::TooShort { len: frame.len() });
        };
        let [version, kind, a0, a1, a2, a3, c @ ..] = *header;
        if version != VERSION {
            return Err(EnvelopeError::UnsupportedVersion { version });
        }
        let kind = Kind::from_byte(kind).ok_or(EnvelopeError::UnknownKind { kind })?;
        let auth_id = u32::from_le_bytes([a0, a1, a2, a3]);
        if !auth_id_fits(kind, auth_id) {
            return Err(EnvelopeError::InvalidAuthId { kind, auth_id });
        }
        Ok((
            Header {
                kind,
                auth_id,
                counter: u64::from_le_bytes(c),
            },
            body,
        ))
    }
}

/// The frame `header ‖ body`. It does not check the auth id or the length; [`Header::parse`]
/// on the receiving side does.
pub fn build_frame(header: &Header, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_LEN + body.len());
    frame.extend_from_slice(&header.encode());
    frame.extend_from_slice(body);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn session(auth_id: u32, counter: u64) -> Header {
        Header {
            kind: Kind::Session,
            auth_id,
            counter,
        }
    }

    #[test]
    fn encodes_version_kind_then_little_endian_fields() {
        let header = session(0x0403_0201, 0x0c0b_0a09_0807_0605);
        assert_eq!(
            header.encode(),
            [1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
    }

    #[test]
    fn parse_splits_header_and_body() {
        let header = Header {
            kind: Kind::Pairing,
            auth_id: 0x8000_0001,
            counter: 7,
        };
        let frame = build_frame(&header, b"body");
        assert_eq!(Header::parse(&frame), Ok((header, &b"body"[..])));
    }

    #[test]
    fn a_frame_of_only_a_header_has_an_empty_body() {
        let frame = session(1, 0).encode();
        assert_eq!(Header::parse(&frame), Ok((session(1, 0), &[][..])));
    }

    #[test]
    fn frame_shorter_than_the_header_is_too_short() {
        let frame = session(1, 0).encode();
        assert_eq!(
            Header::parse(&frame[..13]),
            Err(EnvelopeError::TooShort { len: 13 })
        );
        assert_eq!(Header::parse(&[]), Err(EnvelopeError::TooShort { len: 0 }));
    }

    #[test]
    fn frame_longer_than_max_frame_is_too_long() {
        let frame = build_frame(&session(1, 0), &[0; MAX_FRAME - HEADER_LEN + 1]);
        let err = Header::parse(&frame);
        assert_eq!(
            err,
            Err(EnvelopeError::TooLong {
                len: MAX_FRAME + 1,
                max: MAX_FRAME
            })
        );
        let frame = build_frame(&session(1, 0), &[0; MAX_FRAME - HEADER_LEN]);
        assert!(Header::parse(&frame).is_ok());
    }

    #[test]
    fn other_versions_are_unsupported() {
        let mut frame = session(1, 0).encode();
        for version in [0, 2, 0xff] {
            frame[0] = version;
            assert_eq!(
                Header::parse(&frame),
                Err(EnvelopeError::UnsupportedVersion { version })
            );
        }
    }

    #[test]
    fn unknown_kinds_are_rejected() {
        let mut frame = session(1, 0).encode();
        for kind in [0, 4, 0xff] {
            frame[1] = kind;
            assert_eq!(
                Header::parse(&frame),
                Err(EnvelopeError::UnknownKind { kind })
            );
        }
    }

    #[test]
    fn session_frames_need_an_authorization_id() {
        for auth_id in [0, 0x8000_0000, 0xffff_ffff] {
            let frame = session(auth_id, 0).encode();
            let err = Err(EnvelopeError::InvalidAuthId {
                kind: Kind::Session,
                auth_id,
            });
            assert_eq!(Header::parse(&frame), err);
        }
    }

    #[test]
    fn pairing_frames_need_a_pairing_id() {
        for auth_id in [0, 1, 0x7fff_ffff] {
            let frame = Header {
                kind: Kind::Pairing,
                auth_id,
                counter: 0,
            }
            .encode();
            let err = Err(EnvelopeError::InvalidAuthId {
                kind: Kind::Pairing,
                auth_id,
            });
            assert_eq!(Header::parse(&frame), err);
        }
    }

    #[test]
    fn error_frames_accept_either_id_but_not_zero() {
        for (auth_id, ok) in [(0, false), (1, true), (0x8000_0000, true)] {
            let frame = Header {
                kind: Kind::Error,
                auth_id,
                counter: 0,
            }
            .encode();
            assert_eq!(Header::parse(&frame).is_ok(), ok, "auth id {auth_id:#x}");
        }
    }

    #[test]
    fn id_helpers_split_the_u32_range() {
        assert!(!is_pairing_id(0) && !is_authorization_id(0));
        assert!(is_authorization_id(1) && is_authorization_id(0x7fff_ffff));
        assert!(is_pairing_id(0x8000_0000) && is_pairing_id(0xffff_ffff));
        assert!(!is_authorization_id(0x8000_0000));
    }

    #[test]
    fn kind_bytes_round_trip() {
        for kind in [Kind::Pairing, Kind::Session, Kind::Error] {
            assert_eq!(Kind::from_byte(kind.to_byte()), Some(kind));
        }
        assert_eq!(Kind::from_byte(0), None);
    }

    fn valid_header() -> impl Strategy<Value = Header> {
        let kind = prop_oneof![Just(Kind::Pairing), Just(Kind::Session), Just(Kind::Error)];
        (kind, any::<u32>(), any::<u64>())
            .prop_filter("auth id must fit the kind", |(k, id, _)| {
                auth_id_fits(*k, *id)
            })
            .prop_map(|(kind, auth_id, counter)| Header {
                kind,
                auth_id,
                counter,
            })
    }

    proptest! {
        #[test]
        fn any_valid_header_round_trips_with_any_body(
            header in valid_header(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let frame = build_frame(&header, &body);
            prop_assert_eq!(Header::parse(&frame), Ok((header, body.as_slice())));
        }

        #[test]
        fn parse_never_panics_and_accepted_headers_re_encode_to_the_prefix(
            frame in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            if let Ok((header, body)) = Header::parse(&frame) {
                prop_assert_eq!(&frame[..HEADER_LEN], &header.encode()[..]);
                prop_assert_eq!(body, &frame[HEADER_LEN..]);
            }
        }
    }
}
