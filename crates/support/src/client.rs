//! The support client's side (used by `lockctl support`), as a state machine without I/O
//! (docs/SUPPORT.md §8.3).
//!
//! [`SupportClient::start`] draws a session id and gives the Hello to publish on
//! `<base>/support/request`; every message received on `<base>/support/response/<session
//! id>` goes to [`SupportClient::handle`], which says what to do next. Once the gateway's
//! welcome has arrived, [`SupportClient::request`] seals requests.

use crate::channel::{Channel, ChannelError};
use crate::code::SupportCode;
use crate::command::{CloseReason, Notice, Request, RequestError, Response};
use crate::message::{is_valid_operator, DecodeError, Message, Reason, SessionId};
use crate::pake::{self, SessionKeys, SIDE_B, SPAKE_MSG_LEN};
use rand_core::{CryptoRng, RngCore};
use spake2::{Ed25519Group, Spake2};
use thiserror::Error;

/// What the client should do or show after a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Publish this (the confirmation).
    Send(Vec<u8>),
    /// The gateway's confirmation did not match: the code is wrong (or the messages were
    /// tampered with). Publish `abort`; the attempt is spent.
    WrongCode {
        /// The Abort message.
        abort: Vec<u8>,
    },
    /// The session is open.
    Established {
        /// The gateway's id.
        gateway: String,
        /// Seconds until it ends by itself.
        expires_in_s: u64,
        /// The commands it may run.
        commands: Vec<String>,
    },
    /// The answer to a request.
    Response(Response),
    /// The gateway ended the session.
    Closed(CloseReason),
    /// The gateway refused in clear (unauthenticated: show it, then stop).
    Refused {
        /// Why.
        reason: Reason,
        /// For `throttled`: seconds to wait.
        retry_after_secs: u32,
    },
    /// Nothing to do (another session's message, a duplicate, or out of turn).
    Ignored,
}

/// Why the client could not go on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The operator name is not 1 to 32 bytes without control characters.
    #[error("the operator name must be 1 to 32 bytes without control characters")]
    Operator,
    /// The gateway id is not 1 to 255 bytes.
    #[error("the gateway id must be 1 to 255 bytes")]
    GatewayId,
    /// The message did not decode.
    #[error("malformed message: {0}")]
    Malformed(#[from] DecodeError),
    /// The gateway's SPAKE2 message is invalid (ignored; keep waiting).
    #[error("the gateway's SPAKE2 message is invalid")]
    InvalidSpake,
    /// A record was refused.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// A record held something that is not a notice.
    #[error("the gateway sent an unreadable record: {0}")]
    Notice(RequestError),
    /// The session is not open (yet, or any more).
    #[error("the support session is not open")]
    NotOpen,
    /// The session's time is up.
    #[error("the support session has expired")]
    Expired,
}

enum State {
    AwaitingReply {
        spake: Box<Spake2<Ed25519Group>>,
        hello: Vec<u8>,
        msg_a: [u8; SPAKE_MSG_LEN],
    },
    AwaitingWelcome {
        channel: Channel,
        confirm: Vec<u8>,
    },
    Open {
        channel: Channel,
        expires_at_ms: u64,
    },
    Closed,
}

/// One support session, from the client's side.
pub struct SupportClient {
    gateway_id: String,
    session_id: SessionId,
    state: State,
}

impl SupportClient {
    /// Starts a handshake with gateway `gateway_id` as `operator` (a name for the gateway's
    /// audit trail) with `code`; returns the client and the Hello to publish.
    pub fn start(
        gateway_id: &str,
        operator: &str,
        code: &SupportCode,
        mut rng: impl RngCore + CryptoRng,
    ) -> Result<(Self, Vec<u8>), ClientError> {
        if !is_valid_operator(operator) {
            return Err(ClientError::Operator);
        }
        if !(1..=255).contains(&gateway_id.len()) {
            return Err(ClientError::GatewayId);
        }
        let mut sid = [0u8; 8];
        rng.fill_bytes(&mut sid);
        let session_id = SessionId(sid);
        let id_a = pake::client_identity(&session_id, operator);
        let id_b = pake::gateway_identity(gateway_id);
        let (spake, msg_a) = pake::start(true, &code.password(), &id_a, &id_b, rng);
        let hello = Message::Hello {
            session_id,
            operator: operator.to_owned(),
            spake: msg_a,
        }
        .encode();
        let client = SupportClient {
            gateway_id: gateway_id.to_owned(),
            session_id,
            state: State::AwaitingReply {
                spake: Box::new(spake),
                hello: hello.clone(),
                msg_a,
            },
        };
        Ok((client, hello))
    }

    /// The session id (it names the topic to subscribe to).
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// Whether requests can be sent.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// The last handshake message, to publish again if no answer came.
    pub fn retransmission(&self) -> Option<Vec<u8>> {
        match &self.state {
            State::AwaitingReply { hello, .. } => Some(hello.clone()),
            State::AwaitingWelcome { confirm, .. } => Some(confirm.clone()),
            _ => None,
        }
    }

    /// Handles one message from the gateway received at `now_ms` (the client's own clock).
    pub fn handle(&mut self, now_ms: u64, bytes: &[u8]) -> Result<ClientEvent, ClientError> {
        let message = Message::decode(bytes)?;
        if message.session_id() != self.session_id {
            return Ok(ClientEvent::Ignored);
        }
        match message {
            Message::Reply { spake, confirm, .. } => self.on_reply(&spake, &confirm),
            Message::Data {
                counter, sealed, ..
            } => self.on_data(now_ms, counter, &sealed),
            Message::Refusal {
                reason,
                retry_after_secs,
                ..
            } => {
                self.state = State::Closed;
                Ok(ClientEvent::Refused {
                    reason,
                    retry_after_secs,
                })
            }
            _ => Ok(ClientEvent::Ignored),
        }
    }

    /// Seals `request`; returns its counter (responses name it) and the message to publish.
    pub fn request(
        &mut self,
        now_ms: u64,
        request: &Request,
    ) -> Result<(u64, Vec<u8>), ClientError> {
        let State::Open {
            channel,
            expires_at_ms,
        } = &mut self.state
        else {
            return Err(ClientError::NotOpen);
        };
        if now_ms >= *expires_at_ms {
            self.state = State::Closed;
            return Err(ClientError::Expired);
        }
        let counter = channel.next_counter();
        Ok((counter, channel.seal(&request.encode())?))
    }

    fn on_reply(
        &mut self,
        msg_b: &[u8; SPAKE_MSG_LEN],
        confirm: &[u8; 32],
    ) -> Result<ClientEvent, ClientError> {
        let State::AwaitingReply { hello, msg_a, .. } = &self.state else {
            return Ok(ClientEvent::Ignored);
        };
        if !pake::valid_peer_message(msg_b, SIDE_B, msg_a) {
            return Err(ClientError::InvalidSpake);
        }
        let transcript = pake::transcript(&self.gateway_id, hello, msg_b);
        let State::AwaitingReply { spake, .. } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return Ok(ClientEvent::Ignored);
        };
        let Ok(spake_key) = spake.finish(msg_b) else {
            return Err(ClientError::InvalidSpake);
        };
        let keys = SessionKeys::derive(&spake_key, &transcript);
        if !pake::macs_equal(&keys.gateway_confirmation(&transcript), confirm) {
            let abort = Message::Abort {
                session_id: self.session_id,
            };
            return Ok(ClientEvent::WrongCode {
                abort: abort.encode(),
            });
        }
        let confirm = Message::Confirm {
            session_id: self.session_id,
            confirm: keys.client_confirmation(&transcript),
        }
        .encode();
        self.state = State::AwaitingWelcome {
            channel: Channel::client(&keys, self.session_id),
            confirm: confirm.clone(),
        };
        Ok(ClientEvent::Send(confirm))
    }

    fn on_data(
        &mut self,
        now_ms: u64,
        counter: u64,
        sealed: &[u8],
    ) -> Result<ClientEvent, ClientError> {
        let channel = match &mut self.state {
            State::AwaitingWelcome { channel, .. } | State::Open { channel, .. } => channel,
            _ => return Ok(ClientEvent::Ignored),
        };
        let notice =
            Notice::decode(&channel.open(counter, sealed)?).map_err(ClientError::Notice)?;
        let state = std::mem::replace(&mut self.state, State::Closed);
        let (state, event) = match (state, notice) {
            (
                State::AwaitingWelcome { channel, .. },
                Notice::Welcome {
                    gateway,
                    expires_in_s,
                    commands,
                },
            ) => {
                let expires_at_ms = now_ms.saturating_add(expires_in_s.saturating_mul(1000));
                let open = State::Open {
                    channel,
                    expires_at_ms,
                };
                (
                    open,
                    ClientEvent::Established {
                        gateway,
                        expires_in_s,
                        commands,
                    },
                )
            }
            (open @ State::Open { .. }, Notice::Response(r)) => (open, ClientEvent::Response(r)),
            (_, Notice::Closed { reason }) => (State::Closed, ClientEvent::Closed(reason)),
            (state, _) => (state, ClientEvent::Ignored),
        };
        self.state = state;
        Ok(event)
    }
}
