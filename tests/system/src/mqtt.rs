//! An MQTT client for tests (rumqttc, rustls with the ring provider, `TCP_NODELAY`): one task
//! owns the event loop, reconnects with a short pause, resubscribes after a ConnAck without a
//! session, and keeps every message received, in order and with its time of arrival, in an
//! inbox that tests read and await with deadlines.

use anyhow::{bail, Context, Result};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long the client waits before connecting again after an error.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// How the client reaches the broker.
#[derive(Debug, Clone)]
pub enum Transport {
    /// Plain TCP.
    Plain,
    /// TLS, trusting `ca`, with an optional client certificate and key.
    Tls {
        /// The CA to verify the broker with.
        ca: PathBuf,
        /// Client certificate and key (PEM).
        client: Option<(PathBuf, PathBuf)>,
    },
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Client id (unique per broker).
    pub client_id: String,
    /// Broker address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Plain or TLS.
    pub transport: Transport,
    /// `false` keeps the session (subscriptions and queued QoS 1 messages) on the broker
    /// while the client is away, across a broker restart too.
    pub clean_session: bool,
}

impl Settings {
    /// A plain connection to 127.0.0.1:`port` keeping its session.
    pub fn plain(client_id: &str, port: u16) -> Self {
        Settings {
            client_id: client_id.to_owned(),
            host: "127.0.0.1".to_owned(),
            port,
            transport: Transport::Plain,
            clean_session: false,
        }
    }
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// The retain flag as delivered (set only for messages sent because of a subscription).
    pub retain: bool,
    /// When the event loop received it (for latency figures).
    pub at: std::time::Instant,
}

impl Message {
    /// The payload as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.payload).with_context(|| {
            let text = String::from_utf8_lossy(&self.payload);
            format!("payload on {} is not JSON: {text}", self.topic)
        })
    }
}

/// What the event loop has seen.
#[derive(Debug, Default)]
pub struct Inbox {
    /// Every message, in arrival order.
    pub messages: Vec<Message>,
    /// Connected now.
    pub connected: bool,
    /// ConnAcks received.
    pub connacks: u64,
    /// SubAcks received.
    pub subacks: u64,
    /// PubAcks received.
    pub pubacks: u64,
    /// The last connection error.
    pub last_error: Option<String>,
    filters: Vec<String>,
}

struct Shared {
    inbox: Mutex<Inbox>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Inbox)) {
        f(&mut self.inbox());
        self.changed.send_modify(|n| *n += 1);
    }
}

/// A connected client; the event loop stops when it drops.
pub struct Mqtt {
    client: AsyncClient,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    id: String,
}

/// The rustls configuration for `ca` and an optional client certificate.
pub fn tls_config(ca: &Path, client: Option<(&Path, &Path)>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| ca.display().to_string())? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key)?)?
        }
        None => builder.with_no_client_auth(),
    })
}

fn options(settings: &Settings) -> Result<MqttOptions> {
    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options
        .set_keep_alive(Duration::from_secs(5))
        .set_clean_session(settings.clean_session)
        .set_max_packet_size(64 * 1024, 64 * 1024);
    if let Transport::Tls { ca, client } = &settings.transport {
        let client = client.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let config = tls_config(ca, client)?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            TlsConfiguration::Rustls(Arc::new(config)),
        ));
    }
    Ok(options)
}

async fn drive(mut events: rumqttc::EventLoop, client: AsyncClient, shared: Arc<Shared>) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => shared.update(|inbox| {
                inbox.connected = true;
                inbox.connacks += 1;
                if !ack.session_present {
                    for filter in &inbox.filters {
                        if let Err(e) = client.try_subscribe(filter, QoS::AtLeastOnce) {
                            log::warn!("resubscribing to {filter}: {e}");
                        }
                    }
                }
            }),
            Ok(Event::Incoming(Packet::Publish(p))) => shared.update(|inbox| {
                inbox.messages.push(Message {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                    retain: p.retain,
                    at: std::time::Instant::now(),
                })
            }),
            Ok(Event::Incoming(Packet::SubAck(_))) => shared.update(|inbox| inbox.subacks += 1),
            Ok(Event::Incoming(Packet::PubAck(_))) => shared.update(|inbox| inbox.pubacks += 1),
            Ok(_) => {}
            Err(e) => {
                shared.update(|inbox| {
                    inbox.connected = false;
                    inbox.last_error = Some(e.to_string());
                });
                tokio::time::sleep(RECONNECT_PAUSE).await;
            }
        }
    }
}

impl Mqtt {
    /// Connects and waits for the first ConnAck (at most `limit`); the error names the last
    /// connection error.
    pub async fn connect(settings: &Settings, limit: Duration) -> Result<Mqtt> {
        let mqtt = Mqtt::start(settings)?;
        mqtt.wait(limit, "the first ConnAck", |i| {
            (i.connacks > 0).then_some(())
        })
        .await?;
        Ok(mqtt)
    }

    /// Starts the client without waiting for the broker.
    pub fn start(settings: &Settings) -> Result<Mqtt> {
        let (client, mut events) = AsyncClient::new(options(settings)?, 256);
        // Small packets go out at once. Without TCP_NODELAY a publish written right after a
        // PubAck waits for the broker's delayed ACK (some 40 ms on Linux), which would be
        // measured as the system's latency.
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            changed,
        });
        let task = tokio::spawn(drive(events, client.clone(), shared.clone()));
        Ok(Mqtt {
            client,
            shared,
            task,
            id: settings.client_id.clone(),
        })
    }

    /// Waits until `check` returns `Some` for the inbox, at most `limit`.
    pub async fn wait<T>(
        &self,
        limit: Duration,
        what: &str,
        mut check: impl FnMut(&Inbox) -> Option<T>,
    ) -> Result<T> {
        let mut changes = self.shared.changed.subscribe();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = check(&self.shared.inbox()) {
                return Ok(value);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                let error = self.shared.inbox().last_error.clone();
                let error = error.map_or(String::new(), |e| format!(" (last error: {e})"));
                bail!(
                    "{}: timed out after {limit:?} waiting for {what}{error}",
                    self.id
                );
            }
        }
    }

    /// A look at the inbox.
    pub fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.shared.inbox()
    }

    /// The number of messages received so far: a cursor for [`Mqtt::next_message`].
    pub fn cursor(&self) -> usize {
        self.shared.inbox().messages.len()
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Message> {
        self.shared.inbox().messages.clone()
    }

    /// The first message at index `from` or later that `pred` accepts, with its index.
    pub async fn next_message(
        &self,
        limit: Duration,
        from: usize,
        what: &str,
        mut pred: impl FnMut(&Message) -> bool,
    ) -> Result<(usize, Message)> {
        self.wait(limit, what, |inbox| {
            let found = inbox.messages.iter().enumerate().skip(from);
            found
                .into_iter()
                .find(|(_, m)| pred(m))
                .map(|(i, m)| (i, m.clone()))
        })
        .await
    }

    /// The first message on `topic` at index `from` or later.
    pub async fn next_on(&self, limit: Duration, from: usize, topic: &str) -> Result<Message> {
        let what = format!("a message on {topic}");
        let found = self.next_message(limit, from, &what, |m| m.topic == topic);
        Ok(found.await?.1)
    }

    /// The last message received on `topic`, if any.
    pub fn latest(&self, topic: &str) -> Option<Message> {
        let inbox = self.shared.inbox();
        inbox
            .messages
            .iter()
            .rev()
            .find(|m| m.topic == topic)
            .cloned()
    }

    /// Subscribes to `filter` (QoS 1) and waits for the SubAck; kept across reconnects.
    pub async fn subscribe(&self, filter: &str) -> Result<()> {
        let before = {
            let mut inbox = self.shared.inbox();
            inbox.filters.push(filter.to_owned());
            inbox.subacks
        };
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        let what = format!("the SubAck for {filter}");
        self.wait(Duration::from_secs(10), &what, |i| {
            (i.subacks > before).then_some(())
        })
        .await
    }

    /// Publishes with QoS 1 and waits for the broker's PubAck.
    pub async fn publish(&self, topic: &str, payload: &[u8], retain: bool) -> Result<()> {
        let before = self.shared.inbox().pubacks;
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.to_vec())
            .await?;
        let what = format!("the PubAck for {topic}");
        self.wait(Duration::from_secs(10), &what, |i| {
            (i.pubacks > before).then_some(())
        })
        .await
    }

    /// Queues a QoS 1 publish without waiting for its PubAck: for load, where many are in
    /// flight at once.
    pub async fn publish_queued(&self, topic: &str, payload: &[u8]) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await?;
        Ok(())
    }

    /// Unsubscribes from `filter` (not renewed after a reconnect).
    pub async fn unsubscribe(&self, filter: &str) -> Result<()> {
        self.shared.inbox().filters.retain(|f| f != filter);
        self.client.unsubscribe(filter).await?;
        Ok(())
    }

    /// The retained message of `topic`, read with a subscription of its own.
    pub async fn retained(&self, topic: &str, limit: Duration) -> Result<Message> {
        let from = self.cursor();
        self.subscribe(topic).await?;
        let what = format!("the retained message of {topic}");
        let found = self.next_message(limit, from, &what, |m| m.topic == topic && m.retain);
        let (_, message) = found.await?;
        self.unsubscribe(topic).await?;
        Ok(message)
    }

    /// The last connection error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.inbox().last_error.clone()
    }
}

impl Drop for Mqtt {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `topic` matches the MQTT filter `filter` (`+` one level, `#` the rest).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    let mut levels = topic.split('/');
    for f in filter.split('/') {
        match (f, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(topic_matches("a/+/up/7", "a/l1/up/7"));
        assert!(!topic_matches("a/+/up/7", "a/l1/up/70"));
        assert!(topic_matches("a/#", "a/bridge/state"));
        assert!(topic_matches("a/#", "a"));
        assert!(!topic_matches("a/b", "a/b/c"));
        assert!(!topic_matches("a/b/c", "a/b"));
    }
}
