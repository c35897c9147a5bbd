//! The reference lock: a pure state machine (boringtun style).
//!
//! Every entry point takes `now` (the lock's clock in milliseconds; the reference host passes
//! Unix time) and returns an [`Output`]: frames to send, effects to report, and whether the
//! durable state must be written (with [`LockMachine::snapshot`]) **before** the frames leave.
//! Randomness comes from the injected `R`, so runs are reproducible.

mod auth;
mod mechanism;
mod pairing;
mod requests;
mod snapshot;
mod window;

pub use auth::{
    role_permits, AuthRecord, InviteRecord, Via, MAX_AUTHORIZATIONS, MAX_CHALLENGES, MAX_INVITES,
    MAX_INVITE_FAILURES,
};
pub use mechanism::Mechanism;
pub use pairing::MAX_PENDING_PAIRINGS;
pub use snapshot::{LockIdentity, LockSnapshot, RestoreError};
pub use window::MAX_FAILED_ATTEMPTS;

use crate::command::{DoorState, MechanismState, Role};
use crate::error_code::ErrorCode;
use crate::event::EventCause;
use crate::keys::{PublicKey, StaticSecret};
use crate::setup_code::LabelCode;
use auth::Authorization;
use lockgate_wire::envelope::{build_frame, Header, Kind};
use lockgate_wire::LockId;
use pairing::Pairings;
use rand_core::{CryptoRng, RngCore};
use std::collections::BTreeMap;
use window::PairingWindow;

/// Timings and identity strings of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockConfig {
    /// Firmware version reported in the status.
    pub firmware: String,
    /// How long a button press opens the pairing window.
    pub pairing_window_ms: u64,
    /// How long a challenge stays valid.
    pub challenge_ttl_ms: u64,
    /// Default lifetime of an invite.
    pub invite_ttl_ms: u64,
    /// How long the bolt takes to move.
    pub actuation_ms: u64,
    /// How long an unlatch holds the latch.
    pub unlatch_hold_ms: u64,
    /// Whether the lock can unlatch.
    pub unlatch_supported: bool,
    /// How long a pairing attempt may wait for its next message.
    pub pairing_step_timeout_ms: u64,
    /// Lock again by itself after resting unlocked this long with the door not open; 0 = off.
    pub auto_lock_ms: u64,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            firmware: concat!("lockgate-reference ", env!("CARGO_PKG_VERSION")).into(),
            pairing_window_ms: 120_000,
            challenge_ttl_ms: 30_000,
            invite_ttl_ms: 48 * 3600 * 1000,
            actuation_ms: 1_500,
            unlatch_hold_ms: 1_000,
            unlatch_supported: true,
            pairing_step_timeout_ms: 30_000,
            auto_lock_ms: 0,
        }
    }
}

/// Why the pairing window closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowClosed {
    /// Its time ran out.
    Timeout,
    /// The button was pressed again.
    Button,
    /// An endpoint paired with the label code.
    Paired,
    /// The failed-attempt budget was spent.
    TooManyAttempts,
    /// Factory reset.
    FactoryReset,
}

/// Why a received frame was dropped without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The envelope header did not parse.
    BadEnvelope,
    /// A frame kind a lock does not accept (`Error`), or a pairing frame without a pairing id.
    UnexpectedFrame,
}

/// Something the host should know (log, show, count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The pairing window opened until this time.
    PairingWindowOpened {
        /// Lock clock (ms).
        until: u64,
    },
    /// The pairing window closed.
    PairingWindowClosed(WindowClosed),
    /// An endpoint paired.
    Paired {
        /// Its authorization id.
        auth_id: u32,
        /// Its role.
        role: Role,
        /// Its name.
        name: String,
    },
    /// A pairing attempt failed.
    PairingFailed {
        /// The attempt's pairing id.
        pairing_id: u32,
        /// Why.
        code: ErrorCode,
    },
    /// An invite was burned by failed attempts.
    InviteBurned {
        /// Its id.
        invite_id: u16,
    },
    /// An authorization was revoked.
    Revoked {
        /// Its id.
        auth_id: u32,
    },
    /// The mechanism changed state.
    Mechanism(MechanismState),
    /// A request was refused.
    Refused {
        /// The authorization (or pairing) id it came from.
        auth_id: u32,
        /// Why.
        code: ErrorCode,
    },
    /// A frame was dropped.
    Dropped(DropReason),
    /// All authorizations and invites were erased.
    FactoryReset,
}

/// What an entry point produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Frames to send, in order.
    pub frames: Vec<Vec<u8>>,
    /// Effects, in order.
    pub effects: Vec<Effect>,
    /// Write [`LockMachine::snapshot`] durably before sending `frames`.
    pub persist: bool,
}

/// The reference lock.
pub struct LockMachine<R> {
    config: LockConfig,
    lock_id: LockId,
    key: StaticSecret,
    label: LabelCode,
    auths: BTreeMap<u32, Authorization>,
    next_auth_id: u32,
    invites: Vec<InviteRecord>,
    clock_offset_ms: Option<i64>,
    window: PairingWindow,
    pairings: Pairings,
    mechanism: Mechanism,
    last_now: u64,
    rng: R,
}

impl<R: RngCore + CryptoRng> LockMachine<R> {
    /// A lock fresh from the factory.
    pub fn new(config: LockConfig, identity: LockIdentity, rng: R) -> Self {
        LockMachine {
            config,
            lock_id: identity.lock_id,
            key: identity.secret,
            label: identity.label,
            auths: BTreeMap::new(),
            next_auth_id: 1,
            invites: Vec::new(),
            clock_offset_ms: None,
            window: PairingWindow::default(),
            pairings: Pairings::default(),
            mechanism: Mechanism::new(MechanismState::Locked),
            last_now: 0,
            rng,
        }
    }

    /// The lock's id.
    pub fn lock_id(&self) -> LockId {
        self.lock_id
    }

    /// The lock's static public key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The label code (printed on the lock).
    pub fn label_code(&self) -> &LabelCode {
        &self.label
    }

    /// The mechanism state.
    pub fn mechanism_state(&self) -> MechanismState {
        self.mechanism.state()
    }

    /// Whether the lock's pairing window is open.
    pub fn pairing_window_open(&self, now: u64) -> bool {
        self.window.is_open(now)
    }

    /// The authorizations, with current counters.
    pub fn authorizations(&self) -> Vec<AuthRecord> {
        self.auths.values().map(Authorization::snapshot).collect()
    }

    /// The lock's own button: opens the pairing window, or closes it if open.
    pub fn press_button(&mut self, now: u64) -> Output {
        let now = self.clock(now);
        let mut out = self.advance(now);
        if self.window.is_open(now) {
            self.window.close();
            out.effects
                .push(Effect::PairingWindowClosed(WindowClosed::Button));
        } else {
            let until = self.window.open(now, self.config.pairing_window_ms);
            out.effects.push(Effect::PairingWindowOpened { until });
        }
        out
    }

    /// Handles one frame written to the lock's `rx` characteristic.
    pub fn handle_frame(&mut self, now: u64, via: Via, frame: &[u8]) -> Output {
        let now = self.clock(now);
        let mut out = self.advance(now);
        let Ok((header, body)) = Header::parse(frame) else {
            out.effects.push(Effect::Dropped(DropReason::BadEnvelope));
            return out;
        };
        match header.kind {
            Kind::Pairing => self.on_pairing(now, &header, body, &mut out),
            Kind::Session => self.on_session(now, via, &header, body, &mut out),
            Kind::Error => out
                .effects
                .push(Effect::Dropped(DropReason::UnexpectedFrame)),
        }
        out
    }

    /// Runs timers: the mechanism, the pairing window, pairing attempts.
    pub fn poll(&mut self, now: u64) -> Output {
        let now = self.clock(now);
        self.advance(now)
    }

    /// When [`poll`](Self::poll) next has work to do.
    pub fn next_deadline(&self) -> Option<u64> {
        [
            self.mechanism.deadline(),
            self.window.deadline(),
            self.pairings.deadline(self.config.pairing_step_timeout_ms),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Erases every authorization and invite and closes the pairing window. The lock's
    /// identity, label code and clock remain; authorization ids are never reused.
    pub fn factory_reset(&mut self) -> Output {
        let mut out = Output {
            persist: true,
            ..Output::default()
        };
        self.auths.clear();
        self.invites.clear();
        self.pairings = Pairings::default();
        if self.window.deadline().is_some() {
            self.window.close();
            out.effects
                .push(Effect::PairingWindowClosed(WindowClosed::FactoryReset));
        }
        out.effects.push(Effect::FactoryReset);
        out
    }

    /// Makes the next movement jam.
    pub fn inject_jam(&mut self) {
        self.mechanism.inject_jam();
    }

    /// Sets the battery level (clamped to 100); a change is an event.
    pub fn set_battery(&mut self, now: u64, percent: u8) -> Output {
        let now = self.clock(now);
        let mut out = self.advance(now);
        let percent = percent.min(100);
        if percent != self.mechanism.battery_percent {
            self.mechanism.battery_percent = percent;
            out.persist = true;
            self.notify(now, EventCause::Battery);
        }
        out
    }

    /// Sets the door sensor reading; a change is an event.
    pub fn set_door(&mut self, now: u64, door: DoorState) -> Output {
        let now = self.clock(now);
        let out = self.advance(now);
        if door != self.mechanism.door {
            self.mechanism.set_door(door, now, self.config.auto_lock_ms);
            self.notify(now, EventCause::Door);
        }
        out
    }

    /// Someone turns the knob by hand: the bolt moves at once (ignored while the motor
    /// moves); subscribers get an event.
    pub fn turn_knob(&mut self, now: u64) -> Output {
        let now = self.clock(now);
        let mut out = self.advance(now);
        if let Some(state) = self.mechanism.turn_by_hand(now, self.config.auto_lock_ms) {
            out.effects.push(Effect::Mechanism(state));
            out.persist = true;
            self.notify(now, EventCause::Manual);
        }
        out
    }

    /// Whether events wait for a gateway to collect them: advertise `pending`.
    pub fn has_pending_events(&self) -> bool {
        self.auths.values().any(Authorization::has_events)
    }

    /// Seals every event waiting, for every subscriber, into frames to notify now (a
    /// gateway is linked and listening). Persist before sending, as always.
    pub fn collect_events(&mut self, now: u64) -> Output {
        let now = self.clock(now);
        let mut out = self.advance(now);
        for auth in self.auths.values_mut() {
            for event in auth.take_events() {
                match auth.channel.seal(&event.encode()) {
                    Ok(sealed) => {
                        out.persist |= sealed.persist.is_some();
                        out.frames.push(sealed.frame);
                    }
                    // Counters exhausted: the authorization must pair again; nothing to send.
                    Err(_) => break,
                }
            }
        }
        out
    }

    /// Queues an event with the status now for every authorization subscribed and allowed
    /// to hear from the lock through a gateway.
    fn notify(&mut self, now: u64, cause: EventCause) {
        let wall = self.wall_clock(now);
        let status = self.status(now);
        for auth in self.auths.values_mut() {
            if auth.subscribed(now) && auth.check_valid(wall, Via::Gateway).is_ok() {
                auth.queue_event(cause, status.clone());
            }
        }
    }

    /// Notices a clock stepped backwards: every challenge and pairing exchange in flight is
    /// dropped, so none of them outlives its lifetime in real time.
    fn clock(&mut self, now: u64) -> u64 {
        if now < self.last_now {
            for auth in self.auths.values_mut() {
                auth.clear_challenges();
            }
            self.pairings = Pairings::default();
        }
        self.last_now = now;
        now
    }

    fn advance(&mut self, now: u64) -> Output {
        let mut out = Output::default();
        let c = &self.config;
        let (hold, move_ms, auto) = (c.unlatch_hold_ms, c.actuation_ms, c.auto_lock_ms);
        self.mechanism.ensure_auto_lock(now, auto);
        while let Some((state, cause)) = self.mechanism.poll(now, hold, move_ms, auto) {
            out.effects.push(Effect::Mechanism(state));
            out.persist = true;
            self.notify(now, cause);
        }
        if let Some(reason) = self.window.expire(now) {
            out.effects.push(Effect::PairingWindowClosed(reason));
        }
        self.expire_pairings(now, &mut out);
        out
    }

    /// The lock's wall clock, if it has been set.
    fn wall_clock(&self, now: u64) -> Option<u64> {
        let offset = self.clock_offset_ms?;
        Some(
            i128::from(now)
                .saturating_add(i128::from(offset))
                .clamp(0, i128::from(u64::MAX)) as u64,
        )
    }
}

/// A cleartext `Error` frame refusing the frame `header`.
fn error_frame(header: &Header, code: ErrorCode) -> Vec<u8> {
    let reply = Header {
        kind: Kind::Error,
        auth_id: header.auth_id,
        counter: header.counter,
    };
    build_frame(&reply, &[code as u8])
}

fn refuse(out: &mut Output, header: &Header, code: ErrorCode) {
    out.frames.push(error_frame(header, code));
    out.effects.push(Effect::Refused {
        auth_id: header.auth_id,
        code,
    });
}
