//! Figures from samples: median, p99 and maximum of latencies, and their text.

use std::time::Duration;

/// The distribution of a set of latencies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// The median.
    pub median: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
    /// How many samples.
    pub n: usize,
}

impl Summary {
    /// The summary of `samples` (all zero when there are none).
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort();
        let at = |p: f64| {
            let rank = (p / 100.0 * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Summary {
            median: at(50.0),
            p99: at(99.0),
            max: at(100.0),
            n: samples.len(),
        }
    }

    /// `median 412 µs, p99 1.20 ms, max 3.40 ms (n = 500)`.
    pub fn text(&self) -> String {
        format!(
            "median {}, p99 {}, max {} (n = {})",
            time(self.median),
            time(self.p99),
            time(self.max),
            self.n
        )
    }
}

/// A duration in µs below 10 ms, else in ms.
pub fn time(d: Duration) -> String {
    signed_time(d.as_secs_f64())
}

/// Seconds (possibly negative) as µs below 10 ms, else in ms.
pub fn signed_time(seconds: f64) -> String {
    match seconds.abs() < 0.01 {
        true => format!("{:.0} µs", seconds * 1e6),
        false => format!("{:.2} ms", seconds * 1e3),
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples = (1..=200).map(Duration::from_micros).collect();
        let s = Summary::of(samples);
        assert_eq!(s.median, Duration::from_micros(100));
        assert_eq!(s.p99, Duration::from_micros(198));
        assert_eq!(s.max, Duration::from_micros(200));
        assert_eq!(s.n, 200);
    }

    #[test]
    fn times_switch_to_milliseconds_at_ten() {
        assert_eq!(time(Duration::from_micros(9_999)), "9999 µs");
        assert_eq!(time(Duration::from_micros(12_345)), "12.35 ms");
        assert_eq!(signed_time(-0.000_25), "-250 µs");
    }
}
