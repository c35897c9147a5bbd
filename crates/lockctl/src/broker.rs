//! The connection to the MQTT broker: rumqttc over rustls (ring provider, certificate
//! verification against a CA file or the system's roots, optional client certificate) or,
//! when configured so, plain TCP. One task owns the event loop; it hands received messages
//! to the [`Broker`] in order, resubscribes after every reconnect (clean sessions), and
//! reports the first connection failure instead of retrying, so a command fails at once when
//! the broker cannot be reached.

use crate::config::{BrokerSettings, Transport};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS, TlsConfiguration};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Largest packet accepted or sent: a 4096-byte frame and its topic, or a bridge message.
pub const MAX_PACKET: usize = 64 * 1024;
/// How long a subscription may take to be acknowledged.
const SUBACK_LIMIT: Duration = Duration::from_secs(10);
/// Pause before connecting again after a connection that worked was lost.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Why the broker cannot be used.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// A file of the broker settings could not be used.
    #[error("broker.{key}: cannot use {path}: {message}")]
    File {
        /// The setting.
        key: &'static str,
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// TLS could not be set up (no trusted roots, a bad client key).
    #[error("broker: TLS setup: {0}")]
    Tls(String),
    /// The broker did not accept a connection.
    #[error("cannot reach the MQTT broker at {address}: {reason}; check [broker] in lockctl.toml or --host/--port/--transport")]
    Unreachable {
        /// `host:port`.
        address: String,
        /// The connection error.
        reason: String,
    },
    /// The broker did not acknowledge in time.
    #[error("the MQTT broker at {address} did not answer within {waited:?} ({what})")]
    Timeout {
        /// `host:port`.
        address: String,
        /// What was awaited.
        what: &'static str,
        /// How long.
        waited: Duration,
    },
    /// The client stopped.
    #[error("the connection to the MQTT broker ended: {0}")]
    Closed(String),
}

/// A message received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Sent because of a subscription to a retained topic.
    pub retain: bool,
}

#[derive(Debug, Default, Clone)]
struct State {
    connacks: u64,
    subacks: u64,
    failure: Option<String>,
}

/// A connected client. The event loop stops when it drops.
#[derive(Debug)]
pub struct Broker {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<Message>,
    state: watch::Receiver<State>,
    filters: Arc<Mutex<Vec<String>>>,
    task: Option<JoinHandle<()>>,
    address: String,
}

impl Broker {
    /// Connects and waits for the broker's ConnAck, at most `limit`.
    pub async fn connect(
        settings: &BrokerSettings,
        limit: Duration,
    ) -> Result<Broker, BrokerError> {
        Broker::connect_with_will(settings, limit, None).await
    }

    /// Connects with a last will (`topic`, retained `payload`, QoS 1) that the broker
    /// publishes when this client vanishes; waits for the ConnAck, at most `limit`.
    pub async fn connect_with_will(
        settings: &BrokerSettings,
        limit: Duration,
        will: Option<(&str, &[u8])>,
    ) -> Result<Broker, BrokerError> {
        let mut options = options(settings)?;
        if let Some((topic, payload)) = will {
            options.set_last_will(rumqttc::LastWill::new(
                topic,
                payload.to_vec(),
                QoS::AtLeastOnce,
                true,
            ));
        }
        let (client, mut events) = AsyncClient::new(options, 64);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        network.set_connection_timeout(limit.as_secs().max(1));
        events.set_network_options(network);
        let (tx, messages) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(State::default());
        let filters = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(drive(events, client.clone(), tx, state_tx, filters.clone()));
        let mut broker = Broker {
            client,
            messages,
            state,
            filters,
            task: Some(task),
            address: format!("{}:{}", settings.host, settings.port),
        };
        broker
            .wait_state("the connection", limit, |s| s.connacks > 0)
            .await?;
        Ok(broker)
    }

    /// `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    async fn wait_state(
        &mut self,
        what: &'static str,
        limit: Duration,
        done: impl Fn(&State) -> bool,
    ) -> Result<(), BrokerError> {
        let waited = tokio::time::timeout(
            limit,
            self.state.wait_for(|s| done(s) || s.failure.is_some()),
        );
        let state = match waited.await {
            Ok(Ok(state)) => state.clone(),
            Ok(Err(_)) => return Err(BrokerError::Closed("the event loop stopped".into())),
            Err(_) => {
                return Err(BrokerError::Timeout {
                    address: self.address.clone(),
                    what,
                    waited: limit,
                })
            }
        };
        match state.failure {
            Some(reason) if !done(&state) => Err(BrokerError::Unreachable {
                address: self.address.clone(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// Subscribes to `filter` (QoS 1), renewed after reconnects; waits for the SubAck.
    pub async fn subscribe(&mut self, filter: &str) -> Result<(), BrokerError> {
        let before = self.state.borrow().subacks;
        self.filters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(filter.to_owned());
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .map_err(|e| BrokerError::Closed(e.to_string()))?;
        self.wait_state("a subscription", SUBACK_LIMIT, |s| s.subacks > before)
            .await
    }

    /// Publishes `payload` on `topic` with QoS 1, not retained.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), BrokerError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| BrokerError::Closed(e.to_string()))
    }

    /// Publishes `payload` on `topic` with QoS 1, retained (an empty payload clears it).
    pub async fn publish_retained(&self, topic: &str, payload: Vec<u8>) -> Result<(), BrokerError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .await
            .map_err(|e| BrokerError::Closed(e.to_string()))
    }

    /// How many times the client has connected (each ConnAck, reconnects included).
    pub fn connections(&self) -> u64 {
        self.state.borrow().connacks
    }

    /// The next message, or `None` once `deadline` has passed.
    pub async fn next_message(&mut self, deadline: Instant) -> Option<Message> {
        tokio::time::timeout_at(deadline, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// Disconnects cleanly (queued publishes are sent first), at most `limit`.
    pub async fn disconnect(mut self, limit: Duration) {
        if self.client.disconnect().await.is_ok() {
            if let Some(task) = self.task.take() {
                let _ = tokio::time::timeout(limit, task).await;
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn drive(
    mut events: EventLoop,
    client: AsyncClient,
    messages: mpsc::UnboundedSender<Message>,
    state: watch::Sender<State>,
    filters: Arc<Mutex<Vec<String>>>,
) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let again = state.borrow().connacks > 0;
                state.send_modify(|s| s.connacks += 1);
                if again {
                    let filters = filters.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    for f in filters {
                        let _ = client.try_subscribe(f, QoS::AtLeastOnce);
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => state.send_modify(|s| s.subacks += 1),
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let _ = messages.send(Message {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                });
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                let first = state.borrow().connacks == 0;
                log::debug!("mqtt: {e}");
                state.send_modify(|s| s.failure = Some(e.to_string()));
                if first {
                    return;
                }
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
}

/// The rumqttc options for `settings`, with a random client id and a clean session.
pub fn options(settings: &BrokerSettings) -> Result<MqttOptions, BrokerError> {
    let id = format!(
        "lockctl-{:016x}",
        rand_core::RngCore::next_u64(&mut rand_core::OsRng)
    );
    let mut options = MqttOptions::new(id, settings.host.clone(), settings.port);
    options
        .set_keep_alive(settings.keepalive)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some((user, password_file)) = &settings.credentials {
        let password = match password_file {
            Some(path) => read_password(path)?,
            None => String::new(),
        };
        options.set_credentials(user.clone(), password);
    }
    if settings.transport == Transport::Tls {
        let tls = tls_config(settings)?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            TlsConfiguration::Rustls(Arc::new(tls)),
        ));
    }
    Ok(options)
}

/// The rustls settings: ring provider, verification on, optional client certificate.
pub fn tls_config(settings: &BrokerSettings) -> Result<ClientConfig, BrokerError> {
    let mut roots = RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            for cert in pem_certificates(path, "ca_file")? {
                roots
                    .add(cert)
                    .map_err(|e| file_error("ca_file", path, e))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(BrokerError::Tls(
                    "no trusted roots on this system: set broker.ca_file (or --ca-file), or \
                     install ca-certificates"
                        .into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match &settings.client_auth {
        Some((cert, key)) => {
            let chain = pem_certificates(cert, "client_cert")?;
            let key =
                PrivateKeyDer::from_pem_file(key).map_err(|e| file_error("client_key", key, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| BrokerError::Tls(format!("client certificate and key: {e}")))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

fn file_error(key: &'static str, path: &Path, e: impl std::fmt::Display) -> BrokerError {
    BrokerError::File {
        key,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn pem_certificates(
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, BrokerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| file_error(key, path, e))?;
    match certs.is_empty() {
        true => Err(file_error(key, path, "no PEM certificate in it")),
        false => Ok(certs),
    }
}

/// The password: the first line of its file.
fn read_password(path: &Path) -> Result<String, BrokerError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error("password_file", path, e))?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{from_toml, Overrides};

    fn settings(text: &str) -> BrokerSettings {
        from_toml(text, "t", &Overrides::default()).unwrap().broker
    }

    #[test]
    fn a_missing_ca_file_is_named_with_its_setting() {
        let err = options(&settings("[broker]\nca_file = \"/nonexistent/ca.pem\"\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("broker.ca_file"), "{text}");
        assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let text = format!("[broker]\nca_file = {:?}\n", ca.display().to_string());
        let err = options(&settings(&text)).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn the_password_is_the_first_line_of_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\nignored\n").unwrap();
        assert_eq!(read_password(&pw).unwrap(), "s3cret");
    }

    #[tokio::test]
    async fn a_broker_that_is_not_there_fails_at_once_and_says_where() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let text =
            format!("[broker]\nhost = \"127.0.0.1\"\nport = {port}\ntransport = \"plain\"\n");
        let started = std::time::Instant::now();
        let err = Broker::connect(&settings(&text), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, BrokerError::Unreachable { .. }), "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
