//! The spool's files: the directory (0700), the segment files (0600, kept open, appended with
//! one `pwrite` a record, synced on demand, removed once acknowledged) and the cursor file,
//! replaced atomically. Every error names the file.

use super::format::{
    encode_cursor, parse_cursor, record_len, segment_name, CURSOR_FILE, CURSOR_LEN,
    CURSOR_TMP_FILE, SEGMENT_MAX_BYTES,
};
use super::index::Entry;
use super::SpoolError;
use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// One open segment file.
#[derive(Debug)]
pub(super) struct Segment {
    file: File,
    /// The greatest seq written to it; `None` while it holds no record.
    last_seq: Option<u64>,
    /// Written since it was last synced.
    dirty: bool,
}

impl Segment {
    /// A segment found at open, holding records up to `last_seq`.
    pub(super) fn recovered(file: File, last_seq: u64) -> Segment {
        Segment {
            file,
            last_seq: Some(last_seq),
            dirty: false,
        }
    }
}

/// The open segments, by the seq in their file names.
#[derive(Debug)]
pub(super) struct Segments {
    dir: PathBuf,
    files: BTreeMap<u64, Segment>,
    /// The segment being appended to, and its length. Segments found at open are never
    /// appended to: the first append after open starts a new one.
    current: Option<(u64, u64)>,
    /// A segment was created since the directory was last synced.
    dir_dirty: bool,
}

impl Segments {
    pub(super) fn new(dir: PathBuf, files: BTreeMap<u64, Segment>) -> Segments {
        Segments {
            dir,
            files,
            current: None,
            dir_dirty: false,
        }
    }

    /// Writes `record` (of record `seq`) with one `pwrite`, starting a new segment when the
    /// current one would grow past 1 MiB. Returns the segment and offset.
    ///
    /// After a failed write the segment is left (its torn tail is cut at the next open) and
    /// the next record starts a new one.
    pub(super) fn append(&mut self, seq: u64, record: &[u8]) -> Result<(u64, u32), SpoolError> {
        let len = record.len() as u64;
        let (base, offset) = match self.current {
            Some((base, size)) if size + len <= SEGMENT_MAX_BYTES => (base, size),
            _ => (self.create(seq)?, 0),
        };
        let dir = &self.dir;
        let segment = self.files.get_mut(&base).ok_or_else(|| SpoolError::Write {
            path: segment_path(dir, base),
            source: ErrorKind::NotFound.into(),
        })?;
        if let Err(source) = segment.file.write_all_at(record, offset) {
            // Best effort: a torn record left behind ends this segment at the next open, and
            // nothing more is written to it.
            let _ = segment.file.set_len(offset);
            self.current = None;
            let path = segment_path(&self.dir, base);
            return Err(SpoolError::Write { path, source });
        }
        segment.last_seq = Some(seq);
        segment.dirty = true;
        self.current = Some((base, offset + len));
        // A segment never grows past SEGMENT_MAX_BYTES (1 MiB), so offsets fit in a u32.
        Ok((base, offset as u32))
    }

    /// Reads the record `entry` points at into `buf`; false when it is no longer there.
    pub(super) fn read(&self, entry: &Entry, buf: &mut Vec<u8>) -> Result<bool, SpoolError> {
        let Some(segment) = self.files.get(&entry.segment) else {
            return Ok(false);
        };
        buf.resize(record_len(usize::from(entry.frame_len)), 0);
        match segment.file.read_exact_at(buf, u64::from(entry.offset)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
            Err(source) => Err(SpoolError::Read {
                path: segment_path(&self.dir, entry.segment),
                source,
            }),
        }
    }

    /// Something was written since the last [`Segments::sync`].
    pub(super) fn needs_sync(&self) -> bool {
        self.dir_dirty || self.files.values().any(|segment| segment.dirty)
    }

    /// Syncs the data of every segment written since the last call, then the directory if a
    /// segment was created (unless `dir_synced` says the caller has just synced it).
    pub(super) fn sync(&mut self, dir_synced: bool) -> Result<(), SpoolError> {
        for (&base, segment) in self.files.iter_mut().filter(|(_, s)| s.dirty) {
            segment
                .file
                .sync_data()
                .map_err(|source| SpoolError::Sync {
                    path: segment_path(&self.dir, base),
                    source,
                })?;
            segment.dirty = false;
        }
        if self.dir_dirty && !dir_synced {
            sync_dir(&self.dir)?;
        }
        self.dir_dirty = false;
        Ok(())
    }

    /// Removes every segment, except the one being appended to, whose records all come
    /// before `cursor` (the first unacknowledged seq, already on disk).
    pub(super) fn remove_acked(&mut self, cursor: u64) -> Result<(), SpoolError> {
        let current = self.current.map(|(base, _)| base);
        let acked: Vec<u64> = (self.files.iter())
            .filter(|(&base, s)| Some(base) != current && s.last_seq.is_none_or(|l| l < cursor))
            .map(|(&base, _)| base)
            .collect();
        for base in acked {
            let path = segment_path(&self.dir, base);
            match fs::remove_file(&path) {
                Err(source) if source.kind() != ErrorKind::NotFound => {
                    return Err(SpoolError::Remove { path, source });
                }
                _ => log::debug!("spool: removed acknowledged segment {}", path.display()),
            }
            self.files.remove(&base);
        }
        Ok(())
    }

    /// Number of segment files.
    pub(super) fn count(&self) -> usize {
        self.files.len()
    }

    /// Creates (empty) the segment file for a first record `seq` and makes it current.
    fn create(&mut self, seq: u64) -> Result<u64, SpoolError> {
        let path = segment_path(&self.dir, seq);
        let file = open_rw(&path, true).map_err(|source| SpoolError::Write { path, source })?;
        let segment = Segment {
            file,
            last_seq: None,
            dirty: false,
        };
        self.files.insert(seq, segment);
        self.current = Some((seq, 0));
        self.dir_dirty = true;
        Ok(seq)
    }
}

/// The path of the segment whose first seq is `first_seq`.
pub(super) fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(segment_name(first_seq))
}

/// Opens a spool file for reading and writing, created with mode 0600 when missing, and
/// emptied when `truncate`.
pub(super) fn open_rw(path: &Path, truncate: bool) -> io::Result<File> {
    (OpenOptions::new().read(true).write(true).create(true))
        .truncate(truncate)
        .mode(0o600)
        .open(path)
}

/// Creates the spool directory (and missing parents) with mode 0700.
pub(super) fn create_dir(dir: &Path) -> Result<(), SpoolError> {
    (DirBuilder::new().recursive(true).mode(0o700))
        .create(dir)
        .map_err(|source| SpoolError::Dir {
            path: dir.to_path_buf(),
            source,
        })
}

/// Syncs the directory, so that files created or renamed in it survive a power loss.
pub(super) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| SpoolError::Sync {
            path: dir.to_path_buf(),
            source,
        })
}

/// The first unacknowledged seq from the cursor file; `None` when it is missing or damaged
/// (then everything on disk is replayed).
pub(super) fn read_cursor(dir: &Path) -> Result<Option<u64>, SpoolError> {
    let path = dir.join(CURSOR_FILE);
    let mut bytes = Vec::with_capacity(CURSOR_LEN + 1);
    let read =
        File::open(&path).and_then(|f| f.take(CURSOR_LEN as u64 + 1).read_to_end(&mut bytes));
    match read {
        Ok(_) => {
            let cursor = parse_cursor(&bytes);
            if cursor.is_none() {
                log::warn!(
                    "spool: the cursor file {} is damaged; every spooled frame is published again",
                    path.display()
                );
            }
            Ok(cursor)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SpoolError::Read { path, source }),
    }
}

/// Replaces the cursor file: write a temporary file, sync it, rename it over the cursor, sync
/// the directory.
pub(super) fn write_cursor(dir: &Path, first_unacked: u64) -> Result<(), SpoolError> {
    let tmp = dir.join(CURSOR_TMP_FILE);
    let write = |source| SpoolError::Write {
        path: tmp.clone(),
        source,
    };
    let mut file = open_rw(&tmp, true).map_err(write)?;
    file.write_all(&encode_cursor(first_unacked))
        .map_err(write)?;
    file.sync_all().map_err(|source| SpoolError::Sync {
        path: tmp.clone(),
        source,
    })?;
    let path = dir.join(CURSOR_FILE);
    fs::rename(&tmp, &path).map_err(|source| SpoolError::Write { path, source })?;
    sync_dir(dir)
}
