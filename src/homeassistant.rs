//! Home Assistant MQTT discovery of what the gateway knows without keys (docs/GATEWAY.md §8):
//! the gateway as a device with its diagnostics, and per paired lock a device with its link's
//! connectivity, RSSI and last sighting. Pure: (topic, retained JSON config) pairs from the
//! gateway id, its topics and the discovery prefix. Lock states and commands are not here:
//! the gateway cannot read them (the bridge `lockctl ha` publishes those entities, on the same
//! lock devices).

use lockgate_wire::topics::Topics;
use lockgate_wire::LockId;
use serde_json::{json, Value};

/// The Home Assistant device identifier of a gateway.
pub fn gateway_device_id(gateway_id: &str) -> String {
    format!("lockgate_gw_{gateway_id}")
}

/// The Home Assistant device identifier of a lock (the bridge uses the same).
pub fn lock_device_id(lock: &LockId) -> String {
    format!("lockgate_lock_{lock}")
}

/// The discovery configs of one gateway.
#[derive(Debug, Clone)]
pub struct Discovery {
    prefix: String,
    gateway_id: String,
    topics: Topics,
}

/// One entity: its platform, its object id, and the config keys particular to it.
struct Entity {
    component: &'static str,
    object: &'static str,
    config: Value,
}

impl Discovery {
    /// Discovery under `prefix` for the gateway `gateway_id` publishing under `topics`.
    pub fn new(prefix: &str, gateway_id: &str, topics: Topics) -> Self {
        Discovery {
            prefix: prefix.to_owned(),
            gateway_id: gateway_id.to_owned(),
            topics,
        }
    }

    /// `<prefix>/status`, where Home Assistant says `online` when it (re)starts.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.prefix)
    }

    fn origin() -> Value {
        json!({ "name": "lockgate", "sw_version": crate::VERSION })
    }

    fn gateway_device(&self) -> Value {
        json!({
            "identifiers": [gateway_device_id(&self.gateway_id)],
            "name": format!("lockgate {}", self.gateway_id),
            "manufacturer": "lockgate",
            "model": "lockgated",
            "sw_version": crate::VERSION,
        })
    }

    fn bridge_availability(&self) -> Value {
        json!({
            "topic": self.topics.bridge_state(),
            "value_template": "{{ value_json.state }}",
        })
    }

    fn config(
        &self,
        node: &str,
        unique: &str,
        device: &Value,
        e: Entity,
        avail: Value,
    ) -> (String, Value) {
        let mut config = json!({
            "unique_id": format!("{unique}_{}", e.object),
            "device": device,
            "origin": Self::origin(),
            "availability": avail,
            "availability_mode": "all",
            "entity_category": "diagnostic",
        });
        if let (Some(c), Value::Object(more)) = (config.as_object_mut(), e.config) {
            c.extend(more);
        }
        let topic = format!("{}/{}/{node}/{}/config", self.prefix, e.component, e.object);
        (topic, config)
    }

    /// The gateway's device and its entities: pairing window open, spool depth, frames
    /// relayed, reconnects.
    pub fn gateway(&self) -> Vec<(String, Value)> {
        let info = self.topics.bridge_info();
        let health = self.topics.bridge_health();
        let entities = [
            Entity {
                component: "binary_sensor",
                object: "pairing_window",
                config: json!({
                    "name": "Pairing window",
                    "state_topic": info,
                    "value_template": "{{ 'ON' if value_json.pairing.open else 'OFF' }}",
                    "payload_on": "ON",
                    "payload_off": "OFF",
                    "icon": "mdi:bluetooth-connect",
                }),
            },
            Entity {
                component: "sensor",
                object: "spool_depth",
                config: json!({
                    "name": "Spooled frames",
                    "state_topic": health,
                    "value_template": "{{ value_json.spool.frames }}",
                    "state_class": "measurement",
                    "unit_of_measurement": "frames",
                }),
            },
            Entity {
                component: "sensor",
                object: "frames_relayed",
                config: json!({
                    "name": "Frames relayed",
                    "state_topic": health,
                    "value_template":
                        "{{ value_json.counters.up_frames + value_json.counters.down_written }}",
                    "state_class": "total_increasing",
                    "unit_of_measurement": "frames",
                }),
            },
            Entity {
                component: "sensor",
                object: "reconnects",
                config: json!({
                    "name": "Broker reconnects",
                    "state_topic": health,
                    "value_template": "{{ [value_json.mqtt.connects - 1, 0] | max }}",
                    "state_class": "total_increasing",
                }),
            },
        ];
        let node = format!("lockgate_{}", self.gateway_id);
        let unique = gateway_device_id(&self.gateway_id);
        let device = self.gateway_device();
        let avail = json!([self.bridge_availability()]);
        entities
            .into_iter()
            .map(|e| self.config(&node, &unique, &device, e, avail.clone()))
            .collect()
    }

    /// A lock's device (linked to the gateway's) and its link's entities: connectivity, RSSI,
    /// last seen.
    pub fn lock(&self, lock: &LockId) -> Vec<(String, Value)> {
        let t = self.topics.for_lock(lock);
        let id = lock.to_string();
        let device = json!({
            "identifiers": [lock_device_id(lock)],
            // The last digits: lock ids may share a vendor prefix.
            "name": format!("Lock {}", &id[id.len().saturating_sub(6)..]),
            "manufacturer": "lockgate",
            "model": "lockgate lock",
            "via_device": gateway_device_id(&self.gateway_id),
        });
        let entities = [
            Entity {
                component: "binary_sensor",
                object: "connectivity",
                config: json!({
                    "name": "Bluetooth link",
                    "state_topic": t.link(),
                    "value_template": "{{ 'ON' if value_json.connected else 'OFF' }}",
                    "payload_on": "ON",
                    "payload_off": "OFF",
                    "device_class": "connectivity",
                }),
            },
            Entity {
                component: "sensor",
                object: "rssi",
                config: json!({
                    "name": "Signal strength",
                    "state_topic": t.link(),
                    "value_template": "{{ value_json.rssi }}",
                    "device_class": "signal_strength",
                    "unit_of_measurement": "dBm",
                    "state_class": "measurement",
                }),
            },
            Entity {
                component: "sensor",
                object: "last_seen",
                config: json!({
                    "name": "Last seen",
                    "state_topic": t.link(),
                    "value_template": "{{ value_json.last_seen_iso }}",
                    "device_class": "timestamp",
                }),
            },
        ];
        let avail = json!([
            self.bridge_availability(),
            { "topic": t.availability(), "value_template": "{{ value_json.state }}" },
        ]);
        let node = format!("lockgate_{id}");
        let unique = format!("lockgate_{id}");
        entities
            .into_iter()
            .map(|e| self.config(&node, &unique, &device, e, avail.clone()))
            .collect()
    }

    /// The config topics of a lock (to clear when it is removed).
    pub fn lock_topics(&self, lock: &LockId) -> Vec<String> {
        self.lock(lock).into_iter().map(|(t, _)| t).collect()
    }
}

/// Checks a discovery prefix against the gateway's base topic: one or more topic levels
/// without wildcards, and neither a prefix of the other (the gateway subscribes under its
/// base topic and Home Assistant under its prefix). `None` when it is fine.
pub fn prefix_problem(prefix: &str, base: &str) -> Option<String> {
    if prefix.is_empty() || prefix.starts_with('/') || prefix.ends_with('/') {
        return Some("must be one or more topic levels, without a leading or trailing '/'".into());
    }
    if prefix.contains(['#', '+', '\0']) || prefix.split('/').any(str::is_empty) {
        return Some("must not contain wildcards ('#', '+') or empty levels".into());
    }
    let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
    if under(prefix, base) || under(base, prefix) {
        return Some(format!(
            "must differ from the gateway's base topic {base:?} (neither may contain the other)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery() -> Discovery {
        Discovery::new("homeassistant", "pi", Topics::for_gateway("pi").unwrap())
    }

    fn lock() -> LockId {
        "0123456789abcdef".parse().unwrap()
    }

    #[test]
    fn the_gateway_has_four_diagnostic_entities_on_its_device() {
        let configs = discovery().gateway();
        let topics: Vec<_> = configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/binary_sensor/lockgate_pi/pairing_window/config",
                "homeassistant/sensor/lockgate_pi/spool_depth/config",
                "homeassistant/sensor/lockgate_pi/frames_relayed/config",
                "homeassistant/sensor/lockgate_pi/reconnects/config",
            ]
        );
        for (_, c) in &configs {
            assert_eq!(c["device"]["identifiers"][0], "lockgate_gw_pi");
            assert_eq!(c["device"]["sw_version"], crate::VERSION);
            assert_eq!(c["origin"]["name"], "lockgate");
            assert_eq!(c["entity_category"], "diagnostic");
            assert_eq!(c["availability"][0]["topic"], "lockgate/pi/bridge/state");
            assert_eq!(c["availability"].as_array().unwrap().len(), 1);
        }
        assert_eq!(configs[1].1["unique_id"], "lockgate_gw_pi_spool_depth");
        assert_eq!(configs[0].1["state_topic"], "lockgate/pi/bridge/info");
    }

    #[test]
    fn a_lock_is_a_device_via_the_gateway_with_its_links_entities() {
        let d = discovery();
        let configs = d.lock(&lock());
        let topics: Vec<_> = configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/binary_sensor/lockgate_0123456789abcdef/connectivity/config",
                "homeassistant/sensor/lockgate_0123456789abcdef/rssi/config",
                "homeassistant/sensor/lockgate_0123456789abcdef/last_seen/config",
            ]
        );
        for (_, c) in &configs {
            assert_eq!(
                c["device"]["identifiers"][0],
                "lockgate_lock_0123456789abcdef"
            );
            assert_eq!(c["device"]["via_device"], "lockgate_gw_pi");
            assert_eq!(c["availability_mode"], "all");
            assert_eq!(
                c["availability"][1]["topic"],
                "lockgate/pi/0123456789abcdef/availability"
            );
        }
        assert_eq!(configs[1].1["unit_of_measurement"], "dBm");
        assert_eq!(configs[2].1["device_class"], "timestamp");
        assert_eq!(d.lock_topics(&lock()).len(), 3);
        assert_eq!(d.status_topic(), "homeassistant/status");
    }

    #[test]
    fn unique_ids_differ_between_entities_and_do_not_depend_on_anything_but_ids() {
        let d = discovery();
        let mut ids: Vec<String> = d
            .gateway()
            .into_iter()
            .chain(d.lock(&lock()))
            .map(|(_, c)| c["unique_id"].as_str().unwrap().to_owned())
            .collect();
        let again: Vec<String> = discovery()
            .gateway()
            .into_iter()
            .chain(discovery().lock(&lock()))
            .map(|(_, c)| c["unique_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, again);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 7);
    }

    #[test]
    fn the_prefix_must_be_a_clean_topic_apart_from_the_base() {
        assert_eq!(prefix_problem("homeassistant", "lockgate/pi"), None);
        assert_eq!(prefix_problem("home/assistant", "lockgate/pi"), None);
        for bad in [
            "",
            "/ha",
            "ha/",
            "ha/#",
            "h+a",
            "ha//x",
            "lockgate",
            "lockgate/pi",
            "lockgate/pi/x",
        ] {
            assert!(prefix_problem(bad, "lockgate/pi").is_some(), "{bad:?}");
        }
    }
}
