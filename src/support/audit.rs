//! The support audit trail: one journal line per thing that happened, with structured fields
//! `SUPPORT_EVENT`, `SUPPORT_SESSION`, `SUPPORT_OPERATOR` (the name the client gave) and
//! `SUPPORT_COMMAND`. The journal adds when. Never the code, never a key.

use lockgate_support::command::CloseReason;
use lockgate_support::gateway::{Event, Failure};
use lockgate_support::{Reason, Request};
use log::Level;

const TARGET: &str = "lockgate::support";

/// Writes one audit line.
pub(super) fn line(
    level: Level,
    event: &str,
    session: &str,
    operator: &str,
    command: &str,
    text: &str,
) {
    log::log!(
        target: TARGET,
        level,
        support_event = event,
        support_session = session,
        support_operator = operator,
        support_command = command;
        "support: {text}"
    );
}

/// Writes the audit line of `event`; `operator` is the name behind its session, if known.
pub(super) fn record(event: &Event, operator: &str) {
    use Level::{Debug, Info, Warn};
    match event {
        Event::HandshakeStarted {
            session_id,
            operator,
            attempt,
        } => line(Info, "handshake", &session_id.to_string(), operator, "", &format!(
            "{operator} began session {session_id} (attempt {attempt} of {} on this code)",
            lockgate_support::gateway::MAX_ATTEMPTS
        )),
        Event::HandshakeFailed {
            session_id,
            operator,
            failure,
        } => line(Warn, "failed", &session_id.to_string(), operator, "", &format!(
            "session {session_id} by {operator} failed: {}",
            failure_text(*failure)
        )),
        Event::Refused { session_id, reason } => {
            let level = match reason {
                Reason::Malformed | Reason::NoSession => Debug,
                _ => Info,
            };
            line(level, "refused", &session_id.to_string(), "", "", &format!(
                "refused session {session_id}: {}",
                reason.name()
            ));
        }
        Event::CodeBurned => line(Warn, "code_burned", "", "", "", &format!(
            "the code is burned after {} failed attempts; start a new one with `lockgate support start`",
            lockgate_support::gateway::MAX_ATTEMPTS
        )),
        Event::CodeExpired => line(Info, "code_expired", "", "", "", "the code expired unused"),
        Event::SessionStarted {
            session_id,
            operator,
            expires_at_ms,
        } => line(Warn, "opened", &session_id.to_string(), operator, "", &format!(
            "session {session_id} opened by {operator}, ends at {} (Unix s) at the latest",
            expires_at_ms / 1000
        )),
        Event::SessionEnded { session_id, reason } => {
            line(Info, "ended", &session_id.to_string(), operator, "", &format!(
                "session {session_id} ({operator}) ended: {}",
                close_text(*reason)
            ));
        }
        Event::Request { ticket, request } => {
            let sid = ticket.session_id.to_string();
            let what = match request {
                Request::Reconnect { lock } => format!("reconnect {lock}"),
                other => other.name().to_owned(),
            };
            line(Info, "command", &sid, operator, request.name(), &format!(
                "session {sid} ({operator}): {what}"
            ));
        }
        Event::Forbidden {
            session_id,
            command,
        } => line(Warn, "forbidden", &session_id.to_string(), operator, command, &format!(
            "session {session_id} ({operator}): refused {command}"
        )),
        Event::Rejected { session_id, why } => line(Info, "rejected", &session_id.to_string(), operator, "", &format!(
            "session {session_id}: dropped a message: {why}"
        )),
    }
}

fn failure_text(failure: Failure) -> &'static str {
    match failure {
        Failure::Aborted => "wrong code (the client aborted)",
        Failure::BadConfirmation => "wrong confirmation (a wrong code or tampering)",
        Failure::TimedOut => "no confirmation in time",
        Failure::Cancelled => "cancelled by the owner",
    }
}

fn close_text(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Quit => "the client quit",
        CloseReason::Stopped => "stopped by the owner",
        CloseReason::Expired => "its time ran out",
    }
}
