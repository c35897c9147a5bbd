//! `Reassembler`: turns a stream of fragments back into frames, with a size limit and a
//! timeout, and without ever panicking.
//!
//! It does no I/O and never reads a clock: every call takes `now`. One instance serves one
//! direction of one link. Rules, for every error: the frame in progress (if any) is dropped,
//! and the rest of a broken frame's continuation fragments are swallowed silently until its
//! `LAST` fragment, a new `FIRST` fragment, or a pause longer than the timeout, so that one
//! broken frame costs one error. A `FIRST` fragment always starts a new frame. Every event is
//! also counted in [`ReassemblyStats`].

use std::time::{Duration, Instant};

use super::{FragmentHeader, DEFAULT_FRAGMENT_TIMEOUT, MAX_FRAME, SEQ_MASK};

/// Capacity reserved when the first frame starts, so that typical frames need no regrowth.
/// Never more than the reassembler's `max_frame`.
const INITIAL_CAPACITY: usize = 1024;

/// Why a fragment did not fit the frame being reassembled. Every variant except
/// `UnexpectedContinuation` and `Empty` outside a frame means one frame was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    /// The fragment has no data byte (it is empty or only a header byte).
    #[error("empty fragment: every fragment needs a header byte and at least one data byte; the peer's fragmenter is broken")]
    Empty,
    /// A continuation fragment arrived while no frame was in progress.
    #[error("continuation fragment without a frame in progress: its FIRST fragment was lost or never sent")]
    UnexpectedContinuation,
    /// A `FIRST` fragment arrived before the frame in progress ended.
    #[error("new frame started before the previous one ended: the previous frame lost its LAST fragment and was dropped")]
    Interrupted,
    /// The fragment repeats the previous fragment's sequence number.
    #[error("duplicate fragment (sequence number {seq} repeated): the frame was dropped; the link delivered a fragment twice")]
    Duplicate {
        /// The repeated sequence number.
        seq: u8,
    },
    /// The sequence number is not the expected one.
    #[error("fragment sequence gap (expected {expected}, got {got}): fragments were lost or reordered and the frame was dropped; writes must be ordered")]
    Gap {
        /// The sequence number that was expected.
        expected: u8,
        /// The sequence number received.
        got: u8,
    },
    /// The frame would exceed the maximum frame size.
    #[error("frame exceeds the maximum of {max} bytes and was dropped; the peer sends frames this side does not accept")]
    TooLarge {
        /// The maximum frame size in force.
        max: usize,
    },
    /// The pause since the previous fragment of the frame exceeded the timeout.
    #[error("fragment timeout: the peer paused too long in the middle of a frame and the partial frame was dropped; check the link")]
    TimedOut,
}

impl ReassemblyError {
    /// A short stable name for counters and logs, e.g. `"gap"`.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnexpectedContinuation => "unexpected_continuation",
            Self::Interrupted => "interrupted",
            Self::Duplicate { .. } => "duplicate",
            Self::Gap { .. } => "gap",
            Self::TooLarge { .. } => "too_large",
            Self::TimedOut => "timed_out",
        }
    }
}

/// Counts of everything a [`Reassembler`] has seen, for health counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Frames completed and returned.
    pub frames: u64,
    /// [`ReassemblyError::Empty`] events.
    pub empty: u64,
    /// [`ReassemblyError::UnexpectedContinuation`] events.
    pub unexpected_continuation: u64,
    /// [`ReassemblyError::Interrupted`] events.
    pub interrupted: u64,
    /// [`ReassemblyError::Duplicate`] events.
    pub duplicate: u64,
    /// [`ReassemblyError::Gap`] events.
    pub gap: u64,
    /// [`ReassemblyError::TooLarge`] events.
    pub too_large: u64,
    /// [`ReassemblyError::TimedOut`] events (from `push` or `expire`).
    pub timed_out: u64,
}

impl ReassemblyStats {
    /// Total number of error events of every kind.
    pub fn errors(&self) -> u64 {
        [
            self.empty,
            self.unexpected_continuation,
            self.interrupted,
            self.duplicate,
            self.gap,
            self.too_large,
            self.timed_out,
        ]
        .iter()
        .fold(0u64, |sum, n| sum.saturating_add(*n))
    }

    fn record(&mut self, error: ReassemblyError) {
        let counter = match error {
            ReassemblyError::Empty => &mut self.empty,
            ReassemblyError::UnexpectedContinuation => &mut self.unexpected_continuation,
            ReassemblyError::Interrupted => &mut self.interrupted,
            ReassemblyError::Duplicate { .. } => &mut self.duplicate,
            ReassemblyError::Gap { .. } => &mut self.gap,
            ReassemblyError::TooLarge { .. } => &mut self.too_large,
            ReassemblyError::TimedOut => &mut self.timed_out,
        };
        *counter = counter.saturating_add(1);
    }
}

/// The outcome of one fragment.
type PushResult = Result<Option<Vec<u8>>, ReassemblyError>;

/// Where the reassembler stands between two fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No frame in progress.
    Idle,
    /// A frame is in progress; the next fragment must carry `next_seq`.
    Assembling { next_seq: u8, last_at: Instant },
    /// A broken frame's remaining continuation fragments are being swallowed.
    Discarding { last_at: Instant },
}

/// Reassembles frames from fragments; see the module documentation for the rules.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_frame: usize,
    timeout: Duration,
    state: State,
    buf: Vec<u8>,
    stats: ReassemblyStats,
}

impl Default for Reassembler {
    /// [`MAX_FRAME`] bytes and [`DEFAULT_FRAGMENT_TIMEOUT`].
    fn default() -> Self {
        Self::new(MAX_FRAME, DEFAULT_FRAGMENT_TIMEOUT)
    }
}

impl Reassembler {
    /// A reassembler that accepts frames of up to `max_frame` bytes and allows at most
    /// `timeout` between consecutive fragments of one frame. It allocates nothing yet.
    pub fn new(max_frame: usize, timeout: Duration) -> Self {
        Self {
            max_frame,
            timeout,
            state: State::Idle,
            buf: Vec::new(),
            stats: ReassemblyStats::default(),
        }
    }

    /// The largest frame this reassembler yields.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// The longest allowed pause between two fragments of one frame.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Everything counted so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// True while a frame is partly received.
    pub fn in_progress(&self) -> bool {
        matches!(self.state, State::Assembling { .. })
    }

    /// When the frame in progress times out: run [`Reassembler::expire`] at or after this
    /// instant. `None` if no frame is in progress (or the deadline is not representable).
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Assembling { last_at, .. } => last_at.checked_add(self.timeout),
            State::Idle | State::Discarding { .. } => None,
        }
    }

    /// Drops a frame whose last fragment came more than the timeout before `now`, and reports
    /// it as [`ReassemblyError::TimedOut`]. Continuations of that frame arriving within one
    /// timeout after `now` are then swallowed. Returns `None` if nothing timed out.
    pub fn expire(&mut self, now: Instant) -> Option<ReassemblyError> {
        match self.state {
            State::Assembling { last_at, .. } if self.is_stale(last_at, now) => {
                self.buf.clear();
                self.state = State::Discarding { last_at: now };
                Some(self.fail(ReassemblyError::TimedOut))
            }
            State::Discarding { last_at } if self.is_stale(last_at, now) => {
                self.state = State::Idle;
                None
            }
            _ => None,
        }
    }

    /// Forgets any frame in progress without reporting it, e.g. when the link drops.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.state = State::Idle;
    }

    /// Takes one fragment received at `now`.
    ///
    /// Returns `Ok(Some(frame))` when it completes a frame, `Ok(None)` when more fragments are
    /// needed (or it was swallowed as part of a broken frame), and `Err` when a frame is lost
    /// or the fragment is invalid. One call returns one outcome: when a one-fragment frame
    /// (`FIRST|LAST`) also ends a timed-out or interrupted frame, the new frame is returned and
    /// the loss shows only in [`Reassembler::stats`]; when one call meets two errors, the first
    /// is returned and both are counted.
    pub fn push(
        &mut self,
        fragment: &[u8],
        now: Instant,
    ) -> Result<Option<Vec<u8>>, ReassemblyError> {
        let timed_out = self.expire(now);
        let result = self.accept(fragment, now);
        prefer_frame(result, timed_out)
    }

    fn is_stale(&self, last_at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(last_at) > self.timeout
    }

    fn accept(&mut self, fragment: &[u8], now: Instant) -> PushResult {
        let Some((&byte, data)) = fragment.split_first().filter(|(_, data)| !data.is_empty())
        else {
            if self.state != State::Idle {
                self.discard(false, now);
            }
            return Err(self.fail(ReassemblyError::Empty));
        };
        let header = FragmentHeader::from_byte(byte);
        if header.first {
            let interrupted = self
                .in_progress()
                .then(|| self.fail(ReassemblyError::Interrupted));
            let started = self.start(header, data, now);
            return prefer_frame(started, interrupted);
        }
        match self.state {
            State::Idle => Err(self.fail(ReassemblyError::UnexpectedContinuation)),
            State::Discarding { .. } => {
                self.discard(header.last, now);
                Ok(None)
            }
            State::Assembling { next_seq, .. } => self.continue_frame(header, data, next_seq, now),
        }
    }

    fn start(&mut self, header: FragmentHeader, data: &[u8], now: Instant) -> PushResult {
        self.buf.clear();
        if header.seq != 0 {
            self.discard(header.last, now);
            return Err(self.fail(ReassemblyError::Gap {
                expected: 0,
                got: header.seq,
            }));
        }
        if data.len() > self.max_frame {
            self.discard(header.last, now);
            return Err(self.fail(ReassemblyError::TooLarge {
                max: self.max_frame,
            }));
        }
        if header.last {
            self.state = State::Idle;
            self.count_frame();
            return Ok(Some(data.to_vec()));
        }
        self.reserve_for(data.len());
        self.buf.extend_from_slice(data);
        self.state = State::Assembling {
            next_seq: 1,
            last_at: now,
        };
        Ok(None)
    }

    fn continue_frame(
        &mut self,
        header: FragmentHeader,
        data: &[u8],
        next_seq: u8,
        now: Instant,
    ) -> PushResult {
        if header.seq != next_seq {
            self.discard(header.last, now);
            let previous = next_seq.wrapping_sub(1) & SEQ_MASK;
            return Err(self.fail(if header.seq == previous {
                ReassemblyError::Duplicate { seq: header.seq }
            } else {
                ReassemblyError::Gap {
                    expected: next_seq,
                    got: header.seq,
                }
            }));
        }
        if data.len() > self.max_frame.saturating_sub(self.buf.len()) {
            self.discard(header.last, now);
            return Err(self.fail(ReassemblyError::TooLarge {
                max: self.max_frame,
            }));
        }
        self.reserve_for(data.len());
        self.buf.extend_from_slice(data);
        if header.last {
            self.state = State::Idle;
            self.count_frame();
            let frame = self.buf.as_slice().to_vec();
            self.buf.clear();
            return Ok(Some(frame));
        }
        let next_seq = next_seq.wrapping_add(1) & SEQ_MASK;
        self.state = State::Assembling {
            next_seq,
            last_at: now,
        };
        Ok(None)
    }

    /// Counts `error` and hands it back.
    fn fail(&mut self, error: ReassemblyError) -> ReassemblyError {
        self.stats.record(error);
        error
    }

    fn count_frame(&mut self) {
        self.stats.frames = self.stats.frames.saturating_add(1);
    }

    /// Drops the frame in progress; its remaining fragments are swallowed unless this
    /// fragment was its last.
    fn discard(&mut self, was_last: bool, now: Instant) {
        self.buf.clear();
        self.state = if was_last {
            State::Idle
        } else {
            State::Discarding { last_at: now }
        };
    }

    /// Makes room for `additional` more bytes, growing geometrically but never past
    /// `max_frame` (the caller has checked that `len + additional <= max_frame`).
    fn reserve_for(&mut self, additional: usize) {
        let needed = self.buf.len().saturating_add(additional);
        if needed <= self.buf.capacity() {
            return;
        }
        let target = needed
            .max(self.buf.capacity().saturating_mul(2))
            .max(INITIAL_CAPACITY)
            .min(self.max_frame)
            .max(needed);
        self.buf
            .reserve_exact(target.saturating_sub(self.buf.len()));
    }
}

/// One outcome for two events: a completed frame wins, then the earlier error.
fn prefer_frame(result: PushResult, earlier: Option<ReassemblyError>) -> PushResult {
    match (result, earlier) {
        (Ok(Some(frame)), _) => Ok(Some(frame)),
        (_, Some(error)) => Err(error),
        (result, None) => result,
    }
}

#[cfg(test)]
mod tests;
