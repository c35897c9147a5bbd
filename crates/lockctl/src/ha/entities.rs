//! What the bridge publishes for Home Assistant (and any MQTT client): discovery configs and
//! the entities' state topics. Pure: topics and payloads from the lock's state.
//!
//! Per lock, under `<topic>/<lock id>/`: `state` (LOCKED, UNLOCKED, LOCKING, UNLOCKING,
//! JAMMED, OPENING, OPEN), `set` (commands LOCK, UNLOCK, OPEN), `battery` (0..100), `door`
//! (`open`, `closed`, `None` when unknown), `attributes` (JSON), `availability` (`online`,
//! `offline`); and `<topic>/bridge/state` (`online`, `offline`; the last will). All retained
//! but `set`.

use super::agent::Agent;
use lockgate_e2e::command::{DoorState, MechanismState};
use lockgate_wire::LockId;
use serde_json::{json, Value};

/// Payloads of the availability topics.
pub const ONLINE: &str = "online";
/// See [`ONLINE`].
pub const OFFLINE: &str = "offline";

/// The topics of one lock's entities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    base: String,
}

impl Topics {
    /// Topics under `topic` (the `[ha] topic` setting) for `lock`.
    pub fn new(topic: &str, lock: &LockId) -> Self {
        Topics {
            base: format!("{topic}/{lock}"),
        }
    }

    /// `<topic>/<lock>/<leaf>`.
    pub fn leaf(&self, leaf: &str) -> String {
        format!("{}/{leaf}", self.base)
    }
}

/// `<topic>/bridge/state`.
pub fn bridge_state(topic: &str) -> String {
    format!("{topic}/bridge/state")
}

/// Home Assistant's lock state for a mechanism state.
pub fn lock_state(state: MechanismState) -> &'static str {
    match state {
        MechanismState::Locked => "LOCKED",
        MechanismState::Unlocking => "UNLOCKING",
        MechanismState::Unlocked => "UNLOCKED",
        MechanismState::Locking => "LOCKING",
        MechanismState::Unlatching => "OPENING",
        MechanismState::Unlatched => "OPEN",
        MechanismState::Jammed => "JAMMED",
    }
}

fn door(door: DoorState) -> &'static str {
    match door {
        DoorState::Open => "open",
        DoorState::Closed => "closed",
        // Home Assistant's MQTT binary sensor takes `None` as "unknown" (an empty payload it
        // ignores, keeping a stale state).
        DoorState::Unknown => "None",
    }
}

/// The retained state messages of one lock: (topic, payload).
pub fn states(topics: &Topics, agent: &Agent) -> Vec<(String, String)> {
    let available = if agent.available() { ONLINE } else { OFFLINE };
    let mut out = vec![(topics.leaf("availability"), available.to_owned())];
    let Some(status) = agent.status() else {
        return out;
    };
    let attributes = json!({
        "last_error": agent.last_error(),
        "last_change": agent.cause(),
        "firmware": status.firmware,
    });
    out.extend([
        (topics.leaf("state"), lock_state(status.state).to_owned()),
        (topics.leaf("battery"), status.battery_percent.to_string()),
        (topics.leaf("door"), door(status.door).to_owned()),
        (topics.leaf("attributes"), attributes.to_string()),
    ]);
    out
}

/// What the discovery configs of a lock need.
#[derive(Debug, Clone)]
pub struct Lock<'a> {
    /// The lock.
    pub id: LockId,
    /// The gateway it is reached through (its Home Assistant device is linked to it).
    pub gateway: &'a str,
    /// Whether the lock can unlatch (then the entity offers OPEN).
    pub unlatch: bool,
}

/// The discovery configs of one lock: (topic, retained JSON payload).
pub fn discovery(prefix: &str, topic: &str, lock: &Lock<'_>) -> Vec<(String, Value)> {
    let id = lock.id.to_string();
    let t = Topics::new(topic, &lock.id);
    let node = format!("lockctl_{id}");
    let device = json!({
        "identifiers": [format!("lockgate_lock_{id}")],
        // The last digits, as the gateway names the device: ids may share a vendor prefix.
        "name": format!("Lock {}", &id[id.len().saturating_sub(6)..]),
        "manufacturer": "lockgate",
        "model": "lockgate lock",
        "via_device": format!("lockgate_gw_{}", lock.gateway),
    });
    let origin = json!({
        "name": "lockctl",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let availability = json!([
        { "topic": bridge_state(topic) },
        { "topic": t.leaf("availability") },
    ]);
    let common = |name: Value, object: &str| {
        json!({
            "name": name,
            "unique_id": format!("lockctl_{id}_{object}"),
            "device": device,
            "origin": origin,
            "availability": availability,
            "availability_mode": "all",
        })
    };
    let mut lock_config = common(Value::Null, "lock");
    extend(
        &mut lock_config,
        json!({
            "command_topic": t.leaf("set"),
            "state_topic": t.leaf("state"),
            "json_attributes_topic": t.leaf("attributes"),
            "payload_lock": "LOCK",
            "payload_unlock": "UNLOCK",
            "state_locked": "LOCKED",
            "state_unlocked": "UNLOCKED",
            "state_locking": "LOCKING",
            "state_unlocking": "UNLOCKING",
            "state_jammed": "JAMMED",
            "state_open": "OPEN",
            "state_opening": "OPENING",
            "optimistic": false,
            "retain": false,
            "qos": 1,
        }),
    );
    if lock.unlatch {
        extend(&mut lock_config, json!({ "payload_open": "OPEN" }));
    }
    let mut battery = common(json!("Battery"), "battery");
    extend(
        &mut battery,
        json!({
            "state_topic": t.leaf("battery"),
            "device_class": "battery",
            "unit_of_measurement": "%",
            "state_class": "measurement",
        }),
    );
    let mut door_config = common(json!("Door"), "door");
    extend(
        &mut door_config,
        json!({
            "state_topic": t.leaf("door"),
            "device_class": "door",
            "payload_on": "open",
            "payload_off": "closed",
        }),
    );
    let topic_of =
        |component: &str, object: &str| format!("{prefix}/{component}/{node}/{object}/config");
    vec![
        (topic_of("lock", "lock"), lock_config),
        (topic_of("sensor", "battery"), battery),
        (topic_of("binary_sensor", "door"), door_config),
    ]
}

fn extend(config: &mut Value, more: Value) {
    if let (Some(c), Value::Object(m)) = (config.as_object_mut(), more) {
        c.extend(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(unlatch: bool) -> Vec<(String, Value)> {
        let id: LockId = "0123456789abcdef".parse().unwrap();
        discovery(
            "homeassistant",
            "lockctl",
            &Lock {
                id,
                gateway: "pi",
                unlatch,
            },
        )
    }

    #[test]
    fn a_lock_has_a_lock_a_battery_and_a_door_entity_on_the_gateways_lock_device() {
        let configs = lock(true);
        let topics: Vec<_> = configs.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            topics,
            [
                "homeassistant/lock/lockctl_0123456789abcdef/lock/config",
                "homeassistant/sensor/lockctl_0123456789abcdef/battery/config",
                "homeassistant/binary_sensor/lockctl_0123456789abcdef/door/config",
            ]
        );
        for (_, c) in &configs {
            assert_eq!(
                c["device"]["identifiers"][0],
                "lockgate_lock_0123456789abcdef"
            );
            assert_eq!(c["device"]["via_device"], "lockgate_gw_pi");
            assert_eq!(c["availability_mode"], "all");
            assert_eq!(c["availability"][0]["topic"], "lockctl/bridge/state");
        }
        let l = &configs[0].1;
        assert_eq!(l["command_topic"], "lockctl/0123456789abcdef/set");
        assert_eq!(l["payload_open"], "OPEN");
        assert_eq!(l["unique_id"], "lockctl_0123456789abcdef_lock");
    }

    #[test]
    fn a_lock_without_a_latch_offers_no_open() {
        assert!(lock(false)[0].1.get("payload_open").is_none());
    }

    #[test]
    fn every_mechanism_state_has_a_home_assistant_state() {
        let all = [
            (MechanismState::Locked, "LOCKED"),
            (MechanismState::Unlocking, "UNLOCKING"),
            (MechanismState::Unlocked, "UNLOCKED"),
            (MechanismState::Locking, "LOCKING"),
            (MechanismState::Unlatching, "OPENING"),
            (MechanismState::Unlatched, "OPEN"),
            (MechanismState::Jammed, "JAMMED"),
        ];
        for (m, ha) in all {
            assert_eq!(lock_state(m), ha);
        }
    }
}
