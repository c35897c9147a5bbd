//! The timing model: every operation over the air takes a number of BLE connection
//! intervals; fast mode makes them all instant for benchmarks.

use std::time::Duration;

/// Link timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// The connection interval (default 30 ms).
    pub interval: Duration,
    /// No latency at all.
    pub fast: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            interval: Duration::from_millis(30),
            fast: false,
        }
    }
}

impl Timing {
    /// `n` connection intervals (zero in fast mode).
    pub fn intervals(&self, n: u32) -> Duration {
        if self.fast {
            Duration::ZERO
        } else {
            self.interval * n
        }
    }

    /// How long a connection takes: 1 to 3 intervals, chosen by `noise`.
    pub fn connect(&self, noise: u64) -> Duration {
        self.intervals(1 + (noise % 3) as u32)
    }

    /// How often a discovering adapter reports devices.
    pub fn scan_period(&self) -> Duration {
        if self.fast {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(250)
        }
    }

    /// Sleeps for `d` unless it is zero.
    pub async fn wait(d: Duration) {
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}
