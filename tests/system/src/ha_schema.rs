//! A checker of Home Assistant MQTT discovery configs against the schema Home Assistant
//! documents for each platform used here (`binary_sensor`, `sensor`, `lock`; MQTT
//! integration, "MQTT Discovery" and the platform pages): required keys, known keys only (so
//! abbreviations and typos fail), allowed values, and the unit rules of sensor device classes.
//! Written from the documentation; it is a test's model of what Home Assistant accepts.

use serde_json::{Map, Value};

/// Keys every MQTT entity may have.
const COMMON: &[&str] = &[
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "default_entity_id",
    "device",
    "enabled_by_default",
    "encoding",
    "entity_category",
    "entity_picture",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "origin",
    "payload_available",
    "payload_not_available",
    "platform",
    "qos",
    "unique_id",
];

const BINARY_SENSOR: &[&str] = &[
    "device_class",
    "expire_after",
    "force_update",
    "off_delay",
    "payload_off",
    "payload_on",
    "state_topic",
    "value_template",
];

const SENSOR: &[&str] = &[
    "device_class",
    "expire_after",
    "force_update",
    "last_reset_value_template",
    "options",
    "state_class",
    "state_topic",
    "suggested_display_precision",
    "unit_of_measurement",
    "value_template",
];

const LOCK: &[&str] = &[
    "code_format",
    "command_template",
    "command_topic",
    "optimistic",
    "payload_lock",
    "payload_open",
    "payload_reset",
    "payload_unlock",
    "retain",
    "state_jammed",
    "state_locked",
    "state_locking",
    "state_open",
    "state_opening",
    "state_topic",
    "state_unlocked",
    "state_unlocking",
    "value_template",
];

const BINARY_SENSOR_CLASSES: &[&str] = &[
    "battery",
    "battery_charging",
    "carbon_monoxide",
    "cold",
    "connectivity",
    "door",
    "garage_door",
    "gas",
    "heat",
    "light",
    "lock",
    "moisture",
    "motion",
    "moving",
    "occupancy",
    "opening",
    "plug",
    "power",
    "presence",
    "problem",
    "running",
    "safety",
    "smoke",
    "sound",
    "tamper",
    "update",
    "vibration",
    "window",
];

/// Sensor device classes with the units Home Assistant accepts for them (`None`: no unit;
/// an empty list: any unit). Only the classes a lock gateway could use are listed; others
/// fail, which is what a test of this project wants.
const SENSOR_CLASSES: &[(&str, Option<&[&str]>)] = &[
    ("battery", Some(&["%"])),
    ("signal_strength", Some(&["dB", "dBm"])),
    ("timestamp", None),
    ("date", None),
    ("duration", Some(&["d", "h", "min", "s", "ms"])),
    ("data_size", Some(&[])),
    ("temperature", Some(&["°C", "°F", "K"])),
    ("voltage", Some(&["V", "mV"])),
    ("enum", None),
];

const DEVICE: &[&str] = &[
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
];

const ORIGIN: &[&str] = &["name", "sw_version", "support_url"];

/// Checks `config`, a discovery config of `platform`; every problem, named.
pub fn check(platform: &str, config: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(c) = config.as_object() else {
        return Err(vec!["the config is not a JSON object".into()]);
    };
    let (own, required): (&[&str], &[&str]) = match platform {
        "binary_sensor" => (BINARY_SENSOR, &["state_topic"]),
        "sensor" => (SENSOR, &["state_topic"]),
        "lock" => (LOCK, &["command_topic"]),
        other => return Err(vec![format!("platform {other:?} is not modelled")]),
    };
    for key in c.keys() {
        if !COMMON.contains(&key.as_str()) && !own.contains(&key.as_str()) {
            problems.push(format!(
                "unknown key {key:?} (abbreviations are not used here)"
            ));
        }
    }
    for key in required.iter().chain(&["unique_id", "device"]) {
        if !c.contains_key(*key) {
            problems.push(format!("missing {key:?}"));
        }
    }
    for (key, value) in c {
        let ok = match key.as_str() {
            "name" => value.is_string() || value.is_null(),
            "qos" => value.as_u64().is_some_and(|q| q <= 2),
            "optimistic" | "retain" | "force_update" | "enabled_by_default" => value.is_boolean(),
            "expire_after" | "off_delay" | "suggested_display_precision" => value.is_u64(),
            "device" | "origin" | "availability" | "options" => true,
            _ => value.is_string(),
        };
        if !ok {
            problems.push(format!("{key:?} has the wrong type: {value}"));
        }
        if key.ends_with("topic") && value.as_str().is_some_and(|t| t.contains(['#', '+'])) {
            problems.push(format!("{key:?} holds a wildcard: {value}"));
        }
    }
    one_of(
        c,
        "entity_category",
        &["config", "diagnostic"],
        &mut problems,
    );
    one_of(
        c,
        "availability_mode",
        &["all", "any", "latest"],
        &mut problems,
    );
    if c.contains_key("availability") && c.contains_key("availability_topic") {
        problems.push("availability and availability_topic together".into());
    }
    if let Some(list) = c.get("availability") {
        match list.as_array() {
            Some(items) if !items.is_empty() => {
                for item in items {
                    let known = [
                        "topic",
                        "payload_available",
                        "payload_not_available",
                        "value_template",
                    ];
                    let fine = item.as_object().is_some_and(|o| {
                        o.get("topic").is_some_and(Value::is_string)
                            && o.keys().all(|k| known.contains(&k.as_str()))
                    });
                    if !fine {
                        problems.push(format!(
                            "availability item without a topic or with unknown keys: {item}"
                        ));
                    }
                }
            }
            _ => problems.push("availability must be a non-empty list".into()),
        }
    }
    device(c.get("device"), &mut problems);
    if let Some(origin) = c.get("origin") {
        let fine = origin.as_object().is_some_and(|o| {
            o.get("name").is_some_and(Value::is_string)
                && o.keys().all(|k| ORIGIN.contains(&k.as_str()))
        });
        if !fine {
            problems.push(format!("origin needs a name and known keys only: {origin}"));
        }
    }
    match platform {
        "binary_sensor" => one_of(c, "device_class", BINARY_SENSOR_CLASSES, &mut problems),
        "sensor" => sensor(c, &mut problems),
        _ => {}
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn one_of(c: &Map<String, Value>, key: &str, allowed: &[&str], problems: &mut Vec<String>) {
    if let Some(v) = c.get(key) {
        if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
            problems.push(format!("{key:?} is {v}, not one of {allowed:?}"));
        }
    }
}

fn device(device: Option<&Value>, problems: &mut Vec<String>) {
    let Some(device) = device else {
        return;
    };
    let Some(d) = device.as_object() else {
        problems.push("device is not an object".into());
        return;
    };
    for key in d.keys() {
        if !DEVICE.contains(&key.as_str()) {
            problems.push(format!("unknown device key {key:?}"));
        }
    }
    let ids = d
        .get("identifiers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
    let connections = d.get("connections").and_then(Value::as_array).is_some();
    if !ids && !connections {
        problems.push("device needs identifiers (a list of strings) or connections".into());
    }
}

fn sensor(c: &Map<String, Value>, problems: &mut Vec<String>) {
    one_of(
        c,
        "state_class",
        &[
            "measurement",
            "measurement_angle",
            "total",
            "total_increasing",
        ],
        problems,
    );
    let unit = c.get("unit_of_measurement").and_then(Value::as_str);
    let Some(class) = c.get("device_class") else {
        return;
    };
    let Some((_, units)) = SENSOR_CLASSES.iter().find(|(name, _)| class == name) else {
        problems.push(format!("sensor device_class {class} is not a known class"));
        return;
    };
    match (units, unit) {
        (None, Some(u)) => problems.push(format!("device_class {class} takes no unit, not {u:?}")),
        (Some(allowed), Some(u)) if !allowed.is_empty() && !allowed.contains(&u) => problems.push(
            format!("device_class {class} takes a unit of {allowed:?}, not {u:?}"),
        ),
        (Some(allowed), None) if !allowed.is_empty() => {
            problems.push(format!("device_class {class} needs a unit of {allowed:?}"))
        }
        _ => {}
    }
    if matches!(class.as_str(), Some("timestamp" | "date")) && c.contains_key("state_class") {
        problems.push(format!("device_class {class} takes no state_class"));
    }
}

/// The platform of a discovery topic `<prefix>/<platform>/<node>/<object>/config`.
pub fn platform_of(topic: &str) -> Option<&str> {
    let mut levels = topic.split('/').rev();
    (levels.next() == Some("config")).then_some(())?;
    levels.nth(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid_sensor() -> Value {
        json!({
            "name": "Signal strength",
            "unique_id": "x_rssi",
            "state_topic": "a/b",
            "device_class": "signal_strength",
            "unit_of_measurement": "dBm",
            "state_class": "measurement",
            "entity_category": "diagnostic",
            "device": {"identifiers": ["x"], "name": "X"},
            "origin": {"name": "lockgate"},
            "availability": [{"topic": "a/state", "value_template": "{{ value_json.state }}"}],
            "availability_mode": "all",
        })
    }

    fn with(mut v: Value, key: &str, value: Value) -> Value {
        v[key] = value;
        v
    }

    fn without(mut v: Value, key: &str) -> Value {
        v.as_object_mut().unwrap().remove(key);
        v
    }

    #[test]
    fn a_valid_config_passes() {
        assert_eq!(check("sensor", &valid_sensor()), Ok(()));
        let lock = json!({
            "name": null, "unique_id": "l", "command_topic": "l/set", "state_topic": "l/state",
            "payload_open": "OPEN", "state_jammed": "JAMMED", "optimistic": false, "qos": 1,
            "device": {"identifiers": ["l"]},
        });
        assert_eq!(check("lock", &lock), Ok(()));
    }

    #[test]
    fn each_kind_of_mistake_is_named() {
        let cases = [
            (
                without(valid_sensor(), "state_topic"),
                "missing \"state_topic\"",
            ),
            (
                without(valid_sensor(), "unique_id"),
                "missing \"unique_id\"",
            ),
            (
                with(valid_sensor(), "stat_t", json!("a")),
                "unknown key \"stat_t\"",
            ),
            (
                with(valid_sensor(), "unit_of_measurement", json!("%")),
                "takes a unit",
            ),
            (
                with(valid_sensor(), "device_class", json!("rssi")),
                "not a known class",
            ),
            (
                with(valid_sensor(), "state_class", json!("sum")),
                "\"state_class\"",
            ),
            (
                with(valid_sensor(), "entity_category", json!("system")),
                "entity_category",
            ),
            (
                with(valid_sensor(), "availability_mode", json!("most")),
                "availability_mode",
            ),
            (
                with(
                    valid_sensor(),
                    "availability",
                    json!([{"payload_available": "up"}]),
                ),
                "without a topic",
            ),
            (
                with(valid_sensor(), "device", json!({"name": "X"})),
                "identifiers",
            ),
            (
                with(valid_sensor(), "origin", json!({"version": "1"})),
                "origin needs a name",
            ),
            (
                with(valid_sensor(), "state_topic", json!("a/#")),
                "wildcard",
            ),
            (with(valid_sensor(), "qos", json!(3)), "wrong type"),
        ];
        for (config, expected) in cases {
            let problems = check("sensor", &config).unwrap_err();
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected:?} not in {problems:?}"
            );
        }
        let timestamp = with(
            with(valid_sensor(), "device_class", json!("timestamp")),
            "unit_of_measurement",
            json!("s"),
        );
        assert!(check("sensor", &timestamp).is_err());
        let no_command = json!({"unique_id": "l", "device": {"identifiers": ["l"]}});
        assert!(check("lock", &no_command).unwrap_err()[0].contains("command_topic"));
        let door = json!({"unique_id": "d", "state_topic": "d", "device_class": "doorway",
                          "device": {"identifiers": ["d"]}});
        assert!(check("binary_sensor", &door).is_err());
    }

    #[test]
    fn the_platform_comes_from_the_topic() {
        assert_eq!(
            platform_of("homeassistant/lock/node/obj/config"),
            Some("lock")
        );
        assert_eq!(platform_of("ha/x/sensor/node/obj/config"), Some("sensor"));
        assert_eq!(platform_of("homeassistant/lock/node/obj/state"), None);
    }
}
