//! Down-frames waiting for their lock: the envelope check a frame must pass to be queued, the
//! per-lock queues with their time to live, and the delivery receipts (docs/GATEWAY.md §1.10,
//! §1.11). Pure: takes `now`, does no I/O. A frame is never kept past its TTL.

use lockgate_wire::envelope::{EnvelopeError, Header};
use lockgate_wire::LockId;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// Frames that may wait for one lock at once.
pub const MAX_QUEUED_PER_LOCK: usize = 16;

/// A down-frame accepted for a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownFrame {
    /// Arrival order among all down-frames (see [`DownQueues::stamp`]).
    pub seq: u64,
    /// Auth id of its header.
    pub auth_id: u32,
    /// Counter of its header.
    pub counter: u64,
    /// The whole frame.
    pub frame: Vec<u8>,
    /// When it stops being worth delivering.
    pub expires: Instant,
}

/// What became of a down-frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every fragment was acknowledged by the lock.
    Written,
    /// Its TTL passed first.
    Expired,
    /// It was refused.
    Rejected,
}

/// Why (for `expired` and `rejected`), as named on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No link to the lock came up in time.
    NotConnected,
    /// Writes failed until the TTL passed.
    WriteFailed,
    /// Too short a header, or an auth id not fitting its kind.
    Malformed,
    /// Header version other than 1.
    UnsupportedVersion,
    /// Unknown header kind.
    UnknownKind,
    /// Longer than the maximum frame.
    TooLarge,
    /// No such paired lock.
    UnknownLock,
    /// The lock's queue is full.
    QueueFull,
    /// The gateway is stopping.
    ShuttingDown,
}

/// One receipt on `<base>/<lock>/delivery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The outcome.
    pub status: Status,
    /// Auth id of the frame's header, if it parsed.
    pub auth_id: Option<u32>,
    /// Counter of the frame's header, if it parsed.
    pub counter: Option<u64>,
    /// Why, unless written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

impl Receipt {
    /// A receipt about `frame`.
    pub fn about(frame: &DownFrame, status: Status, reason: Option<Reason>) -> Receipt {
        Receipt {
            status,
            auth_id: Some(frame.auth_id),
            counter: Some(frame.counter),
            reason,
        }
    }

    /// A refusal of a frame whose header may not have parsed.
    pub fn rejected(header: Option<&Header>, reason: Reason) -> Receipt {
        Receipt {
            status: Status::Rejected,
            auth_id: header.map(|h| h.auth_id),
            counter: header.map(|h| h.counter),
            reason: Some(reason),
        }
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Checks a down-frame's envelope header, as far as the gateway may read it.
pub fn check(frame: &[u8]) -> Result<Header, Receipt> {
    let reason = match Header::parse(frame) {
        Ok((header, _)) => return Ok(header),
        Err(EnvelopeError::TooShort { .. } | EnvelopeError::InvalidAuthId { .. }) => {
            Reason::Malformed
        }
        Err(EnvelopeError::TooLong { .. }) => Reason::TooLarge,
        Err(EnvelopeError::UnsupportedVersion { .. }) => Reason::UnsupportedVersion,
        Err(EnvelopeError::UnknownKind { .. }) => Reason::UnknownKind,
    };
    // The header of an over-long frame is still readable: name the frame in the receipt.
    let header = frame
        .get(..lockgate_wire::frag::MAX_FRAME)
        .and_then(|prefix| Header::parse(prefix).ok())
        .map(|(h, _)| h);
    Err(Receipt::rejected(header.as_ref(), reason))
}

/// The queues of every lock.
#[derive(Debug, Default)]
pub struct DownQueues {
    queues: BTreeMap<LockId, VecDeque<DownFrame>>,
    next_seq: u64,
}

impl DownQueues {
    /// The next arrival number; every down-frame takes one, queued or not, so that frames
    /// handed back by a link go back in arrival order.
    pub fn stamp(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Queues `frame` (already checked) for `lock` until `now + ttl`.
    pub fn push(
        &mut self,
        lock: LockId,
        header: &Header,
        frame: Vec<u8>,
        now: Instant,
        ttl: Duration,
    ) -> Result<usize, Receipt> {
        if self.len(&lock) >= MAX_QUEUED_PER_LOCK {
            return Err(Receipt::rejected(Some(header), Reason::QueueFull));
        }
        let seq = self.stamp();
        let queue = self.queues.entry(lock).or_default();
        queue.push_back(DownFrame {
            seq,
            auth_id: header.auth_id,
            counter: header.counter,
            frame,
            expires: now + ttl,
        });
        Ok(queue.len())
    }

    /// Puts back a frame a link could not write, in its arrival place: frames handed back one
    /// by one (the first failed, the ones behind it found the link gone) keep their order.
    pub fn requeue(&mut self, lock: LockId, frame: DownFrame) {
        let queue = self.queues.entry(lock).or_default();
        let at = queue.partition_point(|f| f.seq < frame.seq);
        queue.insert(at, frame);
    }

    /// How many frames wait for `lock`.
    pub fn len(&self, lock: &LockId) -> usize {
        self.queues.get(lock).map_or(0, VecDeque::len)
    }

    /// Whether nothing waits at all.
    pub fn is_empty(&self) -> bool {
        self.queues.values().all(VecDeque::is_empty)
    }

    /// Every frame waiting for `lock`, oldest first.
    pub fn take(&mut self, lock: &LockId) -> VecDeque<DownFrame> {
        self.queues.remove(lock).unwrap_or_default()
    }

    /// Removes and returns the frames whose TTL has passed at `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<(LockId, DownFrame)> {
        let mut expired = Vec::new();
        for (lock, queue) in &mut self.queues {
            // Frames of one lock are in arrival order and share one TTL, but a requeued frame
            // may be older; check them all.
            let (old, fresh): (VecDeque<_>, VecDeque<_>) =
                queue.drain(..).partition(|f| now >= f.expires);
            *queue = fresh;
            expired.extend(old.into_iter().map(|f| (*lock, f)));
        }
        self.queues.retain(|_, q| !q.is_empty());
        expired
    }

    /// When the next frame expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.queues.values().flatten().map(|f| f.expires).min()
    }

    /// Every waiting frame, for refusing them all at shutdown.
    pub fn drain_all(&mut self) -> Vec<(LockId, DownFrame)> {
        let queues = std::mem::take(&mut self.queues);
        queues
            .into_iter()
            .flat_map(|(lock, q)| q.into_iter().map(move |f| (lock, f)))
            .collect()
    }
}

#[cfg(test)]
#[path = "downq_tests.rs"]
mod tests;
