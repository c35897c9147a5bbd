//! The gateway's side of remote support, as a state machine without I/O (docs/SUPPORT.md §8).
//!
//! [`GatewaySupport`] holds the current one-time code, at most one handshake in progress, at
//! most one session, and the attempt [`Limiter`]. Its host passes in each received message
//! and the time, and gets back an [`Output`]: messages to send (each for one session's
//! topic), the limiter state to persist *before* sending them, and [`Event`]s for the audit
//! trail and for requests the host must carry out (then answered with
//! [`GatewaySupport::respond`]). [`GatewaySupport::tick`] ends what has expired.

use crate::channel::{Channel, ChannelError};
use crate::code::SupportCode;
use crate::command::{CloseReason, Notice, Response, ALLOWED};
use crate::limiter::{Limiter, LimiterState};
use crate::message::{Reason, SessionId};
use crate::pake::{self, SessionKeys, CONFIRM_LEN, SIDE_A, SPAKE_MSG_LEN};
use rand_core::{CryptoRng, RngCore};
use serde_json::Value;
use thiserror::Error;

/// Attempts one code allows; the fifth failure burns it.
pub const MAX_ATTEMPTS: u8 = 5;
/// How long a handshake may wait for the client's confirmation.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 30_000;

/// Why a code could not be started.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StartError {
    /// A session is running.
    #[error("a support session is running; stop it first (lockgate support stop)")]
    SessionActive,
}

/// Who is behind a handshake or a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The session id the client chose.
    pub session_id: SessionId,
    /// The name the client gave (unauthenticated, for the audit trail).
    pub operator: String,
}

/// The state of remote support, for `lockgate support status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// When the current code expires (Unix ms), if one is active.
    pub code_expires_at_ms: Option<u64>,
    /// Attempts left on the current code.
    pub attempts_left: Option<u8>,
    /// The handshake in progress.
    pub handshake: Option<Party>,
    /// The running session.
    pub session: Option<Party>,
    /// When the running session ends by itself (Unix ms).
    pub session_expires_at_ms: Option<u64>,
    /// Attempts charged since the last success.
    pub failures: u32,
    /// Milliseconds until the next attempt is admitted.
    pub retry_after_ms: u64,
}

struct ActiveCode {
    code: SupportCode,
    expires_at_ms: u64,
    charged: u8,
}

struct Handshake {
    session_id: SessionId,
    operator: String,
    hello: Vec<u8>,
    reply: Vec<u8>,
    transcript: [u8; 32],
    keys: SessionKeys,
    started_ms: u64,
}

struct Session {
    session_id: SessionId,
    operator: String,
    channel: Channel,
    confirm: Vec<u8>,
    welcome: Vec<u8>,
    expires_at_ms: u64,
}

/// The gateway's support state machine.
pub struct GatewaySupport<R> {
    gateway_id: String,
    session_ms: u64,
    limiter: Limiter,
    code: Option<ActiveCode>,
    handshake: Option<Handshake>,
    session: Option<Session>,
    rng: R,
}

mod handle;
mod output;

pub use output::{Event, Failure, Outgoing, Output, Ticket};

impl<R: RngCore + CryptoRng> GatewaySupport<R> {
    /// A gateway `gateway_id` whose sessions last `session_ms`, its throttle resuming from
    /// `limiter`. Production passes the OS RNG.
    pub fn new(gateway_id: &str, session_ms: u64, limiter: LimiterState, rng: R) -> Self {
        GatewaySupport {
            gateway_id: gateway_id.to_owned(),
            session_ms,
            limiter: Limiter::new(limiter),
            code: None,
            handshake: None,
            session: None,
            rng,
        }
    }

    /// Sets the length of sessions started from now on.
    pub fn set_session_length(&mut self, session_ms: u64) {
        self.session_ms = session_ms;
    }

    /// Creates a new code valid for `valid_ms`, replacing any other (a handshake in progress
    /// is cancelled). Refused while a session runs.
    pub fn start_code(
        &mut self,
        now_ms: u64,
        valid_ms: u64,
    ) -> Result<(SupportCode, Output), StartError> {
        let mut out = self.tick(now_ms);
        if self.session.is_some() {
            return Err(StartError::SessionActive);
        }
        self.cancel_handshake(&mut out);
        let code = SupportCode::generate(&mut self.rng);
        self.code = Some(ActiveCode {
            code: code.clone(),
            expires_at_ms: now_ms.saturating_add(valid_ms),
            charged: 0,
        });
        Ok((code, out))
    }

    /// Cancels the code and any handshake, and ends the session.
    pub fn stop(&mut self, now_ms: u64) -> Output {
        let mut out = self.tick(now_ms);
        self.code = None;
        self.cancel_handshake(&mut out);
        self.end_session(CloseReason::Stopped, &mut out);
        out
    }

    /// Answers the request `ticket` names; nothing if its session has ended.
    pub fn respond(
        &mut self,
        now_ms: u64,
        ticket: Ticket,
        result: Result<Value, String>,
    ) -> Output {
        let mut out = self.tick(now_ms);
        let Some(session) = self.session.as_mut() else {
            return out;
        };
        if session.session_id != ticket.session_id {
            return out;
        }
        let notice = Notice::Response(Response::new(ticket.in_reply_to, result));
        let sealed = match session.channel.seal(&notice.encode()) {
            Err(ChannelError::TooLong(n)) => {
                let error = format!("the answer is too large ({n} bytes); ask for less");
                let small = Notice::Response(Response::new(ticket.in_reply_to, Err(error)));
                session.channel.seal(&small.encode())
            }
            other => other,
        };
        if let Ok(bytes) = sealed {
            out.send(ticket.session_id, bytes);
        }
        out
    }

    /// Ends whatever has expired: the code, a handshake waiting too long, the session.
    pub fn tick(&mut self, now_ms: u64) -> Output {
        let mut out = Output::default();
        if self
            .code
            .as_ref()
            .is_some_and(|c| now_ms >= c.expires_at_ms)
        {
            self.code = None;
            out.events.push(Event::CodeExpired);
        }
        let stale = |h: &Handshake| now_ms >= h.started_ms.saturating_add(HANDSHAKE_TIMEOUT_MS);
        if self.handshake.as_ref().is_some_and(stale) {
            self.fail_handshake(Failure::TimedOut, &mut out);
        }
        if self
            .session
            .as_ref()
            .is_some_and(|s| now_ms >= s.expires_at_ms)
        {
            self.end_session(CloseReason::Expired, &mut out);
        }
        out
    }

    /// When [`tick`](Self::tick) next has something to do (Unix ms).
    pub fn next_deadline(&self) -> Option<u64> {
        let code = self.code.as_ref().map(|c| c.expires_at_ms);
        let handshake = self
            .handshake
            .as_ref()
            .map(|h| h.started_ms.saturating_add(HANDSHAKE_TIMEOUT_MS));
        let session = self.session.as_ref().map(|s| s.expires_at_ms);
        [code, handshake, session].into_iter().flatten().min()
    }

    /// The state, for `lockgate support status`.
    pub fn status(&mut self, now_ms: u64) -> Status {
        let retry_after_ms = self.limiter.check(now_ms).err().unwrap_or(0);
        Status {
            code_expires_at_ms: self.code.as_ref().map(|c| c.expires_at_ms),
            attempts_left: self
                .code
                .as_ref()
                .map(|c| MAX_ATTEMPTS.saturating_sub(c.charged)),
            handshake: self.handshake.as_ref().map(|h| Party {
                session_id: h.session_id,
                operator: h.operator.clone(),
            }),
            session: self.session.as_ref().map(|s| Party {
                session_id: s.session_id,
                operator: s.operator.clone(),
            }),
            session_expires_at_ms: self.session.as_ref().map(|s| s.expires_at_ms),
            failures: self.limiter.state().failures,
            retry_after_ms,
        }
    }

    /// The operator of session `session_id`, if it is the running one.
    pub fn operator(&self, session_id: SessionId) -> Option<&str> {
        self.session
            .as_ref()
            .filter(|s| s.session_id == session_id)
            .map(|s| s.operator.as_str())
    }

    fn cancel_handshake(&mut self, out: &mut Output) {
        if let Some(h) = &self.handshake {
            out.refuse(h.session_id, Reason::Stopped, 0);
            self.fail_handshake(Failure::Cancelled, out);
        }
    }

    /// Ends the handshake in progress as failed; burns the code if that was its last attempt.
    fn fail_handshake(&mut self, failure: Failure, out: &mut Output) {
        let Some(h) = self.handshake.take() else {
            return;
        };
        out.events.push(Event::HandshakeFailed {
            session_id: h.session_id,
            operator: h.operator,
            failure,
        });
        if self
            .code
            .as_ref()
            .is_some_and(|c| c.charged >= MAX_ATTEMPTS)
        {
            self.code = None;
            out.events.push(Event::CodeBurned);
        }
    }

    fn end_session(&mut self, reason: CloseReason, out: &mut Output) {
        let Some(mut s) = self.session.take() else {
            return;
        };
        if let Ok(bytes) = s.channel.seal(&Notice::Closed { reason }.encode()) {
            out.send(s.session_id, bytes);
        }
        out.events.push(Event::SessionEnded {
            session_id: s.session_id,
            reason,
        });
    }

    fn welcome(&self) -> Notice {
        Notice::Welcome {
            gateway: self.gateway_id.clone(),
            expires_in_s: self.session_ms / 1000,
            commands: ALLOWED.iter().map(|c| (*c).to_owned()).collect(),
        }
    }
}

/// Checks the client's SPAKE2 message against our own (`PROTOCOL.md` §3.1).
fn valid_client_message(msg_a: &[u8; SPAKE_MSG_LEN], own: &[u8; SPAKE_MSG_LEN]) -> bool {
    pake::valid_peer_message(msg_a, SIDE_A, own)
}

/// Compares the client's confirmation with the expected one in constant time.
fn confirmation_ok(keys: &SessionKeys, transcript: &[u8; 32], got: &[u8; CONFIRM_LEN]) -> bool {
    pake::macs_equal(&keys.client_confirmation(transcript), got)
}
