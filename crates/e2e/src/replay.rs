//! The anti-replay sliding window of RFC 6479, one per receiving direction.
//!
//! Counters start at 1. [`ReplayWindow::check`] never mutates; the receiver calls
//! [`ReplayWindow::update`] only after the frame passed its AEAD check, so forged frames cannot
//! move the window.

use thiserror::Error;

/// Bits per bitmap block.
const BLOCK_BITS: u64 = 64;
/// Blocks in the bitmap (a power of two). One block is the redundant block of RFC 6479.
const BLOCKS: usize = 4;
/// How far behind the highest counter a frame may arrive and still be accepted.
pub const REPLAY_WINDOW: u64 = (BLOCKS as u64 - 1) * BLOCK_BITS;
/// Counters above this are refused by receivers and never sent (WireGuard's "reject after").
pub const REJECT_AFTER_COUNTER: u64 = u64::MAX - (1 << 16);

/// Why a counter was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReplayError {
    /// Counter 0 is never used.
    #[error("counter 0 is invalid")]
    Zero,
    /// The counter was already accepted.
    #[error("counter {0} was already seen")]
    Replayed(u64),
    /// The counter is older than the window.
    #[error("counter {0} is too old for the replay window")]
    TooOld(u64),
    /// The counter is past the reject-after limit.
    #[error("counter {0} is past the reject-after limit")]
    Exhausted(u64),
}

/// A sliding window over received counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    top: u64,
    bitmap: [u64; BLOCKS],
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayWindow {
    /// A window that has seen nothing.
    pub fn new() -> Self {
        ReplayWindow {
            top: 0,
            bitmap: [0; BLOCKS],
        }
    }

    /// A window restored after a restart: every counter up to `top` counts as seen.
    pub fn restored(top: u64) -> Self {
        ReplayWindow {
            top,
            bitmap: [u64::MAX; BLOCKS],
        }
    }

    /// The highest counter accepted so far (0 if none).
    pub fn top(&self) -> u64 {
        self.top
    }

    fn slot(counter: u64) -> (usize, u64) {
        let block = ((counter / BLOCK_BITS) % BLOCKS as u64) as usize;
        (block, 1u64 << (counter % BLOCK_BITS))
    }

    /// Whether `counter` would be accepted. Does not change the window.
    pub fn check(&self, counter: u64) -> Result<(), ReplayError> {
        if counter == 0 {
            return Err(ReplayError::Zero);
        }
        if counter > REJECT_AFTER_COUNTER {
            return Err(ReplayError::Exhausted(counter));
        }
        if counter > self.top {
            return Ok(());
        }
        if self.top - counter >= REPLAY_WINDOW {
            return Err(ReplayError::TooOld(counter));
        }
        let (block, bit) = Self::slot(counter);
        match self.bitmap.get(block) {
            Some(word) if word & bit == 0 => Ok(()),
            _ => Err(ReplayError::Replayed(counter)),
        }
    }

    /// Records `counter` as seen, after it passed [`check`](Self::check) and authentication.
    pub fn update(&mut self, counter: u64) -> Result<(), ReplayError> {
        self.check(counter)?;
        if counter > self.top {
            let current = self.top / BLOCK_BITS;
            let advance = (counter / BLOCK_BITS - current).min(BLOCKS as u64);
            for i in 1..=advance {
                self.bitmap[((current + i) % BLOCKS as u64) as usize] = 0;
            }
            self.top = counter;
        }
        let (block, bit) = Self::slot(counter);
        self.bitmap[block] |= bit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_counter_is_accepted_once() {
        let mut w = ReplayWindow::new();
        assert_eq!(w.update(1), Ok(()));
        assert_eq!(w.update(1), Err(ReplayError::Replayed(1)));
    }

    #[test]
    fn out_of_order_counters_inside_the_window_are_accepted_once() {
        let mut w = ReplayWindow::new();
        w.update(1000).unwrap();
        assert_eq!(w.update(999), Ok(()));
        assert_eq!(w.update(1000 - REPLAY_WINDOW + 1), Ok(()));
        assert_eq!(w.update(999), Err(ReplayError::Replayed(999)));
        assert_eq!(
            w.check(1000 - REPLAY_WINDOW),
            Err(ReplayError::TooOld(1000 - REPLAY_WINDOW))
        );
    }

    #[test]
    fn zero_and_exhausted_counters_are_refused() {
        let w = ReplayWindow::new();
        assert_eq!(w.check(0), Err(ReplayError::Zero));
        assert_eq!(
            w.check(REJECT_AFTER_COUNTER + 1),
            Err(ReplayError::Exhausted(REJECT_AFTER_COUNTER + 1))
        );
        assert_eq!(w.check(REJECT_AFTER_COUNTER), Ok(()));
    }

    #[test]
    fn a_restored_window_refuses_everything_up_to_its_top() {
        let w = ReplayWindow::restored(500);
        assert_eq!(w.check(500), Err(ReplayError::Replayed(500)));
        assert_eq!(w.check(499), Err(ReplayError::Replayed(499)));
        assert_eq!(w.check(1), Err(ReplayError::TooOld(1)));
        assert_eq!(w.check(501), Ok(()));
    }

    #[test]
    fn a_big_jump_clears_the_whole_bitmap() {
        let mut w = ReplayWindow::new();
        for c in 1..=200 {
            w.update(c).unwrap();
        }
        w.update(10_000).unwrap();
        assert_eq!(w.check(10_000 - 1), Ok(()));
        assert_eq!(w.check(10_000 - REPLAY_WINDOW + 1), Ok(()));
    }

    proptest! {
        /// The window agrees with an exact model: a counter is accepted iff it is new and
        /// within REPLAY_WINDOW of the highest accepted counter.
        #[test]
        fn window_matches_an_exact_model(counters in proptest::collection::vec(1u64..2_000, 1..400)) {
            let mut w = ReplayWindow::new();
            let mut seen = std::collections::BTreeSet::new();
            let mut top = 0u64;
            for c in counters {
                let fresh = !seen.contains(&c) && (c > top || top - c < REPLAY_WINDOW);
                prop_assert_eq!(w.update(c).is_ok(), fresh, "counter {}", c);
                if fresh {
                    seen.insert(c);
                    top = top.max(c);
                }
            }
        }
    }
}
