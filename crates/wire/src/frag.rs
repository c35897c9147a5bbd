//! Fragmentation of frames into ATT payloads, and their reassembly.
//!
//! A frame travels over the `rx` and `tx` characteristics as one or more fragments. Each
//! fragment is one header byte and at least one data byte, and fits one ATT payload
//! (`mtu - 3` bytes). Header bits: 7 `FIRST`, 6 `LAST`, 0-5 a sequence number that is 0 on the
//! first fragment of each frame and increases by 1 modulo 64 on each next fragment. Every
//! fragment except the last carries the full `mtu - 4` data bytes.
//!
//! This file owns the limits, the header byte and the fragmenter; [`Reassembler`] lives in
//! `frag/reassembler.rs`.
//!
//! ```
//! use std::time::Instant;
//! use lockgate_wire::frag::{fragments, Reassembler};
//!
//! let frame = vec![7u8; 100];
//! let mut reassembler = Reassembler::default();
//! let mut received = None;
//! for fragment in fragments(&frame, 23)? {
//!     assert!(fragment.len() <= 23 - 3);
//!     received = reassembler.push(&fragment, Instant::now())?;
//! }
//! assert_eq!(received, Some(frame));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::iter::FusedIterator;
use std::time::Duration;

mod reassembler;

pub use reassembler::{Reassembler, ReassemblyError, ReassemblyStats};

/// Smallest ATT MTU (the Bluetooth Core default, before any exchange).
pub const MIN_MTU: u16 = 23;

/// Largest ATT MTU (512-byte attribute value plus ATT overhead).
pub const MAX_MTU: u16 = 517;

/// Bytes of an ATT PDU that are not payload (opcode and handle): ATT payload = `mtu - 3`.
pub const ATT_OVERHEAD: usize = 3;

/// Bytes of fragment header in front of each fragment's data.
pub const FRAGMENT_HEADER_LEN: usize = 1;

/// Default (and the protocol's) maximum frame size, in bytes, after reassembly.
pub const MAX_FRAME: usize = 4096;

/// Default maximum pause between two consecutive fragments of one frame.
pub const DEFAULT_FRAGMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// Header bit 7: this fragment starts a frame.
pub const FIRST: u8 = 0x80;

/// Header bit 6: this fragment ends a frame.
pub const LAST: u8 = 0x40;

/// Header bits 0-5: the sequence number.
pub const SEQ_MASK: u8 = 0x3f;

/// The decoded header byte of a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentHeader {
    /// Bit 7: this fragment starts a frame.
    pub first: bool,
    /// Bit 6: this fragment ends a frame.
    pub last: bool,
    /// Bits 0-5: sequence number, 0 on the first fragment, then +1 modulo 64.
    pub seq: u8,
}

impl FragmentHeader {
    /// Reads a header byte. Every byte value is a header.
    pub const fn from_byte(byte: u8) -> Self {
        Self {
            first: byte & FIRST != 0,
            last: byte & LAST != 0,
            seq: byte & SEQ_MASK,
        }
    }

    /// Writes the header byte. Sequence bits above bit 5 are dropped.
    pub const fn to_byte(self) -> u8 {
        (if self.first { FIRST } else { 0 })
            | (if self.last { LAST } else { 0 })
            | (self.seq & SEQ_MASK)
    }
}

/// Why a frame cannot be fragmented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The MTU is outside [`MIN_MTU`]`..=`[`MAX_MTU`].
    #[error("ATT MTU {mtu} is outside the valid range 23..=517; use the MTU the link negotiated")]
    MtuOutOfRange {
        /// The MTU that was given.
        mtu: u16,
    },
    /// The frame is empty; the protocol has no empty frames.
    #[error("cannot send an empty frame: the protocol has no empty frames")]
    EmptyFrame,
    /// The frame is longer than [`MAX_FRAME`].
    #[error("frame of {len} bytes is longer than the maximum of {max} bytes")]
    FrameTooLarge {
        /// Length of the frame.
        len: usize,
        /// The limit, [`MAX_FRAME`].
        max: usize,
    },
}

/// Data bytes each fragment carries at `mtu`: `mtu - 3 - 1` (the last fragment may carry
/// fewer).
pub fn fragment_data_len(mtu: u16) -> Result<usize, FragmentError> {
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return Err(FragmentError::MtuOutOfRange { mtu });
    }
    Ok(usize::from(mtu) - ATT_OVERHEAD - FRAGMENT_HEADER_LEN)
}

/// Splits `frame` into the fragments to write (or notify) at ATT MTU `mtu`, in order.
///
/// Fails if the MTU is outside `23..=517`, the frame is empty, or it is longer than
/// [`MAX_FRAME`]. Each yielded fragment is at most `mtu - 3` bytes.
pub fn fragments(frame: &[u8], mtu: u16) -> Result<Fragments<'_>, FragmentError> {
    let chunk = fragment_data_len(mtu)?;
    if frame.is_empty() {
        return Err(FragmentError::EmptyFrame);
    }
    if frame.len() > MAX_FRAME {
        return Err(FragmentError::FrameTooLarge {
            len: frame.len(),
            max: MAX_FRAME,
        });
    }
    Ok(Fragments {
        rest: frame,
        chunk,
        index: 0,
    })
}

/// Iterator over the fragments of one frame; see [`fragments`].
#[derive(Debug, Clone)]
pub struct Fragments<'a> {
    rest: &'a [u8],
    chunk: usize,
    index: usize,
}

impl Iterator for Fragments<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let (data, rest) = self
            .rest
            .split_at_checked(self.chunk.min(self.rest.len()))?;
        if data.is_empty() {
            return None;
        }
        let header = FragmentHeader {
            first: self.index == 0,
            last: rest.is_empty(),
            // Truncation is the point: the sequence number is the index modulo 64.
            seq: (self.index % 64) as u8,
        };
        let mut fragment = Vec::with_capacity(FRAGMENT_HEADER_LEN + data.len());
        fragment.push(header.to_byte());
        fragment.extend_from_slice(data);
        self.rest = rest;
        self.index = self.index.saturating_add(1);
        Some(fragment)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.rest.len().div_ceil(self.chunk.max(1));
        (len, Some(len))
    }
}

impl ExactSizeIterator for Fragments<'_> {}

impl FusedIterator for Fragments<'_> {}

#[cfg(test)]
mod tests;
