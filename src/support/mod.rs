//! Remote support on the gateway (docs/GATEWAY.md §7, docs/SUPPORT.md): the service the
//! manager and the control socket drive. It owns the current one-time code, the running
//! session, the persisted throttle (`<state_dir>/support.json`), the audit trail, the log
//! ring and the redacted configuration. No sockets and no clock: callers pass Unix
//! milliseconds ([`unix_now_ms`]) and publish what they get back.
//!
//! The manager, for each MQTT message on [`SupportService::subscriptions`], calls
//! [`SupportService::handle`], publishes [`Handled::publish`] and, for a [`Pending`] action,
//! carries it out and calls [`SupportService::answer`]. It calls [`SupportService::tick`]
//! at [`SupportService::next_deadline`]. The control socket calls `start`, `status`, `stop`.

mod audit;
pub mod log_ring;
pub mod redact;
pub mod state;

use crate::config::{Config, CODE_VALIDITY};
use lockgate_support::gateway::{Event, Party, Ticket, MAX_ATTEMPTS};
use lockgate_support::{GatewaySupport, LimiterState, Request, SupportCode, SupportTopics};
use lockgate_wire::LockId;
use log::Level;
use rand_core::OsRng;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub use log_ring::{LogLine, LogRing};

/// Unix time in milliseconds, the clock of the support service.
pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A message to publish: not retained, QoS 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// `<base>/support/response/<session id>`.
    pub topic: String,
    /// The binary message.
    pub payload: Vec<u8>,
}

/// Something a support session asked that only the manager can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer with the health report (docs/GATEWAY.md §1.5).
    Health,
    /// Answer with the paired locks and their links (as the control socket's `locks`).
    Links,
    /// Drop and re-establish this lock's link; answer `{}` or an error (not paired).
    Reconnect(LockId),
    /// Restart discovery; answer `{}` when done.
    Rescan,
    /// Power-cycle the adapter; answer `{}` when done.
    ResetAdapter,
}

/// An action to carry out, and the ticket to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Pass back to [`SupportService::answer`].
    pub ticket: Ticket,
    /// What to do.
    pub action: Action,
}

/// What handling one message produced.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct Handled {
    /// Publish these, in order.
    pub publish: Vec<Publish>,
    /// Carry this out, then call [`SupportService::answer`].
    pub action: Option<Pending>,
}

/// A new code, for the owner.
#[derive(Debug)]
pub struct StartedCode {
    /// The code; show [`SupportCode::grouped`], never log it.
    pub code: SupportCode,
    /// How long it is valid.
    pub valid_for: Duration,
    /// When it expires (Unix ms).
    pub expires_at_ms: u64,
}

/// Why a support operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// `[support] enabled = false`.
    #[error("remote support is disabled in the configuration ([support] enabled = false)")]
    Disabled,
    /// A validity out of range.
    #[error("a code is valid for 1min to 1h, not {0}")]
    Validity(String),
    /// A session runs.
    #[error(transparent)]
    Start(#[from] lockgate_support::gateway::StartError),
    /// The gateway id is too long to be a SPAKE2 identity.
    #[error("gateway.id is longer than 255 bytes: remote support cannot run")]
    GatewayId,
    /// The base topic is invalid (the configuration validates it first).
    #[error("the base topic is invalid: {0}")]
    Topics(String),
}

/// The state of remote support, for `lockgate support status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupportStatus {
    /// Whether codes may be started.
    pub enabled: bool,
    /// The current code, if any: `{"expires_in_s":..,"attempts_left":..}`.
    pub code: Option<Value>,
    /// The handshake in progress: `{"session":..,"operator":..}`.
    pub handshake: Option<Value>,
    /// The running session: `{"session":..,"operator":..,"expires_in_s":..}`.
    pub session: Option<Value>,
    /// The throttle: `{"failures":..,"retry_after_s":..}`.
    pub throttle: Value,
}

/// The gateway's support service.
pub struct SupportService {
    enabled: bool,
    code_validity: Duration,
    topics: SupportTopics,
    state_path: PathBuf,
    machine: GatewaySupport<OsRng>,
    config: Value,
    log: LogRing,
    /// The running session's client, for audit lines after it ends.
    last_party: Option<Party>,
}

mod service;

impl SupportService {
    /// The service for `config`, its throttle read from the state directory, its `logs`
    /// answered from `log`. A state file that cannot be read is reported in the journal and
    /// replaced by a throttle as after [`MAX_ATTEMPTS`] failures: never by a fresh one.
    pub fn new(config: &Config, log: LogRing, now_ms: u64) -> Result<Self, SupportError> {
        if config.gateway.id.len() > 255 {
            return Err(SupportError::GatewayId);
        }
        let topics = config
            .topics()
            .map_err(|e| SupportError::Topics(e.to_string()))?;
        let state_path = config.state_dir.join(state::STATE_FILE);
        let limiter = state::load(&state_path).unwrap_or_else(|e| {
            log::error!("support: {e}; throttling as after {MAX_ATTEMPTS} failed attempts");
            LimiterState {
                failures: u32::from(MAX_ATTEMPTS),
                last_attempt_ms: now_ms,
            }
        });
        let session_ms = millis(config.support.session_length);
        Ok(SupportService {
            enabled: config.support.enabled,
            code_validity: config.support.code_validity,
            topics: SupportTopics::new(&topics),
            state_path,
            machine: GatewaySupport::new(&config.gateway.id, session_ms, limiter, OsRng),
            config: redact::render(config),
            log,
            last_party: None,
        })
    }

    /// Takes what SIGHUP may change: the default validity, the session length (for sessions
    /// started from now on), whether support is enabled (disabling it stops support: publish
    /// what this returns, and renew subscriptions), and the redacted configuration.
    pub fn reload(&mut self, config: &Config, now_ms: u64) -> Vec<Publish> {
        let was_enabled = std::mem::replace(&mut self.enabled, config.support.enabled);
        self.code_validity = config.support.code_validity;
        self.machine
            .set_session_length(millis(config.support.session_length));
        self.config = redact::render(config);
        if was_enabled && !self.enabled {
            self.stop(now_ms)
        } else {
            Vec::new()
        }
    }

    /// The topics to subscribe to (after every ConnAck): `<base>/support/request`, or none
    /// when support is disabled.
    pub fn subscriptions(&self) -> Vec<String> {
        if self.enabled {
            vec![self.topics.request()]
        } else {
            Vec::new()
        }
    }

    /// Whether `topic` is for this service.
    pub fn is_support_topic(&self, topic: &str) -> bool {
        topic == self.topics.request()
    }

    /// Creates a new code, valid for `valid` (default `support.code_validity`), replacing any
    /// other. For `lockgate support start`.
    pub fn start(
        &mut self,
        now_ms: u64,
        valid: Option<Duration>,
    ) -> Result<(StartedCode, Vec<Publish>), SupportError> {
        if !self.enabled {
            return Err(SupportError::Disabled);
        }
        let valid_for = valid.unwrap_or(self.code_validity);
        if !CODE_VALIDITY.contains(&valid_for) {
            return Err(SupportError::Validity(
                humantime_serde::re::humantime::format_duration(valid_for).to_string(),
            ));
        }
        let (code, out) = self.machine.start_code(now_ms, millis(valid_for))?;
        let text = format!(
            "a code was started by the owner, valid {}",
            humantime_serde::re::humantime::format_duration(valid_for)
        );
        audit::line(Level::Info, "code_started", "", "", "", &text);
        let handled = self.finish(now_ms, out);
        let started = StartedCode {
            code,
            valid_for,
            expires_at_ms: now_ms.saturating_add(millis(valid_for)),
        };
        Ok((started, handled.publish))
    }

    /// Cancels the code and ends any session. For `lockgate support stop` (and shutdown).
    pub fn stop(&mut self, now_ms: u64) -> Vec<Publish> {
        audit::line(Level::Info, "stopped", "", "", "", "stopped by the owner");
        let out = self.machine.stop(now_ms);
        self.finish(now_ms, out).publish
    }

    /// The state, for `lockgate support status`.
    pub fn status(&mut self, now_ms: u64) -> SupportStatus {
        let s = self.machine.status(now_ms);
        let secs_until = |t: u64| t.saturating_sub(now_ms).div_ceil(1000);
        let party =
            |p: &Party| json!({"session": p.session_id.to_string(), "operator": p.operator});
        SupportStatus {
            enabled: self.enabled,
            code: s
                .code_expires_at_ms
                .map(|t| json!({"expires_in_s": secs_until(t), "attempts_left": s.attempts_left})),
            handshake: s.handshake.as_ref().map(party),
            session: s.session.as_ref().map(|p| {
                let mut v = party(p);
                v["expires_in_s"] = json!(s.session_expires_at_ms.map(secs_until));
                v
            }),
            throttle: json!({
                "failures": s.failures,
                "retry_after_s": s.retry_after_ms.div_ceil(1000),
            }),
        }
    }

    /// Ends what has expired; publish the result.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Publish> {
        let out = self.machine.tick(now_ms);
        self.finish(now_ms, out).publish
    }

    /// When [`tick`](Self::tick) next has something to do (Unix ms).
    pub fn next_deadline(&self) -> Option<u64> {
        self.machine.next_deadline()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The request behind an action, for tests and for the manager's logging.
pub fn action_for(request: &Request) -> Option<Action> {
    Some(match request {
        Request::Health => Action::Health,
        Request::Links => Action::Links,
        Request::Reconnect { lock } => Action::Reconnect(*lock),
        Request::Rescan => Action::Rescan,
        Request::ResetAdapter => Action::ResetAdapter,
        _ => return None,
    })
}

/// Whether `event` ends or begins the session of `party`.
fn party_of(event: &Event) -> Option<Party> {
    match event {
        Event::SessionStarted {
            session_id,
            operator,
            ..
        } => Some(Party {
            session_id: *session_id,
            operator: operator.clone(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
