//! The BlueZ pairing agent registered while the pairing window is open (docs/GATEWAY.md §6.2):
//! a keyboard that types the window's passkey, and only for the device the gateway is bonding
//! with. [`passkey_for`] is the decision, without I/O; [`agent`] wraps it for bluer.

use crate::pairing::Passkey;
use bluer::agent::{Agent, ReqError, RequestPasskey};
use bluer::Address;
use std::fmt;
use tokio::sync::watch;

/// What the agent goes by: the passkey given for the window and the device being bonded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentState {
    /// The passkey given with `lockgate pair --passkey`, if any.
    pub passkey: Option<Passkey>,
    /// The device a bond was started for (`Device.Pair` under way), if any.
    pub target: Option<Address>,
}

/// Why the agent refuses to enter a passkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The gateway is bonding with no device now.
    NotBonding,
    /// The gateway is bonding with another device.
    NotTheTarget {
        /// The device it is bonding with.
        bonding: Address,
    },
    /// The device is the one being bonded, but the window has no passkey.
    NoPasskey,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotBonding => f.write_str(
                "the gateway is not bonding with it (only a lock in pairing mode that the \
                 gateway bonds with gets the passkey)",
            ),
            Refusal::NotTheTarget { bonding } => write!(
                f,
                "the gateway is bonding with {bonding}, not with it (only that device gets \
                 the passkey)"
            ),
            Refusal::NoPasskey => f.write_str(
                "none was given for this window (open the window with lockgate pair --passkey \
                 NNNNNN)",
            ),
        }
    }
}

/// The passkey to enter for `device`'s `RequestPasskey`, or why not: only the device being
/// bonded gets it, and only if the window has one.
pub fn passkey_for(state: &AgentState, device: Address) -> Result<u32, Refusal> {
    match state.target {
        None => Err(Refusal::NotBonding),
        Some(bonding) if bonding != device => Err(Refusal::NotTheTarget { bonding }),
        Some(_) => state.passkey.map(Passkey::value).ok_or(Refusal::NoPasskey),
    }
}

/// The agent, answering from `state`.
///
/// Only `request_passkey` is set, so bluer registers it with capability `KeyboardOnly` (the
/// capability follows which callbacks are set). Every other callback is left `None`, and for
/// a `None` callback bluer answers BlueZ `org.bluez.Error.Rejected` itself:
/// `RequestPinCode` (legacy PIN), `DisplayPinCode`, `DisplayPasskey`, `RequestConfirmation`
/// (numeric comparison), `RequestAuthorization` (Just Works) and `AuthorizeService`. So
/// nothing is ever accepted without the passkey, for the target or a stranger. Setting any of
/// them, even to a function that refuses, would change the capability BlueZ pairs with (to
/// `KeyboardDisplay` or `DisplayYesNo`) and so the pairing methods a device may pick.
pub fn agent(state: watch::Receiver<AgentState>) -> Agent {
    Agent {
        request_passkey: Some(Box::new(move |request: RequestPasskey| {
            let answer = passkey_for(&state.borrow(), request.device);
            Box::pin(async move {
                answer.map_err(|why| {
                    log::warn!(
                        "pairing: {} asks for a passkey; refused: {why}",
                        request.device
                    );
                    ReqError::Rejected
                })
            })
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: Address = Address([0xC0, 0x11, 0x22, 0x33, 0x44, 0x55]);
    const STRANGER: Address = Address([0xC0, 0x11, 0x22, 0x33, 0x44, 0x66]);

    fn passkey() -> Passkey {
        "012345".parse().expect("a valid passkey")
    }

    #[test]
    fn only_the_device_being_bonded_gets_the_passkey() {
        let state = AgentState {
            passkey: Some(passkey()),
            target: Some(LOCK),
        };
        assert_eq!(passkey_for(&state, LOCK), Ok(12345));
        assert_eq!(
            passkey_for(&state, STRANGER),
            Err(Refusal::NotTheTarget { bonding: LOCK })
        );
    }

    #[test]
    fn no_device_gets_the_passkey_while_nothing_is_bonded() {
        let state = AgentState {
            passkey: Some(passkey()),
            target: None,
        };
        assert_eq!(passkey_for(&state, LOCK), Err(Refusal::NotBonding));
        assert_eq!(passkey_for(&state, STRANGER), Err(Refusal::NotBonding));
    }

    #[test]
    fn the_target_is_refused_when_the_window_has_no_passkey() {
        let state = AgentState {
            passkey: None,
            target: Some(LOCK),
        };
        assert_eq!(passkey_for(&state, LOCK), Err(Refusal::NoPasskey));
        assert_eq!(
            passkey_for(&state, STRANGER),
            Err(Refusal::NotTheTarget { bonding: LOCK })
        );
    }

    #[test]
    fn a_refusal_names_the_device_being_bonded() {
        let why = Refusal::NotTheTarget { bonding: LOCK }.to_string();
        assert!(why.contains("C0:11:22:33:44:55"), "{why}");
    }

    #[test]
    fn the_agent_is_a_keyboard_only() {
        // Only `request_passkey` is set: every other request is rejected by bluer itself.
        let agent = agent(watch::channel(AgentState::default()).1);
        assert!(agent.request_passkey.is_some());
        assert!(agent.request_pin_code.is_none());
        assert!(agent.display_pin_code.is_none());
        assert!(agent.display_passkey.is_none());
        assert!(agent.request_confirmation.is_none());
        assert!(agent.request_authorization.is_none());
        assert!(agent.authorize_service.is_none());
        assert!(!agent.request_default);
    }
}
