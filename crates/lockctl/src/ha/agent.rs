//! One lock as the bridge sees it: a pure state machine (no I/O, time passed in) over the
//! lock's E2E session. It keeps a subscription to the lock's state events alive, turns
//! commands into challenge + actuation exchanges, and says what to send and what changed.

use lockgate_e2e::command::{LockStatus, MechanismState, Request, ResponseBody};
use lockgate_e2e::endpoint::ReceiveError;
use lockgate_e2e::{Action, ChannelState, EndpointSession, ErrorCode, EventCause, Incoming};
use std::time::{Duration, Instant};

/// How long a subscription the bridge asks for lasts.
pub const SUBSCRIPTION: Duration = Duration::from_secs(600);
/// Renewed this long before it ends (at half time).
pub const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// How long an answer may take before the request counts as lost.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause before subscribing again after a failure.
pub const RETRY: Duration = Duration::from_secs(10);
/// A command not yet sent to the lock this long after it arrived is dropped (a failure):
/// a person pressing a button expects the door to move now or not at all.
pub const COMMAND_FRESHNESS: Duration = Duration::from_secs(5);
/// After an accepted actuation, the state is read again this late unless an event brought
/// the bolt to rest first (events are not retransmitted; PROTOCOL.md §9.6).
pub const CHECK_AFTER_ACTUATION: Duration = Duration::from_secs(4);

/// A command from the home-automation side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Throw the bolt.
    Lock,
    /// Retract the bolt.
    Unlock,
    /// Unlock and pull the latch.
    Open,
}

impl Command {
    /// Parses Home Assistant's payloads `LOCK`, `UNLOCK`, `OPEN`.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        match payload {
            b"LOCK" => Some(Command::Lock),
            b"UNLOCK" => Some(Command::Unlock),
            b"OPEN" => Some(Command::Open),
            _ => None,
        }
    }

    fn action(self) -> Action {
        match self {
            Command::Lock => Action::Lock,
            Command::Unlock => Action::Unlock,
            Command::Open => Action::Unlatch,
        }
    }
}

/// What the agent asks its host to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Store this session state durably before sending the next frame.
    Persist(ChannelState),
    /// Publish this frame on the lock's `down` topic.
    Send(Vec<u8>),
    /// The state, availability or attributes changed: publish them.
    Changed,
    /// A command failed (also kept as the `last_error` attribute): log it.
    Failed(String),
}

/// A command and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Order {
    command: Command,
    at: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Subscribe,
    Challenge(Order),
    Actuate(Command),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    counter: u64,
    asked: Asked,
    since: Instant,
}

/// One lock.
#[derive(Debug)]
pub struct Agent {
    session: EndpointSession,
    status: Option<LockStatus>,
    cause: Option<EventCause>,
    gateway_online: bool,
    link_online: bool,
    subscribed_until: Option<Instant>,
    retry_at: Option<Instant>,
    pending: Option<Pending>,
    queued: Option<Order>,
    last_error: Option<String>,
    /// Read the state again (a renewal answers with it) at this time.
    check_at: Option<Instant>,
    /// The `seq` of the last event accepted since the last subscription answer.
    last_seq: Option<u32>,
}

impl Agent {
    /// An agent over `session`; nothing is known until the first subscription answers.
    pub fn new(session: EndpointSession) -> Self {
        Agent {
            session,
            status: None,
            cause: None,
            gateway_online: false,
            link_online: true,
            subscribed_until: None,
            retry_at: None,
            pending: None,
            queued: None,
            last_error: None,
            check_at: None,
            last_seq: None,
        }
    }

    /// The session state to store at the end.
    pub fn session_state(&self) -> ChannelState {
        self.session.state()
    }

    /// The authorization id (the lock's frames for us arrive on `up/<auth_id>`).
    pub fn auth_id(&self) -> u32 {
        self.session.lock().auth_id
    }

    /// The last status the lock reported.
    pub fn status(&self) -> Option<&LockStatus> {
        self.status.as_ref()
    }

    /// What caused the last state event.
    pub fn cause(&self) -> Option<EventCause> {
        self.cause
    }

    /// The last failure, for the `last_error` attribute.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Whether the entities are available: the gateway and the lock's link are up and the
    /// lock's state is known.
    pub fn available(&self) -> bool {
        self.gateway_online && self.link_online && self.status.is_some()
    }

    /// The gateway's `bridge/state`. Coming online, the subscription is renewed at once (the
    /// gateway or the lock may have restarted).
    pub fn gateway(&mut self, now: Instant, online: bool) -> Vec<Out> {
        let was = self.gateway_online;
        self.gateway_online = online;
        let mut out = Vec::new();
        if online && !was {
            self.subscribed_until = None;
            self.retry_at = None;
            self.subscribe(now, &mut out);
        }
        if online != was {
            out.push(Out::Changed);
        }
        out
    }

    /// Reads the state again as soon as possible (frames may have been lost: the bridge's
    /// connection to the gateway's broker was down).
    pub fn refresh(&mut self, now: Instant) -> Vec<Out> {
        self.check_at = Some(now);
        self.tick(now)
    }

    /// The gateway's availability of the lock's link.
    pub fn link(&mut self, online: bool) -> Vec<Out> {
        let changed = self.link_online != online;
        self.link_online = online;
        if changed {
            vec![Out::Changed]
        } else {
            Vec::new()
        }
    }

    /// Timers: lost answers, subscription renewal.
    pub fn tick(&mut self, now: Instant) -> Vec<Out> {
        let mut out = Vec::new();
        if let Some(p) = self.pending.filter(|p| now >= p.since + ANSWER_TIMEOUT) {
            self.pending = None;
            let what = match p.asked {
                Asked::Subscribe => {
                    self.retry_at = Some(now + RETRY);
                    None
                }
                Asked::Challenge(o) => Some(o.command),
                Asked::Actuate(c) => Some(c),
            };
            if let Some(c) = what {
                self.fail(&format!("{c:?}: the lock did not answer"), &mut out);
            }
        }
        if self.pending.is_none() && self.send_queued(now, &mut out) {
            return out;
        }
        let check = self.check_at.is_some_and(|t| now >= t);
        let renew = check
            || self
                .subscribed_until
                .is_none_or(|until| now + RENEW_BEFORE >= until);
        let may = self.retry_at.is_none_or(|t| now >= t);
        if renew && may && self.gateway_online && self.pending.is_none() {
            self.subscribe(now, &mut out);
        }
        out
    }

    /// A command from Home Assistant (the host already dropped retained and early ones).
    pub fn command(&mut self, now: Instant, command: Command) -> Vec<Out> {
        let mut out = Vec::new();
        let order = Order { command, at: now };
        if self.pending.is_some() {
            // One exchange at a time; the newest command wins, if it can go soon enough.
            self.queued = Some(order);
            return out;
        }
        self.ask(now, Request::Challenge, Asked::Challenge(order), &mut out);
        out
    }

    /// Sends the queued command if it is still fresh (else it fails); whether one was sent.
    fn send_queued(&mut self, now: Instant, out: &mut Vec<Out>) -> bool {
        let Some(order) = self.queued.take() else {
            return false;
        };
        if now > order.at + COMMAND_FRESHNESS {
            let c = order.command;
            self.fail(&format!("{c:?}: not sent, the lock was busy too long"), out);
            return false;
        }
        self.ask(now, Request::Challenge, Asked::Challenge(order), out);
        true
    }

    /// A frame from the lock on `up/<auth_id>`.
    pub fn frame(&mut self, now: Instant, frame: &[u8]) -> Vec<Out> {
        let mut out = Vec::new();
        match self.session.receive(frame) {
            Ok(Incoming::Event(e)) => {
                let step = self.last_seq.map(|last| e.seq.wrapping_sub(last));
                if step.is_some_and(|d| d == 0 || d > u32::MAX / 2) {
                    // Older than one already shown (a relay reordered them).
                    return out;
                }
                self.last_seq = Some(e.seq);
                if step.is_some_and(|d| d > 1) {
                    // Events were lost (the lock's queue was full, a link dropped): read
                    // the state.
                    self.check_at = Some(now);
                } else if !moving(e.status.state) {
                    self.check_at = None;
                }
                self.status = Some(e.status);
                self.cause = Some(e.cause);
                out.push(Out::Changed);
                out.extend(self.tick(now));
            }
            Ok(Incoming::Response(r)) => {
                let Some(p) = self.pending.filter(|p| p.counter == r.in_reply_to) else {
                    return out;
                };
                self.pending = None;
                self.answered(now, p.asked, r.result, &mut out);
            }
            Ok(Incoming::Refused { counter, code }) => {
                if let Some(p) = self.pending.filter(|p| p.counter == counter) {
                    self.pending = None;
                    self.answered(now, p.asked, Err(code), &mut out);
                }
            }
            // Copies, frames of other sessions, forgeries: nothing to do.
            Err(ReceiveError::NotForUs | ReceiveError::Session(_)) => {}
            Err(ReceiveError::Malformed(e)) => log::warn!("a malformed frame from the lock: {e}"),
        }
        if self.pending.is_none() {
            self.send_queued(now, &mut out);
        }
        out
    }

    /// The gateway's receipt for a frame of ours: `expired` or `rejected` end the wait.
    pub fn undelivered(&mut self, now: Instant, counter: u64, reason: &str) -> Vec<Out> {
        let mut out = Vec::new();
        if let Some(p) = self.pending.filter(|p| p.counter == counter) {
            self.pending = None;
            match p.asked {
                Asked::Subscribe => self.retry_at = Some(now + RETRY),
                Asked::Challenge(Order { command: c, .. }) | Asked::Actuate(c) => self.fail(
                    &format!("{c:?}: the gateway could not deliver it ({reason})"),
                    &mut out,
                ),
            }
        }
        out
    }

    fn answered(
        &mut self,
        now: Instant,
        asked: Asked,
        result: Result<ResponseBody, ErrorCode>,
        out: &mut Vec<Out>,
    ) {
        match (asked, result) {
            (Asked::Subscribe, Ok(ResponseBody::Subscribed { status, .. })) => {
                self.subscribed_until = Some(now + SUBSCRIPTION);
                self.check_at = None;
                // The lock may have restarted (its `seq` with it): count afresh.
                self.last_seq = None;
                self.status = Some(status);
                out.push(Out::Changed);
            }
            (Asked::Subscribe, other) => {
                self.retry_at = Some(now + RETRY);
                // The code only: an answer's body is never logged.
                let why = other.err().map_or("an unexpected answer", |c| c.name());
                log::warn!("the lock refused a subscription: {why}");
            }
            (Asked::Challenge(o), Ok(ResponseBody::Challenge { .. }))
                if now > o.at + COMMAND_FRESHNESS =>
            {
                let c = o.command;
                self.fail(&format!("{c:?}: not sent, the lock answered too late"), out);
            }
            (Asked::Challenge(o), Ok(ResponseBody::Challenge { challenge, .. })) => {
                let request = Request::Actuate {
                    action: o.command.action(),
                    challenge,
                };
                self.ask(now, request, Asked::Actuate(o.command), out);
            }
            (Asked::Actuate(_), Ok(ResponseBody::Actuation(state))) => {
                if let Some(s) = &mut self.status {
                    s.state = state;
                }
                self.check_at = Some(now + CHECK_AFTER_ACTUATION);
                self.last_error = None;
                out.push(Out::Changed);
            }
            (Asked::Challenge(Order { command: c, .. }) | Asked::Actuate(c), Err(code)) => {
                let advice = crate::advice::advice(code, crate::advice::Stage::Session);
                self.fail(&format!("{c:?}: {}: {advice}", code.name()), out);
            }
            (Asked::Challenge(Order { command: c, .. }) | Asked::Actuate(c), Ok(_)) => {
                self.fail(&format!("{c:?}: an unexpected answer"), out);
            }
        }
    }

    fn fail(&mut self, message: &str, out: &mut Vec<Out>) {
        self.last_error = Some(message.to_owned());
        out.push(Out::Failed(message.to_owned()));
        out.push(Out::Changed);
    }

    fn subscribe(&mut self, now: Instant, out: &mut Vec<Out>) {
        if self.pending.is_some() {
            return;
        }
        let secs = u16::try_from(SUBSCRIPTION.as_secs()).unwrap_or(u16::MAX);
        self.ask(now, Request::Subscribe { secs }, Asked::Subscribe, out);
    }

    fn ask(&mut self, now: Instant, request: Request, asked: Asked, out: &mut Vec<Out>) {
        match self.session.request(&request) {
            Ok(sealed) => {
                if let Some(state) = sealed.persist {
                    out.push(Out::Persist(state));
                }
                self.pending = Some(Pending {
                    counter: sealed.counter,
                    asked,
                    since: now,
                });
                out.push(Out::Send(sealed.frame));
            }
            Err(e) => {
                // The session cannot send (counters used up): say so, and only every RETRY.
                self.retry_at = Some(now + RETRY);
                self.fail(&format!("{asked:?}: {e}; pair the bridge again"), out);
            }
        }
    }
}

/// Whether the bolt is on its way somewhere (more events will follow).
fn moving(state: MechanismState) -> bool {
    matches!(
        state,
        MechanismState::Locking
            | MechanismState::Unlocking
            | MechanismState::Unlatching
            | MechanismState::Unlatched
    )
}

#[cfg(test)]
#[path = "agent_tests.rs"]
mod tests;
