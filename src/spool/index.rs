//! The in-memory index of the spool's live records: where each one is on disk, which were
//! acknowledged out of order, and dropping the oldest when over the limits. Pure: no I/O, and
//! no frames in memory (24 bytes a record).

use super::SpoolLimits;
use std::collections::VecDeque;

/// Where one record is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) seq: u64,
    /// The segment holding the record, by the seq in its file name.
    pub(super) segment: u64,
    /// Offset of the record's header in its segment.
    pub(super) offset: u32,
    pub(super) frame_len: u16,
    /// Acknowledged while an older record is still live.
    gone: bool,
}

impl Entry {
    pub(super) fn new(seq: u64, segment: u64, offset: u32, frame_len: u16) -> Entry {
        Entry {
            seq,
            segment,
            offset,
            frame_len,
            gone: false,
        }
    }
}

/// The live records, oldest first.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Ascending seqs. The front is always live: gone entries are popped from the front.
    entries: VecDeque<Entry>,
    /// Entries gone while an older one is still live.
    gone_behind: usize,
    live_bytes: u64,
}

impl Index {
    /// Adds a record whose seq is greater than any in the index.
    pub(super) fn push(&mut self, entry: Entry) {
        debug_assert!(self.entries.back().is_none_or(|last| last.seq < entry.seq));
        self.live_bytes += u64::from(entry.frame_len);
        self.entries.push_back(entry);
    }

    /// The live record `seq`.
    pub(super) fn get(&self, seq: u64) -> Option<Entry> {
        let entry = self.entries[self.position(seq)?];
        (!entry.gone).then_some(entry)
    }

    /// Removes the live record `seq` (acknowledged, or unreadable); false when there is none.
    pub(super) fn remove(&mut self, seq: u64) -> bool {
        let Some(i) = self.position(seq) else {
            return false;
        };
        let entry = &mut self.entries[i];
        if entry.gone {
            return false;
        }
        entry.gone = true;
        self.live_bytes -= u64::from(entry.frame_len);
        self.gone_behind += 1;
        self.pop_gone_front();
        true
    }

    /// Drops the oldest live records while over `limits`, keeping at least the newest one.
    /// Returns how many were dropped.
    pub(super) fn trim(&mut self, limits: &SpoolLimits) -> u64 {
        let mut dropped = 0;
        while self.len() > 1 && self.over(limits) {
            if let Some(oldest) = self.entries.pop_front() {
                self.live_bytes -= u64::from(oldest.frame_len);
                self.pop_gone_front();
                dropped += 1;
            }
        }
        dropped
    }

    /// The oldest live seq.
    pub(super) fn first(&self) -> Option<u64> {
        self.entries.front().map(|entry| entry.seq)
    }

    /// The first live seq greater than `seq`, or the first live seq when `seq` is `None`.
    pub(super) fn next_after(&self, seq: Option<u64>) -> Option<u64> {
        let start = seq.map_or(0, |seq| self.entries.partition_point(|e| e.seq <= seq));
        let mut rest = self.entries.range(start..);
        rest.find(|entry| !entry.gone).map(|entry| entry.seq)
    }

    /// Number of live records.
    pub(super) fn len(&self) -> usize {
        self.entries.len() - self.gone_behind
    }

    /// Frame bytes of the live records.
    pub(super) fn bytes(&self) -> u64 {
        self.live_bytes
    }

    fn over(&self, limits: &SpoolLimits) -> bool {
        self.len() as u64 > u64::from(limits.max_frames) || self.live_bytes > limits.max_bytes
    }

    fn position(&self, seq: u64) -> Option<usize> {
        self.entries.binary_search_by_key(&seq, |e| e.seq).ok()
    }

    fn pop_gone_front(&mut self) {
        while self.entries.front().is_some_and(|entry| entry.gone) {
            self.entries.pop_front();
            self.gone_behind -= 1;
        }
    }
}
