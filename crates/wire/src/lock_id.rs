//! `LockId`: the 8-byte identity of a lock, and its 16-hex-digit text form.
//!
//! A lock advertises its id (see [`crate::adv`]); the gateway uses its text form as the
//! `<lock>` level of MQTT topics (see [`crate::topics`]). Output is always lowercase; input
//! accepts either case but nothing else: no `0x` prefix, no separators, no whitespace.

use std::fmt;
use std::str::FromStr;

/// Length of a lock id in bytes.
pub const LOCK_ID_LEN: usize = 8;

/// Length of a lock id's text form: two hex digits per byte.
pub const LOCK_ID_HEX_LEN: usize = 2 * LOCK_ID_LEN;

/// The identity of a lock: 8 bytes, shown as 16 lowercase hex digits.
///
/// Every 8-byte value is a valid id, so the field is public.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LockId(pub [u8; LOCK_ID_LEN]);

/// Why a string is not a lock id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockIdError {
    /// The string does not have exactly 16 characters.
    #[error("a lock id is exactly 16 hex digits, but this one has {len} characters")]
    WrongLength {
        /// Number of characters (not bytes) in the input.
        len: usize,
    },
    /// A character is not a hex digit.
    #[error(
        "a lock id is 16 hex digits (0-9, a-f), but character {position} is {found:?}; \
         write it without prefix or separators"
    )]
    NotHex {
        /// Zero-based index of the offending character.
        position: usize,
        /// The offending character.
        found: char,
    },
}

impl LockId {
    /// Wraps 8 bytes as a lock id.
    pub const fn from_bytes(bytes: [u8; LOCK_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The 8 bytes of this id, in the order they appear on the wire.
    pub const fn as_bytes(&self) -> &[u8; LOCK_ID_LEN] {
        &self.0
    }
}

impl From<[u8; LOCK_ID_LEN]> for LockId {
    fn from(bytes: [u8; LOCK_ID_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockId({self})")
    }
}

impl FromStr for LockId {
    type Err = LockIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let len = text.chars().count();
        if len != LOCK_ID_HEX_LEN {
            return Err(LockIdError::WrongLength { len });
        }
        let mut bytes = [0u8; LOCK_ID_LEN];
        let mut digits = text.chars().enumerate().map(|(position, found)| {
            found
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
                .ok_or(LockIdError::NotHex { position, found })
        });
        for byte in &mut bytes {
            let (Some(high), Some(low)) = (digits.next(), digits.next()) else {
                return Err(LockIdError::WrongLength { len });
            };
            *byte = (high? << 4) | low?;
        }
        Ok(Self(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];

    #[test]
    fn displays_as_sixteen_lowercase_hex_digits() {
        assert_eq!(LockId(BYTES).to_string(), "0123456789abcdef");
        assert_eq!(LockId([0; 8]).to_string(), "0000000000000000");
    }

    #[test]
    fn debug_shows_the_hex_form() {
        assert_eq!(format!("{:?}", LockId(BYTES)), "LockId(0123456789abcdef)");
    }

    #[test]
    fn parses_lowercase_and_uppercase_hex() {
        assert_eq!("0123456789abcdef".parse(), Ok(LockId(BYTES)));
        assert_eq!("0123456789ABCDEF".parse(), Ok(LockId(BYTES)));
    }

    #[test]
    fn parse_rejects_wrong_lengths() {
        assert_eq!(
            "".parse::<LockId>(),
            Err(LockIdError::WrongLength { len: 0 })
        );
        assert_eq!(
            "0123456789abcde".parse::<LockId>(),
            Err(LockIdError::WrongLength { len: 15 })
        );
        assert_eq!(
            "0123456789abcdef0".parse::<LockId>(),
            Err(LockIdError::WrongLength { len: 17 })
        );
    }

    #[test]
    fn parse_rejects_non_hex_characters_and_names_the_position() {
        let err = "0123456789abcdeg".parse::<LockId>();
        assert_eq!(
            err,
            Err(LockIdError::NotHex {
                position: 15,
                found: 'g'
            })
        );
        let err = "0x23456789abcdef".parse::<LockId>();
        assert_eq!(
            err,
            Err(LockIdError::NotHex {
                position: 1,
                found: 'x'
            })
        );
        let err = "+123456789abcdef".parse::<LockId>();
        assert_eq!(
            err,
            Err(LockIdError::NotHex {
                position: 0,
                found: '+'
            })
        );
        let err = " 123456789abcdef".parse::<LockId>();
        assert_eq!(
            err,
            Err(LockIdError::NotHex {
                position: 0,
                found: ' '
            })
        );
    }

    #[test]
    fn parse_counts_characters_not_bytes() {
        let err = "0123456789abcdé".parse::<LockId>();
        assert_eq!(err, Err(LockIdError::WrongLength { len: 15 }));
        let err = "0123456789abcdeé".parse::<LockId>();
        assert_eq!(
            err,
            Err(LockIdError::NotHex {
                position: 15,
                found: 'é'
            })
        );
    }

    #[test]
    fn bytes_round_trip() {
        let id = LockId::from_bytes(BYTES);
        assert_eq!(id.as_bytes(), &BYTES);
        assert_eq!(LockId::from(BYTES), id);
    }

    #[test]
    fn ordering_follows_the_bytes() {
        assert!(LockId([0, 0, 0, 0, 0, 0, 0, 1]) < LockId([0, 0, 0, 0, 0, 0, 1, 0]));
    }

    proptest::proptest! {
        #[test]
        fn display_then_parse_gives_the_same_id(bytes: [u8; 8]) {
            let id = LockId(bytes);
            proptest::prop_assert_eq!(id.to_string().parse::<LockId>(), Ok(id));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,20}") {
            let _ = text.parse::<LockId>();
        }
    }
}
