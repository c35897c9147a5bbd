//! The configuration: the shipped example parses, defaults are safe, every error names its key
//! and its file, and the environment overrides the file.

use lockgate::config::{Config, LinkPolicy, Qos, Transport};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/lockgate.toml");

fn write(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockgate-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn the_shipped_example_parses_with_safe_defaults() {
    let c = Config::load(Path::new(EXAMPLE), no_env()).unwrap();
    assert_eq!(c.gateway.id, "pi-hallway");
    assert_eq!(c.mqtt.transport, Transport::Tls);
    assert_eq!(c.mqtt.port(), 8883);
    assert_eq!(c.mqtt.qos, Qos::AtLeastOnce);
    assert_eq!(c.ble.max_connections, 4);
    assert_eq!(c.ble.link_policy, LinkPolicy::OnDemand);
    assert_eq!(c.down_frame_ttl, Duration::from_secs(10));
    assert_eq!(c.topics().unwrap().base(), "lockgate/pi-hallway");
    assert_eq!(c.spool_path(), PathBuf::from("/var/lib/lockgate/spool"));
    assert!(c.support.enabled);
    assert_eq!(c.support.code_validity, Duration::from_secs(600));
    assert_eq!(c.support.session_length, Duration::from_secs(1800));
    assert!(
        !c.homeassistant.enabled,
        "discovery is off unless asked for"
    );
    assert_eq!(c.homeassistant.discovery_prefix, "homeassistant");
}

#[test]
fn home_assistant_discovery_is_switched_on_by_file_or_environment_and_its_prefix_checked() {
    let path = write(
        "ha-on.toml",
        "[gateway]\nid = \"gw1\"\n[homeassistant]\nenabled = true\ndiscovery_prefix = \"ha\"\n",
    );
    let c = Config::load(&path, no_env()).unwrap();
    assert!(c.homeassistant.enabled);
    assert_eq!(c.homeassistant.discovery_prefix, "ha");
    let path = write("ha-env.toml", "[gateway]\nid = \"gw1\"\n");
    let env = vec![("LOCKGATE_HOMEASSISTANT__ENABLED".into(), "true".into())];
    assert!(Config::load(&path, env).unwrap().homeassistant.enabled);
    for prefix in [
        "lockgate",
        "lockgate/gw1",
        "lockgate/gw1/x",
        "",
        "ha/#",
        "/ha",
    ] {
        let path = write(
            "ha-bad.toml",
            &format!("[gateway]\nid = \"gw1\"\n[homeassistant]\ndiscovery_prefix = \"{prefix}\"\n"),
        );
        let err = Config::load(&path, no_env()).unwrap_err();
        assert_eq!(
            err.key, "homeassistant.discovery_prefix",
            "{prefix:?}: {err}"
        );
    }
}

#[test]
fn support_durations_are_bounded() {
    for (key, value) in [
        ("code_validity", "30s"),
        ("code_validity", "2h"),
        ("session_length", "30s"),
        ("session_length", "5h"),
    ] {
        let path = write(
            &format!("support-{key}-{value}.toml"),
            &format!("[gateway]\nid = \"gw1\"\n[support]\n{key} = \"{value}\"\n"),
        );
        let err = Config::load(&path, no_env()).unwrap_err();
        assert_eq!(err.key, format!("support.{key}"), "{err}");
    }
    let path = write(
        "support-off.toml",
        "[gateway]\nid = \"gw1\"\n[support]\nenabled = false\n",
    );
    assert!(!Config::load(&path, no_env()).unwrap().support.enabled);
}

#[test]
fn a_minimal_file_needs_only_the_gateway_id() {
    let path = write("minimal.toml", "[gateway]\nid = \"gw1\"\n");
    let c = Config::load(&path, no_env()).unwrap();
    assert_eq!(c.mqtt.host, "localhost");
    assert_eq!(
        c.mqtt.transport,
        Transport::Tls,
        "TLS verification is on by default"
    );
}

#[test]
fn unknown_keys_are_refused_with_the_key_and_the_file_named() {
    let path = write(
        "typo.toml",
        "[gateway]\nid = \"gw1\"\n[mqtt]\nhots = \"broker\"\n",
    );
    let err = Config::load(&path, no_env()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("typo.toml"), "{text}");
    assert!(text.contains("hots"), "{text}");
}

#[test]
fn wrong_types_and_bad_values_name_their_key() {
    let cases = [
        (
            "[gateway]\nid = \"gw1\"\n[mqtt]\nport = \"eighty\"\n",
            "mqtt.port",
        ),
        ("[gateway]\nid = \"a/b\"\n", "gateway.id"),
        (
            "[gateway]\nid = \"gw1\"\n[ble]\nmax_connections = 0\n",
            "ble.max_connections",
        ),
        (
            "[gateway]\nid = \"gw1\"\n[ble]\nlink_policy = \"sometimes\"\n",
            "link_policy",
        ),
        (
            "[gateway]\nid = \"gw1\"\n[ble.locks.nothex]\nlink_policy = \"persistent\"\n",
            "ble.locks.nothex",
        ),
        (
            "[gateway]\nid = \"gw1\"\ndown_frame_ttl = \"1h\"\n",
            "down_frame_ttl",
        ),
        (
            "[gateway]\nid = \"gw1\"\n[mqtt]\nclient_cert = \"/c.pem\"\n",
            "mqtt.client_cert",
        ),
        (
            "[gateway]\nid = \"gw1\"\n[mqtt]\npassword_file = \"/p\"\n",
            "mqtt.password_file",
        ),
        (
            "[gateway]\nid = \"gw1\"\n[mqtt]\ntransport = \"plain\"\nca_file = \"/ca.pem\"\n",
            "mqtt.transport",
        ),
        (
            "[gateway]\nid = \"gw1\"\n[mqtt]\nkeepalive = \"soon\"\n",
            "keepalive",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let path = write(&format!("bad{i}.toml"), text);
        let err = Config::load(&path, no_env()).unwrap_err().to_string();
        assert!(err.contains(key), "case {i}: {err}");
        assert!(err.contains(&format!("bad{i}.toml")), "case {i}: {err}");
    }
}

#[test]
fn environment_variables_override_the_file() {
    let env = vec![
        (
            "LOCKGATE_MQTT__HOST".to_string(),
            "broker.example.net".to_string(),
        ),
        ("LOCKGATE_BLE__MAX_CONNECTIONS".to_string(), "2".to_string()),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let c = Config::load(Path::new(EXAMPLE), env).unwrap();
    assert_eq!(c.mqtt.host, "broker.example.net");
    assert_eq!(c.ble.max_connections, 2);
}

#[test]
fn per_lock_link_policies_apply_to_their_lock_only() {
    let path = write(
        "locks.toml",
        "[gateway]\nid = \"gw1\"\n[ble.locks.\"0123456789abcdef\"]\nlink_policy = \"persistent\"\n",
    );
    let c = Config::load(&path, no_env()).unwrap();
    let id: lockgate_wire::LockId = "0123456789abcdef".parse().unwrap();
    let other: lockgate_wire::LockId = "fedcba9876543210".parse().unwrap();
    assert_eq!(c.link_policy(&id), LinkPolicy::Persistent);
    assert_eq!(c.link_policy(&other), LinkPolicy::OnDemand);
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err = Config::load(Path::new("/nonexistent/lockgate.toml"), no_env()).unwrap_err();
    assert!(err
        .to_string()
        .contains("/nonexistent/lockgate.toml: -: no such file"));
}

#[test]
fn lockgate_check_config_reports_ok_or_the_error() {
    let ok = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["check-config", "--config", EXAMPLE])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (gateway pi-hallway"));
    let bad = write(
        "cli-bad.toml",
        "[gateway]\nid = \"gw1\"\n[ble]\nmax_connections = 99\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lockgate"))
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ble.max_connections"));
}

#[test]
fn the_example_button_and_led_parse_once_uncommented() {
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let uncommented: String = example
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.starts_with("[pairing.") || is_pairing_key(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = write("pairing.toml", &uncommented);
    let c = Config::load(&path, no_env()).unwrap();
    assert_eq!(c.pairing.seconds, 60);
    let button = c.pairing.button.expect("the button section");
    assert_eq!((button.chip.as_str(), button.line), ("gpiochip0", 17));
    assert!(button.active_low);
    assert_eq!(button.debounce, Duration::from_millis(50));
    let led = c.pairing.led.expect("the LED section");
    assert_eq!(led.line, 27);
}

fn is_pairing_key(line: &str) -> bool {
    ["chip =", "line =", "active_low =", "bias =", "debounce ="]
        .iter()
        .any(|key| line.starts_with(key))
}

#[test]
fn a_pairing_window_longer_than_254_seconds_is_refused_by_key() {
    let path = write(
        "long-window.toml",
        "[gateway]\nid = \"gw1\"\n[pairing]\nseconds = 300\n",
    );
    let err = Config::load(&path, no_env()).unwrap_err();
    assert_eq!(err.key, "pairing.seconds");
    assert!(err.message.contains("254"), "{err}");
}
