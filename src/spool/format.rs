//! The bytes of the spool (see [`crate::spool`] for the layout): encoding and checking records,
//! the cursor file's contents and segment file names. Pure: no I/O.

use lockgate_wire::frag::MAX_FRAME;
use lockgate_wire::LockId;

/// `len` and `crc32`, both u32 LE.
pub(super) const HEADER_LEN: usize = 8;
/// `seq` (u64 LE) and the lock id, before the frame.
pub(super) const FIXED_BODY_LEN: usize = 16;
/// The longest record: header, seq, lock id and a frame of [`MAX_FRAME`] bytes.
pub(super) const MAX_RECORD_LEN: usize = HEADER_LEN + FIXED_BODY_LEN + MAX_FRAME;
/// A segment is not extended past this length; the next record starts a new segment.
pub(super) const SEGMENT_MAX_BYTES: u64 = 1 << 20;
/// The greatest seq accepted from disk, so that counting on from it can never overflow.
pub(super) const MAX_SEQ: u64 = u64::MAX >> 1;

/// Name of the cursor file in the spool directory.
pub(super) const CURSOR_FILE: &str = "cursor";
/// Name of the cursor's temporary file, renamed over [`CURSOR_FILE`].
pub(super) const CURSOR_TMP_FILE: &str = "cursor.tmp";
/// Length of the cursor file: magic, seq, crc32.
pub(super) const CURSOR_LEN: usize = 16;
/// First bytes of a cursor file (format version 1).
const CURSOR_MAGIC: [u8; 4] = *b"LGC1";

const SEGMENT_SUFFIX: &str = ".seg";

/// The length on disk of a record holding a frame of `frame_len` bytes.
pub(super) const fn record_len(frame_len: usize) -> usize {
    HEADER_LEN + FIXED_BODY_LEN + frame_len
}

/// Writes the record for `frame` into `out` (cleared first). The frame is at most
/// [`MAX_FRAME`] bytes; the caller checks.
pub(super) fn encode_record(out: &mut Vec<u8>, seq: u64, lock: LockId, frame: &[u8]) {
    out.clear();
    let body_len = (FIXED_BODY_LEN + frame.len()) as u32;
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(lock.as_bytes());
    out.extend_from_slice(frame);
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[4..HEADER_LEN].copy_from_slice(&crc.to_le_bytes());
}

/// The length of the body that follows a record header, when it is one a record can have,
/// and the CRC the body must match.
pub(super) fn parse_header(header: [u8; HEADER_LEN]) -> Option<(usize, u32)> {
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    let plausible = FIXED_BODY_LEN < len && len <= FIXED_BODY_LEN + MAX_FRAME;
    plausible.then_some((len, u32::from_le_bytes([c0, c1, c2, c3])))
}

/// The seq, lock id and frame of a record body, when it matches its CRC.
pub(super) fn parse_body(crc: u32, body: &[u8]) -> Option<(u64, LockId, &[u8])> {
    if crc32fast::hash(body) != crc {
        return None;
    }
    let (seq, rest) = body.split_first_chunk::<8>()?;
    let (lock, frame) = rest.split_first_chunk::<8>()?;
    let seq = u64::from_le_bytes(*seq);
    let valid = seq <= MAX_SEQ && (1..=MAX_FRAME).contains(&frame.len());
    valid.then_some((seq, LockId::from_bytes(*lock), frame))
}

/// A whole record (header and body, nothing more): its seq, lock id and frame.
pub(super) fn parse_record(bytes: &[u8]) -> Option<(u64, LockId, &[u8])> {
    let (header, body) = bytes.split_first_chunk::<HEADER_LEN>()?;
    let (len, crc) = parse_header(*header)?;
    if body.len() != len {
        return None;
    }
    parse_body(crc, body)
}

/// The cursor file's contents for `first_unacked`.
pub(super) fn encode_cursor(first_unacked: u64) -> [u8; CURSOR_LEN] {
    let mut out = [0; CURSOR_LEN];
    out[..4].copy_from_slice(&CURSOR_MAGIC);
    out[4..12].copy_from_slice(&first_unacked.to_le_bytes());
    let crc = crc32fast::hash(&out[..12]);
    out[12..].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The first unacknowledged seq held by a cursor file, unless the file is damaged.
pub(super) fn parse_cursor(bytes: &[u8]) -> Option<u64> {
    let bytes: &[u8; CURSOR_LEN] = bytes.try_into().ok()?;
    let (covered, crc) = bytes.split_at(12);
    let (magic, seq) = covered.split_first_chunk::<4>()?;
    let seq = u64::from_le_bytes(seq.try_into().ok()?);
    let crc = u32::from_le_bytes(crc.try_into().ok()?);
    let valid = *magic == CURSOR_MAGIC && crc32fast::hash(covered) == crc && seq <= MAX_SEQ + 1;
    valid.then_some(seq)
}

/// The file name of the segment whose first record has seq `first_seq`.
pub(super) fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:016x}{SEGMENT_SUFFIX}")
}

/// The first seq named by a segment file name: exactly 16 lowercase hex digits and `.seg`.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(SEGMENT_SUFFIX)?;
    let digits = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if hex.len() != 16 || !digits {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}
