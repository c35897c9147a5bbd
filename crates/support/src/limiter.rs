//! The gateway's throttle on support attempts (docs/SUPPORT.md §7), in the spirit of
//! RFC 4226 §7.3: every attempt that has not (yet) succeeded delays the next one, by
//! [`BASE_DELAY_MS`] after the first and twice as long after each further one, up to
//! [`MAX_DELAY_MS`]. A success clears the count; so do [`FORGET_AFTER_MS`] without attempts.
//!
//! The state is small and serialisable: the gateway writes it durably before it answers an
//! attempt, so a restart does not reset the throttle. Time is Unix milliseconds, passed in.
//! A clock set back is handled: the last attempt then counts as just now, so the wait never
//! exceeds [`MAX_DELAY_MS`].

use serde::{Deserialize, Serialize};

/// Delay after the first failed attempt.
pub const BASE_DELAY_MS: u64 = 5_000;
/// The longest delay.
pub const MAX_DELAY_MS: u64 = 15 * 60_000;
/// After this long without an attempt the count starts again from zero.
pub const FORGET_AFTER_MS: u64 = 24 * 3_600_000;

/// What the limiter keeps durably.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimiterState {
    /// Attempts charged since the last success (or since the count was forgotten).
    pub failures: u32,
    /// When the last attempt was charged (Unix ms).
    pub last_attempt_ms: u64,
}

/// The throttle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limiter {
    state: LimiterState,
}

impl Limiter {
    /// A limiter resuming from `state` (the default for a fresh gateway).
    pub fn new(state: LimiterState) -> Self {
        Limiter { state }
    }

    /// What to persist.
    pub fn state(&self) -> LimiterState {
        self.state
    }

    /// The delay that follows `failures` failed attempts.
    pub fn delay_after(failures: u32) -> u64 {
        match failures {
            0 => 0,
            n => BASE_DELAY_MS
                .saturating_mul(1u64 << (n - 1).min(20))
                .min(MAX_DELAY_MS),
        }
    }

    /// `Ok` if an attempt may be made at `now_ms`, else how many milliseconds to wait.
    pub fn check(&mut self, now_ms: u64) -> Result<(), u64> {
        self.rebase(now_ms);
        let not_before = self
            .state
            .last_attempt_ms
            .saturating_add(Self::delay_after(self.state.failures));
        match not_before.saturating_sub(now_ms) {
            0 => Ok(()),
            wait => Err(wait),
        }
    }

    /// Charges an attempt made at `now_ms` (before its outcome is known); returns the state
    /// to persist before answering it.
    pub fn charge(&mut self, now_ms: u64) -> LimiterState {
        self.rebase(now_ms);
        self.state.failures = self.state.failures.saturating_add(1);
        self.state.last_attempt_ms = now_ms;
        self.state
    }

    /// Records that the charged attempt succeeded; returns the state to persist.
    pub fn succeed(&mut self) -> LimiterState {
        self.state.failures = 0;
        self.state
    }

    /// Forgets an old count, and treats a last attempt in the future (the clock was set
    /// back) as made now.
    fn rebase(&mut self, now_ms: u64) {
        if now_ms < self.state.last_attempt_ms {
            self.state.last_attempt_ms = now_ms;
        }
        if now_ms - self.state.last_attempt_ms >= FORGET_AFTER_MS {
            self.state.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_760_000_000_000;

    #[test]
    fn delays_double_from_five_seconds_up_to_fifteen_minutes() {
        let delays: Vec<u64> = (0..12).map(Limiter::delay_after).collect();
        assert_eq!(
            delays,
            [
                0, 5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 900_000,
                900_000, 900_000
            ]
        );
        assert_eq!(Limiter::delay_after(u32::MAX), MAX_DELAY_MS);
    }

    #[test]
    fn each_charged_attempt_delays_the_next() {
        let mut l = Limiter::default();
        assert_eq!(l.check(T0), Ok(()));
        l.charge(T0);
        assert_eq!(l.check(T0 + 1_000), Err(4_000));
        assert_eq!(l.check(T0 + 5_000), Ok(()));
        l.charge(T0 + 5_000);
        assert_eq!(l.check(T0 + 5_000), Err(10_000));
    }

    #[test]
    fn a_success_clears_the_count() {
        let mut l = Limiter::default();
        l.charge(T0);
        let state = l.succeed();
        assert_eq!(state.failures, 0);
        assert_eq!(l.check(T0), Ok(()));
    }

    #[test]
    fn the_state_survives_serialisation() {
        let mut l = Limiter::default();
        for i in 0..4 {
            l.charge(T0 + i * 60_000);
        }
        let text = serde_json::to_string(&l.state()).unwrap();
        let mut restored = Limiter::new(serde_json::from_str(&text).unwrap());
        assert_eq!(restored, l);
        assert_eq!(restored.check(T0 + 3 * 60_000), Err(40_000));
    }

    #[test]
    fn the_count_is_forgotten_after_a_day_without_attempts() {
        let mut l = Limiter::default();
        for _ in 0..9 {
            l.charge(T0);
        }
        assert_eq!(l.check(T0 + 60_000), Err(MAX_DELAY_MS - 60_000));
        assert_eq!(l.check(T0 + FORGET_AFTER_MS), Ok(()));
        assert_eq!(l.charge(T0 + FORGET_AFTER_MS).failures, 1);
    }

    #[test]
    fn a_clock_set_back_never_waits_longer_than_the_longest_delay() {
        let mut l = Limiter::default();
        for _ in 0..3 {
            l.charge(T0);
        }
        let year = 365 * 24 * 3_600_000;
        assert_eq!(l.check(T0 - year), Err(20_000));
        assert_eq!(l.check(T0 - year + 20_000), Ok(()));
    }
}
