//! Recovery at open: scanning the segment files in order, cutting off a torn or corrupt tail,
//! removing segments that hold no record, and rebuilding the index of unacknowledged records.
//! Whatever the bytes on disk, only an I/O error stops it.

use super::disk::{open_rw, segment_path, Segment};
use super::format::{
    parse_body, parse_header, parse_segment_name, HEADER_LEN, MAX_RECORD_LEN, SEGMENT_MAX_BYTES,
};
use super::index::{Entry, Index};
use super::{SpoolError, SpoolLimits, SpoolStats};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, ErrorKind, Read};
use std::path::Path;

/// What open found on disk.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// The segments that hold at least one record.
    pub(super) files: BTreeMap<u64, Segment>,
    /// The records at or after the cursor, trimmed to the limits.
    pub(super) index: Index,
    /// The greatest seq on disk.
    pub(super) last_seq: Option<u64>,
}

/// Scans the segments of `dir`. Records before `cursor` are acknowledged and left out of the
/// index; a cut is counted in `stats` (as are records dropped to fit `limits`).
pub(super) fn recover(
    dir: &Path,
    cursor: u64,
    limits: &SpoolLimits,
    stats: &mut SpoolStats,
) -> Result<Found, SpoolError> {
    let bases = list_segments(dir)?;
    let mut found = Found::default();
    for (i, &base) in bases.iter().enumerate() {
        let path = segment_path(dir, base);
        let read_err = |source| SpoolError::Read {
            path: path.clone(),
            source,
        };
        let file = open_rw(&path, false).map_err(read_err)?;
        let first_new = found.last_seq.map_or(base, |last| (last + 1).max(base));
        let mut on_record = |seq, offset, frame_len| {
            if seq >= cursor {
                found.index.push(Entry::new(seq, base, offset, frame_len));
                stats.recovered += 1;
                stats.dropped += found.index.trim(limits);
            }
        };
        let scan = scan_segment(&file, first_new, &mut on_record).map_err(read_err)?;
        if scan.cut > 0 {
            cut_tail(&file, &path, &scan, i + 1 == bases.len(), stats)?;
        }
        match scan.last_seq {
            Some(last) => {
                found.files.insert(base, Segment::recovered(file, last));
                found.last_seq = Some(last);
            }
            None => remove_empty(&path)?,
        }
    }
    Ok(found)
}

/// The seqs named by the segment files in `dir`, ascending. Anything else is ignored.
fn list_segments(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let dir_err = |source| SpoolError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(dir_err)? {
        let entry = entry.map_err(dir_err)?;
        let is_file = entry.file_type().map_err(dir_err)?.is_file();
        let base = entry.file_name().to_str().and_then(parse_segment_name);
        if let Some(base) = base.filter(|_| is_file) {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Counts a segment's bad tail, and truncates the file when it is the last segment (the
/// others are left whole, and removed once acknowledged).
fn cut_tail(
    file: &File,
    path: &Path,
    scan: &Scan,
    last: bool,
    stats: &mut SpoolStats,
) -> Result<(), SpoolError> {
    log::warn!(
        "spool: cut {} damaged bytes off the end of {}",
        scan.cut,
        path.display()
    );
    stats.truncated_bytes += scan.cut;
    stats.corrupt_records += 1;
    if !last {
        return Ok(());
    }
    file.set_len(scan.valid_len)
        .map_err(|source| SpoolError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn remove_empty(path: &Path) -> Result<(), SpoolError> {
    log::debug!("spool: removing {}, which holds no record", path.display());
    fs::remove_file(path).map_err(|source| SpoolError::Remove {
        path: path.to_path_buf(),
        source,
    })
}

/// How a segment scan ended.
#[derive(Debug)]
struct Scan {
    /// Length of the leading run of good records.
    valid_len: u64,
    /// Bytes after them.
    cut: u64,
    last_seq: Option<u64>,
}

/// Reads records from the start of `file` until its end or the first bad record: a length no
/// record has, a CRC mismatch, a seq below `first_seq` or not above the one before, or a
/// record reaching past the end of the file or past 1 MiB. Calls `on_record(seq, offset,
/// frame_len)` for each good one.
fn scan_segment(
    file: &File,
    first_seq: u64,
    on_record: &mut impl FnMut(u64, u32, u16),
) -> io::Result<Scan> {
    let file_len = file.metadata()?.len();
    let limit = file_len.min(SEGMENT_MAX_BYTES);
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut body = Vec::with_capacity(MAX_RECORD_LEN);
    let (mut offset, mut last_seq) = (0u64, None);
    loop {
        let next = match read_record(&mut reader, limit - offset, &mut body) {
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => None,
            other => other?,
        };
        let in_order = |&(seq, _): &(u64, usize)| seq >= last_seq.map_or(first_seq, |l| l + 1);
        let Some((seq, frame_len)) = next.filter(in_order) else {
            break;
        };
        // Offsets stay below SEGMENT_MAX_BYTES and frames within MAX_FRAME: both casts fit.
        on_record(seq, offset as u32, frame_len as u16);
        offset += (HEADER_LEN + body.len()) as u64;
        last_seq = Some(seq);
    }
    Ok(Scan {
        valid_len: offset,
        cut: file_len - offset,
        last_seq,
    })
}

/// The next record's seq and frame length, if it is good and within `remaining` bytes. The
/// body is left in `body`.
fn read_record(
    reader: &mut impl Read,
    remaining: u64,
    body: &mut Vec<u8>,
) -> io::Result<Option<(u64, usize)>> {
    let mut header = [0; HEADER_LEN];
    if remaining < HEADER_LEN as u64 {
        return Ok(None);
    }
    reader.read_exact(&mut header)?;
    let Some((len, crc)) = parse_header(header) else {
        return Ok(None);
    };
    if remaining < (HEADER_LEN + len) as u64 {
        return Ok(None);
    }
    body.resize(len, 0);
    reader.read_exact(body)?;
    Ok(parse_body(crc, body).map(|(seq, _, frame)| (seq, frame.len())))
}
