//! The recent log lines a support session may read: a bounded in-memory ring fed by the
//! logger (`logging::init_with_ring` wraps the journal or stderr logger in a [`Tee`]).
//!
//! Only records at `info` and above are kept, each cut to [`MAX_LINE_BYTES`]; the oldest line
//! goes when the ring is full. Nothing the gateway logs holds a frame body, a code or a key,
//! so neither does the ring.

use log::{Level, Log, Metadata, Record};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Lines the daemon keeps.
pub const RING_LINES: usize = 500;
/// Longest message kept, in bytes (cut at a character boundary).
pub const MAX_LINE_BYTES: usize = 400;

/// One kept log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Unix seconds.
    pub time: u64,
    /// `ERROR`, `WARN` or `INFO`.
    pub level: &'static str,
    /// The module that logged it.
    pub target: String,
    /// The message.
    pub message: String,
}

/// A handle on the ring; clones share it.
#[derive(Debug, Clone)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    capacity: usize,
}

impl Default for LogRing {
    fn default() -> Self {
        Self::new(RING_LINES)
    }
}

impl LogRing {
    /// A ring of at most `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        LogRing {
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
            capacity,
        }
    }

    /// Keeps `record` if it is `info` or above.
    pub fn record(&self, record: &Record) {
        if record.level() > Level::Info {
            return;
        }
        let mut message = record.args().to_string();
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        self.push(LogLine {
            time: crate::unix_now(),
            level: record.level().as_str(),
            target: record.target().to_owned(),
            message,
        });
    }

    /// Appends a line, dropping the oldest when full.
    pub fn push(&self, line: LogLine) {
        // A poisoned ring (a panic while pushing) just stops collecting.
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == self.capacity {
                lines.pop_front();
            }
            if self.capacity > 0 {
                lines.push_back(line);
            }
        }
    }

    /// The last `n` lines, oldest first.
    pub fn recent(&self, n: usize) -> Vec<LogLine> {
        self.lines.lock().map_or_else(
            |_| Vec::new(),
            |lines| {
                lines
                    .iter()
                    .skip(lines.len().saturating_sub(n))
                    .cloned()
                    .collect()
            },
        )
    }

    /// A logger that writes to `inner` and keeps lines here.
    pub fn tee(&self, inner: Box<dyn Log>) -> Tee {
        Tee {
            inner,
            ring: self.clone(),
        }
    }
}

/// A logger that passes every record to another and keeps the recent ones in a [`LogRing`].
pub struct Tee {
    inner: Box<dyn Log>,
    ring: LogRing,
}

impl Log for Tee {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata) || metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record) {
        self.ring.record(record);
        if self.inner.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(ring: &LogRing, level: Level, message: &str) {
        ring.record(
            &Record::builder()
                .level(level)
                .target("lockgate::test")
                .args(format_args!("{message}"))
                .build(),
        );
    }

    #[test]
    fn only_info_and_above_is_kept_oldest_first() {
        let ring = LogRing::new(10);
        log(&ring, Level::Info, "one");
        log(&ring, Level::Debug, "hidden");
        log(&ring, Level::Warn, "two");
        let lines = ring.recent(10);
        let messages: Vec<_> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["one", "two"]);
        assert_eq!(lines[1].level, "WARN");
        assert_eq!(lines[0].target, "lockgate::test");
    }

    #[test]
    fn the_ring_is_bounded_and_long_lines_are_cut() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            log(&ring, Level::Info, &format!("line {i}"));
        }
        let messages: Vec<_> = ring.recent(2).into_iter().map(|l| l.message).collect();
        assert_eq!(messages, ["line 3", "line 4"]);
        assert_eq!(ring.recent(100).len(), 3);
        log(&ring, Level::Error, &"é".repeat(MAX_LINE_BYTES));
        let cut = ring.recent(1).remove(0).message;
        assert!(cut.len() <= MAX_LINE_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
