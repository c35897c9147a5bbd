//! A configuration reloaded on SIGHUP: what changes live (the down-frame TTL, the idle
//! timeout, link policies, the pairing window's default length) is applied; what needs a
//! restart is named in the journal.

use super::Manager;
use crate::config::Config;

/// The settings that differ between `old` and `new` and take effect only at a restart.
pub fn restart_needed(old: &Config, new: &Config) -> Vec<&'static str> {
    let differs =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let mut keys = Vec::new();
    let (a, b) = (&old.pairing, &new.pairing);
    let checks: [(&'static str, bool); 9] = [
        ("homeassistant", old.homeassistant != new.homeassistant),
        ("gateway", differs(&old.gateway, &new.gateway)),
        ("mqtt", differs(&old.mqtt, &new.mqtt)),
        ("spool", differs(&old.spool, &new.spool)),
        ("control_socket", old.control_socket != new.control_socket),
        ("state_dir", old.state_dir != new.state_dir),
        ("ble.adapter", old.ble.adapter != new.ble.adapter),
        (
            "ble.max_connections / ble.min_rssi",
            old.ble.max_connections != new.ble.max_connections
                || old.ble.min_rssi != new.ble.min_rssi,
        ),
        (
            "pairing.button / pairing.led",
            a.button != b.button || a.led != b.led,
        ),
    ];
    for (key, changed) in checks {
        if changed {
            keys.push(key);
        }
    }
    keys
}

impl Manager {
    /// Applies what can change live; reports the rest.
    pub(super) fn reload(&mut self, new: Config) {
        let later = restart_needed(&self.config, &new);
        self.config.down_frame_ttl = new.down_frame_ttl;
        self.config.ble.idle_timeout = new.ble.idle_timeout;
        self.config.ble.link_policy = new.ble.link_policy;
        self.config.ble.locks = new.ble.locks;
        self.config.pairing.seconds = new.pairing.seconds;
        self.scheduler
            .set_idle_timeout(self.config.ble.idle_timeout);
        let ids: Vec<_> = self.locks.keys().copied().collect();
        for id in ids {
            let policy = self.config.link_policy(&id);
            self.scheduler.set_policy(&id, policy);
        }
        self.publish_locks();
        log::info!(
            "configuration reloaded: down_frame_ttl {:?}, idle_timeout {:?}, link policies applied",
            self.config.down_frame_ttl,
            self.config.ble.idle_timeout
        );
        if !later.is_empty() {
            log::warn!(
                "configuration reloaded: changes to {} take effect at the next restart \
                 (systemctl restart lockgated)",
                later.join(", ")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(dir: &std::path::Path, name: &str, body: &str) -> Config {
        let file = dir.join(name);
        std::fs::write(&file, format!("[gateway]\nid = \"gw1\"\n{body}")).unwrap();
        Config::load(&file, []).unwrap()
    }

    #[test]
    fn live_settings_need_no_restart_and_the_others_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let old = load(dir.path(), "a.toml", "[ble]\nidle_timeout = \"30s\"\n");
        let live = load(
            dir.path(),
            "b.toml",
            "[ble]\nidle_timeout = \"5s\"\nlink_policy = \"persistent\"\n",
        );
        assert!(restart_needed(&old, &live).is_empty());
        let other = load(
            dir.path(),
            "c.toml",
            "[mqtt]\nhost = \"broker.example\"\n[ble]\nmax_connections = 2\n",
        );
        assert_eq!(
            restart_needed(&old, &other),
            ["mqtt", "ble.max_connections / ble.min_rssi"]
        );
    }
}
