//! A reader of the gateway's spool as GATEWAY.md §3 specifies it, to see from outside that
//! up-frames are on disk: records `len (u32 LE) | crc32 (u32 LE) | seq (u64 LE) | lock id (8)
//! | frame`, the CRC over seq, lock id and frame, in segment files of a directory that also
//! holds a cursor file.
//!
//! The document leaves two things open, so the reader accepts both readings: `len` may count
//! the frame alone or everything after the CRC; and any file whose records do not check is
//! not a segment (the cursor). A segment is read up to its first bad record (a torn tail).

use lockgate_wire::{Header, LockId};
use std::path::Path;

/// One spooled up-frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number.
    pub seq: u64,
    /// The lock it came from.
    pub lock: LockId,
    /// The frame.
    pub frame: Vec<u8>,
}

/// Bytes in front of the frame.
const PREFIX: usize = 4 + 4 + 8 + 8;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

/// The record at the start of `bytes` and its length, if one is there and checks.
fn record(bytes: &[u8]) -> Option<(Record, usize)> {
    let len = usize::try_from(u32_at(bytes, 0)?).ok()?;
    let crc = u32_at(bytes, 4)?;
    // `len` counts the frame, or seq + lock id + frame.
    [Some(len), len.checked_sub(16)]
        .into_iter()
        .flatten()
        .find_map(|frame_len| {
            let covered = bytes.get(8..PREFIX + frame_len)?;
            (crc32fast::hash(covered) == crc).then_some(frame_len)
        })
        .map(|frame_len| {
            let seq = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
            let id: [u8; 8] = bytes[16..24].try_into().expect("8 bytes");
            let frame = bytes[PREFIX..PREFIX + frame_len].to_vec();
            let lock = LockId::from(id);
            (Record { seq, lock, frame }, PREFIX + frame_len)
        })
}

/// The records of one file, up to the first that does not check.
pub fn parse_segment(mut bytes: &[u8]) -> Vec<Record> {
    let mut records = Vec::new();
    while let Some((r, used)) = record(bytes) {
        records.push(r);
        bytes = &bytes[used..];
    }
    records
}

/// Every record in the spool directory `dir`, ordered by sequence number (none if the
/// directory does not exist yet).
pub fn read_spool(dir: &Path) -> Vec<Record> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut records: Vec<Record> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .flat_map(|bytes| parse_segment(&bytes))
        .collect();
    records.sort_by_key(|r| r.seq);
    records
}

/// The spooled frames of `lock` whose header names `auth_id`, in sequence order.
pub fn frames_for(dir: &Path, lock: &LockId, auth_id: u32) -> Vec<Vec<u8>> {
    read_spool(dir)
        .into_iter()
        .filter(|r| &r.lock == lock)
        .filter(|r| Header::parse(&r.frame).is_ok_and(|(h, _)| h.auth_id == auth_id))
        .map(|r| r.frame)
        .collect()
}

/// Longest segment file the gateway writes (GATEWAY.md §3).
const SEGMENT_MAX: usize = 1 << 20;

/// One record as the gateway writes it: `len` counts seq, lock id and frame.
pub fn encode_record(record: &Record) -> Vec<u8> {
    let mut covered = record.seq.to_le_bytes().to_vec();
    covered.extend_from_slice(record.lock.as_bytes());
    covered.extend_from_slice(&record.frame);
    let len = u32::try_from(covered.len()).expect("a frame is at most 4 KiB");
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(&crc32fast::hash(&covered).to_le_bytes());
    out.extend_from_slice(&covered);
    out
}

/// Writes `records` (in seq order) into the spool directory `dir` as a gateway stopped while
/// the broker was away would have left them: segment files of at most 1 MiB, each named after
/// its first seq as the daemon names them (`{seq:016x}.seg`), and no cursor file, so every
/// record is unacknowledged. For benchmarks that need a full spool at start.
pub fn write_spool(dir: &Path, records: &[Record]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut segment: Option<(u64, Vec<u8>)> = None;
    let write = |first: u64, bytes: &[u8]| {
        let path = dir.join(format!("{first:016x}.seg"));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true).mode(0o600);
        std::io::Write::write_all(&mut options.open(path)?, bytes)
    };
    for record in records {
        let bytes = encode_record(record);
        if let Some((first, data)) = segment.take_if(|(_, d)| d.len() + bytes.len() > SEGMENT_MAX) {
            write(first, &data)?;
        }
        segment
            .get_or_insert_with(|| (record.seq, Vec::new()))
            .1
            .extend(bytes);
    }
    match segment {
        Some((first, data)) => write(first, &data),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(seq: u64, lock: [u8; 8], frame: &[u8], len_counts_all: bool) -> Vec<u8> {
        let mut covered = seq.to_le_bytes().to_vec();
        covered.extend_from_slice(&lock);
        covered.extend_from_slice(frame);
        let len = if len_counts_all {
            covered.len()
        } else {
            frame.len()
        };
        let mut out = (len as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(&covered).to_le_bytes());
        out.extend_from_slice(&covered);
        out
    }

    #[test]
    fn records_are_read_up_to_a_torn_tail_with_either_length_reading() {
        for len_counts_all in [false, true] {
            let mut bytes = encode(7, [1; 8], b"first frame", len_counts_all);
            bytes.extend(encode(8, [2; 8], b"second", len_counts_all));
            let whole = bytes.len();
            bytes.extend(encode(9, [3; 8], b"torn", len_counts_all));
            bytes.truncate(whole + 10);
            let records = parse_segment(&bytes);
            assert_eq!(records.len(), 2);
            assert_eq!(records[0].seq, 7);
            assert_eq!(records[1].frame, b"second");
            assert_eq!(records[1].lock, LockId::from([2; 8]));
        }
    }

    #[test]
    fn a_written_spool_reads_back_in_one_megabyte_segments() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let records: Vec<Record> = (0..1500)
            .map(|seq| Record {
                seq,
                lock: LockId::from([seq as u8; 8]),
                frame: vec![seq as u8; 1000],
            })
            .collect();
        write_spool(&spool, &records).unwrap();
        assert_eq!(read_spool(&spool), records);
        let segments = std::fs::read_dir(&spool).unwrap().count();
        assert_eq!(
            segments, 2,
            "1,500 records of 1,024 bytes take two segments"
        );
        assert!(spool.join("0000000000000000.seg").exists());
    }

    #[test]
    fn a_cursor_file_is_no_segment() {
        assert!(parse_segment(&42u64.to_le_bytes()).is_empty());
    }
}
