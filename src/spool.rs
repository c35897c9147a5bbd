//! The spool (GATEWAY.md §3): a crash-safe, bounded, on-disk FIFO of up-frames waiting for the
//! broker's acknowledgement. Every up-frame is appended before it is published; a record
//! leaves only when the broker acknowledged it (PubAck), or when the spool is full and it is
//! the oldest (dropped and counted).
//!
//! # On disk
//!
//! Up-frames are appended to a spool in `<state_dir>/spool` (or `spool.path`) before they are
//! published. Records are `len (u32 LE) | crc32 (u32 LE) | seq (u64 LE) | lock id (8) | frame`,
//! the CRC covering seq, lock id and frame, in append-only segment files of at most 1 MiB.
//! A cursor file, replaced atomically, holds the first sequence number not yet acknowledged by
//! the broker. Data and cursor are flushed to disk (fsync) in batches, at most 100 ms apart,
//! and at shutdown. On start, a torn or corrupt tail of a segment is cut off and counted, never
//! fatal. The spool is bounded by `spool.max_frames` and `spool.max_bytes`; when full, the
//! oldest frames are dropped and counted (`spool_overflow` event).
//!
//! In detail:
//!
//! * Directory mode 0700, files 0600. Other files in the directory are ignored.
//! * Segment `<dir>/<first seq as 16 lowercase hex digits>.seg`. `len` counts what follows the
//!   CRC (16 + frame length; a frame is 1 to 4096 bytes). Seqs increase from record to record
//!   and from segment to segment, and across restarts: the first seq after open is greater
//!   than any on disk and at least the cursor. A new segment is started when a record would
//!   take the current one past 1 MiB, and at the first append after open.
//! * Cursor `<dir>/cursor`, 16 bytes: `"LGC1" | first unacknowledged seq (u64 LE) | crc32 of
//!   the 12 bytes before (u32 LE)`, written as `cursor.tmp`, synced, renamed, directory
//!   synced. Missing or damaged: everything on disk is replayed (duplicates, never losses).
//!   Acknowledgements after the first unacknowledged record are not persisted: after a
//!   restart those records come back.
//! * Recovery: segments are read in order; a record with an impossible length, a bad CRC or a
//!   seq not above the one before ends its segment there. The rest is cut off (the file is
//!   truncated if it is the last segment) and counted in `truncated_bytes` and
//!   `corrupt_records`. A segment left with no record is removed; segments whose records are
//!   all acknowledged are removed once the cursor says so.
//!
//! # Cost
//!
//! [`Spool::append`] is one `pwrite`, no fsync; [`Spool::flush`] does the fsyncs and is meant
//! to be called at most every 100 ms and at shutdown. Frames are not kept in memory: an index
//! of 24 bytes a live record says where each is, and [`Spool::get`] reads it back with
//! `pread`.

mod disk;
mod format;
mod index;
mod recover;

use index::{Entry, Index};
use lockgate_wire::frag::MAX_FRAME;
use lockgate_wire::LockId;
use std::io;
use std::path::{Path, PathBuf};

/// How much the spool keeps before dropping the oldest frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    /// Most live frames.
    pub max_frames: u32,
    /// Most bytes of live frames, counting the frames only (not the 24 bytes of record
    /// framing each has on disk).
    pub max_bytes: u64,
}

impl From<&crate::config::Spool> for SpoolLimits {
    fn from(config: &crate::config::Spool) -> Self {
        SpoolLimits {
            max_frames: config.max_frames,
            max_bytes: config.max_bytes,
        }
    }
}

/// One spooled up-frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its place in the spool: seqs increase with every append, across restarts.
    pub seq: u64,
    /// The lock the frame came from.
    pub lock: LockId,
    /// The whole frame, envelope included.
    pub frame: Vec<u8>,
}

/// Counters since open.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SpoolStats {
    /// Frames appended.
    pub appended: u64,
    /// Live frames acknowledged.
    pub acked: u64,
    /// Oldest frames dropped because the spool was full (at append, or at open when the
    /// limits were lowered).
    pub dropped: u64,
    /// Unacknowledged records found at open.
    pub recovered: u64,
    /// Bytes of torn or corrupt segment tails cut off at open.
    pub truncated_bytes: u64,
    /// Bad records: each one that ended a segment at open, and each found damaged when read.
    pub corrupt_records: u64,
}

/// Why the spool failed. Only I/O fails it; bad bytes on disk are cut off and counted.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The directory could not be created or listed.
    #[error(
        "cannot use the spool directory {path}: {source}; it must be a directory the daemon's \
         user can write (set spool.path to move it)"
    )]
    Dir { path: PathBuf, source: io::Error },
    /// A spool file could not be opened or read.
    #[error(
        "cannot read the spool file {path}: {source}; check its owner and mode (0600, the \
         daemon's user) and the storage (dmesg)"
    )]
    Read { path: PathBuf, source: io::Error },
    /// A spool file could not be created or written.
    #[error(
        "cannot write the spool file {path}: {source}; check free space (df) and that the \
         spool directory is writable by the daemon's user"
    )]
    Write { path: PathBuf, source: io::Error },
    /// Data could not be synced to the storage.
    #[error(
        "cannot sync {path} to disk: {source}; the storage may be failing (dmesg); frames \
         spooled since the last flush may be lost at a power cut"
    )]
    Sync { path: PathBuf, source: io::Error },
    /// An acknowledged segment could not be removed.
    #[error(
        "cannot remove the spool file {path}: {source}; check that the spool directory is \
         writable by the daemon's user; removal is retried at the next flush"
    )]
    Remove { path: PathBuf, source: io::Error },
    /// The frame is empty or too long to be an up-frame.
    #[error("cannot spool a frame of {len} bytes: frames are 1 to {max} bytes; it is dropped")]
    FrameSize { len: usize, max: usize },
}

/// The spool: the segment files, the cursor and the index of live records.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    index: Index,
    segments: disk::Segments,
    next_seq: u64,
    /// The cursor on disk; `None` when the file was missing or damaged at open.
    persisted_cursor: Option<u64>,
    stats: SpoolStats,
    /// Dropped since the last [`Spool::take_dropped`].
    unreported_drops: u64,
    /// Record bytes, reused for every append and read.
    buf: Vec<u8>,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, recovers what is on disk and drops
    /// the oldest records if they exceed `limits`.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Spool, SpoolError> {
        disk::create_dir(dir)?;
        let persisted_cursor = disk::read_cursor(dir)?;
        let cursor = persisted_cursor.unwrap_or(0);
        let mut stats = SpoolStats::default();
        let found = recover::recover(dir, cursor, &limits, &mut stats)?;
        let next_seq = found.last_seq.map_or(cursor, |last| cursor.max(last + 1));
        let mut segments = disk::Segments::new(dir.to_path_buf(), found.files);
        segments.remove_acked(cursor)?;
        log::info!(
            "spool: opened {}: {} frames to publish, {} segments, next seq {next_seq}",
            dir.display(),
            found.index.len(),
            segments.count(),
        );
        Ok(Spool {
            dir: dir.to_path_buf(),
            limits,
            index: found.index,
            segments,
            next_seq,
            persisted_cursor,
            unreported_drops: stats.dropped,
            stats,
            buf: Vec::with_capacity(format::MAX_RECORD_LEN),
        })
    }

    /// Appends a frame from `lock` and returns its seq. When the spool is then over its
    /// limits, the oldest frames are dropped (the newest is always kept). One write, no
    /// fsync: the frame is on disk after the next [`Spool::flush`].
    pub fn append(&mut self, lock: LockId, frame: &[u8]) -> Result<u64, SpoolError> {
        if !(1..=MAX_FRAME).contains(&frame.len()) {
            let (len, max) = (frame.len(), MAX_FRAME);
            return Err(SpoolError::FrameSize { len, max });
        }
        let seq = self.next_seq;
        // Taken even if the write fails, so that a new segment never reuses its name.
        self.next_seq += 1;
        format::encode_record(&mut self.buf, seq, lock, frame);
        let (segment, offset) = self.segments.append(seq, &self.buf)?;
        // MAX_FRAME (4096) fits in a u16.
        self.index
            .push(Entry::new(seq, segment, offset, frame.len() as u16));
        self.stats.appended += 1;
        let dropped = self.index.trim(&self.limits);
        self.stats.dropped += dropped;
        self.unreported_drops += dropped;
        Ok(seq)
    }

    /// The live record `seq`, read from disk; `None` when it was acknowledged, dropped or
    /// never existed. A record found damaged is counted in `corrupt_records`, leaves the
    /// spool and reads as `None`.
    pub fn get(&mut self, seq: u64) -> Result<Option<Record>, SpoolError> {
        let Some(entry) = self.index.get(seq) else {
            return Ok(None);
        };
        if self.segments.read(&entry, &mut self.buf)? {
            if let Some((found, lock, frame)) = format::parse_record(&self.buf) {
                if found == seq {
                    let frame = frame.to_vec();
                    return Ok(Some(Record { seq, lock, frame }));
                }
            }
        }
        log::warn!("spool: record {seq} is damaged on disk; it is dropped");
        self.stats.corrupt_records += 1;
        self.index.remove(seq);
        Ok(None)
    }

    /// The first live seq after `seq`, or the first live seq when `seq` is `None`: iterate
    /// with it to publish, or to publish again after a reconnect, in order.
    pub fn next_after(&self, seq: Option<u64>) -> Option<u64> {
        self.index.next_after(seq)
    }

    /// The oldest live seq.
    pub fn first_unacked(&self) -> Option<u64> {
        self.index.first()
    }

    /// The broker acknowledged `seq`. Acknowledgements may come in any order and twice;
    /// unknown seqs are ignored. It reaches the disk at the next [`Spool::flush`].
    pub fn ack(&mut self, seq: u64) {
        if self.index.remove(seq) {
            self.stats.acked += 1;
        }
    }

    /// Syncs the frames appended since the last flush, persists the cursor if it moved, and
    /// removes segments whose frames are all acknowledged or dropped.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        let cursor = self.cursor();
        let moved = self.persisted_cursor != Some(cursor);
        self.segments.sync(moved)?;
        if moved {
            disk::write_cursor(&self.dir, cursor)?;
            self.persisted_cursor = Some(cursor);
        }
        self.segments.remove_acked(cursor)
    }

    /// Something would be written by [`Spool::flush`].
    pub fn needs_flush(&self) -> bool {
        self.persisted_cursor != Some(self.cursor()) || self.segments.needs_sync()
    }

    /// Number of live frames.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No live frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the live frames (frames only, as [`SpoolLimits::max_bytes`] counts them).
    pub fn bytes(&self) -> u64 {
        self.index.bytes()
    }

    /// Counters since open.
    pub fn stats(&self) -> &SpoolStats {
        &self.stats
    }

    /// Frames dropped since the last call (for a `spool_overflow` event).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.unreported_drops)
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> usize {
        self.segments.count()
    }

    /// What the cursor file should hold: the oldest live seq, or the next seq when none.
    fn cursor(&self) -> u64 {
        self.index.first().unwrap_or(self.next_seq)
    }
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
