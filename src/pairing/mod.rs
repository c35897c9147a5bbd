//! The pairing window (docs/GATEWAY.md §6): the only time the gateway bonds with locks. It
//! opens by physical or local presence only (the GPIO button, `lockgate pair` on the control
//! socket), never from MQTT, and closes by expiry, a second press, `lockgate pair --stop` or
//! `bridge/request/pairing/close`.
//!
//! * [`window`]: the window as a pure state machine (time passed in).
//! * [`button`]: debouncing the button and timing the LED, pure as well.
//! * [`gpio`]: the button and LED lines (gpiocdev, or simulated in tests) and their task.
//! * [`settings`]: `[pairing]` of the configuration.
//! * [`report`]: what `lockgate pair` shows a person.
//!
//! This module also holds the words the window speaks: the lengths and passkeys it accepts,
//! its state, and the events it reports on MQTT, in the journal and on the control socket.

pub mod button;
pub mod gpio;
pub mod report;
pub mod settings;
pub mod window;

use lockgate_wire::LockId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use window::{Change, Window};

/// How long the window stays open unless told otherwise, in seconds.
pub const DEFAULT_SECONDS: u16 = 60;
/// The longest window, in seconds.
pub const MAX_SECONDS: u16 = 254;

/// A window length: 1 to [`MAX_SECONDS`] seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u16")]
pub struct Seconds(u16);

impl Seconds {
    /// The default length, [`DEFAULT_SECONDS`].
    pub const DEFAULT: Seconds = Seconds(DEFAULT_SECONDS);

    /// `seconds` if it is 1 to [`MAX_SECONDS`].
    pub fn new(seconds: u64) -> Result<Seconds, String> {
        match u16::try_from(seconds) {
            Ok(s @ 1..=MAX_SECONDS) => Ok(Seconds(s)),
            _ => Err(format!(
                "a pairing window lasts 1 to {MAX_SECONDS} seconds, not {seconds}"
            )),
        }
    }

    /// The length in seconds.
    pub fn get(self) -> u16 {
        self.0
    }

    /// The length as a duration.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

impl TryFrom<u64> for Seconds {
    type Error = String;
    fn try_from(seconds: u64) -> Result<Self, String> {
        Seconds::new(seconds)
    }
}

impl From<Seconds> for u16 {
    fn from(s: Seconds) -> u16 {
        s.0
    }
}

impl FromStr for Seconds {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n: u64 = s
            .parse()
            .map_err(|_| format!("{s:?} is not a number of seconds (1 to {MAX_SECONDS})"))?;
        Seconds::new(n)
    }
}

/// A BLE passkey: exactly six decimal digits (`000000` to `999999`), as a person types it.
/// Its `Debug` form hides the digits: a passkey is never logged.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Passkey(u32);

impl Passkey {
    /// The number BlueZ's `RequestPasskey` answers with.
    pub fn value(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Passkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passkey(******)")
    }
}

impl FromStr for Passkey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Passkey(s.parse().unwrap_or(0)))
        } else {
            Err("a passkey is exactly 6 digits, as printed on the lock (e.g. 012345)".into())
        }
    }
}

impl TryFrom<String> for Passkey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Passkey> for String {
    fn from(p: Passkey) -> String {
        format!("{:06}", p.0)
    }
}

/// Who opened the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The gateway's button.
    Button,
    /// `lockgate pair` on the control socket.
    Control,
}

/// Why the window closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Its time ran out.
    Expired,
    /// The button was pressed again.
    Button,
    /// `lockgate pair --stop`.
    Stop,
    /// `bridge/request/pairing/close`.
    Mqtt,
    /// The daemon is stopping.
    Shutdown,
}

/// Why bonding with a lock failed; each has advice for a person ([`FailReason::advice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailReason {
    /// The lock refused the passkey.
    WrongPasskey,
    /// The lock asked for a passkey and none was given for this window.
    NoPasskey,
    /// The lock is no longer in pairing mode.
    LeftPairingMode,
    /// The device bonded but has no lockgate service with `rx` and `tx`.
    NoLockgateService,
    /// Bonding did not finish in time.
    Timeout,
    /// The window closed while bonding.
    WindowClosed,
    /// Any other BlueZ error.
    Bluez,
}

impl FailReason {
    /// What a person can do about it.
    pub fn advice(self) -> &'static str {
        match self {
            FailReason::WrongPasskey => {
                "the lock refused the passkey: check the 6 digits on its label and run \
                 `lockgate pair --passkey NNNNNN` again"
            }
            FailReason::NoPasskey => {
                "the lock asks for a passkey: run `lockgate pair --passkey NNNNNN` with the \
                 6 digits on its label"
            }
            FailReason::LeftPairingMode => {
                "the lock left pairing mode: press its pairing button, then try again"
            }
            FailReason::NoLockgateService => {
                "the device has no lockgate service: it is not a lockgate lock; its bond \
                 was removed"
            }
            FailReason::Timeout => {
                "bonding timed out: bring the lock closer to the gateway and try again"
            }
            FailReason::WindowClosed => "the pairing window closed before bonding finished",
            FailReason::Bluez => "Bluetooth error: see journalctl -u lockgated, then try again",
        }
    }
}

/// The window as reported on `bridge/info`, `bridge/request/pairing/state` and the control
/// socket: `{"open":false}` or `{"open":true,"seconds_left":42,"closes_at":1795312042}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    /// Whether the window is open.
    pub open: bool,
    /// Seconds until it closes (rounded up), when open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_left: Option<u16>,
    /// When it closes (Unix seconds), when open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<u64>,
}

impl WindowState {
    /// A closed window.
    pub fn closed() -> Self {
        WindowState {
            open: false,
            seconds_left: None,
            closes_at: None,
        }
    }
}

/// What the window reports: the `type` and `data` of a `bridge/event` (docs/GATEWAY.md §1.4),
/// and the `event` of a control-socket event line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum PairingEvent {
    /// The window opened, or (`extended`) an open window got more time or a passkey.
    PairingWindowOpened {
        /// Seconds until it closes.
        seconds: u16,
        /// Who opened it.
        source: Source,
        /// It was open already.
        extended: bool,
        /// A passkey was given (never the passkey itself).
        passkey: bool,
    },
    /// The window closed.
    PairingWindowClosed {
        /// Why.
        reason: CloseReason,
        /// Locks bonded and enrolled while it was open.
        paired: u32,
        /// Locks that failed to bond while it was open.
        failed: u32,
    },
    /// Bonding with a lock in pairing mode started.
    LockPairingStarted {
        /// The lock.
        #[serde(with = "crate::control::lock_id_text")]
        id: LockId,
        /// Its Bluetooth address.
        address: String,
    },
    /// A lock was bonded, verified and enrolled: it is served from now on.
    LockPaired {
        /// The lock.
        #[serde(with = "crate::control::lock_id_text")]
        id: LockId,
        /// Its Bluetooth address.
        address: String,
        /// Its name.
        name: String,
    },
    /// Bonding with a lock failed.
    LockPairingFailed {
        /// The lock.
        #[serde(with = "crate::control::lock_id_text")]
        id: LockId,
        /// Its Bluetooth address.
        address: String,
        /// Why, as a word.
        reason: FailReason,
        /// What happened and what to do.
        error: String,
    },
}

impl PairingEvent {
    /// The event's `type` (`lock_paired`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            PairingEvent::PairingWindowOpened { .. } => "pairing_window_opened",
            PairingEvent::PairingWindowClosed { .. } => "pairing_window_closed",
            PairingEvent::LockPairingStarted { .. } => "lock_pairing_started",
            PairingEvent::LockPaired { .. } => "lock_paired",
            PairingEvent::LockPairingFailed { .. } => "lock_pairing_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_lengths_are_one_to_254_seconds() {
        assert!(Seconds::new(0).is_err());
        assert_eq!(Seconds::new(1).unwrap().get(), 1);
        assert_eq!(Seconds::new(254).unwrap().get(), 254);
        assert!(Seconds::new(255).is_err());
        assert!("30".parse::<Seconds>().is_ok());
        assert!("-1".parse::<Seconds>().is_err());
        assert!(serde_json::from_str::<Seconds>("300").is_err());
        assert_eq!(serde_json::to_string(&Seconds::DEFAULT).unwrap(), "60");
    }

    #[test]
    fn passkeys_are_exactly_six_digits_and_never_shown_by_debug() {
        let p: Passkey = "012345".parse().unwrap();
        assert_eq!(p.value(), 12345);
        assert_eq!(String::from(p), "012345");
        for bad in ["12345", "1234567", "12345a", " 12345", "+12345", ""] {
            assert!(bad.parse::<Passkey>().is_err(), "{bad:?}");
        }
        assert!(!format!("{p:?}").contains("12345"));
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"012345\"");
        assert!(serde_json::from_str::<Passkey>("12345").is_err());
    }

    #[test]
    fn events_have_the_bridge_event_shape() {
        let event = PairingEvent::LockPairingFailed {
            id: "4c47000000000001".parse().unwrap(),
            address: "C0:FF:EE:00:00:01".into(),
            reason: FailReason::WrongPasskey,
            error: FailReason::WrongPasskey.advice().into(),
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind());
        assert_eq!(json["data"]["id"], "4c47000000000001");
        assert_eq!(json["data"]["reason"], "wrong_passkey");
        let back: PairingEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_closed_window_state_is_just_open_false() {
        let json = serde_json::to_string(&WindowState::closed()).unwrap();
        assert_eq!(json, r#"{"open":false}"#);
    }
}
