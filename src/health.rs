//! What the gateway counts and reports about itself (docs/GATEWAY.md §1.5): event counters
//! shared by the tasks as atomics, the MQTT connection's state, and the health report built
//! from them. Counters only ever grow; names are part of the MQTT contract.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Event counters, shared by every task.
        #[derive(Debug, Default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl Counters {
            /// Every counter by its name.
            pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
                BTreeMap::from([$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*])
            }
        }
    };
}

counters! {
    /// Frames received from locks and handed to the spool.
    up_frames,
    /// Up-frames the broker acknowledged.
    up_published,
    /// Down-frames received (not counting retained ones).
    down_frames,
    /// Down-frames written to their lock.
    down_written,
    /// Down-frames whose TTL passed.
    down_expired,
    /// Down-frames refused.
    down_rejected,
    /// Retained down-frames ignored.
    down_retained_ignored,
    /// Retained bridge requests ignored.
    requests_retained_ignored,
    /// Bridge requests answered.
    requests,
    /// Notifications that broke a frame (bad fragment sequence, timeout, overlong).
    malformed_notifications,
    /// Whole frames from locks without a valid envelope header.
    malformed_frames,
    /// Links that came up.
    link_connects,
    /// Connect attempts that failed.
    connect_failures,
    /// Connects refused with `InProgress`.
    in_progress,
    /// Links that went down without being asked to.
    link_drops,
    /// Adapter power cycles after repeated failures.
    adapter_resets,
    /// Times the adapter vanished or was powered off.
    adapter_lost,
    /// MQTT connections made.
    mqtt_connects,
    /// MQTT connections lost.
    mqtt_disconnects,
    /// Up-frames dropped because the spool was full.
    spool_dropped,
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The state of the gateway, shared by its tasks.
#[derive(Debug)]
pub struct Health {
    /// When the daemon started.
    pub started: Instant,
    /// Event counters.
    pub counters: Counters,
    /// Whether the broker connection is up.
    pub mqtt_connected: AtomicBool,
    /// Whether the adapter is present and powered.
    pub adapter_powered: AtomicBool,
    /// Links up now.
    pub links: AtomicU64,
    /// Frames and bytes in the spool, and what recovery found at start.
    pub spool_frames: AtomicU64,
    /// Bytes in the spool.
    pub spool_bytes: AtomicU64,
    /// Records found unacknowledged at start.
    pub spool_recovered: AtomicU64,
    /// Bytes of torn or corrupt tail cut off at start.
    pub spool_truncated: AtomicU64,
    /// The last MQTT connection error, without credentials.
    pub mqtt_last_error: Mutex<Option<String>>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            started: Instant::now(),
            counters: Counters::default(),
            mqtt_connected: AtomicBool::new(false),
            adapter_powered: AtomicBool::new(false),
            links: AtomicU64::new(0),
            spool_frames: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            spool_recovered: AtomicU64::new(0),
            spool_truncated: AtomicU64::new(0),
            mqtt_last_error: Mutex::new(None),
        }
    }
}

/// What the report needs that only the daemon knows.
#[derive(Debug, Clone)]
pub struct Static {
    /// Adapter name.
    pub adapter: String,
    /// Link slots.
    pub max_connections: u8,
}

impl Health {
    /// Records the last MQTT error.
    pub fn set_mqtt_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.mqtt_last_error.lock() {
            *slot = error;
        }
    }

    /// The last MQTT error, if the connection is not up.
    pub fn mqtt_error(&self) -> Option<String> {
        self.mqtt_last_error
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
    }

    /// The health report of docs/GATEWAY.md §1.5.
    pub fn report(&self, fixed: &Static) -> Value {
        let c = self.counters.snapshot();
        let get = |name: &str| c.get(name).copied().unwrap_or(0);
        let last_error = self.mqtt_last_error.lock().ok().and_then(|e| e.clone());
        json!({
            "uptime_s": self.started.elapsed().as_secs(),
            "rss_bytes": rss_bytes(),
            "mqtt": {
                "connected": self.mqtt_connected.load(Ordering::Relaxed),
                "connects": get("mqtt_connects"),
                "disconnects": get("mqtt_disconnects"),
                "last_error": last_error,
            },
            "ble": {
                "adapter": fixed.adapter,
                "powered": self.adapter_powered.load(Ordering::Relaxed),
                "links": self.links.load(Ordering::Relaxed),
                "max_connections": fixed.max_connections,
                "connect_failures": get("connect_failures"),
                "in_progress": get("in_progress"),
                "adapter_resets": get("adapter_resets"),
            },
            "spool": {
                "frames": self.spool_frames.load(Ordering::Relaxed),
                "bytes": self.spool_bytes.load(Ordering::Relaxed),
                "dropped": get("spool_dropped"),
                "recovered": self.spool_recovered.load(Ordering::Relaxed),
                "truncated_bytes": self.spool_truncated.load(Ordering::Relaxed),
            },
            "counters": c,
        })
    }
}

/// Resident set size of this process, from `VmRSS` in `/proc/self/status`; 0 if unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_every_documented_section_and_counter() {
        let health = Health::default();
        Counters::bump(&health.counters.down_expired);
        Counters::bump(&health.counters.down_expired);
        health.set_mqtt_error(Some("connection refused".into()));
        let fixed = Static {
            adapter: "hci0".into(),
            max_connections: 4,
        };
        let report = health.report(&fixed);
        assert_eq!(report["counters"]["down_expired"], 2);
        assert_eq!(report["counters"]["down_written"], 0);
        assert_eq!(report["mqtt"]["last_error"], "connection refused");
        assert_eq!(report["ble"]["adapter"], "hci0");
        assert_eq!(report["ble"]["max_connections"], 4);
        assert!(report["spool"]["frames"].is_u64());
        assert!(report["rss_bytes"].as_u64().unwrap() > 0);
    }
}
