//! Remote support from the staff's side (docs/SUPPORT.md, docs/GATEWAY.md §7): a SPAKE2
//! handshake with a gateway keyed by the one-time code its owner read out, then requests in
//! encrypted records, over `<base>/support/request` and `<base>/support/response/<session>`.
//!
//! [`SupportSession::open`] checks the gateway's retained `bridge/state` first, so an offline
//! or unknown gateway is named at once, then runs the handshake, publishing the last
//! handshake message again while no answer comes (the gateway answers a repeat with the same
//! message). [`SupportSession::ask`] sends one request and waits for its answer;
//! [`SupportSession::wait_closed`] watches for the gateway ending the session meanwhile.
//! Requests are never repeated: the gateway refuses a record it has seen, so a lost answer
//! is a [`SupportError::NoAnswer`] and the next request goes on with a fresh counter.

use crate::broker::{Broker, Message};
use crate::config::Settings;
use crate::error::Error;
use crate::pairing::gateway_topics;
use crate::progress::Progress;
use crate::relay::{check_gateway, GatewayState, CONNECT_LIMIT};
use lockgate_support::message::is_valid_operator;
use lockgate_support::{
    ClientError, ClientEvent, CloseReason, Reason, Request, Response, SupportClient, SupportCode,
    SupportTopics,
};
use rand_core::OsRng;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;

/// How long to wait for a handshake answer before publishing the last message again.
const RESEND_AFTER: Duration = Duration::from_secs(3);
/// How long `quit` waits for the gateway's closing notice.
const QUIT_WAIT: Duration = Duration::from_secs(3);

/// Why a support session could not start or go on (besides broker and gateway state).
#[derive(Debug, Error)]
pub enum SupportError {
    /// The gateway refused the handshake in clear.
    #[error("{}", refusal(.gateway, *.reason, *.retry_after_secs))]
    Refused {
        /// The gateway.
        gateway: String,
        /// Why.
        reason: Reason,
        /// For `throttled`: seconds to wait.
        retry_after_secs: u32,
    },
    /// The key confirmation failed: the code is not the gateway's.
    #[error("the code does not match gateway {gateway}'s: check it with the gateway's owner (each code opens one session; 5 wrong tries use it up)")]
    WrongCode {
        /// The gateway.
        gateway: String,
    },
    /// The gateway did not answer in time.
    #[error("no answer from gateway {gateway} within {}{}", humantime::format_duration(*.waited), .during)]
    NoAnswer {
        /// The gateway.
        gateway: String,
        /// How long was waited.
        waited: Duration,
        /// What was waited for (`": the handshake"`, ...).
        during: String,
    },
    /// The gateway ended the session.
    #[error("{}", ended(.gateway, *.reason))]
    Ended {
        /// The gateway.
        gateway: String,
        /// Why.
        reason: CloseReason,
    },
    /// The session is over (its time ran out on this side's clock).
    #[error("the support session with gateway {gateway} has run out of time: ask the owner for a new code")]
    Expired {
        /// The gateway.
        gateway: String,
    },
    /// Some commands of a session were refused or failed (each was shown as it happened).
    #[error("{failed} of {ran} support commands did not succeed (each is shown above)")]
    CommandsFailed {
        /// How many did not succeed.
        failed: usize,
        /// How many were run.
        ran: usize,
    },
    /// The gateway sent something that does not fit the protocol.
    #[error(
        "gateway {gateway} answered something unreadable ({detail}); update lockctl or the gateway"
    )]
    Protocol {
        /// The gateway.
        gateway: String,
        /// What.
        detail: String,
    },
}

fn refusal(gateway: &str, reason: Reason, retry_after_secs: u32) -> String {
    match reason {
        Reason::NoCode => format!(
            "gateway {gateway} has no support code waiting: ask its owner to run `lockgate support \
             start` and read you the code, then retry within its validity"
        ),
        Reason::Throttled => format!(
            "gateway {gateway} is holding off after wrong codes: retry in {retry_after_secs} s \
             (each wrong try doubles the wait)"
        ),
        Reason::Busy => format!(
            "gateway {gateway} is already in a support session or handshake: retry when it has \
             ended (its owner can end it with `lockgate support stop`)"
        ),
        Reason::CodeBurned => format!(
            "the code was used up by wrong tries on gateway {gateway}: ask its owner for a new \
             one (`lockgate support start`)"
        ),
        Reason::Failed => {
            format!("gateway {gateway} did not accept the code: check it with the gateway's owner")
        }
        Reason::Malformed => format!(
            "gateway {gateway} could not read this client's message: update lockctl or the gateway"
        ),
        Reason::NoSession => format!(
            "gateway {gateway} knows no such session (it restarted, or the session ended): \
             start again with a new code"
        ),
        Reason::Stopped => format!(
            "the owner of gateway {gateway} stopped remote support: ask them for a new code"
        ),
    }
}

fn ended(gateway: &str, reason: CloseReason) -> String {
    match reason {
        CloseReason::Quit => format!("the support session with gateway {gateway} ended"),
        CloseReason::Stopped => format!(
            "the owner of gateway {gateway} ended the support session (lockgate support stop)"
        ),
        CloseReason::Expired => format!(
            "the support session with gateway {gateway} reached its time limit: ask the owner \
             for a new code"
        ),
    }
}

impl SupportError {
    /// A stable snake_case name, for `--json`.
    pub fn name(&self) -> &'static str {
        match self {
            SupportError::Refused { reason, .. } => match reason {
                Reason::NoCode => "support_no_code",
                Reason::Throttled => "support_throttled",
                Reason::Busy => "support_busy",
                Reason::CodeBurned => "support_code_burned",
                Reason::Failed => "support_wrong_code",
                Reason::Malformed => "support_malformed",
                Reason::NoSession => "support_no_session",
                Reason::Stopped => "support_stopped",
            },
            SupportError::WrongCode { .. } => "support_wrong_code",
            SupportError::NoAnswer { .. } => "no_answer",
            SupportError::Ended { .. } | SupportError::Expired { .. } => "support_ended",
            SupportError::CommandsFailed { .. } => "support_commands_failed",
            SupportError::Protocol { .. } => "unexpected_answer",
        }
    }

    /// Whether it is a timeout (exit code 7) rather than a refusal (exit code 1).
    pub fn is_timeout(&self) -> bool {
        matches!(self, SupportError::NoAnswer { .. })
    }
}

/// Where the gateway is and who is asking.
#[derive(Debug, Clone)]
pub struct SupportTarget {
    /// The gateway's id (its `[gateway] id`; it binds the handshake).
    pub gateway: String,
    /// Its base topic, when not `lockgate/<id>`.
    pub base_topic: Option<String>,
    /// Who is asking, for the gateway's audit trail (1 to 32 bytes; sent in clear).
    pub operator: String,
}

/// An open support session.
pub struct SupportSession {
    broker: Broker,
    client: SupportClient,
    gateway: String,
    base: String,
    request_topic: String,
    response_topic: String,
    state_topic: String,
    timeout: Duration,
    ends_at: Instant,
    /// The commands the gateway allows in this session, as its welcome listed them.
    pub commands: Vec<String>,
}

impl SupportSession {
    /// Connects to the broker of `settings` and opens a session with `target`'s gateway using
    /// `code`; each answer is awaited for `settings.timeout`.
    pub async fn open(
        settings: &Settings,
        target: &SupportTarget,
        code: &SupportCode,
        progress: &dyn Progress,
    ) -> Result<SupportSession, Error> {
        if !is_valid_operator(&target.operator) {
            return Err(Error::Usage(format!(
                "the operator name {:?} must be 1 to 32 bytes without control characters (--name)",
                target.operator
            )));
        }
        let topics = gateway_topics(&target.gateway, target.base_topic.as_deref())?;
        let support = SupportTopics::new(&topics);
        let (client, hello) = SupportClient::start(&target.gateway, &target.operator, code, OsRng)
            .map_err(|e| Error::Usage(e.to_string()))?;
        let b = &settings.broker;
        progress.step(&format!(
            "connecting to the MQTT broker at {}:{}",
            b.host, b.port
        ));
        let mut broker = Broker::connect(b, CONNECT_LIMIT).await?;
        progress.step(&format!("waiting for gateway {}", target.gateway));
        let response_topic = support.response(&client.session_id());
        broker.subscribe(&response_topic).await?;
        broker.subscribe(&topics.bridge_state()).await?;
        check_gateway(&mut broker, &target.gateway, &topics).await?;
        let mut session = SupportSession {
            broker,
            client,
            gateway: target.gateway.clone(),
            base: topics.base().to_owned(),
            request_topic: support.request(),
            response_topic,
            state_topic: topics.bridge_state(),
            timeout: settings.timeout,
            ends_at: Instant::now(),
            commands: Vec::new(),
        };
        progress.step(&format!(
            "checking the code with gateway {}",
            target.gateway
        ));
        match session.handshake(hello).await {
            Ok(()) => Ok(session),
            Err(e) => {
                // A clean disconnect sends what is queued first: the Abort after a wrong code
                // frees the gateway for the next try at once.
                session.broker.disconnect(QUIT_WAIT).await;
                Err(e)
            }
        }
    }

    async fn handshake(&mut self, hello: Vec<u8>) -> Result<(), Error> {
        self.send(hello).await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let resend = (Instant::now() + RESEND_AFTER).min(deadline);
            let Some(m) = self.broker.next_message(resend).await else {
                if Instant::now() >= deadline {
                    return Err(self.no_answer(": the handshake"));
                }
                if let Some(again) = self.client.retransmission() {
                    log::debug!("support: no answer yet; sending the last message again");
                    self.send(again).await?;
                }
                continue;
            };
            let Some(event) = self.event(&m)? else {
                continue;
            };
            match event {
                ClientEvent::Send(confirm) => self.send(confirm).await?,
                ClientEvent::WrongCode { abort } => {
                    // Tell the gateway, so that it can take the next try at once.
                    let _ = self.send(abort).await;
                    return Err(Error::Support(SupportError::WrongCode {
                        gateway: self.gateway.clone(),
                    }));
                }
                ClientEvent::Refused {
                    reason,
                    retry_after_secs,
                } => {
                    let refused = SupportError::Refused {
                        gateway: self.gateway.clone(),
                        reason,
                        retry_after_secs,
                    };
                    return Err(Error::Support(refused));
                }
                ClientEvent::Established {
                    expires_in_s,
                    commands,
                    ..
                } => {
                    self.ends_at = Instant::now() + Duration::from_secs(expires_in_s);
                    self.commands = commands;
                    return Ok(());
                }
                ClientEvent::Closed(reason) => return Err(self.ended(reason)),
                ClientEvent::Response(_) | ClientEvent::Ignored => {}
            }
        }
    }

    /// The gateway.
    pub fn gateway(&self) -> &str {
        &self.gateway
    }

    /// How long the session has left (as the gateway's welcome said).
    pub fn remaining(&self) -> Duration {
        self.ends_at.saturating_duration_since(Instant::now())
    }

    /// Sends `request` and waits for its answer (at most the answer timeout).
    pub async fn ask(&mut self, request: &Request) -> Result<Response, Error> {
        let (counter, sealed) = match self.client.request(crate::unix_now_ms(), request) {
            Ok(sealed) => sealed,
            Err(ClientError::Expired) => {
                return Err(Error::Support(SupportError::Expired {
                    gateway: self.gateway.clone(),
                }))
            }
            Err(e) => return Err(self.protocol(e)),
        };
        self.send(sealed).await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let Some(m) = self.broker.next_message(deadline).await else {
                return Err(self.no_answer(&format!(" to {}", request.name())));
            };
            match self.event(&m)? {
                Some(ClientEvent::Response(r)) if r.in_reply_to == counter => return Ok(r),
                Some(ClientEvent::Closed(reason)) => return Err(self.ended(reason)),
                _ => {}
            }
        }
    }

    /// Waits, without a limit, until the gateway ends the session (or goes offline); the
    /// error that says so. Cancel-safe: use it in a `select!` with the user's input.
    pub async fn wait_closed(&mut self) -> Error {
        let far = Instant::now() + Duration::from_secs(365 * 86_400);
        loop {
            let Some(m) = self.broker.next_message(far).await else {
                return Error::Broker(crate::broker::BrokerError::Closed(
                    "the connection to the broker ended".into(),
                ));
            };
            match self.event(&m) {
                Ok(Some(ClientEvent::Closed(reason))) => return self.ended(reason),
                Err(e) => return e,
                _ => {}
            }
        }
    }

    /// Ends the session: sends `quit`, waits briefly for the gateway's closing notice, and
    /// disconnects.
    pub async fn quit(mut self) -> Result<(), Error> {
        if self.client.is_open() {
            if let Ok((_, sealed)) = self.client.request(crate::unix_now_ms(), &Request::Quit) {
                self.send(sealed).await?;
                let deadline = Instant::now() + QUIT_WAIT;
                while let Some(m) = self.broker.next_message(deadline).await {
                    if let Ok(Some(ClientEvent::Closed(_))) = self.event(&m) {
                        break;
                    }
                }
            }
        }
        self.broker.disconnect(QUIT_WAIT).await;
        Ok(())
    }

    async fn send(&self, payload: Vec<u8>) -> Result<(), Error> {
        Ok(self.broker.publish(&self.request_topic, payload).await?)
    }

    /// What a received message means: `None` for other topics; the gateway going offline
    /// is an error.
    fn event(&mut self, m: &Message) -> Result<Option<ClientEvent>, Error> {
        if m.topic == self.state_topic {
            return match GatewayState::parse(&m.payload) {
                Some(GatewayState::Offline) => Err(Error::GatewayOffline {
                    gateway: self.gateway.clone(),
                    base: self.base.clone(),
                }),
                _ => Ok(None),
            };
        }
        if m.topic != self.response_topic {
            return Ok(None);
        }
        match self.client.handle(crate::unix_now_ms(), &m.payload) {
            Ok(event) => Ok(Some(event)),
            // A stray or forged message: ignore it, as the gateway does.
            Err(ClientError::Malformed(_) | ClientError::InvalidSpake) => Ok(None),
            Err(ClientError::Channel(e)) => {
                log::debug!("support: a record was refused: {e}");
                Ok(None)
            }
            Err(e) => Err(self.protocol(e)),
        }
    }

    fn ended(&self, reason: CloseReason) -> Error {
        Error::Support(SupportError::Ended {
            gateway: self.gateway.clone(),
            reason,
        })
    }

    fn no_answer(&self, during: &str) -> Error {
        Error::Support(SupportError::NoAnswer {
            gateway: self.gateway.clone(),
            waited: self.timeout,
            during: during.to_owned(),
        })
    }

    fn protocol(&self, e: ClientError) -> Error {
        Error::Support(SupportError::Protocol {
            gateway: self.gateway.clone(),
            detail: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_says_what_to_do_and_has_a_name() {
        for reason in Reason::ALL {
            let e = SupportError::Refused {
                gateway: "gw1".into(),
                reason,
                retry_after_secs: 8,
            };
            let text = e.to_string();
            assert!(text.contains("gw1"), "{text}");
            assert!(e.name().starts_with("support_"), "{}", e.name());
            assert!(!e.is_timeout());
        }
        let throttled = SupportError::Refused {
            gateway: "gw1".into(),
            reason: Reason::Throttled,
            retry_after_secs: 8,
        };
        assert!(
            throttled.to_string().contains("retry in 8 s"),
            "{throttled}"
        );
    }

    #[test]
    fn an_ended_session_says_who_ended_it() {
        let stopped = SupportError::Ended {
            gateway: "gw1".into(),
            reason: CloseReason::Stopped,
        };
        assert!(stopped.to_string().contains("lockgate support stop"));
        let expired = SupportError::Ended {
            gateway: "gw1".into(),
            reason: CloseReason::Expired,
        };
        assert!(expired.to_string().contains("time limit"));
        let silent = SupportError::NoAnswer {
            gateway: "gw1".into(),
            waited: Duration::from_secs(30),
            during: ": the handshake".into(),
        };
        assert!(silent.is_timeout());
        assert!(
            silent.to_string().contains("30s: the handshake"),
            "{silent}"
        );
    }
}
