//! Settings: where the key store lives, and how to reach the broker. Read from
//! `<config dir>/lockctl.toml` (optional), then overridden by flags and `LOCKCTL_*`
//! environment variables (the CLI maps both onto [`Overrides`]). Validated once; every error
//! names the file and the key.
//!
//! ```toml
//! name = "laptop"          # this endpoint's name on locks it pairs with
//! timeout = "30s"          # how long to wait for a lock's answer
//! [broker]
//! host = "mqtt.example.net"
//! port = 8883              # default 8883 with TLS, 1883 plain
//! transport = "tls"        # the default; "plain" only on purpose
//! ca_file = "/etc/ssl/certs/my-ca.pem"   # default: the system's trusted roots
//! client_cert = "/home/me/.config/lockctl/client.pem"
//! client_key = "/home/me/.config/lockctl/client.key"
//! username = "me"
//! password_file = "/home/me/.config/lockctl/mqtt-password"
//! keepalive = "30s"
//! [ha]                     # `lockctl ha`, the Home Assistant bridge (docs/HOMEASSISTANT.md)
//! topic = "lockctl"        # its entities' topics
//! discovery_prefix = "homeassistant"
//! command_grace = "5s"     # commands this soon after a (re)connect are ignored
//! share_gateway_broker = false  # true: entities on the [broker] above (only if local)
//! [ha.broker]              # the home-automation broker (required unless shared)
//! host = "localhost"
//! transport = "plain"
//! ```

use serde::Deserialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// The settings file in the config directory.
pub const CONFIG_FILE: &str = "lockctl.toml";
/// Environment variable naming the config directory.
pub const CONFIG_DIR_VAR: &str = "LOCKCTL_CONFIG_DIR";
/// How long to wait for an answer unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// MQTT keep-alive unless configured.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);
/// Broker host unless configured.
pub const DEFAULT_HOST: &str = "localhost";

/// A setting that cannot be used.
#[derive(Debug, Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    /// The file (or `command line` for flags and environment).
    pub file: String,
    /// The key (`broker.port`), or `-` for the file as a whole.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// How lockctl reaches the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TLS with certificate verification (the default).
    Tls,
    /// Plain TCP: only when set explicitly; lockctl warns.
    Plain,
}

/// The broker connection, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSettings {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS or plain.
    pub transport: Transport,
    /// CA bundle (PEM) to verify the broker with; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM).
    pub client_auth: Option<(PathBuf, PathBuf)>,
    /// User name and the file holding the password.
    pub credentials: Option<(String, Option<PathBuf>)>,
    /// MQTT keep-alive.
    pub keepalive: Duration,
}

/// Everything lockctl needs besides the key store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The broker.
    pub broker: BrokerSettings,
    /// This endpoint's name on locks, unless given per command.
    pub name: Option<String>,
    /// How long to wait for an answer.
    pub timeout: Duration,
    /// The Home Assistant bridge.
    pub ha: HaSettings,
}

/// Settings of `lockctl ha`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaSettings {
    /// Topic under which the bridge publishes its entities (`<topic>/<lock>/state`, ...).
    pub topic: String,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// Commands arriving this soon after the bridge (re)connects to the home-automation
    /// broker are ignored: a replayed or stale command never moves a bolt.
    pub command_grace: Duration,
    /// The home-automation broker (`[ha.broker]`).
    pub broker: Option<BrokerSettings>,
    /// Entities on the gateway's broker instead, asked for explicitly: whoever can publish
    /// there can then command the locks through the bridge.
    pub share_gateway_broker: bool,
}

/// Default topic of the bridge's entities.
pub const DEFAULT_HA_TOPIC: &str = "lockctl";
/// Default Home Assistant discovery prefix.
pub const DEFAULT_DISCOVERY_PREFIX: &str = "homeassistant";
/// Default command grace after a (re)connect.
pub const DEFAULT_COMMAND_GRACE: Duration = Duration::from_secs(5);

/// Values from flags or the environment; each wins over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--host`.
    pub host: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--transport`.
    pub transport: Option<Transport>,
    /// `--ca-file`.
    pub ca_file: Option<PathBuf>,
    /// `--client-cert`.
    pub client_cert: Option<PathBuf>,
    /// `--client-key`.
    pub client_key: Option<PathBuf>,
    /// `--username`.
    pub username: Option<String>,
    /// `--password-file`.
    pub password_file: Option<PathBuf>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    name: Option<String>,
    timeout: Option<String>,
    #[serde(default)]
    broker: BrokerFile,
    #[serde(default)]
    ha: HaFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HaFile {
    topic: Option<String>,
    discovery_prefix: Option<String>,
    command_grace: Option<String>,
    #[serde(default)]
    share_gateway_broker: bool,
    broker: Option<BrokerFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerFile {
    host: Option<String>,
    port: Option<u16>,
    transport: Option<Transport>,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    keepalive: Option<String>,
}

/// The config directory: `flag` (`--config-dir` or `$LOCKCTL_CONFIG_DIR`), else
/// `$XDG_CONFIG_HOME/lockctl` (when absolute), else `$HOME/.config/lockctl`.
pub fn config_dir(
    flag: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    let absolute = |var: &str| env(var).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = absolute("XDG_CONFIG_HOME") {
        return Ok(xdg.join("lockctl"));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".config").join("lockctl"));
    }
    Err(ConfigError {
        file: "environment".into(),
        key: "HOME".into(),
        message: format!(
            "neither XDG_CONFIG_HOME nor HOME is set; pass --config-dir or set {CONFIG_DIR_VAR}"
        ),
    })
}

/// Reads `<dir>/lockctl.toml` (absent: defaults) and applies `overrides`.
pub fn load(dir: &Path, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let path = dir.join(CONFIG_FILE);
    let file = path.display().to_string();
    let parsed = match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &file)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
        Err(e) => return Err(error(&file, "-", e.to_string())),
    };
    resolve(parsed, overrides, &file)
}

/// Parses and resolves the text of a settings file (named `file` in errors).
pub fn from_toml(text: &str, file: &str, overrides: &Overrides) -> Result<Settings, ConfigError> {
    resolve(parse(text, file)?, overrides, file)
}

fn parse(text: &str, file: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().to_owned();
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let key = line.map_or_else(|| "-".to_owned(), |l| format!("line {l}"));
        error(file, &key, message)
    })
}

fn error(file: &str, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_owned(),
        key: key.to_owned(),
        message: message.into(),
    }
}

fn duration(file: &str, key: &str, text: Option<&str>) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| {
        humantime::parse_duration(t)
            .map_err(|e| error(file, key, format!("{t:?}: {e} (write e.g. \"30s\")")))
    })
    .transpose()
}

/// Checks a topic prefix of the bridge: not empty, no wildcards, no leading or trailing `/`.
fn topic_prefix(
    file: &str,
    key: &str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    let bad = value.is_empty()
        || value.contains(['#', '+', '\0'])
        || value.starts_with('/')
        || value.ends_with('/');
    if bad {
        return Err(error(
            file,
            key,
            format!("{value:?} is not a topic prefix: no wildcards, no leading or trailing '/'"),
        ));
    }
    Ok(value)
}

fn resolve_ha(h: HaFile, file: &str) -> Result<HaSettings, ConfigError> {
    let topic = topic_prefix(file, "ha.topic", h.topic, DEFAULT_HA_TOPIC)?;
    let discovery_prefix = topic_prefix(
        file,
        "ha.discovery_prefix",
        h.discovery_prefix,
        DEFAULT_DISCOVERY_PREFIX,
    )?;
    let overlap = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/"));
    if overlap(&topic, &discovery_prefix) || overlap(&discovery_prefix, &topic) {
        return Err(error(
            file,
            "ha.topic",
            format!("{topic:?} and the discovery prefix {discovery_prefix:?} must not overlap"),
        ));
    }
    let command_grace = duration(file, "ha.command_grace", h.command_grace.as_deref())?
        .unwrap_or(DEFAULT_COMMAND_GRACE);
    let broker = h
        .broker
        .map(|b| resolve_broker(b, &Overrides::default(), file, "ha.broker"))
        .transpose()?;
    if broker.is_some() && h.share_gateway_broker {
        return Err(error(
            file,
            "ha.share_gateway_broker",
            "set either [ha.broker] or share_gateway_broker = true, not both",
        ));
    }
    Ok(HaSettings {
        topic,
        discovery_prefix,
        command_grace,
        broker,
        share_gateway_broker: h.share_gateway_broker,
    })
}

fn resolve(f: FileConfig, o: &Overrides, file: &str) -> Result<Settings, ConfigError> {
    let timeout = match o.timeout {
        Some(t) => Some(t),
        None => duration(file, "timeout", f.timeout.as_deref())?,
    };
    if let Some(name) = &f.name {
        if !lockgate_e2e::command::is_valid_name(name) {
            return Err(error(
                file,
                "name",
                "1 to 32 bytes of UTF-8 without control characters",
            ));
        }
    }
    Ok(Settings {
        broker: resolve_broker(f.broker, o, file, "broker")?,
        name: f.name,
        timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
        ha: resolve_ha(f.ha, file)?,
    })
}

fn resolve_broker(
    b: BrokerFile,
    o: &Overrides,
    file: &str,
    section: &str,
) -> Result<BrokerSettings, ConfigError> {
    let key = |k: &str| format!("{section}.{k}");
    let transport = o.transport.or(b.transport).unwrap_or(Transport::Tls);
    let ca_file = o.ca_file.clone().or(b.ca_file);
    let client_cert = o.client_cert.clone().or(b.client_cert);
    let client_key = o.client_key.clone().or(b.client_key);
    let username = o.username.clone().or(b.username);
    let password_file = o.password_file.clone().or(b.password_file);
    let client_auth = match (client_cert, client_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(error(
                file,
                &key("client_cert"),
                "client_cert and client_key go together",
            ))
        }
    };
    if transport == Transport::Plain && (ca_file.is_some() || client_auth.is_some()) {
        return Err(error(
            file,
            &key("transport"),
            "\"plain\" with a CA or client certificate: set transport = \"tls\" to use them",
        ));
    }
    if password_file.is_some() && username.is_none() {
        return Err(error(
            file,
            &key("password_file"),
            format!("a password needs {}", key("username")),
        ));
    }
    let keepalive = duration(file, &key("keepalive"), b.keepalive.as_deref())?;
    Ok(BrokerSettings {
        host: o
            .host
            .clone()
            .or(b.host)
            .unwrap_or_else(|| DEFAULT_HOST.into()),
        port: o.port.or(b.port).unwrap_or(match transport {
            Transport::Tls => 8883,
            Transport::Plain => 1883,
        }),
        transport,
        ca_file,
        client_auth,
        credentials: username.map(|u| (u, password_file)),
        keepalive: keepalive.unwrap_or(DEFAULT_KEEPALIVE),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
