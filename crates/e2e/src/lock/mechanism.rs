//! The simulated lock mechanism: timed transitions, turns by hand, auto-lock, an injectable
//! jam, door and battery.

use crate::command::{Action, DoorState, MechanismState};
use crate::error_code::ErrorCode;
use crate::event::EventCause;

/// A movement in progress: the state it is in, when it ends, and what started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Movement {
    until: u64,
    next: MechanismState,
    cause: EventCause,
}

/// The mechanism.
#[derive(Debug, Clone)]
pub struct Mechanism {
    state: MechanismState,
    movement: Option<Movement>,
    jam_next: bool,
    /// When the lock locks itself, if it stays unlocked with the door closed until then.
    auto_lock_at: Option<u64>,
    /// The door sensor.
    pub door: DoorState,
    /// Battery charge in percent.
    pub battery_percent: u8,
}

impl Mechanism {
    /// A mechanism at rest in `state`.
    pub fn new(state: MechanismState) -> Self {
        // A restart interrupts any movement: come back at rest.
        let state = match state {
            MechanismState::Locking => MechanismState::Locked,
            MechanismState::Unlocking | MechanismState::Unlatching | MechanismState::Unlatched => {
                MechanismState::Unlocked
            }
            other => other,
        };
        Mechanism {
            state,
            movement: None,
            jam_next: false,
            auto_lock_at: None,
            door: DoorState::Closed,
            battery_percent: 100,
        }
    }

    /// The current state.
    pub fn state(&self) -> MechanismState {
        self.state
    }

    /// Makes the next movement end in `Jammed`.
    pub fn inject_jam(&mut self) {
        self.jam_next = true;
    }

    /// Starts `action` for `cause`, which takes `move_ms`; an unlatch then holds the latch
    /// `hold_ms`.
    pub fn start(
        &mut self,
        action: Action,
        cause: EventCause,
        now: u64,
        move_ms: u64,
    ) -> Result<MechanismState, ErrorCode> {
        if self.movement.is_some() {
            return Err(ErrorCode::MechanismBusy);
        }
        let (moving, next) = match action {
            Action::Lock => (MechanismState::Locking, MechanismState::Locked),
            Action::Unlock => (MechanismState::Unlocking, MechanismState::Unlocked),
            Action::Unlatch => (MechanismState::Unlatching, MechanismState::Unlatched),
        };
        self.state = moving;
        self.auto_lock_at = None;
        self.movement = Some(Movement {
            until: now.saturating_add(move_ms),
            next,
            cause,
        });
        Ok(moving)
    }

    /// Someone turns the knob: a locked (or jammed) bolt is thrown back, an unlocked one is
    /// thrown, at once. Ignored while the motor moves. Returns the new state.
    pub fn turn_by_hand(&mut self, now: u64, auto_lock_ms: u64) -> Option<MechanismState> {
        if self.movement.is_some() {
            return None;
        }
        self.state = match self.state {
            MechanismState::Locked | MechanismState::Jammed => MechanismState::Unlocked,
            _ => MechanismState::Locked,
        };
        self.arm_auto_lock(now, auto_lock_ms);
        Some(self.state)
    }

    /// The door sensor changed. Closing the door of an unlocked lock starts the auto-lock
    /// time again.
    pub fn set_door(&mut self, door: DoorState, now: u64, auto_lock_ms: u64) {
        self.door = door;
        self.arm_auto_lock(now, auto_lock_ms);
    }

    /// Arms auto-lock if it should be armed and is not: a lock restarted while resting
    /// unlocked (its timer is not durable) locks itself `auto_lock_ms` after it came back.
    pub fn ensure_auto_lock(&mut self, now: u64, auto_lock_ms: u64) {
        if self.auto_lock_at.is_none() {
            self.arm_auto_lock(now, auto_lock_ms);
        }
    }

    /// Arms auto-lock if it is on (`auto_lock_ms` > 0) and the lock rests unlocked with the
    /// door not open; disarms it otherwise.
    fn arm_auto_lock(&mut self, now: u64, auto_lock_ms: u64) {
        let armed = auto_lock_ms > 0
            && self.movement.is_none()
            && self.state == MechanismState::Unlocked
            && self.door != DoorState::Open;
        self.auto_lock_at = armed.then(|| now.saturating_add(auto_lock_ms));
    }

    /// When the current movement ends, or auto-lock is due.
    pub fn deadline(&self) -> Option<u64> {
        self.movement.map(|m| m.until).or(self.auto_lock_at)
    }

    /// Advances timed transitions; returns the new state and its cause if it changed.
    pub fn poll(
        &mut self,
        now: u64,
        hold_ms: u64,
        move_ms: u64,
        auto_lock_ms: u64,
    ) -> Option<(MechanismState, EventCause)> {
        let Some(movement) = self.movement.filter(|m| now >= m.until) else {
            let due = self.auto_lock_at.is_some_and(|at| now >= at);
            if !due || self.movement.is_some() {
                return None;
            }
            self.auto_lock_at = None;
            let state = self
                .start(Action::Lock, EventCause::AutoLock, now, move_ms)
                .ok()?;
            return Some((state, EventCause::AutoLock));
        };
        self.movement = None;
        if self.jam_next && movement.next != MechanismState::Unlocked {
            self.jam_next = false;
            self.state = MechanismState::Jammed;
            return Some((self.state, movement.cause));
        }
        self.state = movement.next;
        if movement.next == MechanismState::Unlatched {
            self.movement = Some(Movement {
                until: movement.until.saturating_add(hold_ms),
                next: MechanismState::Unlocked,
                cause: movement.cause,
            });
        }
        self.arm_auto_lock(now, auto_lock_ms);
        Some((self.state, movement.cause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: EventCause = EventCause::Remote;

    #[test]
    fn unlock_takes_its_time_then_settles() {
        let mut m = Mechanism::new(MechanismState::Locked);
        assert_eq!(
            m.start(Action::Unlock, R, 0, 1500),
            Ok(MechanismState::Unlocking)
        );
        assert_eq!(m.poll(1499, 1000, 1500, 0), None);
        assert_eq!(
            m.poll(1500, 1000, 1500, 0),
            Some((MechanismState::Unlocked, R))
        );
    }

    #[test]
    fn a_moving_mechanism_refuses_another_command() {
        let mut m = Mechanism::new(MechanismState::Unlocked);
        m.start(Action::Lock, R, 0, 1500).unwrap();
        assert_eq!(
            m.start(Action::Unlock, R, 10, 1500),
            Err(ErrorCode::MechanismBusy)
        );
    }

    #[test]
    fn unlatch_holds_the_latch_then_returns_to_unlocked() {
        let mut m = Mechanism::new(MechanismState::Locked);
        m.start(Action::Unlatch, R, 0, 1000).unwrap();
        assert_eq!(
            m.poll(1000, 500, 1000, 0),
            Some((MechanismState::Unlatched, R))
        );
        assert_eq!(m.deadline(), Some(1500));
        assert_eq!(
            m.poll(1500, 500, 1000, 0),
            Some((MechanismState::Unlocked, R))
        );
    }

    #[test]
    fn an_injected_jam_ends_the_next_movement_jammed_and_can_be_retried() {
        let mut m = Mechanism::new(MechanismState::Unlocked);
        m.inject_jam();
        m.start(Action::Lock, R, 0, 100).unwrap();
        assert_eq!(m.poll(100, 0, 100, 0), Some((MechanismState::Jammed, R)));
        m.start(Action::Lock, R, 200, 100).unwrap();
        assert_eq!(m.poll(300, 0, 100, 0), Some((MechanismState::Locked, R)));
    }

    #[test]
    fn a_hand_turn_toggles_at_once_but_not_while_the_motor_moves() {
        let mut m = Mechanism::new(MechanismState::Locked);
        assert_eq!(m.turn_by_hand(0, 0), Some(MechanismState::Unlocked));
        assert_eq!(m.turn_by_hand(1, 0), Some(MechanismState::Locked));
        m.inject_jam();
        m.start(Action::Unlock, R, 2, 10).unwrap();
        assert_eq!(m.turn_by_hand(5, 0), None);
        assert_eq!(m.state(), MechanismState::Unlocking);
    }

    #[test]
    fn auto_lock_locks_an_unlocked_lock_with_the_door_closed() {
        let mut m = Mechanism::new(MechanismState::Locked);
        assert_eq!(m.turn_by_hand(0, 5000), Some(MechanismState::Unlocked));
        assert_eq!(m.deadline(), Some(5000));
        assert_eq!(m.poll(4999, 0, 100, 5000), None);
        assert_eq!(
            m.poll(5000, 0, 100, 5000),
            Some((MechanismState::Locking, EventCause::AutoLock))
        );
        assert_eq!(
            m.poll(5100, 0, 100, 5000),
            Some((MechanismState::Locked, EventCause::AutoLock))
        );
        assert_eq!(m.deadline(), None);
    }

    #[test]
    fn an_open_door_holds_auto_lock_until_it_closes() {
        let mut m = Mechanism::new(MechanismState::Unlocked);
        m.set_door(DoorState::Open, 0, 5000);
        assert_eq!(m.deadline(), None);
        m.set_door(DoorState::Closed, 10_000, 5000);
        assert_eq!(m.deadline(), Some(15_000));
        assert_eq!(
            m.poll(15_000, 0, 100, 5000),
            Some((MechanismState::Locking, EventCause::AutoLock))
        );
        // Off: nothing armed.
        let mut off = Mechanism::new(MechanismState::Locked);
        off.turn_by_hand(0, 0);
        assert_eq!(off.deadline(), None);
    }

    #[test]
    fn a_lock_restarted_while_unlocked_arms_auto_lock_when_its_timers_next_run() {
        let mut m = Mechanism::new(MechanismState::Unlocked);
        assert_eq!(m.deadline(), None);
        m.ensure_auto_lock(100, 5000);
        assert_eq!(m.deadline(), Some(5100));
        m.ensure_auto_lock(200, 5000);
        assert_eq!(m.deadline(), Some(5100), "an armed timer is kept");
        let mut off = Mechanism::new(MechanismState::Unlocked);
        off.ensure_auto_lock(100, 0);
        assert_eq!(off.deadline(), None);
    }

    #[test]
    fn a_restart_mid_movement_comes_back_at_rest() {
        assert_eq!(
            Mechanism::new(MechanismState::Locking).state(),
            MechanismState::Locked
        );
        assert_eq!(
            Mechanism::new(MechanismState::Unlatched).state(),
            MechanismState::Unlocked
        );
    }
}
