//! One lock, reached through one gateway over the broker (docs/GATEWAY.md): frames go down on
//! `<base>/<lock>/down` and come back on `<base>/<lock>/up/<auth id>`. Meanwhile the relay
//! watches what the gateway says about them, so a failure is named rather than waited out:
//!
//! * `<base>/bridge/state` (retained): `offline` before sending is [`Error::GatewayOffline`]
//!   at once; nothing retained is [`Error::GatewayUnknown`]; `offline` while waiting ends
//!   the wait too.
//! * `<base>/<lock>/delivery`: a receipt `expired` for one of our frames is
//!   [`Error::LockUnreachable`], `rejected` is [`Error::Rejected`].
//! * Otherwise, no answer by the deadline is [`Error::NoAnswer`].

use crate::broker::{Broker, Message};
use crate::config::Settings;
use crate::error::Error;
use crate::progress::Progress;
use lockgate_wire::topics::LockTopics;
use lockgate_wire::{Header, LockId, Topics};
use serde::Deserialize;
use std::time::Duration;
use tokio::time::Instant;

/// How long the gateway's retained state may take to arrive after subscribing.
pub const GATEWAY_STATE_WAIT: Duration = Duration::from_secs(3);

/// How long connecting to the broker may take.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// A delivery receipt (docs/GATEWAY.md §1.11).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Receipt {
    /// `written`, `expired` or `rejected`.
    pub status: String,
    /// The frame's auth id, if its header parsed.
    pub auth_id: Option<u32>,
    /// The frame's counter, if its header parsed.
    pub counter: Option<u64>,
    /// Why it was not written.
    #[serde(default)]
    pub reason: Option<String>,
}

/// What the gateway's retained state says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayState {
    /// `{"state":"online"}`.
    Online,
    /// `{"state":"offline"}` (also its last will).
    Offline,
}

impl GatewayState {
    /// Reads a `bridge/state` payload; `None` for anything else.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
        match value["state"].as_str()? {
            "online" => Some(GatewayState::Online),
            "offline" => Some(GatewayState::Offline),
            _ => None,
        }
    }
}

/// Waits for the retained `bridge/state` of `gateway` (topics under `topics`), to which
/// `broker` has subscribed: [`Error::GatewayOffline`] unless it says `online`,
/// [`Error::GatewayUnknown`] when nothing is retained. Messages before it are dropped.
pub async fn check_gateway(
    broker: &mut Broker,
    gateway: &str,
    topics: &Topics,
) -> Result<(), Error> {
    let state_topic = topics.bridge_state();
    let deadline = Instant::now() + GATEWAY_STATE_WAIT;
    while let Some(m) = broker.next_message(deadline).await {
        if m.topic == state_topic {
            return match GatewayState::parse(&m.payload) {
                Some(GatewayState::Online) => Ok(()),
                _ => Err(Error::GatewayOffline {
                    gateway: gateway.to_owned(),
                    base: topics.base().to_owned(),
                }),
            };
        }
    }
    Err(Error::GatewayUnknown {
        gateway: gateway.to_owned(),
        base: topics.base().to_owned(),
    })
}

/// A conversation with one lock through one gateway.
#[derive(Debug)]
pub struct Relay {
    broker: Broker,
    gateway: String,
    base: String,
    state_topic: String,
    lock: LockTopics,
    lock_id: LockId,
    timeout: Duration,
    /// (auth id, counter) of every frame sent.
    sent: Vec<(u32, u64)>,
}

impl Relay {
    /// Connects to the broker of `settings`, then opens the relay (see [`Relay::open`]).
    pub async fn connect(
        settings: &Settings,
        gateway: &str,
        topics: &Topics,
        lock_id: LockId,
        progress: &dyn Progress,
    ) -> Result<Relay, Error> {
        let b = &settings.broker;
        progress.step(&format!(
            "connecting to the MQTT broker at {}:{}",
            b.host, b.port
        ));
        let broker = Broker::connect(b, CONNECT_LIMIT).await?;
        Relay::open(broker, gateway, topics, lock_id, settings.timeout, progress).await
    }

    /// Watches `gateway` (topics under `topics`) for `lock`, and checks that the gateway is
    /// online; answers are awaited for `timeout` each.
    pub async fn open(
        mut broker: Broker,
        gateway: &str,
        topics: &Topics,
        lock_id: LockId,
        timeout: Duration,
        progress: &dyn Progress,
    ) -> Result<Relay, Error> {
        let lock = topics.for_lock(&lock_id);
        let state_topic = topics.bridge_state();
        progress.step(&format!("waiting for gateway {gateway}"));
        broker.subscribe(&lock.delivery()).await?;
        broker.subscribe(&state_topic).await?;
        let mut relay = Relay {
            broker,
            gateway: gateway.to_owned(),
            base: topics.base().to_owned(),
            state_topic,
            lock,
            lock_id,
            timeout,
            sent: Vec::new(),
        };
        check_gateway(&mut relay.broker, gateway, topics).await?;
        Ok(relay)
    }

    fn offline(&self) -> Error {
        Error::GatewayOffline {
            gateway: self.gateway.clone(),
            base: self.base.clone(),
        }
    }

    /// The lock.
    pub fn lock_id(&self) -> LockId {
        self.lock_id
    }

    /// The gateway id.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// Subscribes to the lock's frames for `auth_id` (a pairing or authorization id).
    pub async fn listen(&mut self, auth_id: u32) -> Result<(), Error> {
        Ok(self.broker.subscribe(&self.lock.up(auth_id)).await?)
    }

    /// Sends a frame to the lock (not waiting for anything).
    pub async fn send(&mut self, frame: Vec<u8>) -> Result<(), Error> {
        if let Ok((header, _)) = Header::parse(&frame) {
            self.sent.push((header.auth_id, header.counter));
        }
        log::debug!("down frame of {} bytes to {}", frame.len(), self.lock_id);
        Ok(self.broker.publish(&self.lock.down(), frame).await?)
    }

    /// Sends `frame`, then hands every frame from the lock on `up/<auth_id>` to `accept`
    /// until it returns `Some`: the outcome. Fails early on what the gateway reports.
    pub async fn exchange<T>(
        &mut self,
        frame: Vec<u8>,
        auth_id: u32,
        mut accept: impl FnMut(&[u8]) -> Option<Result<T, Error>>,
    ) -> Result<T, Error> {
        self.send(frame).await?;
        let up = self.lock.up(auth_id);
        let deadline = Instant::now() + self.timeout;
        let mut delivered = false;
        loop {
            let Some(m) = self.broker.next_message(deadline).await else {
                return Err(Error::NoAnswer {
                    lock: self.lock_id,
                    waited: self.timeout,
                    delivered,
                });
            };
            if m.topic == up {
                if let Some(outcome) = accept(&m.payload) {
                    return outcome;
                }
            } else {
                delivered |= self.watch(&m)?;
            }
        }
    }

    /// Looks at a gateway message while waiting: an error if it says the wait is in vain;
    /// `true` if it is a `written` receipt for one of our frames.
    fn watch(&self, m: &Message) -> Result<bool, Error> {
        if m.topic == self.state_topic {
            return match GatewayState::parse(&m.payload) {
                Some(GatewayState::Offline) => Err(self.offline()),
                _ => Ok(false),
            };
        }
        let Ok(receipt) = serde_json::from_slice::<Receipt>(&m.payload) else {
            return Ok(false);
        };
        let ours = match (receipt.auth_id, receipt.counter) {
            (Some(a), Some(c)) => self.sent.contains(&(a, c)),
            _ => false,
        };
        if !ours {
            return Ok(false);
        }
        let reason = receipt.reason.unwrap_or_default();
        match receipt.status.as_str() {
            "written" => Ok(true),
            "expired" => Err(Error::LockUnreachable {
                lock: self.lock_id,
                gateway: self.gateway.clone(),
                reason,
            }),
            "rejected" => Err(Error::Rejected {
                lock: self.lock_id,
                gateway: self.gateway.clone(),
                reason,
            }),
            _ => Ok(false),
        }
    }

    /// Ends the conversation, letting queued publishes go out first.
    pub async fn close(self) {
        self.broker.disconnect(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_states_are_read_from_their_json() {
        assert_eq!(
            GatewayState::parse(br#"{"state":"online"}"#),
            Some(GatewayState::Online)
        );
        assert_eq!(
            GatewayState::parse(br#"{"state":"offline"}"#),
            Some(GatewayState::Offline)
        );
        assert_eq!(GatewayState::parse(b""), None);
        assert_eq!(GatewayState::parse(br#"{"state":"napping"}"#), None);
    }

    #[test]
    fn receipts_parse_with_and_without_a_header() {
        let r: Receipt = serde_json::from_str(
            r#"{"status":"expired","auth_id":1,"counter":7,"reason":"not_connected"}"#,
        )
        .unwrap();
        assert_eq!((r.auth_id, r.counter), (Some(1), Some(7)));
        assert_eq!(r.reason.as_deref(), Some("not_connected"));
        let r: Receipt = serde_json::from_str(
            r#"{"status":"rejected","auth_id":null,"counter":null,"reason":"malformed"}"#,
        )
        .unwrap();
        assert_eq!(r.auth_id, None);
        let w: Receipt =
            serde_json::from_str(r#"{"status":"written","auth_id":1,"counter":7}"#).unwrap();
        assert_eq!(w.reason, None);
    }
}
