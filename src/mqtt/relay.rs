//! The relay: the one task that publishes. Every up-frame goes into the spool first and leaves
//! it only when the broker acknowledged it; after each ConnAck the relay subscribes again,
//! publishes `online` and every retained state message, and re-sends the spool from its first
//! unacknowledged frame, in order. Incoming down-frames and requests are passed on, retained
//! ones dropped and counted.

use super::driver::DriverEvent;
use super::options::INFLIGHT_UP;
use super::{Inbound, Outbound, OFFLINE, ONLINE};
use crate::config::Qos;
use crate::downq::{Reason, Receipt};
use crate::health::{Counters, Health};
use crate::spool::Spool;
use lockgate_wire::envelope::Header;
use lockgate_wire::topics::{Topic, Topics};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

/// How long a written spool record may wait before it is made durable.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// How long a clean shutdown waits for `offline` to go out.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The relay's state.
pub struct Relay {
    client: AsyncClient,
    topics: Topics,
    qos: QoS,
    spool: Spool,
    health: Arc<Health>,
    inbound: mpsc::Sender<Inbound>,
    connected: bool,
    /// Latest payload of every retained topic, re-published after each ConnAck.
    retained: BTreeMap<String, Vec<u8>>,
    /// Publishes handed to rumqttc and not yet seen going out: the spool record, if any.
    requested: VecDeque<Option<u64>>,
    /// Spool records sent and awaiting their PubAck, by packet id.
    inflight: HashMap<u16, u64>,
    /// The last spool record handed to rumqttc on this connection.
    last_sent: Option<u64>,
    /// Milliseconds since start at the last loop turn (for the watchdog).
    progress: Arc<AtomicU64>,
    /// Remote support topics subscribed after every ConnAck.
    support_topics: Vec<String>,
    /// Home Assistant's status topic, with discovery on.
    homeassistant_status: Option<String>,
}

fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    }
}

impl Relay {
    /// A relay publishing through `client`.
    pub fn new(
        client: AsyncClient,
        topics: Topics,
        up_qos: Qos,
        spool: Spool,
        health: Arc<Health>,
        inbound: mpsc::Sender<Inbound>,
        progress: Arc<AtomicU64>,
    ) -> Self {
        let mut relay = Relay {
            client,
            topics,
            qos: qos(up_qos),
            spool,
            health,
            inbound,
            connected: false,
            retained: BTreeMap::new(),
            requested: VecDeque::new(),
            inflight: HashMap::new(),
            last_sent: None,
            progress,
            support_topics: Vec::new(),
            homeassistant_status: None,
        };
        let dropped = relay.spool.take_dropped();
        if dropped > 0 {
            // The limits were lowered since the last run.
            relay.overflowed(dropped);
        }
        relay.report_spool();
        relay
    }

    /// Also subscribes to these remote support topics after every ConnAck.
    #[must_use]
    pub fn with_support_topics(mut self, topics: Vec<String>) -> Self {
        self.support_topics = topics;
        self
    }

    /// Also subscribes to Home Assistant's status topic after every ConnAck.
    #[must_use]
    pub fn with_homeassistant_status(mut self, topic: Option<String>) -> Self {
        self.homeassistant_status = topic;
        self
    }

    /// Runs until `shutdown`; then publishes `offline`, disconnects, flushes the spool and
    /// cancels `driver_stop`.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<DriverEvent>,
        mut outbound: mpsc::Receiver<Outbound>,
        shutdown: CancellationToken,
        driver_stop: CancellationToken,
    ) {
        // A flush is due FLUSH_INTERVAL after the first record written since the last one;
        // with nothing written the relay sleeps until an event or its heartbeat.
        let mut flush_at: Option<Instant> = None;
        let mut heartbeat = tokio::time::interval(crate::notify::HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = flush_at.unwrap_or_else(Instant::now);
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(event) = events.recv() => self.on_driver(event).await,
                Some(msg) = outbound.recv() => self.on_outbound(msg),
                () = sleep_until(due), if flush_at.is_some() => {
                    flush_at = None;
                    self.flush();
                }
                _ = heartbeat.tick() => {}
            }
            if flush_at.is_none() && self.spool.needs_flush() {
                flush_at = Some(Instant::now() + FLUSH_INTERVAL);
            }
            let millis = self.health.started.elapsed().as_millis();
            self.progress
                .store(u64::try_from(millis).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        // Frames still queued towards us were received from locks: keep them.
        while let Ok(msg) = outbound.try_recv() {
            self.on_outbound(msg);
        }
        self.stop(&mut events).await;
        driver_stop.cancel();
    }

    async fn stop(&mut self, events: &mut mpsc::Receiver<DriverEvent>) {
        if self.connected {
            let state = self.topics.bridge_state();
            let _ = self
                .client
                .try_publish(state, QoS::AtLeastOnce, true, OFFLINE);
            let _ = self.client.try_disconnect();
            let wait = async {
                while let Some(event) = events.recv().await {
                    match event {
                        DriverEvent::Event(Event::Outgoing(Outgoing::Disconnect)) => break,
                        DriverEvent::Event(e) => self.on_event(e),
                        DriverEvent::Lost { quiesced, .. } => {
                            let _ = quiesced.send(());
                            break;
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, wait).await;
        }
        self.flush();
    }

    fn flush(&mut self) {
        if self.spool.needs_flush() {
            if let Err(e) = self.spool.flush() {
                log::error!("spool: {e}");
            }
            self.report_spool();
        }
    }

    fn report_spool(&self) {
        let h = &self.health;
        h.spool_frames
            .store(self.spool.len() as u64, Ordering::Relaxed);
        h.spool_bytes.store(self.spool.bytes(), Ordering::Relaxed);
        let stats = self.spool.stats();
        h.spool_recovered.store(stats.recovered, Ordering::Relaxed);
        h.spool_truncated
            .store(stats.truncated_bytes, Ordering::Relaxed);
    }

    async fn on_driver(&mut self, event: DriverEvent) {
        match event {
            DriverEvent::Event(e) => self.on_event(e),
            DriverEvent::Lost { error, quiesced } => {
                if self.connected {
                    log::warn!("mqtt: connection lost: {error}");
                    crate::notify::status("spooling: broker unreachable");
                    Counters::bump(&self.health.counters.mqtt_disconnects);
                } else if self.health.mqtt_error().as_deref() != Some(error.as_str()) {
                    // The first failure, and each new reason, is worth a line; repeats are not.
                    log::warn!("mqtt: cannot connect: {error}");
                } else {
                    log::debug!("mqtt: cannot connect: {error}");
                }
                self.health.set_mqtt_error(Some(error));
                self.connected = false;
                self.health.mqtt_connected.store(false, Ordering::Relaxed);
                let _ = quiesced.send(());
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::ConnAck(_)) => self.on_connack(),
            Event::Incoming(Packet::PubAck(ack)) => self.acked(ack.pkid),
            Event::Incoming(Packet::PubComp(comp)) => self.acked(comp.pkid),
            Event::Incoming(Packet::Publish(p)) => self.on_publish(p),
            Event::Outgoing(Outgoing::Publish(pkid)) => self.sent(pkid),
            _ => {}
        }
    }

    fn on_connack(&mut self) {
        log::info!("mqtt: connected");
        crate::notify::status("relaying: broker connected");
        self.connected = true;
        self.health.mqtt_connected.store(true, Ordering::Relaxed);
        self.health.set_mqtt_error(None);
        Counters::bump(&self.health.counters.mqtt_connects);
        self.requested.clear();
        self.inflight.clear();
        self.last_sent = None;
        let filters = [
            self.topics.bridge_request_filter(),
            self.topics.down_filter(),
        ];
        let subs = filters
            .into_iter()
            .chain(self.support_topics.iter().cloned())
            .chain(self.homeassistant_status.iter().cloned())
            .map(|f| rumqttc::SubscribeFilter::new(f, QoS::AtLeastOnce));
        if let Err(e) = self.client.try_subscribe_many(subs) {
            log::error!("mqtt: subscribing: {e}");
        }
        self.send(self.topics.bridge_state(), ONLINE.into(), true);
        let retained: Vec<_> = self
            .retained
            .iter()
            .map(|(t, p)| (t.clone(), p.clone()))
            .collect();
        for (topic, payload) in retained {
            self.send(topic, payload, true);
        }
        self.pump();
    }

    fn on_outbound(&mut self, msg: Outbound) {
        match msg {
            Outbound::Up { lock, frame } => {
                Counters::bump(&self.health.counters.up_frames);
                if let Err(e) = self.spool.append(lock, &frame) {
                    log::error!("spool: {e}; frame from {lock} dropped");
                    Counters::bump(&self.health.counters.spool_dropped);
                }
                let dropped = self.spool.take_dropped();
                if dropped > 0 {
                    self.overflowed(dropped);
                }
                self.pump();
            }
            Outbound::Publish {
                topic,
                payload,
                retain,
            } => {
                if retain {
                    if payload.is_empty() {
                        self.retained.remove(&topic);
                    } else {
                        self.retained.insert(topic.clone(), payload.clone());
                    }
                }
                if self.connected {
                    self.send(topic, payload, retain);
                }
            }
            Outbound::SupportTopics(topics) => self.set_support_topics(topics),
        }
    }

    fn overflowed(&mut self, dropped: u64) {
        let counters = &self.health.counters;
        counters.spool_dropped.fetch_add(dropped, Ordering::Relaxed);
        log::warn!("spool full: dropped the {dropped} oldest up-frame(s)");
        let event = serde_json::json!({
            "type": "spool_overflow",
            "data": {"dropped": dropped},
            "time": crate::unix_now(),
        });
        if self.connected {
            self.send(self.topics.bridge_event(), event.to_string().into(), false);
        }
    }

    /// A state message at QoS 1.
    fn send(&mut self, topic: String, payload: Vec<u8>, retain: bool) {
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            Ok(()) => self.requested.push_back(None),
            Err(e) => log::warn!("mqtt: cannot queue a publish: {e}"),
        }
    }

    /// Hands spooled frames to rumqttc while the connection has room.
    fn pump(&mut self) {
        while self.connected && self.inflight_up() < usize::from(INFLIGHT_UP) {
            let Some(seq) = self.spool.next_after(self.last_sent) else {
                return;
            };
            let record = match self.spool.get(seq) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    self.last_sent = Some(seq);
                    continue;
                }
                Err(e) => {
                    log::error!("spool: reading frame {seq}: {e}");
                    return;
                }
            };
            let Ok((header, _)) = Header::parse(&record.frame) else {
                // Checked before it was spooled; a record that no longer parses is dropped.
                self.spool.ack(seq);
                self.last_sent = Some(seq);
                continue;
            };
            let topic = self.topics.for_lock(&record.lock).up(header.auth_id);
            match self
                .client
                .try_publish(topic, self.qos, false, record.frame)
            {
                Ok(()) => {
                    self.requested.push_back(Some(seq));
                    self.last_sent = Some(seq);
                }
                Err(e) => {
                    log::debug!("mqtt: request queue full ({e}); will retry");
                    return;
                }
            }
        }
    }

    fn inflight_up(&self) -> usize {
        self.inflight.len() + self.requested.iter().filter(|r| r.is_some()).count()
    }

    fn sent(&mut self, pkid: u16) {
        let Some(entry) = self.requested.pop_front() else {
            return;
        };
        if let Some(seq) = entry {
            if pkid == 0 {
                // QoS 0: nothing will acknowledge it.
                self.spool.ack(seq);
                Counters::bump(&self.health.counters.up_published);
            } else {
                self.inflight.insert(pkid, seq);
            }
        }
    }

    fn acked(&mut self, pkid: u16) {
        if let Some(seq) = self.inflight.remove(&pkid) {
            self.spool.ack(seq);
            Counters::bump(&self.health.counters.up_published);
            self.pump();
        }
    }

    /// Replaces the support subscriptions; unsubscribes from the ones dropped.
    fn set_support_topics(&mut self, topics: Vec<String>) {
        let old = std::mem::replace(&mut self.support_topics, topics);
        if !self.connected {
            return;
        }
        for topic in old.iter().filter(|t| !self.support_topics.contains(t)) {
            if let Err(e) = self.client.try_unsubscribe(topic.clone()) {
                log::error!("mqtt: unsubscribing {topic}: {e}");
            }
        }
        for topic in self.support_topics.iter().filter(|t| !old.contains(t)) {
            if let Err(e) = self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                log::error!("mqtt: subscribing {topic}: {e}");
            }
        }
    }

    fn on_publish(&mut self, p: rumqttc::Publish) {
        let counters = &self.health.counters;
        if self.homeassistant_status.as_ref() == Some(&p.topic) {
            let online = p.payload.as_ref() == b"online";
            if self
                .inbound
                .try_send(Inbound::HomeAssistant { online })
                .is_err()
            {
                log::warn!("mqtt: busy; dropped Home Assistant's status");
            }
            return;
        }
        if self.support_topics.contains(&p.topic) {
            if p.retain {
                Counters::bump(&counters.requests_retained_ignored);
                log::info!("mqtt: ignored a retained support request");
                return;
            }
            let msg = Inbound::Support {
                topic: p.topic.clone(),
                payload: p.payload.to_vec(),
            };
            if self.inbound.try_send(msg).is_err() {
                log::warn!("mqtt: busy; dropped a support request");
            }
            return;
        }
        let msg = match self.topics.parse(&p.topic) {
            Ok(Topic::Down { lock }) if p.retain => {
                Counters::bump(&counters.down_retained_ignored);
                log::info!("mqtt: ignored a retained down-frame for {lock}");
                return;
            }
            Ok(Topic::BridgeRequest { cmd }) if p.retain => {
                Counters::bump(&counters.requests_retained_ignored);
                log::info!("mqtt: ignored a retained request {cmd}");
                return;
            }
            Ok(Topic::Down { lock }) => Inbound::Down {
                lock,
                frame: p.payload.to_vec(),
            },
            Ok(Topic::BridgeRequest { cmd }) => Inbound::Request {
                cmd,
                payload: p.payload.to_vec(),
            },
            _ => return,
        };
        if let Err(e) = self.inbound.try_send(msg) {
            self.refuse_busy(e.into_inner());
        }
    }

    /// The gateway's inbox is full: a down-frame gets a `queue_full` receipt, a request is
    /// dropped (its sender times out and may retry).
    fn refuse_busy(&mut self, msg: Inbound) {
        match msg {
            Inbound::Down { lock, frame } => {
                Counters::bump(&self.health.counters.down_rejected);
                let header = Header::parse(&frame).ok().map(|(h, _)| h);
                let receipt = Receipt::rejected(header.as_ref(), Reason::QueueFull);
                if let Ok(topics) = self.topics.lock(&lock) {
                    self.send(topics.delivery(), receipt.to_json(), false);
                }
            }
            Inbound::Request { cmd, .. } => log::warn!("mqtt: busy; dropped request {cmd}"),
            Inbound::Support { .. } => log::warn!("mqtt: busy; dropped a support request"),
            Inbound::HomeAssistant { .. } => {}
        }
    }
}
