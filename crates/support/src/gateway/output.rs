//! What the gateway's state machine reports: messages to send, state to persist, events.

use crate::command::{CloseReason, Request};
use crate::limiter::LimiterState;
use crate::message::{Message, Reason, SessionId};

/// A message for the client of one session, on `<base>/support/response/<session id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The session (its id names the topic).
    pub session_id: SessionId,
    /// The message.
    pub bytes: Vec<u8>,
}

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The client found the gateway's confirmation wrong (a wrong code) and aborted.
    Aborted,
    /// The client's confirmation was wrong.
    BadConfirmation,
    /// No confirmation came in time.
    TimedOut,
    /// The owner stopped support or started a new code.
    Cancelled,
}

/// What happened, for the audit trail and for the host to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A handshake was charged as attempt `attempt` of [`MAX_ATTEMPTS`] on the code.
    HandshakeStarted {
        /// The session it would open.
        session_id: SessionId,
        /// Who claims to ask.
        operator: String,
        /// Which attempt on the current code.
        attempt: u8,
    },
    /// A handshake failed; it stays charged.
    HandshakeFailed {
        /// The session it would have opened.
        session_id: SessionId,
        /// Who claimed to ask.
        operator: String,
        /// Why.
        failure: Failure,
    },
    /// A message was refused in clear.
    Refused {
        /// The session named in it.
        session_id: SessionId,
        /// Why.
        reason: Reason,
    },
    /// The code was burned by [`MAX_ATTEMPTS`] failures.
    CodeBurned,
    /// The code expired unused.
    CodeExpired,
    /// A session began; the code is used up.
    SessionStarted {
        /// The session.
        session_id: SessionId,
        /// Who asked.
        operator: String,
        /// When it ends by itself (Unix ms).
        expires_at_ms: u64,
    },
    /// A session ended.
    SessionEnded {
        /// The session.
        session_id: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// An allowed request: the host carries it out and calls [`GatewaySupport::respond`].
    Request {
        /// What to answer.
        ticket: Ticket,
        /// What is asked.
        request: Request,
    },
    /// A forbidden request, already refused to the client.
    Forbidden {
        /// The session.
        session_id: SessionId,
        /// The command refused.
        command: &'static str,
    },
    /// A record of the session was dropped: replayed, reordered, tampered with, or not a
    /// request.
    Rejected {
        /// The session.
        session_id: SessionId,
        /// Why.
        why: String,
    },
}

/// Names one request awaiting its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// The session that asked.
    pub session_id: SessionId,
    /// The counter of its record.
    pub in_reply_to: u64,
}

/// What one call produced.
#[derive(Debug, Default)]
#[must_use]
pub struct Output {
    /// Messages to send, in order.
    pub send: Vec<Outgoing>,
    /// Write this durably *before* sending anything.
    pub persist: Option<LimiterState>,
    /// What happened.
    pub events: Vec<Event>,
}

impl Output {
    pub(super) fn send(&mut self, session_id: SessionId, bytes: Vec<u8>) {
        self.send.push(Outgoing { session_id, bytes });
    }

    pub(super) fn refuse(&mut self, session_id: SessionId, reason: Reason, retry_after_secs: u32) {
        let refusal = Message::Refusal {
            session_id,
            reason,
            retry_after_secs,
        };
        self.send(session_id, refusal.encode());
        self.events.push(Event::Refused { session_id, reason });
    }

    /// Appends `other`, keeping the newest state to persist.
    pub fn merge(&mut self, other: Output) {
        self.send.extend(other.send);
        self.persist = other.persist.or(self.persist);
        self.events.extend(other.events);
    }
}
