//! How `lockgate pair` tells a person what the window does: a line per event, a countdown,
//! and whether the whole attempt succeeded (its exit status).

use super::{CloseReason, PairingEvent, Source, WindowState};
use crate::control_client::printable;

/// A line for a person about `event`.
pub fn describe(event: &PairingEvent) -> String {
    match event {
        PairingEvent::PairingWindowOpened {
            seconds,
            source,
            extended,
            passkey,
        } => {
            let by = match source {
                Source::Button => "by the button",
                Source::Control => "by lockgate pair",
            };
            let passkey = if *passkey { "with" } else { "without" };
            let what = if *extended { "extended" } else { "open" };
            format!(
                "pairing window {what} {by}, {seconds}s left, {passkey} a passkey: press the \
                 lock's pairing button"
            )
        }
        PairingEvent::PairingWindowClosed {
            reason,
            paired,
            failed,
        } => {
            let why = match reason {
                CloseReason::Expired => "its time ran out",
                CloseReason::Button => "the button was pressed",
                CloseReason::Stop => "lockgate pair --stop",
                CloseReason::Mqtt => "closed over MQTT",
                CloseReason::Shutdown => "lockgated is stopping",
            };
            format!("pairing window closed ({why}): {paired} paired, {failed} failed")
        }
        PairingEvent::LockPairingStarted { id, address } => {
            format!("lock {id} ({address}) is in pairing mode: bonding")
        }
        PairingEvent::LockPaired { id, address, name } => {
            let name = printable(name);
            format!("lock {id} ({address}, {name}) paired: the gateway serves it now")
        }
        PairingEvent::LockPairingFailed { id, error, .. } => {
            format!("lock {id} failed to pair: {}", printable(error))
        }
    }
}

/// The countdown shown on a terminal.
pub fn countdown(seconds_left: u64) -> String {
    format!("pairing window open: {seconds_left:>3}s left (lockgate pair --stop closes it)")
}

/// A line for a person about the window's state.
pub fn describe_state(state: &WindowState) -> String {
    match state.seconds_left {
        Some(left) if state.open => format!("pairing window open, {left}s left"),
        _ => "pairing window closed".into(),
    }
}

/// What happened while `lockgate pair` watched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Locks paired.
    pub paired: u32,
    /// Locks that failed.
    pub failed: u32,
    /// The window closed.
    pub closed: bool,
}

impl Outcome {
    /// Takes `event` into account.
    pub fn record(&mut self, event: &PairingEvent) {
        match event {
            PairingEvent::LockPaired { .. } => self.paired += 1,
            PairingEvent::LockPairingFailed { .. } => self.failed += 1,
            PairingEvent::PairingWindowClosed { .. } => self.closed = true,
            _ => {}
        }
    }

    /// Success, unless a lock failed and none paired.
    pub fn succeeded(&self) -> bool {
        self.failed == 0 || self.paired > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairing::FailReason;

    fn failed() -> PairingEvent {
        PairingEvent::LockPairingFailed {
            id: "4c47000000000001".parse().unwrap(),
            address: "C0:FF:EE:00:00:01".into(),
            reason: FailReason::WrongPasskey,
            error: FailReason::WrongPasskey.advice().into(),
        }
    }

    #[test]
    fn a_failure_without_a_pairing_is_a_failed_attempt() {
        let mut outcome = Outcome::default();
        assert!(outcome.succeeded(), "nothing happened: not a failure");
        outcome.record(&failed());
        assert!(!outcome.succeeded());
        outcome.record(&PairingEvent::LockPaired {
            id: "4c47000000000002".parse().unwrap(),
            address: "C0:FF:EE:00:00:02".into(),
            name: "Back door".into(),
        });
        assert!(outcome.succeeded(), "one lock paired");
    }

    #[test]
    fn lines_say_what_happened_and_what_to_do() {
        let line = describe(&failed());
        assert!(line.contains("4c47000000000001"), "{line}");
        assert!(line.contains("--passkey"), "{line}");
        let closed = describe(&PairingEvent::PairingWindowClosed {
            reason: CloseReason::Expired,
            paired: 1,
            failed: 0,
        });
        assert_eq!(
            closed,
            "pairing window closed (its time ran out): 1 paired, 0 failed"
        );
        let name = describe(&PairingEvent::LockPaired {
            id: "4c47000000000002".parse().unwrap(),
            address: "C0:FF:EE:00:00:02".into(),
            name: "evil\u{1b}[2J".into(),
        });
        assert!(!name.contains('\u{1b}'), "{name:?}");
    }
}
