//! A remote support client for tests: `lockgate-support`'s [`SupportClient`] driven over the
//! harness's MQTT client against the gateway under test (docs/SUPPORT.md, docs/GATEWAY.md §7).

use crate::mqtt::{Mqtt, Settings};
use anyhow::{bail, Context, Result};
use lockgate_support::{
    ClientEvent, CloseReason, Reason, Request, Response, SupportClient, SupportCode, SupportTopics,
};
use lockgate_wire::Topics;
use rand_core::OsRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long the gateway may take to answer one message.
pub const ANSWER: Duration = Duration::from_secs(10);

/// How one attempt with a code went.
pub enum Attempt {
    /// The session is open.
    Open(Box<Session>),
    /// The gateway refused in clear.
    Refused {
        /// Why.
        reason: Reason,
        /// For `throttled`: seconds to wait.
        retry_after_secs: u32,
    },
    /// The code was wrong (the attempt is spent).
    WrongCode,
}

impl Attempt {
    /// The open session, or an error naming what happened instead.
    pub fn open(self) -> Result<Session> {
        match self {
            Attempt::Open(s) => Ok(*s),
            Attempt::Refused {
                reason,
                retry_after_secs,
            } => bail!("refused: {reason:?} (retry after {retry_after_secs} s)"),
            Attempt::WrongCode => bail!("the gateway did not accept the code"),
        }
    }

    /// A short description, for assertions.
    pub fn describe(&self) -> String {
        match self {
            Attempt::Open(_) => "open".into(),
            Attempt::Refused {
                reason,
                retry_after_secs,
            } => format!("refused {reason:?} retry {retry_after_secs}"),
            Attempt::WrongCode => "wrong code".into(),
        }
    }
}

/// An open support session.
pub struct Session {
    mqtt: Mqtt,
    client: SupportClient,
    request_topic: String,
    response_topic: String,
    cursor: usize,
    /// Seconds until it ends by itself, as the welcome said.
    pub expires_in_s: u64,
    /// The commands it may run, as the welcome said.
    pub commands: Vec<String>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Tries `code` (grouped or not) with the gateway of `topics` on the plain listener at
/// `port`, as `operator`.
pub async fn attempt(port: u16, topics: &Topics, code: &str, operator: &str) -> Result<Attempt> {
    static CLIENTS: AtomicU64 = AtomicU64::new(0);
    let n = CLIENTS.fetch_add(1, Ordering::Relaxed);
    let code: SupportCode = code.parse().context("the code does not parse")?;
    let gateway_id = topics
        .base()
        .rsplit('/')
        .next()
        .context("a base topic without levels")?
        .to_owned();
    let (client, hello) = SupportClient::start(&gateway_id, operator, &code, OsRng)?;
    let support = SupportTopics::new(topics);
    let mut settings = Settings::plain(&format!("support-{}-{n}", std::process::id()), port);
    settings.clean_session = true;
    let mqtt = Mqtt::connect(&settings, ANSWER).await?;
    let response_topic = support.response(&client.session_id());
    mqtt.subscribe(&response_topic).await?;
    let mut session = Session {
        cursor: mqtt.cursor(),
        mqtt,
        client,
        request_topic: support.request(),
        response_topic,
        expires_in_s: 0,
        commands: Vec::new(),
    };
    session.send(&hello).await?;
    loop {
        match session
            .next_event("the gateway's answer to the handshake")
            .await?
        {
            ClientEvent::Send(confirm) => session.send(&confirm).await?,
            ClientEvent::WrongCode { abort } => {
                session.send(&abort).await?;
                return Ok(Attempt::WrongCode);
            }
            ClientEvent::Established {
                expires_in_s,
                commands,
                ..
            } => {
                session.expires_in_s = expires_in_s;
                session.commands = commands;
                return Ok(Attempt::Open(Box::new(session)));
            }
            ClientEvent::Refused {
                reason,
                retry_after_secs,
            } => {
                return Ok(Attempt::Refused {
                    reason,
                    retry_after_secs,
                })
            }
            ClientEvent::Closed(reason) => bail!("closed during the handshake: {reason:?}"),
            ClientEvent::Response(r) => bail!("a response during the handshake: {r:?}"),
            ClientEvent::Ignored => {}
        }
    }
}

impl Session {
    async fn send(&self, payload: &[u8]) -> Result<()> {
        self.mqtt.publish(&self.request_topic, payload, false).await
    }

    async fn next_event(&mut self, what: &str) -> Result<ClientEvent> {
        self.next_event_within(ANSWER, what).await
    }

    async fn next_event_within(&mut self, limit: Duration, what: &str) -> Result<ClientEvent> {
        let topic = self.response_topic.clone();
        let (i, m) = self
            .mqtt
            .next_message(limit, self.cursor, what, |m| m.topic == topic)
            .await?;
        self.cursor = i + 1;
        Ok(self.client.handle(now_ms(), &m.payload)?)
    }

    /// Sends `request` and waits for its answer.
    pub async fn ask(&mut self, request: &Request) -> Result<Response> {
        let (counter, sealed) = self.client.request(now_ms(), request)?;
        self.send(&sealed).await?;
        loop {
            match self
                .next_event(&format!("the answer to {}", request.name()))
                .await?
            {
                ClientEvent::Response(r) if r.in_reply_to == counter => return Ok(r),
                ClientEvent::Closed(reason) => bail!("the session ended: {reason:?}"),
                _ => {}
            }
        }
    }

    /// Waits (at most `limit`) for the gateway to end the session; its reason.
    pub async fn closed(&mut self, limit: Duration) -> Result<CloseReason> {
        loop {
            if let ClientEvent::Closed(reason) =
                self.next_event_within(limit, "the session's end").await?
            {
                return Ok(reason);
            }
        }
    }
}
