//! Jittered exponential backoff for reconnecting: the delay doubles from a base up to a cap,
//! and each delay is spread over its upper half so that many gateways (or links) that failed
//! together do not retry together.

use std::time::Duration;

/// A backoff sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays from `base` doubling to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay, given `jitter` in `[0, 1)`.
    pub fn next_with(&mut self, jitter: f64) -> Duration {
        let exp = self.base.saturating_mul(1 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        exp.min(self.max)
            .mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// The next delay, with random jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(fastrand::f64())
    }

    /// Back to the base delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_after_success() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let full: Vec<Duration> = (0..9).map(|_| b.next_with(0.999_999)).collect();
        let ms: Vec<u128> = full.iter().map(|d| (d.as_millis() + 1) / 10 * 10).collect();
        assert_eq!(
            ms,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.next_with(0.0), Duration::from_millis(250));
    }

    #[test]
    fn jitter_spreads_each_delay_over_its_upper_half() {
        let mut low = Backoff::new(Duration::from_secs(4), Duration::from_secs(60));
        let mut high = low.clone();
        assert_eq!(low.next_with(0.0), Duration::from_secs(2));
        assert!(high.next_with(0.5) == Duration::from_secs(3));
    }
}
