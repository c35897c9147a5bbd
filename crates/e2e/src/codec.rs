//! Little-endian binary reading and writing for protocol messages.
//!
//! Every decoder in this crate reads through [`Reader`], which never panics: running out of
//! input, trailing bytes and bad UTF-8 are all [`DecodeError`]s.

use thiserror::Error;

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The message ended before a field was complete.
    #[error("message truncated: {field} needs {needed} more byte(s)")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// Bytes were left over after the last field.
    #[error("message has {0} unexpected trailing byte(s)")]
    Trailing(usize),
    /// A field held a value the protocol does not define.
    #[error("invalid value {value} for {field}")]
    InvalidValue {
        /// The field being read.
        field: &'static str,
        /// The offending value.
        value: u64,
    },
    /// A text field was not valid UTF-8 or broke a length rule.
    #[error("invalid text in {0}")]
    InvalidText(&'static str),
}

/// A cursor over a received message.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated {
                field,
                needed: n - self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Reads a little-endian `u16`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// Reads a length-prefixed (one byte) UTF-8 string of `min..=max` bytes.
    pub fn short_str(
        &mut self,
        field: &'static str,
        min: usize,
        max: usize,
    ) -> Result<String, DecodeError> {
        let len = usize::from(self.u8(field)?);
        if len < min || len > max {
            return Err(DecodeError::InvalidText(field));
        }
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidText(field))
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Succeeds only if every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// Appends a length-prefixed (one byte) string; the caller guarantees it is at most 255 bytes.
pub fn put_short_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let len = bytes.len().min(usize::from(u8::MAX));
    out.push(len as u8);
    out.extend_from_slice(&bytes[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_past_the_end_is_an_error_not_a_panic() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32("x"),
            Err(DecodeError::Truncated {
                field: "x",
                needed: 1
            })
        );
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("x"), Ok(0x0201));
        assert_eq!(r.finish(), Err(DecodeError::Trailing(1)));
    }

    #[test]
    fn short_strings_enforce_length_and_utf8() {
        assert!(Reader::new(&[0]).short_str("name", 1, 32).is_err());
        assert!(Reader::new(&[2, 0xff, 0xfe])
            .short_str("name", 1, 32)
            .is_err());
        let mut out = Vec::new();
        put_short_str(&mut out, "héllo");
        assert_eq!(
            Reader::new(&out).short_str("name", 1, 32).as_deref(),
            Ok("héllo")
        );
    }
}
