//! The manager's state messages: `bridge/info`, `bridge/locks`, `bridge/event`,
//! `bridge/health`, and each lock's `availability` and `link` (docs/GATEWAY.md §1).

use super::{LockEntry, Manager, AVAILABILITY_WINDOW};
use crate::control::LockReport;
use lockgate_wire::LockId;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// RSSI changes smaller than this do not republish `link`.
const RSSI_STEP: i16 = 5;

impl LockEntry {
    pub(super) fn report(&self, policy: &str) -> LockReport {
        LockReport {
            id: self.paired.id,
            address: self.paired.address.clone(),
            name: self.paired.name.clone(),
            link_policy: policy.to_string(),
            connected: self.connected,
            rssi: self.rssi,
            last_seen: self.last_seen,
            mtu: self.mtu,
        }
    }

    fn link_json(&self) -> Value {
        json!({
            "connected": self.connected,
            "rssi": self.rssi,
            "last_seen": self.last_seen,
            "last_seen_iso": self.last_seen.map(iso_time),
            "mtu": self.mtu,
        })
    }
}

impl Manager {
    fn publish_json(&self, topic: String, value: &Value, retain: bool) {
        self.wiring
            .mqtt
            .publish(topic, value.to_string().into_bytes(), retain);
    }

    /// `bridge/info` and `bridge/locks`.
    pub(super) fn publish_bridge(&self) {
        self.publish_info();
        self.publish_locks();
    }

    /// `bridge/info`, with the pairing window's state.
    pub(super) fn publish_info(&self) {
        let info = json!({
            "version": crate::VERSION,
            "gateway_id": self.config.gateway.id,
            "protocol": lockgate_wire::envelope::VERSION,
            "pairing": self.window_state(Instant::now()),
            "max_connections": self.config.ble.max_connections,
        });
        self.publish_json(self.topics.bridge_info(), &info, true);
    }

    /// Every paired lock as the control socket and `bridge/locks` report it.
    pub(super) fn lock_reports(&self) -> Vec<LockReport> {
        self.locks
            .values()
            .map(|e| e.report(policy_name(self.config.link_policy(&e.paired.id))))
            .collect()
    }

    pub(super) fn publish_locks(&self) {
        let locks = serde_json::to_value(self.lock_reports()).unwrap_or(Value::Null);
        self.publish_json(self.topics.bridge_locks(), &locks, true);
    }

    /// `<lock>/link` and `<lock>/availability`.
    pub(super) fn publish_lock(&mut self, id: &LockId) {
        self.publish_link(id);
        self.publish_availability(id, Instant::now());
    }

    fn publish_link(&mut self, id: &LockId) {
        let Some(entry) = self.locks.get_mut(id) else {
            return;
        };
        entry.published_rssi = entry.rssi;
        let payload = entry.link_json();
        self.publish_json(self.topics.for_lock(id).link(), &payload, true);
    }

    pub(super) fn publish_link_if_changed(&mut self, id: &LockId) {
        let Some(entry) = self.locks.get(id) else {
            return;
        };
        let moved = match (entry.rssi, entry.published_rssi) {
            (Some(now), Some(before)) => (now - before).abs() >= RSSI_STEP,
            (a, b) => a.is_some() != b.is_some(),
        };
        if moved {
            self.publish_link(id);
        }
    }

    /// Publishes `availability` when it changed.
    pub(super) fn publish_availability(&mut self, id: &LockId, now: Instant) {
        let adapter_up = self.adapter.is_some();
        let Some(entry) = self.locks.get_mut(id) else {
            return;
        };
        let heard = entry
            .heard_at
            .is_some_and(|t| now.saturating_duration_since(t) < AVAILABILITY_WINDOW);
        let online = adapter_up && (entry.connected || heard);
        if entry.online == Some(online) {
            return;
        }
        entry.online = Some(online);
        let state = if online { "online" } else { "offline" };
        let topic = self.topics.for_lock(id).availability();
        self.publish_json(topic, &json!({ "state": state }), true);
    }

    /// Records a link change and republishes what depends on it.
    pub(super) fn set_connected(&mut self, id: &LockId, connected: bool, mtu: Option<u16>) {
        let Some(entry) = self.locks.get_mut(id) else {
            return;
        };
        if entry.connected == connected && entry.mtu == mtu {
            return;
        }
        entry.connected = connected;
        entry.mtu = mtu;
        let links = self.locks.values().filter(|e| e.connected).count();
        self.health.links.store(links as u64, Ordering::Relaxed);
        self.publish_lock(id);
        self.publish_locks();
    }

    /// Clears a removed lock's retained topics.
    pub(super) fn clear_lock_topics(&self, id: &LockId) {
        let topics = self.topics.for_lock(id);
        for topic in [topics.link(), topics.availability()] {
            self.wiring.mqtt.publish(topic, Vec::new(), true);
        }
    }

    pub(super) fn publish_health(&self) {
        let report = self.health.report(&self.fixed);
        self.publish_json(self.topics.bridge_health(), &report, true);
    }

    /// Home Assistant discovery of the gateway and every lock, if enabled.
    pub(super) fn publish_discovery(&self) {
        let Some(d) = &self.discovery else {
            return;
        };
        let locks = self.locks.keys().flat_map(|id| d.lock(id));
        for (topic, config) in d.gateway().into_iter().chain(locks) {
            self.publish_json(topic, &config, true);
        }
    }

    /// Home Assistant discovery of one lock, if enabled.
    pub(super) fn publish_lock_discovery(&self, id: &LockId) {
        if let Some(d) = &self.discovery {
            for (topic, config) in d.lock(id) {
                self.publish_json(topic, &config, true);
            }
        }
    }

    /// Removes a lock's entities from Home Assistant (empty retained configs).
    pub(super) fn clear_lock_discovery(&self, id: &LockId) {
        if let Some(d) = &self.discovery {
            for topic in d.lock_topics(id) {
                self.wiring.mqtt.publish(topic, Vec::new(), true);
            }
        }
    }

    /// A `bridge/event`.
    pub(super) fn event(&self, kind: &str, data: Value) {
        log::info!("event {kind}: {data}");
        let event = json!({"type": kind, "data": data, "time": crate::unix_now()});
        self.publish_json(self.topics.bridge_event(), &event, false);
    }
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-22T12:00:00Z`), as Home Assistant's timestamp
/// sensors want.
fn iso_time(unix_s: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_s);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The config name of a link policy.
pub(super) fn policy_name(policy: crate::config::LinkPolicy) -> &'static str {
    match policy {
        crate::config::LinkPolicy::OnDemand => "on_demand",
        crate::config::LinkPolicy::Persistent => "persistent",
    }
}
