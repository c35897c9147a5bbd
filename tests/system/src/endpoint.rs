//! An endpoint (a phone app, in effect) on MQTT: it pairs with locks through the gateway with
//! `lockgate_e2e::EndpointPairing` (frames down on `<base>/<lock>/down`, answers on
//! `<base>/<lock>/up/<pairing id>`), then runs `EndpointSession`s: status, challenge, lock,
//! unlock, rename. It also reads what the gateway publishes for endpoints: delivery receipts,
//! bridge responses, retained state.
//!
//! It never retransmits: the gateway either delivers a down frame or says why not in a
//! receipt, and a test must see a loss rather than have it hidden.

use crate::mqtt::{Message, Mqtt, Settings};
use crate::process::poll_until;
use anyhow::{anyhow, bail, Context, Result};
use lockgate_e2e::command::{AuthEntry, LockStatus};
use lockgate_e2e::endpoint::{PairingError, ReceiveError};
use lockgate_e2e::session::SessionError;
use lockgate_e2e::{
    Action, ChannelState, EndpointPairing, EndpointSession, ErrorCode, Incoming, MechanismState,
    PairedLock, PairingStep, Request, Response, ResponseBody, SetupCode, StaticSecret,
};
use lockgate_wire::{LockId, Topics};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest an answer from a lock may take (the link may have to be set up first).
pub const ANSWER_LIMIT: Duration = Duration::from_secs(30);

/// A lock's answer to one request: a response, or a cleartext refusal.
pub type Answer = Result<Response, ErrorCode>;

/// The number at `pointer` (`/counters/link_drops`) of a JSON object such as the health; 0
/// when absent.
pub fn figure(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// The session with one lock and what has arrived for it.
struct Link {
    session: EndpointSession,
    topic: String,
    /// Index in the inbox of the first message not looked at yet.
    cursor: usize,
    /// Answers by the counter of the request they answer.
    answers: BTreeMap<u64, Answer>,
    /// Request counters in the order their answers arrived.
    arrivals: Vec<u64>,
}

impl Link {
    /// Opens every new message on this link's topic; duplicates (replays) are dropped.
    fn absorb(&mut self, messages: &[Message]) -> Result<()> {
        for m in messages.iter().skip(self.cursor) {
            if m.topic != self.topic {
                continue;
            }
            let (counter, answer) = match self.session.receive(&m.payload) {
                Ok(Incoming::Response(r)) => (r.in_reply_to, Ok(r)),
                Ok(Incoming::Refused { counter, code }) => (counter, Err(code)),
                // This endpoint never subscribes to state events.
                Ok(Incoming::Event(e)) => bail!("an unasked event on {}: {e:?}", self.topic),
                // At-least-once delivery: a copy of a frame already seen.
                Err(ReceiveError::Session(SessionError::Replay(_))) => continue,
                Err(e) => bail!("a frame on {} does not open: {e}", self.topic),
            };
            if self.answers.insert(counter, answer).is_none() {
                self.arrivals.push(counter);
            }
        }
        self.cursor = messages.len();
        Ok(())
    }
}

/// An endpoint with its own MQTT connection and key.
pub struct Endpoint {
    mqtt: Mqtt,
    topics: Topics,
    name: String,
    key: StaticSecret,
    rng: ChaCha20Rng,
    links: BTreeMap<LockId, Link>,
    answer_limit: Duration,
}

impl Endpoint {
    /// Connects as `settings` says and subscribes to `<base>/+/delivery` and `<base>/bridge/#`.
    /// `name` is the name it pairs under (sent in cleartext in `PairStart`); `seed` makes its
    /// key.
    pub async fn connect(
        settings: &Settings,
        topics: Topics,
        name: &str,
        seed: u64,
    ) -> Result<Self> {
        let mqtt = Mqtt::connect(settings, Duration::from_secs(10)).await?;
        mqtt.subscribe(&format!("{}/+/delivery", topics.base()))
            .await?;
        mqtt.subscribe(&format!("{}/bridge/#", topics.base()))
            .await?;
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Ok(Endpoint {
            mqtt,
            topics,
            name: name.to_owned(),
            key: StaticSecret::generate(&mut rng),
            rng,
            links: BTreeMap::new(),
            answer_limit: ANSWER_LIMIT,
        })
    }

    /// How long to wait for a lock's answers from now on (default [`ANSWER_LIMIT`]).
    pub fn set_answer_limit(&mut self, limit: Duration) {
        self.answer_limit = limit;
    }

    /// Its MQTT client.
    pub fn mqtt(&self) -> &Mqtt {
        &self.mqtt
    }

    /// The gateway's topics.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Pairs with `lock` using its label code (its pairing window must be open: press its
    /// button first). Returns the authorization the lock granted.
    pub async fn pair(&mut self, lock: LockId, label_code: &str) -> Result<PairedLock> {
        let code = SetupCode::Label(label_code.parse().context("label code")?);
        let (mut pairing, mut frame) =
            EndpointPairing::start(&self.key, lock, &self.name, &code, &mut self.rng)?;
        let lock_topics = self.topics.for_lock(&lock);
        let up = lock_topics.up(pairing.pairing_id());
        self.mqtt.subscribe(&up).await?;
        let paired = loop {
            let mut from = self.mqtt.cursor();
            self.mqtt
                .publish(&lock_topics.down(), &frame, false)
                .await?;
            let step = loop {
                let (i, m) = self
                    .mqtt
                    .next_message(self.answer_limit, from, "a pairing answer", |m| {
                        m.topic == up
                    })
                    .await?;
                from = i + 1;
                match pairing.handle(&m.payload) {
                    Err(PairingError::NotForUs | PairingError::UnexpectedStep(_)) => continue,
                    other => break other.with_context(|| format!("pairing with {lock}"))?,
                }
            };
            match step {
                PairingStep::Send(next) => frame = next,
                PairingStep::Paired(p) => break p,
            }
        };
        let filter = self.topics.up_filter(paired.auth_id);
        self.mqtt.subscribe(&filter).await?;
        let link = Link {
            session: EndpointSession::new(paired.clone(), ChannelState::default()),
            topic: lock_topics.up(paired.auth_id),
            cursor: self.mqtt.cursor(),
            answers: BTreeMap::new(),
            arrivals: Vec::new(),
        };
        self.links.insert(lock, link);
        Ok(paired)
    }

    /// The authorization id this endpoint holds on `lock`.
    pub fn auth_id(&self, lock: &LockId) -> Option<u32> {
        self.links.get(lock).map(|l| l.session.lock().auth_id)
    }

    fn link(&mut self, lock: &LockId) -> Result<&mut Link> {
        self.links
            .get_mut(lock)
            .ok_or_else(|| anyhow!("not paired with {lock}"))
    }

    /// Seals `request` and publishes it (without waiting for the answer); returns its
    /// counter.
    pub async fn send(&mut self, lock: &LockId, request: &Request) -> Result<u64> {
        let sealed = self.link(lock)?.session.request(request)?;
        let down = self.topics.for_lock(lock).down();
        self.mqtt.publish(&down, &sealed.frame, false).await?;
        Ok(sealed.counter)
    }

    /// Waits for the answer to the request with `counter`.
    pub async fn answer(&mut self, lock: &LockId, counter: u64) -> Result<Answer> {
        let mut answers = self.answers(lock, &[counter]).await?;
        Ok(answers.remove(0))
    }

    /// Waits for the answers to every request in `counters`; returns them in arrival order.
    pub async fn answers(&mut self, lock: &LockId, counters: &[u64]) -> Result<Vec<Answer>> {
        let link = self
            .links
            .get_mut(lock)
            .ok_or_else(|| anyhow!("not paired with {lock}"))?;
        let what = format!("answers from {lock} to requests {counters:?}");
        let mut failure = None;
        self.mqtt
            .wait(self.answer_limit, &what, |inbox| {
                if let Err(e) = link.absorb(&inbox.messages) {
                    failure = Some(e);
                    return Some(());
                }
                counters
                    .iter()
                    .all(|c| link.answers.contains_key(c))
                    .then_some(())
            })
            .await?;
        if let Some(e) = failure {
            return Err(e);
        }
        let arrived = link.arrivals.iter().filter(|c| counters.contains(c));
        Ok(arrived.map(|c| link.answers[c].clone()).collect())
    }

    /// The request counters of `lock`'s answers, in the order they arrived.
    pub fn arrival_order(&self, lock: &LockId) -> Vec<u64> {
        self.links
            .get(lock)
            .map(|l| l.arrivals.clone())
            .unwrap_or_default()
    }

    /// Sends `request` and returns the lock's successful answer (a refusal is an error).
    pub async fn request(&mut self, lock: &LockId, request: &Request) -> Result<ResponseBody> {
        let counter = self.send(lock, request).await?;
        match self.answer(lock, counter).await? {
            Ok(Response {
                result: Ok(body), ..
            }) => Ok(body),
            Ok(Response {
                result: Err(code), ..
            }) => bail!("{lock} answered {request:?}: {code}"),
            Err(code) => bail!("{lock} refused {request:?}: {code}"),
        }
    }

    /// The lock's status.
    pub async fn status(&mut self, lock: &LockId) -> Result<LockStatus> {
        match self.request(lock, &Request::Status).await? {
            ResponseBody::Status(status) => Ok(status),
            other => bail!("status of {lock}: unexpected answer {other:?}"),
        }
    }

    /// A fresh challenge from the lock.
    pub async fn challenge(&mut self, lock: &LockId) -> Result<[u8; 16]> {
        match self.request(lock, &Request::Challenge).await? {
            ResponseBody::Challenge { challenge, .. } => Ok(challenge),
            other => bail!("challenge of {lock}: unexpected answer {other:?}"),
        }
    }

    /// Asks for a challenge, then actuates with it; the mechanism state right after.
    pub async fn actuate(&mut self, lock: &LockId, action: Action) -> Result<MechanismState> {
        let challenge = self.challenge(lock).await?;
        match self
            .request(lock, &Request::Actuate { action, challenge })
            .await?
        {
            ResponseBody::Actuation(state) => Ok(state),
            other => bail!("{action:?} of {lock}: unexpected answer {other:?}"),
        }
    }

    /// Locks `lock`.
    pub async fn lock(&mut self, lock: &LockId) -> Result<MechanismState> {
        self.actuate(lock, Action::Lock).await
    }

    /// Unlocks `lock`.
    pub async fn unlock(&mut self, lock: &LockId) -> Result<MechanismState> {
        self.actuate(lock, Action::Unlock).await
    }

    /// Renames this endpoint's own authorization on `lock` (inside the E2E session).
    pub async fn rename(&mut self, lock: &LockId, name: &str) -> Result<()> {
        let id = self
            .auth_id(lock)
            .ok_or_else(|| anyhow!("not paired with {lock}"))?;
        let request = Request::AuthRename {
            id,
            name: name.to_owned(),
        };
        self.request(lock, &request).await.map(drop)
    }

    /// The lock's authorizations (admins only).
    pub async fn authorizations(&mut self, lock: &LockId) -> Result<Vec<AuthEntry>> {
        match self.request(lock, &Request::AuthList).await? {
            ResponseBody::AuthList(entries) => Ok(entries),
            other => bail!("authorizations of {lock}: unexpected answer {other:?}"),
        }
    }

    /// The names of the lock's authorizations (admins only).
    pub async fn authorization_names(&mut self, lock: &LockId) -> Result<Vec<String>> {
        let entries = self.authorizations(lock).await?;
        Ok(entries.into_iter().map(|a| a.name).collect())
    }

    /// Publishes a raw down frame for the lock level `lock` (any text: unknown locks too).
    pub async fn publish_down(&self, lock: &str, frame: &[u8], retain: bool) -> Result<()> {
        let down = self.topics.lock(lock)?.down();
        self.mqtt.publish(&down, frame, retain).await
    }

    /// The first delivery receipt for `lock` at inbox index `from` or later that `pred`
    /// accepts.
    pub async fn receipt(
        &self,
        lock: &str,
        from: usize,
        limit: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Result<Value> {
        let topic = self.topics.lock(lock)?.delivery();
        let what = format!("a matching receipt on {topic}");
        let accept = |m: &Message| m.topic == topic && m.json().is_ok_and(|v| pred(&v));
        let (_, message) = self.mqtt.next_message(limit, from, &what, accept).await?;
        message.json()
    }

    /// Every delivery receipt received for `lock` so far.
    pub fn receipts(&self, lock: &str) -> Result<Vec<Value>> {
        let topic = self.topics.lock(lock)?.delivery();
        let messages = self.mqtt.messages();
        let on_topic = messages.iter().filter(|m| m.topic == topic);
        on_topic.map(Message::json).collect()
    }

    /// Sends `<base>/bridge/request/<cmd>` with `payload` plus a fresh `transaction`, and
    /// returns the whole response.
    pub async fn bridge_request(&mut self, cmd: &str, payload: Value) -> Result<Value> {
        let transaction = self.rng.next_u32();
        let mut payload = payload;
        payload["transaction"] = json!(transaction);
        let from = self.mqtt.cursor();
        let request = self.topics.bridge_request(cmd)?;
        self.mqtt
            .publish(&request, payload.to_string().as_bytes(), false)
            .await?;
        let response = self.topics.bridge_response(cmd)?;
        let what = format!("the response on {response} to transaction {transaction}");
        let answers = |m: &Message| {
            m.topic == response
                && m.json()
                    .is_ok_and(|v| v["transaction"] == json!(transaction))
        };
        let (_, message) = self
            .mqtt
            .next_message(ANSWER_LIMIT, from, &what, answers)
            .await?;
        message.json()
    }

    /// The gateway's health (`bridge/request/health`): the `data` of an `ok` response.
    pub async fn health(&mut self) -> Result<Value> {
        let response = self.bridge_request("health", json!({})).await?;
        match response["status"].as_str() {
            Some("ok") => Ok(response["data"].clone()),
            _ => bail!("health request answered {response}"),
        }
    }

    /// Asks for the health until `pred` holds for it, at most `limit`; the last health.
    pub async fn health_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Result<Value> {
        poll_until(limit, what, async || {
            let health = self.health().await?;
            Ok(pred(&health).then_some(health))
        })
        .await
    }

    /// The retained message of `topic` (e.g. `bridge/state`, `<lock>/availability`).
    pub async fn retained(&self, topic: &str) -> Result<Value> {
        self.mqtt
            .retained(topic, Duration::from_secs(10))
            .await?
            .json()
    }
}
