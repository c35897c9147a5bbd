//! The simulated lock mechanism: timed transitions, an injectable jam, door and battery.

use crate::command::{Action, DoorState, MechanismState};
use crate::error_code::ErrorCode;

/// A movement in progress: the state it is in and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Movement {
    until: u64,
    next: MechanismState,
}

/// The mechanism.
#[derive(Debug, Clone)]
pub struct Mechanism {
    state: MechanismState,
    movement: Option<Movement>,
    jam_next: bool,
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

    /// Starts `action`, which takes `move_ms`; an unlatch then holds the latch `hold_ms`.
    pub fn start(
        &mut self,
        action: Action,
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
        self.movement = Some(Movement {
            until: now.saturating_add(move_ms),
            next,
        });
        Ok(moving)
    }

    /// When the current movement ends.
    pub fn deadline(&self) -> Option<u64> {
        self.movement.map(|m| m.until)
    }

    /// Advances timed transitions; returns the new state if it changed.
    pub fn poll(&mut self, now: u64, hold_ms: u64) -> Option<MechanismState> {
        let movement = self.movement.filter(|m| now >= m.until)?;
        self.movement = None;
        if self.jam_next && movement.next != MechanismState::Unlocked {
            self.jam_next = false;
            self.state = MechanismState::Jammed;
            return Some(self.state);
        }
        self.state = movement.next;
        if movement.next == MechanismState::Unlatched {
            self.movement = Some(Movement {
                until: movement.until.saturating_add(hold_ms),
                next: MechanismState::Unlocked,
            });
        }
        Some(self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlock_takes_its_time_then_settles() {
        let mut m = Mechanism::new(MechanismState::Locked);
        assert_eq!(
            m.start(Action::Unlock, 0, 1500),
            Ok(MechanismState::Unlocking)
        );
        assert_eq!(m.poll(1499, 1000), None);
        assert_eq!(m.poll(1500, 1000), Some(MechanismState::Unlocked));
    }

    #[test]
    fn a_moving_mechanism_refuses_another_command() {
        let mut m = Mechanism::new(MechanismState::Unlocked);
        m.start(Action::Lock, 0, 1500).unwrap();
        assert_eq!(
            m.start(Action::Unlock, 10, 1500),
            Err(ErrorCode::MechanismBusy)
        );
    }

    #[test]
    fn unlatch_holds_the_latch_then_returns_to_unlocked() {
        let mut m = Mechanism::new(MechanismState::Locked);
        m.start(Action::Unlatch, 0, 1000).unwrap();
        assert_eq!(m.poll(1000, 500), Some(MechanismState::Unlatched));
        assert_eq!(m.deadline(), Some(1500));
        assert_eq!(m.poll(1500, 500), Some(MechanismState::Unlocked));
    }

    #[test]
    fn an_injected_jam_ends_the_next_movement_jammed_and_can_be_retried() {
        let mut m = Mechanism::new(MechanismState::Unlocked);
        m.inject_jam();
        m.start(Action::Lock, 0, 100).unwrap();
        assert_eq!(m.poll(100, 0), Some(MechanismState::Jammed));
        m.start(Action::Lock, 200, 100).unwrap();
        assert_eq!(m.poll(300, 0), Some(MechanismState::Locked));
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
