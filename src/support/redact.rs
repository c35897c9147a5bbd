//! The configuration as a support session sees it (`config` request): an allowlist of
//! settings, each named as in the TOML file. Paths are shown; the files they name (password,
//! client key) are never read. A setting added to `Config` stays hidden until it is added
//! here, so nothing new leaks by default.

use crate::config::Config;
use humantime_serde::re::humantime::format_duration;
use serde_json::{json, Map, Value};
use std::time::Duration;

fn duration(d: Duration) -> String {
    format_duration(d).to_string()
}

/// The redacted configuration.
pub fn render(config: &Config) -> Value {
    let m = &config.mqtt;
    let b = &config.ble;
    let locks: Map<String, Value> = b
        .locks
        .iter()
        .map(|(id, o)| (id.clone(), json!({"link_policy": o.link_policy})))
        .collect();
    json!({
        "gateway": {"id": config.gateway.id, "base_topic": config.gateway.base_topic},
        "mqtt": {
            "host": m.host,
            "port": m.port(),
            "transport": m.transport,
            "ca_file": m.ca_file,
            "client_cert": m.client_cert,
            "client_key": m.client_key,
            "username": m.username,
            "password_file": m.password_file,
            "keepalive": duration(m.keepalive),
            "qos": m.qos,
        },
        "ble": {
            "adapter": b.adapter,
            "max_connections": b.max_connections,
            "link_policy": b.link_policy,
            "idle_timeout": duration(b.idle_timeout),
            "min_rssi": b.min_rssi,
            "locks": locks,
        },
        "spool": {
            "path": config.spool_path(),
            "max_frames": config.spool.max_frames,
            "max_bytes": config.spool.max_bytes,
        },
        "down_frame_ttl": duration(config.down_frame_ttl),
        "control_socket": config.control_socket,
        "state_dir": config.state_dir,
        "support": {
            "enabled": config.support.enabled,
            "code_validity": duration(config.support.code_validity),
            "session_length": duration(config.support.session_length),
        },
        "homeassistant": {
            "enabled": config.homeassistant.enabled,
            "discovery_prefix": config.homeassistant.discovery_prefix,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn paths_are_shown_and_the_files_they_name_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("mqtt-password");
        std::fs::write(&secret, "hunter2-secret").unwrap();
        let key = dir.path().join("client.key");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY----- secret").unwrap();
        let file = dir.path().join("lockgate.toml");
        let toml = format!(
            "[gateway]\nid = \"gw\"\n[mqtt]\nusername = \"gw\"\npassword_file = {:?}\n\
             client_cert = {:?}\nclient_key = {:?}\n[ble.locks.\"4c47000000000001\"]\n\
             link_policy = \"persistent\"\n",
            secret.display().to_string(),
            key.display().to_string(),
            key.display().to_string(),
        );
        std::fs::write(&file, toml).unwrap();
        let config = Config::load(&file, Vec::new()).unwrap();
        let text = render(&config).to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        let v = render(&config);
        assert_eq!(v["mqtt"]["password_file"], secret.display().to_string());
        assert_eq!(v["mqtt"]["client_key"], key.display().to_string());
        assert_eq!(v["mqtt"]["transport"], "tls");
        assert_eq!(v["mqtt"]["qos"], "at-least-once");
        assert_eq!(
            v["ble"]["locks"]["4c47000000000001"]["link_policy"],
            "persistent"
        );
        assert_eq!(v["support"]["session_length"], "30m");
        assert_eq!(v["homeassistant"]["enabled"], false);
        assert_eq!(v["homeassistant"]["discovery_prefix"], "homeassistant");
        assert_eq!(v["down_frame_ttl"], "10s");
        assert_eq!(
            v["spool"]["path"],
            Path::new("/var/lib/lockgate/spool").display().to_string()
        );
    }
}
