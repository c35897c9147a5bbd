//! The connection scheduler: which locks get one of the adapter's few link slots, and when
//! links end. Pure: it takes events and `now` and returns actions; the link actors carry them
//! out.
//!
//! Order of service when slots are short: locks with down-frames waiting (oldest first), then
//! locks advertising `pending`, then `persistent` locks that are down. An `on_demand` link
//! with nothing left to do ends after the idle timeout, or at once when another lock is
//! waiting for its slot. A `persistent` link yields its slot only to down-frames. Failed
//! connects back off exponentially, with jitter supplied by the caller.

use crate::config::LinkPolicy;
use lockgate_wire::LockId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// First retry delay after a failed connect.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A link is not taken away before it has had this long to exchange frames.
pub const MIN_HOLD: Duration = Duration::from_secs(2);

/// What the scheduler asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start connecting to this lock.
    Connect(LockId),
    /// End the link to this lock.
    Disconnect(LockId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Down,
    Connecting,
    Up { since: Instant },
    Closing,
}

#[derive(Debug, Clone)]
struct Slot {
    policy: LinkPolicy,
    link: Link,
    /// Down-frames waiting, and since when the oldest waits.
    down: Option<(usize, Instant)>,
    /// Advertising `pending` since.
    pending: Option<Instant>,
    last_activity: Instant,
    failures: u32,
    retry_at: Option<Instant>,
}

/// Why a lock wants a link, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    DownFrames,
    Pending,
    Persistent,
}

impl Slot {
    fn need(&self) -> Option<(Need, Instant)> {
        match (self.down, self.pending, self.policy) {
            (Some((_, since)), _, _) => Some((Need::DownFrames, since)),
            (None, Some(since), _) => Some((Need::Pending, since)),
            (None, None, LinkPolicy::Persistent) => Some((Need::Persistent, self.last_activity)),
            _ => None,
        }
    }

    fn occupies(&self) -> bool {
        !matches!(self.link, Link::Down)
    }
}

/// The scheduler of one adapter.
#[derive(Debug, Clone)]
pub struct Scheduler {
    max: usize,
    idle_timeout: Duration,
    locks: BTreeMap<LockId, Slot>,
}

impl Scheduler {
    /// A scheduler with `max` slots (at least 1).
    pub fn new(max: usize, idle_timeout: Duration) -> Self {
        Scheduler {
            max: max.max(1),
            idle_timeout,
            locks: BTreeMap::new(),
        }
    }

    /// A paired lock to serve.
    pub fn add_lock(&mut self, id: LockId, policy: LinkPolicy, now: Instant) {
        self.locks.entry(id).or_insert(Slot {
            policy,
            link: Link::Down,
            down: None,
            pending: None,
            last_activity: now,
            failures: 0,
            retry_at: None,
        });
    }

    /// A new idle timeout for on-demand links (a configuration reload).
    pub fn set_idle_timeout(&mut self, idle_timeout: Duration) {
        self.idle_timeout = idle_timeout;
    }

    /// A new link policy for `id` (a configuration reload); takes effect at the next `poll`.
    pub fn set_policy(&mut self, id: &LockId, policy: LinkPolicy) {
        if let Some(s) = self.slot(id) {
            s.policy = policy;
        }
    }

    /// A lock no longer served; returns a disconnect if its link is up.
    pub fn remove_lock(&mut self, id: &LockId) -> Option<Action> {
        let slot = self.locks.remove(id)?;
        slot.occupies().then_some(Action::Disconnect(*id))
    }

    fn slot(&mut self, id: &LockId) -> Option<&mut Slot> {
        self.locks.get_mut(id)
    }

    /// `count` down-frames now wait for `id` (0: none left).
    pub fn down_frames(&mut self, id: &LockId, count: usize, now: Instant) {
        if let Some(s) = self.slot(id) {
            s.down = match (count, s.down) {
                (0, _) => None,
                (n, Some((_, since))) => Some((n, since)),
                (n, None) => Some((n, now)),
            };
        }
    }

    /// The lock's advertisement says whether it has frames for us.
    pub fn advertised(&mut self, id: &LockId, pending: bool, now: Instant) {
        if let Some(s) = self.slot(id) {
            s.pending = match (pending, s.pending) {
                (false, _) => None,
                (true, since) => Some(since.unwrap_or(now)),
            };
        }
    }

    /// Frames moved on the link: it is not idle.
    pub fn activity(&mut self, id: &LockId, now: Instant) {
        if let Some(s) = self.slot(id) {
            s.last_activity = now;
        }
    }

    /// The link came up. A lock that advertised `pending` sends what waits as soon as the
    /// link listens, and stops advertising while linked: its flag is served.
    pub fn connected(&mut self, id: &LockId, now: Instant) {
        if let Some(s) = self.slot(id) {
            s.link = Link::Up { since: now };
            s.pending = None;
            s.last_activity = now;
            s.failures = 0;
            s.retry_at = None;
        }
    }

    /// A connect failed; `jitter` in `[0, 1)` spreads the retries.
    pub fn connect_failed(&mut self, id: &LockId, now: Instant, jitter: f64) {
        if let Some(s) = self.slot(id) {
            s.link = Link::Down;
            s.failures = s.failures.saturating_add(1);
            let exp = BACKOFF_BASE.saturating_mul(1 << s.failures.min(16).saturating_sub(1));
            let delay = exp
                .min(BACKOFF_MAX)
                .mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0);
            s.retry_at = Some(now + delay);
        }
    }

    /// The link went down (asked for or not).
    pub fn disconnected(&mut self, id: &LockId, now: Instant) {
        if let Some(s) = self.slot(id) {
            s.link = Link::Down;
            s.last_activity = now;
        }
    }

    /// How many slots are taken.
    pub fn occupied(&self) -> usize {
        self.locks.values().filter(|s| s.occupies()).count()
    }

    /// What to do now.
    pub fn poll(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = self.end_idle_links(now);
        let mut waiting = self.waiting(now);
        let mut free = self.max.saturating_sub(self.occupied());
        while free > 0 && !waiting.is_empty() {
            let (id, _) = waiting.remove(0);
            if let Some(s) = self.slot(&id) {
                s.link = Link::Connecting;
            }
            actions.push(Action::Connect(id));
            free -= 1;
        }
        if let Some(&(_, need)) = waiting.first() {
            if let Some(victim) = self.victim(need, now) {
                if let Some(s) = self.slot(&victim) {
                    s.link = Link::Closing;
                }
                actions.push(Action::Disconnect(victim));
            }
        }
        actions
    }

    /// When `poll` next has something to do on its own after `now` (idle timeouts, retries
    /// still ahead). A retry time already passed is not a deadline: the lock is served at the
    /// next `poll` if it still needs a link, and must not make a caller's timer fire at once
    /// forever when it does not.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let idle = self
            .locks
            .values()
            .filter_map(|s| match (s.link, s.policy) {
                (Link::Up { .. }, LinkPolicy::OnDemand)
                    if s.down.is_none() && s.pending.is_none() =>
                {
                    Some(s.last_activity + self.idle_timeout)
                }
                _ => None,
            });
        let retries = self
            .locks
            .values()
            .filter_map(|s| s.retry_at.filter(|&t| t > now));
        idle.chain(retries).min()
    }

    fn end_idle_links(&mut self, now: Instant) -> Vec<Action> {
        let timeout = self.idle_timeout;
        let mut actions = Vec::new();
        for (id, s) in &mut self.locks {
            let idle = s.down.is_none() && s.pending.is_none() && now >= s.last_activity + timeout;
            if matches!(s.link, Link::Up { .. }) && s.policy == LinkPolicy::OnDemand && idle {
                s.link = Link::Closing;
                actions.push(Action::Disconnect(*id));
            }
        }
        actions
    }

    /// Locks that want a link and may try now, most urgent first.
    fn waiting(&self, now: Instant) -> Vec<(LockId, Need)> {
        let mut waiting: Vec<(Need, Instant, LockId)> = self
            .locks
            .iter()
            .filter(|(_, s)| s.link == Link::Down && s.retry_at.is_none_or(|t| now >= t))
            .filter_map(|(id, s)| s.need().map(|(need, since)| (need, since, *id)))
            .collect();
        waiting.sort();
        waiting
            .into_iter()
            .map(|(need, _, id)| (id, need))
            .collect()
    }

    /// A link to end so that a lock in need `need` gets its slot: one with no down-frames,
    /// up for at least `MIN_HOLD`, on-demand before persistent (persistent only for
    /// down-frames), longest up first.
    fn victim(&self, need: Need, now: Instant) -> Option<LockId> {
        self.locks
            .iter()
            .filter_map(|(id, s)| match s.link {
                Link::Up { since }
                    if s.down.is_none() && s.pending.is_none() && now >= since + MIN_HOLD =>
                {
                    let persistent = s.policy == LinkPolicy::Persistent;
                    let allowed = !persistent || need == Need::DownFrames;
                    allowed.then_some((persistent, since, *id))
                }
                _ => None,
            })
            .min()
            .map(|(_, _, id)| id)
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
