//! The gateway's configuration: a TOML file (default `/etc/lockgate/lockgate.toml`) with
//! `LOCKGATE_*` environment overrides (`LOCKGATE_MQTT__HOST=...`: sections joined by `__`),
//! read and validated once at start. Every error names the key and the file.

use lockgate_wire::topics::Topics;
use lockgate_wire::LockId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Where the configuration lives unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/lockgate/lockgate.toml";

/// A configuration that cannot be used.
#[derive(Debug, Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    /// The file read.
    pub file: PathBuf,
    /// The offending key (`mqtt.port`), or `-` for the file as a whole.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identity of this gateway.
    pub gateway: Gateway,
    /// The MQTT broker.
    #[serde(default)]
    pub mqtt: Mqtt,
    /// Bluetooth.
    #[serde(default)]
    pub ble: Ble,
    /// Up-frames kept while the broker is unreachable.
    #[serde(default)]
    pub spool: Spool,
    /// The pairing window: its default length, the button and the LED.
    #[serde(default)]
    pub pairing: crate::pairing::settings::PairingSettings,
    /// How long a down-frame may wait for its lock before it expires.
    #[serde(default = "defaults::down_frame_ttl", with = "humantime_serde")]
    pub down_frame_ttl: Duration,
    /// The local control socket (`lockgate pair`, `lockgate support`).
    #[serde(default = "defaults::control_socket")]
    pub control_socket: PathBuf,
    /// Paired locks and other durable state.
    #[serde(default = "defaults::state_dir")]
    pub state_dir: PathBuf,
    /// Remote support with one-time codes.
    #[serde(default)]
    pub support: Support,
    /// Home Assistant MQTT discovery of the gateway's diagnostics.
    #[serde(default)]
    pub homeassistant: HomeAssistant,
}

/// `[homeassistant]`: MQTT discovery of the gateway and its locks' links (docs/GATEWAY.md §8).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HomeAssistant {
    /// Publish discovery configs (off by default).
    #[serde(default)]
    pub enabled: bool,
    /// Home Assistant's discovery prefix; must differ from the base topic.
    #[serde(default = "defaults::discovery_prefix")]
    pub discovery_prefix: String,
}

impl Default for HomeAssistant {
    fn default() -> Self {
        HomeAssistant {
            enabled: false,
            discovery_prefix: defaults::discovery_prefix(),
        }
    }
}

/// `[gateway]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Unique id of this gateway, one MQTT topic level.
    pub id: String,
    /// Base topic; default `lockgate/<id>`.
    pub base_topic: Option<String>,
}

/// How the gateway reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TLS with certificate verification (the default).
    Tls,
    /// Plain TCP: only when set explicitly; the gateway warns.
    Plain,
}

/// MQTT delivery guarantee for up-frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Qos {
    /// QoS 0.
    AtMostOnce,
    /// QoS 1 (the default).
    AtLeastOnce,
    /// QoS 2.
    ExactlyOnce,
}

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mqtt {
    /// Broker host name or address.
    #[serde(default = "defaults::mqtt_host")]
    pub host: String,
    /// Port; default 8883 with TLS, 1883 plain.
    pub port: Option<u16>,
    /// TLS (default) or plain.
    #[serde(default = "defaults::transport")]
    pub transport: Transport,
    /// CA bundle to verify the broker with; default the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), with `client_key`.
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM), with `client_cert`.
    pub client_key: Option<PathBuf>,
    /// User name.
    pub username: Option<String>,
    /// File holding the password (never the password itself in this file).
    pub password_file: Option<PathBuf>,
    /// MQTT keep-alive.
    #[serde(default = "defaults::keepalive", with = "humantime_serde")]
    pub keepalive: Duration,
    /// QoS of up-frames.
    #[serde(default = "defaults::qos")]
    pub qos: Qos,
}

impl Default for Mqtt {
    fn default() -> Self {
        Mqtt {
            host: defaults::mqtt_host(),
            port: None,
            transport: defaults::transport(),
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: None,
            password_file: None,
            keepalive: defaults::keepalive(),
            qos: defaults::qos(),
        }
    }
}

impl Mqtt {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.transport {
            Transport::Tls => 8883,
            Transport::Plain => 1883,
        })
    }
}

/// When a lock's link is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPolicy {
    /// Connect when there is something to do; disconnect when idle (saves lock battery).
    OnDemand,
    /// Keep the link up.
    Persistent,
}

/// `[ble.locks."<lock id>"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockOverride {
    /// This lock's link policy.
    pub link_policy: LinkPolicy,
}

/// `[ble]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ble {
    /// Adapter name (`hci0`); default the default adapter.
    pub adapter: Option<String>,
    /// Links at once (a Pi manages about 4 well).
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u8,
    /// Default link policy.
    #[serde(default = "defaults::link_policy")]
    pub link_policy: LinkPolicy,
    /// An on-demand link with nothing to do is dropped after this.
    #[serde(default = "defaults::idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Only locks at least this strong are considered (dBm).
    pub min_rssi: Option<i16>,
    /// Per-lock settings, by lock id.
    #[serde(default)]
    pub locks: BTreeMap<String, LockOverride>,
}

impl Default for Ble {
    fn default() -> Self {
        Ble {
            adapter: None,
            max_connections: defaults::max_connections(),
            link_policy: defaults::link_policy(),
            idle_timeout: defaults::idle_timeout(),
            min_rssi: None,
            locks: BTreeMap::new(),
        }
    }
}

/// `[spool]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spool {
    /// Directory of the spool; default `<state_dir>/spool`.
    pub path: Option<PathBuf>,
    /// Most frames kept.
    #[serde(default = "defaults::spool_frames")]
    pub max_frames: u32,
    /// Most bytes kept.
    #[serde(default = "defaults::spool_bytes")]
    pub max_bytes: u64,
}

impl Default for Spool {
    fn default() -> Self {
        Spool {
            path: None,
            max_frames: defaults::spool_frames(),
            max_bytes: defaults::spool_bytes(),
        }
    }
}

/// `[support]`: remote support with one-time codes (docs/GATEWAY.md §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Support {
    /// Whether `lockgate support start` may create codes; `false` also leaves the support
    /// topic unsubscribed.
    #[serde(default = "defaults::support_enabled")]
    pub enabled: bool,
    /// How long a code stays usable unless `start` says otherwise (1min to 1h).
    #[serde(default = "defaults::code_validity", with = "humantime_serde")]
    pub code_validity: Duration,
    /// How long a support session lasts (1min to 4h).
    #[serde(default = "defaults::session_length", with = "humantime_serde")]
    pub session_length: Duration,
}

impl Default for Support {
    fn default() -> Self {
        Support {
            enabled: defaults::support_enabled(),
            code_validity: defaults::code_validity(),
            session_length: defaults::session_length(),
        }
    }
}

/// The range of `support.code_validity`, and of a validity asked for with a code.
pub const CODE_VALIDITY: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(3600);
/// The range of `support.session_length`.
pub const SESSION_LENGTH: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(4 * 3600);

mod defaults {
    use super::*;

    pub fn discovery_prefix() -> String {
        "homeassistant".into()
    }
    pub fn down_frame_ttl() -> Duration {
        Duration::from_secs(10)
    }
    pub fn control_socket() -> PathBuf {
        PathBuf::from(crate::control_client::DEFAULT_SOCKET)
    }
    pub fn state_dir() -> PathBuf {
        PathBuf::from("/var/lib/lockgate")
    }
    pub fn mqtt_host() -> String {
        "localhost".into()
    }
    pub fn transport() -> Transport {
        Transport::Tls
    }
    pub fn keepalive() -> Duration {
        Duration::from_secs(30)
    }
    pub fn qos() -> Qos {
        Qos::AtLeastOnce
    }
    pub fn max_connections() -> u8 {
        4
    }
    pub fn link_policy() -> LinkPolicy {
        LinkPolicy::OnDemand
    }
    pub fn idle_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn spool_frames() -> u32 {
        10_000
    }
    pub fn spool_bytes() -> u64 {
        16 * 1024 * 1024
    }
    pub fn support_enabled() -> bool {
        true
    }
    pub fn code_validity() -> Duration {
        Duration::from_secs(10 * 60)
    }
    pub fn session_length() -> Duration {
        Duration::from_secs(30 * 60)
    }
}

impl Config {
    /// Reads `file` (which must exist) with `LOCKGATE_*` overrides from `env`, then validates.
    pub fn load(
        file: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let whole = |message: String| ConfigError {
            file: file.to_path_buf(),
            key: "-".into(),
            message,
        };
        if !file.exists() {
            return Err(whole(
                "no such file; copy /usr/share/doc/lockgate/lockgate.toml or pass --config".into(),
            ));
        }
        let vars: config::Map<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("LOCKGATE_"))
            .collect();
        let raw = config::Config::builder()
            .add_source(config::File::from(file).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("LOCKGATE")
                    .separator("__")
                    .prefix_separator("_")
                    .try_parsing(true)
                    .source(Some(vars)),
            )
            .build()
            .map_err(|e| whole(e.to_string()))?;
        let config: Config = raw.try_deserialize().map_err(|e| split_key(file, e))?;
        config.validate(file)?;
        Ok(config)
    }

    /// The topics of this gateway.
    pub fn topics(&self) -> Result<Topics, lockgate_wire::topics::TopicError> {
        match &self.gateway.base_topic {
            Some(base) => Topics::new(base),
            None => Topics::for_gateway(&self.gateway.id),
        }
    }

    /// The spool directory.
    pub fn spool_path(&self) -> PathBuf {
        self.spool
            .path
            .clone()
            .unwrap_or_else(|| self.state_dir.join("spool"))
    }

    /// The link policy of `lock`.
    pub fn link_policy(&self, lock: &LockId) -> LinkPolicy {
        self.ble
            .locks
            .get(&lock.to_string())
            .map_or(self.ble.link_policy, |o| o.link_policy)
    }

    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| ConfigError {
            file: file.to_path_buf(),
            key: key.into(),
            message,
        };
        if let Err(e) = Topics::for_gateway(&self.gateway.id) {
            return Err(bad(
                "gateway.id",
                format!("{e}; use letters, digits, '-' or '_'"),
            ));
        }
        let topics = match self.topics() {
            Ok(topics) => topics,
            Err(e) => return Err(bad("gateway.base_topic", e.to_string())),
        };
        let prefix = &self.homeassistant.discovery_prefix;
        if let Some(problem) = crate::homeassistant::prefix_problem(prefix, topics.base()) {
            return Err(bad("homeassistant.discovery_prefix", problem));
        }
        self.validate_mqtt(file)?;
        if !(1..=10).contains(&self.ble.max_connections) {
            return Err(bad(
                "ble.max_connections",
                "must be 1 to 10 (a Pi manages about 4)".into(),
            ));
        }
        if self.ble.idle_timeout < Duration::from_secs(1) {
            return Err(bad("ble.idle_timeout", "must be at least 1s".into()));
        }
        for id in self.ble.locks.keys() {
            if id.parse::<LockId>().is_err() {
                return Err(bad(
                    &format!("ble.locks.{id}"),
                    "not a lock id (16 hex digits)".into(),
                ));
            }
        }
        if self.spool.max_frames == 0 || self.spool.max_bytes < 4096 {
            return Err(bad(
                "spool",
                "max_frames must be at least 1 and max_bytes at least 4096".into(),
            ));
        }
        if let Some((key, message)) = self.pairing.problem() {
            return Err(bad(key, message));
        }
        if !CODE_VALIDITY.contains(&self.support.code_validity) {
            return Err(bad("support.code_validity", "must be 1min to 1h".into()));
        }
        if !SESSION_LENGTH.contains(&self.support.session_length) {
            return Err(bad("support.session_length", "must be 1min to 4h".into()));
        }
        let ttl = self.down_frame_ttl;
        if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(300) {
            return Err(bad(
                "down_frame_ttl",
                "must be 1s to 5min: a stale command must never act later".into(),
            ));
        }
        Ok(())
    }

    fn validate_mqtt(&self, file: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| ConfigError {
            file: file.to_path_buf(),
            key: key.into(),
            message: message.into(),
        };
        let m = &self.mqtt;
        if m.host.trim().is_empty() {
            return Err(bad("mqtt.host", "must not be empty"));
        }
        if m.port == Some(0) {
            return Err(bad("mqtt.port", "must be 1 to 65535"));
        }
        if m.client_cert.is_some() != m.client_key.is_some() {
            return Err(bad(
                "mqtt.client_cert",
                "client_cert and client_key go together",
            ));
        }
        if m.password_file.is_some() && m.username.is_none() {
            return Err(bad("mqtt.password_file", "a password needs mqtt.username"));
        }
        let tls_only = m.ca_file.is_some() || m.client_cert.is_some();
        if m.transport == Transport::Plain && tls_only {
            return Err(bad(
                "mqtt.transport",
                "ca_file and client certificates need transport = \"tls\"",
            ));
        }
        if m.keepalive < Duration::from_secs(5) || m.keepalive > Duration::from_secs(3600) {
            return Err(bad("mqtt.keepalive", "must be 5s to 1h"));
        }
        Ok(())
    }
}

/// Turns a `config` deserialisation error into one naming its key.
fn split_key(file: &Path, e: config::ConfigError) -> ConfigError {
    let message = e.to_string();
    // `config` says "... for key `mqtt.port` in ...": keep the key when it is there.
    let key = message
        .split("for key `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("-")
        .to_owned();
    let message = message
        .split(" for key `")
        .next()
        .unwrap_or(&message)
        .to_owned();
    ConfigError {
        file: file.to_path_buf(),
        key,
        message,
    }
}
