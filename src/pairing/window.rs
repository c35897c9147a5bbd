//! The pairing window as a pure state machine: it opens, gets more time, closes and expires
//! as it is told, with the time passed in, and keeps which locks were tried while it is open
//! (one bond at a time; a lock that failed is not tried again in the same window, so a wrong
//! passkey is not repeated against it). It does no I/O: the manager carries out the
//! [`Change`]s it returns. Callers [`poll`](Window::poll) before any other operation at the
//! same `now`, so that an expired window is reported closed before it is opened again.

use super::{CloseReason, Passkey, Seconds, Source, WindowState};
use lockgate_wire::LockId;
use std::collections::BTreeMap;
use std::time::Instant;

/// What an operation changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The window opened.
    Opened {
        /// Its length.
        seconds: u16,
        /// Who opened it.
        source: Source,
    },
    /// The open window got more time, or a passkey.
    Extended {
        /// Seconds left now.
        seconds_left: u16,
        /// The passkey was set or replaced.
        passkey_changed: bool,
    },
    /// The window closed.
    Closed {
        /// Why.
        reason: CloseReason,
        /// Locks paired while it was open.
        paired: u32,
        /// Locks that failed while it was open.
        failed: u32,
    },
}

/// A lock tried in this window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attempt {
    Bonding,
    Paired,
    Failed,
}

#[derive(Debug)]
struct Open {
    closes_at: Instant,
    passkey: Option<Passkey>,
    attempts: BTreeMap<LockId, Attempt>,
}

impl Open {
    fn count(&self, kind: Attempt) -> u32 {
        let n = self.attempts.values().filter(|&&a| a == kind).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// The pairing window. Closed until opened.
#[derive(Debug, Default)]
pub struct Window {
    open: Option<Open>,
}

impl Window {
    /// A closed window.
    pub fn new() -> Self {
        Window::default()
    }

    /// Opens the window for `seconds`, or, if it is open, makes it close no earlier than
    /// `seconds` from now and takes `passkey` if one is given.
    pub fn open(
        &mut self,
        now: Instant,
        seconds: Seconds,
        passkey: Option<Passkey>,
        source: Source,
    ) -> Change {
        let until = now + seconds.duration();
        match &mut self.open {
            Some(open) => {
                open.closes_at = open.closes_at.max(until);
                let passkey_changed = passkey.is_some() && passkey != open.passkey;
                if passkey.is_some() {
                    open.passkey = passkey;
                }
                Change::Extended {
                    seconds_left: seconds_until(open.closes_at, now),
                    passkey_changed,
                }
            }
            None => {
                self.open = Some(Open {
                    closes_at: until,
                    passkey,
                    attempts: BTreeMap::new(),
                });
                Change::Opened {
                    seconds: seconds.get(),
                    source,
                }
            }
        }
    }

    /// The button: opens a closed window for `seconds` (without a passkey), closes an open one.
    pub fn press(&mut self, now: Instant, seconds: Seconds) -> Change {
        match self.close(CloseReason::Button) {
            Some(closed) => closed,
            None => self.open(now, seconds, None, Source::Button),
        }
    }

    /// Closes the window; `None` if it was closed.
    pub fn close(&mut self, reason: CloseReason) -> Option<Change> {
        let open = self.open.take()?;
        Some(Change::Closed {
            reason,
            paired: open.count(Attempt::Paired),
            failed: open.count(Attempt::Failed),
        })
    }

    /// Closes the window if its time is up.
    pub fn poll(&mut self, now: Instant) -> Option<Change> {
        match &self.open {
            Some(open) if now >= open.closes_at => self.close(CloseReason::Expired),
            _ => None,
        }
    }

    /// When [`poll`](Self::poll) has work next.
    pub fn deadline(&self) -> Option<Instant> {
        self.open.as_ref().map(|o| o.closes_at)
    }

    /// Whether the window is open at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        self.open.as_ref().is_some_and(|o| now < o.closes_at)
    }

    /// The window's state; `unix_now` dates `closes_at`.
    pub fn state(&self, now: Instant, unix_now: u64) -> WindowState {
        match &self.open {
            Some(open) if now < open.closes_at => {
                let left = seconds_until(open.closes_at, now);
                WindowState {
                    open: true,
                    seconds_left: Some(left),
                    closes_at: Some(unix_now + u64::from(left)),
                }
            }
            _ => WindowState::closed(),
        }
    }

    /// The passkey given for this window, if any.
    pub fn passkey(&self) -> Option<Passkey> {
        self.open.as_ref().and_then(|o| o.passkey)
    }

    /// Whether `lock` may be bonded now: the window is open, no other bond is under way, and
    /// `lock` was not tried in this window.
    pub fn may_bond(&self, lock: &LockId, now: Instant) -> bool {
        self.is_open(now)
            && !self.bonding()
            && self
                .open
                .as_ref()
                .is_some_and(|o| !o.attempts.contains_key(lock))
    }

    /// Whether a bond is under way.
    pub fn bonding(&self) -> bool {
        self.bonding_lock().is_some()
    }

    /// The lock being bonded, if any.
    pub fn bonding_lock(&self) -> Option<LockId> {
        let open = self.open.as_ref()?;
        let mut bonding = open.attempts.iter().filter(|(_, &a)| a == Attempt::Bonding);
        bonding.next().map(|(&lock, _)| lock)
    }

    /// Records that bonding with `lock` started.
    pub fn started(&mut self, lock: LockId) {
        if let Some(open) = &mut self.open {
            open.attempts.insert(lock, Attempt::Bonding);
        }
    }

    /// Records how bonding with `lock` ended (when the window is still open).
    pub fn finished(&mut self, lock: LockId, paired: bool) {
        if let Some(open) = &mut self.open {
            let outcome = if paired {
                Attempt::Paired
            } else {
                Attempt::Failed
            };
            open.attempts.insert(lock, outcome);
        }
    }
}

/// Whole seconds from `now` to `at`, rounded up (a window with 0.2 s left has 1 s left).
pub fn seconds_until(at: Instant, now: Instant) -> u16 {
    let left = at.saturating_duration_since(now);
    let whole = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    u16::try_from(whole).unwrap_or(u16::MAX)
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
