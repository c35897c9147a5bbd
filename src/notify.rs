//! systemd notifications: READY once set up, STATUS lines, STOPPING at shutdown, and a
//! data-path watchdog: WATCHDOG=1 is sent only while both the MQTT relay and the manager have
//! turned their loops recently, so a wedged task (not just a dead process) gets the daemon
//! restarted. Without `NOTIFY_SOCKET` all of it does nothing.

use sd_notify::NotifyState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Tells systemd the daemon is ready, with a status line.
pub fn ready(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A status line.
pub fn status(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

/// How often an idle task still marks its progress: its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How old a heartbeat may be for the watchdog to ping: half the interval, but never less
/// than three heartbeats, so that an idle task between two heartbeats is not taken for a
/// wedged one when systemd asks for a short interval.
pub fn max_age(interval: Duration) -> Duration {
    (interval / 2).max(HEARTBEAT * 3)
}

/// The watchdog interval systemd asked for, if any: `WATCHDOG_USEC`, unless `WATCHDOG_PID`
/// names another process (libsystemd's `sd_watchdog_enabled` rules: without `WATCHDOG_PID`
/// the interval applies to whoever reads it).
pub fn watchdog_interval() -> Option<Duration> {
    let var = |name: &str| std::env::var(name).ok();
    interval_for(
        var("WATCHDOG_USEC").as_deref(),
        var("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

fn interval_for(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec = usec?.trim().parse::<u64>().ok().filter(|&u| u > 0)?;
    match pid.map(|p| p.trim().parse::<u32>()) {
        None => Some(Duration::from_micros(usec)),
        Some(Ok(pid)) if pid == me => Some(Duration::from_micros(usec)),
        Some(_) => None,
    }
}

/// Whether every heartbeat (milliseconds since `started`) is newer than `max_age`.
pub fn all_fresh(beats: &[Arc<AtomicU64>], started: Instant, max_age: Duration) -> bool {
    let now = started.elapsed().as_millis();
    beats
        .iter()
        .all(|b| now.saturating_sub(u128::from(b.load(Ordering::Relaxed))) <= max_age.as_millis())
}

/// Pings the watchdog every half interval while all `beats` are fresh (see [`max_age`]).
pub async fn watchdog(
    interval: Duration,
    beats: Vec<Arc<AtomicU64>>,
    started: Instant,
    shutdown: CancellationToken,
) {
    let half = interval / 2;
    let mut tick = tokio::time::interval(half);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if all_fresh(&beats, started, max_age(interval)) {
            let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
        } else {
            log::error!("watchdog: a task stopped making progress; not pinging systemd");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_follows_libsystemd_rules() {
        let second = Some(Duration::from_secs(1));
        assert_eq!(interval_for(Some("1000000"), None, 7), second);
        assert_eq!(interval_for(Some("1000000"), Some("7"), 7), second);
        assert_eq!(interval_for(Some("1000000"), Some("8"), 7), None);
        assert_eq!(interval_for(Some("1000000"), Some("x"), 7), None);
        assert_eq!(interval_for(Some("0"), None, 7), None);
        assert_eq!(interval_for(Some("soon"), None, 7), None);
        assert_eq!(interval_for(None, Some("7"), 7), None);
    }

    #[test]
    fn a_short_interval_still_allows_a_heartbeat_missed_between_ticks() {
        assert_eq!(max_age(Duration::from_secs(1)), HEARTBEAT * 3);
        assert_eq!(max_age(Duration::from_secs(30)), Duration::from_secs(15));
    }

    #[test]
    fn a_stale_heartbeat_stops_the_pings() {
        let started = Instant::now() - Duration::from_secs(100);
        let fresh = Arc::new(AtomicU64::new(99_900));
        let stale = Arc::new(AtomicU64::new(10_000));
        let max = Duration::from_secs(5);
        assert!(all_fresh(std::slice::from_ref(&fresh), started, max));
        assert!(!all_fresh(&[fresh, stale], started, max));
    }
}
