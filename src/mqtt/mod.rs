//! The MQTT side of the gateway (docs/GATEWAY.md §1): one task drives rumqttc's event loop and
//! reconnects with backoff ([`driver`]); one task, the relay, owns the spool and every publish
//! ([`relay`]). Others talk to the relay through an [`MqttHandle`] and hear from it through
//! [`Inbound`] messages.

pub mod driver;
pub mod options;
pub mod relay;

use crate::config::Config;
use crate::health::Health;
use crate::spool::Spool;
use lockgate_wire::topics::Topics;
use lockgate_wire::LockId;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Payload of `bridge/state` while the gateway is up.
pub const ONLINE: &str = r#"{"state":"online"}"#;
/// Payload of `bridge/state` when it is not (also the last will).
pub const OFFLINE: &str = r#"{"state":"offline"}"#;

/// What the relay is asked to send.
#[derive(Debug)]
pub enum Outbound {
    /// A frame from a lock: spooled, then published to `<lock>/up/<auth_id>`.
    Up {
        /// The lock it came from.
        lock: LockId,
        /// The whole frame (its header already checked).
        frame: Vec<u8>,
    },
    /// A state message, event, receipt or response (QoS 1). Retained messages are also
    /// remembered and published again after every reconnect; an empty retained payload clears
    /// the topic.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Vec<u8>,
        /// Retained.
        retain: bool,
    },
    /// Replace the remote support subscriptions (`<base>/support/request`, or none): the
    /// topics are subscribed at once if connected, and after every ConnAck.
    SupportTopics(Vec<String>),
}

/// What arrived from the broker for the rest of the gateway (retained copies already dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A frame on `<base>/<lock>/down`.
    Down {
        /// The lock level of the topic.
        lock: String,
        /// The payload.
        frame: Vec<u8>,
    },
    /// A request on `<base>/bridge/request/<cmd>`.
    Request {
        /// The command levels.
        cmd: String,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A remote support request on one of the support topics (not retained).
    Support {
        /// The topic.
        topic: String,
        /// The payload.
        payload: Vec<u8>,
    },
    /// Home Assistant's status (`<discovery prefix>/status`), with discovery on.
    HomeAssistant {
        /// It said `online` (it started): discovery is published again.
        online: bool,
    },
}

/// A cloneable handle to the relay.
#[derive(Debug, Clone)]
pub struct MqttHandle {
    tx: mpsc::Sender<Outbound>,
}

impl MqttHandle {
    /// A handle and the receiver the relay reads.
    pub fn channel(capacity: usize) -> (MqttHandle, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(capacity);
        (MqttHandle { tx }, rx)
    }

    /// Hands an up-frame to the relay; waits while the relay is busy (back-pressure onto the
    /// link). Returns false once the relay has stopped.
    pub async fn up(&self, lock: LockId, frame: Vec<u8>) -> bool {
        self.tx.send(Outbound::Up { lock, frame }).await.is_ok()
    }

    /// Publishes a JSON or empty payload; never waits (state messages are not worth stalling
    /// the caller for: a dropped one is logged and the next one replaces it).
    pub fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        let msg = Outbound::Publish {
            topic,
            payload,
            retain,
        };
        if let Err(e) = self.tx.try_send(msg) {
            if let Outbound::Publish { topic, .. } = e.into_inner() {
                log::warn!("mqtt: relay busy, dropped a message for {topic}");
            }
        }
    }

    /// Replaces the remote support subscriptions.
    pub async fn support_topics(&self, topics: Vec<String>) {
        let _ = self.tx.send(Outbound::SupportTopics(topics)).await;
    }
}

/// Messages queued towards the relay.
const OUTBOUND_QUEUE: usize = 4096;
/// Events queued from the driver.
const DRIVER_QUEUE: usize = 1024;

/// A running MQTT side.
pub struct Started {
    /// Handle for publishing.
    pub handle: MqttHandle,
    /// The relay; it ends after `stop` is cancelled, once `offline` is out and the spool is
    /// flushed.
    pub relay: JoinHandle<()>,
    /// The driver; it ends after the relay.
    pub driver: JoinHandle<()>,
    /// Milliseconds since start at the relay's last loop turn.
    pub heartbeat: Arc<AtomicU64>,
}

/// Starts the driver and the relay for `config`; incoming messages go to `inbound`; the
/// relay also subscribes to `support_topics` (remote support) after every ConnAck.
pub fn start(
    config: &Config,
    topics: Topics,
    support_topics: Vec<String>,
    spool: Spool,
    health: Arc<Health>,
    inbound: mpsc::Sender<Inbound>,
    stop: CancellationToken,
) -> Result<Started, options::OptionsError> {
    let mqtt_options = options::mqtt_options(config, &topics.bridge_state())?;
    let (client, mut eventloop) =
        rumqttc::AsyncClient::new(mqtt_options, options::REQUEST_CAPACITY);
    // Frames are small and latency matters: no Nagle delay behind the broker's delayed ACKs.
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let (driver_tx, driver_rx) = mpsc::channel(DRIVER_QUEUE);
    let (handle, outbound) = MqttHandle::channel(OUTBOUND_QUEUE);
    let driver_stop = CancellationToken::new();
    let heartbeat = Arc::new(AtomicU64::new(0));
    let driver = tokio::spawn(driver::drive(eventloop, driver_tx, driver_stop.clone()));
    let relay = relay::Relay::new(
        client,
        topics,
        config.mqtt.qos,
        spool,
        health,
        inbound,
        heartbeat.clone(),
    )
    .with_support_topics(support_topics)
    .with_homeassistant_status(
        config
            .homeassistant
            .enabled
            .then(|| format!("{}/status", config.homeassistant.discovery_prefix)),
    );
    let relay = tokio::spawn(relay.run(driver_rx, outbound, stop, driver_stop));
    Ok(Started {
        handle,
        relay,
        driver,
        heartbeat,
    })
}
