//! The broker connection's settings, from `[mqtt]`: TLS with rustls (ring provider) verifying
//! the broker against a configured CA or the system's roots, an optional client certificate,
//! user name and password file, the last will, and in-flight limits sized to what the relay
//! keeps in flight.

use crate::config::{Config, Transport};
use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Up-frames the relay keeps unacknowledged at once.
pub const INFLIGHT_UP: u16 = 32;
/// What rumqttc may keep in flight: the up-frames plus state messages and receipts.
pub const INFLIGHT_TOTAL: u16 = 64;
/// Requests queued towards rumqttc's event loop.
pub const REQUEST_CAPACITY: usize = 256;
/// Largest MQTT packet in either direction: a 4096-byte frame with a long topic, or a request.
pub const MAX_PACKET: usize = 16 * 1024;

/// Why the broker settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// A file named in `[mqtt]` could not be read or parsed.
    #[error("mqtt.{key}: cannot use {path}: {message}")]
    File {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// No CA configured and the system has no trusted roots.
    #[error("mqtt: no trusted CA: set mqtt.ca_file, or install ca-certificates")]
    NoRoots,
    /// The TLS settings were refused.
    #[error("mqtt: TLS setup: {0}")]
    Tls(String),
}

/// The options for connecting as gateway `id`, with `state_topic`'s last will.
pub fn mqtt_options(config: &Config, state_topic: &str) -> Result<MqttOptions, OptionsError> {
    let m = &config.mqtt;
    let mut options = MqttOptions::new(
        format!("lockgate-{}", config.gateway.id),
        m.host.clone(),
        m.port(),
    );
    options
        .set_keep_alive(m.keepalive)
        .set_clean_session(true)
        .set_inflight(INFLIGHT_TOTAL)
        .set_request_channel_capacity(REQUEST_CAPACITY)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_last_will(LastWill::new(
            state_topic,
            crate::mqtt::OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(user) = &m.username {
        let password = match &m.password_file {
            Some(path) => read_password(path)?,
            None => String::new(),
        };
        options.set_credentials(user.clone(), password);
    }
    match m.transport {
        Transport::Tls => {
            let tls = tls_config(config)?;
            options.set_transport(rumqttc::Transport::tls_with_config(
                TlsConfiguration::Rustls(Arc::new(tls)),
            ));
        }
        Transport::Plain => log::warn!(
            "mqtt: plain TCP to {}:{}; frames stay end-to-end encrypted, but the broker \
             connection, its credentials and the gateway's state are readable on the network",
            m.host,
            m.port()
        ),
    }
    Ok(options)
}

/// The rustls client settings: ring provider, verification on.
pub fn tls_config(config: &Config) -> Result<ClientConfig, OptionsError> {
    let m = &config.mqtt;
    let roots = match &m.ca_file {
        Some(path) => roots_from(path)?,
        None => system_roots()?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| OptionsError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&m.client_cert, &m.client_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "client_cert")?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("client_key", key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| OptionsError::Tls(format!("client certificate and key: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn file_error(key: &'static str, path: &Path, e: impl std::fmt::Display) -> OptionsError {
    OptionsError::File {
        key,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn certificates(
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, OptionsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(key, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(key, path, e))?;
    if certs.is_empty() {
        return Err(file_error(key, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn roots_from(path: &Path) -> Result<RootCertStore, OptionsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "ca_file")? {
        roots
            .add(cert)
            .map_err(|e| file_error("ca_file", path, e))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, OptionsError> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::warn!("mqtt: reading the system's trusted roots: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(OptionsError::NoRoots);
    }
    Ok(roots)
}

/// The password: the file's first line. Warns when others may read the file.
fn read_password(path: &Path) -> Result<String, OptionsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| file_error("password_file", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        log::warn!(
            "mqtt.password_file {}: readable by others; chmod 600 it",
            path.display()
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| file_error("password_file", path, e))?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lockgate.toml");
        std::fs::write(&file, format!("[gateway]\nid = \"gw1\"\n[mqtt]\n{extra}")).unwrap();
        let config = Config::load(&file, []).unwrap();
        (dir, config)
    }

    #[test]
    fn a_missing_ca_file_is_named_in_the_error() {
        let (_dir, config) = config("ca_file = \"/nonexistent/ca.pem\"\n");
        let err = mqtt_options(&config, "lockgate/gw1/bridge/state").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("mqtt.ca_file"), "{text}");
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let (dir, _) = config("");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let (_d, config) = config(&format!("ca_file = {:?}\n", ca.display().to_string()));
        let err = mqtt_options(&config, "t").unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn the_password_is_the_first_line_of_its_file() {
        let (dir, _) = config("");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        assert_eq!(read_password(&file).unwrap(), "s3cret");
    }

    #[test]
    fn plain_transport_sets_the_last_will_and_limits() {
        let (_dir, config) = config("transport = \"plain\"\nhost = \"127.0.0.1\"\n");
        let options = mqtt_options(&config, "lockgate/gw1/bridge/state").unwrap();
        let will = options.last_will().unwrap();
        assert_eq!(will.topic, "lockgate/gw1/bridge/state");
        assert!(will.retain);
        assert_eq!(&will.message[..], crate::mqtt::OFFLINE.as_bytes());
        assert_eq!(options.inflight(), INFLIGHT_TOTAL);
        assert_eq!(options.broker_address(), ("127.0.0.1".to_string(), 1883));
    }
}
