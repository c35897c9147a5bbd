//! The BLE side of the gateway (docs/GATEWAY.md §2): the adapter task ([`adapter`]), bonding
//! while the pairing window is open ([`bonding`], its BlueZ agent [`agent`]) and one link actor per paired lock
//! ([`link`]). The manager decides; these carry out.

pub mod adapter;
pub mod agent;
pub mod bonding;
pub mod link;

use crate::pairing::{FailReason, Passkey};
use bluer::Address;
use lockgate_wire::{AdvFlags, LockId};
use tokio::sync::oneshot;

/// What the adapter task reports.
#[derive(Debug)]
pub enum BleEvent {
    /// The adapter is present and powered, discovery runs.
    AdapterUp(bluer::Adapter),
    /// The adapter is gone or off; links are down.
    AdapterDown {
        /// Why.
        reason: String,
    },
    /// A lockgate advertisement (or a property change of a device that has one).
    Advert {
        /// The advertising lock.
        lock: LockId,
        /// Its address.
        address: Address,
        /// Signal strength; `None` when BlueZ knows the device but does not hear it now.
        rssi: Option<i16>,
        /// Its flags.
        flags: AdvFlags,
        /// Its advertised name, if any.
        name: Option<String>,
    },
    /// Bonding with a lock ended.
    Bonded {
        /// The lock.
        lock: LockId,
        /// Its address.
        address: Address,
        /// Its name, if BlueZ knows one.
        name: Option<String>,
        /// Bonded and verified, or why not and what to do.
        result: Result<(), (FailReason, String)>,
    },
}

/// What the adapter task is asked to do.
#[derive(Debug)]
pub enum AdapterCmd {
    /// Power the adapter off and on again (it seems wedged).
    PowerCycle,
    /// Stop the discovery session and start a new one (support's `rescan`): BlueZ reports
    /// every device it knows afresh, and scanning starts over.
    RestartDiscovery,
    /// Remove a device and its bond.
    RemoveDevice {
        /// The device.
        address: Address,
        /// The outcome.
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Whether a device is bonded.
    IsBonded {
        /// The device.
        address: Address,
        /// The answer.
        reply: oneshot::Sender<Result<bool, String>>,
    },
    /// The pairing window is open: register the agent (or give it this passkey) and make the
    /// adapter pairable.
    OpenPairing {
        /// The passkey the agent answers with; `None`: it refuses passkey requests.
        passkey: Option<Passkey>,
        /// The outcome, if anyone waits for it.
        reply: Option<oneshot::Sender<Result<(), String>>>,
    },
    /// The pairing window closed: end a bond under way, unregister the agent, make the adapter
    /// not pairable.
    ClosePairing,
    /// Bond with a lock in pairing mode and check its lockgate service; reported as
    /// [`BleEvent::Bonded`].
    Bond {
        /// The lock.
        lock: LockId,
        /// Its address.
        address: Address,
    },
}

impl AdapterCmd {
    /// Answers the command with an error: the adapter cannot carry it out now.
    pub fn refuse(self, why: &str) {
        match self {
            AdapterCmd::PowerCycle | AdapterCmd::RestartDiscovery => {}
            AdapterCmd::RemoveDevice { reply, .. } => {
                let _ = reply.send(Err(why.to_string()));
            }
            AdapterCmd::IsBonded { reply, .. } => {
                let _ = reply.send(Err(why.to_string()));
            }
            AdapterCmd::OpenPairing { reply, .. } => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(why.to_string()));
                }
            }
            AdapterCmd::ClosePairing | AdapterCmd::Bond { .. } => {}
        }
    }
}
