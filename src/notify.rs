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

/// The watchdog interval systemd asked for, if any.
pub fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
}

/// Whether every heartbeat (milliseconds since `started`) is newer than `max_age`.
pub fn all_fresh(beats: &[Arc<AtomicU64>], started: Instant, max_age: Duration) -> bool {
    let now = started.elapsed().as_millis();
    beats
        .iter()
        .all(|b| now.saturating_sub(u128::from(b.load(Ordering::Relaxed))) <= max_age.as_millis())
}

/// Pings the watchdog every half interval while all `beats` are fresh.
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
        if all_fresh(&beats, started, half) {
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
    fn a_stale_heartbeat_stops_the_pings() {
        let started = Instant::now() - Duration::from_secs(100);
        let fresh = Arc::new(AtomicU64::new(99_900));
        let stale = Arc::new(AtomicU64::new(10_000));
        let max = Duration::from_secs(5);
        assert!(all_fresh(std::slice::from_ref(&fresh), started, max));
        assert!(!all_fresh(&[fresh, stale], started, max));
    }
}
