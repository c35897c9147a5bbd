//! Bonding while the pairing window is open, carried out in the adapter task: the BlueZ agent
//! (registered only while the window is open; it answers `RequestPasskey` with the passkey
//! given for the window, only for the device being bonded, see [`super::agent`]), the
//! adapter's `Pairable`, and one bond at a time: `Device.Pair`, then a check that the lock has
//! the lockgate service with `rx` and `tx` (a device without it loses its bond again).

use super::agent::{agent, AgentState};
use super::link::characteristics;
use super::BleEvent;
use crate::pairing::{FailReason, Passkey};
use bluer::agent::AgentHandle;
use bluer::{Adapter, Address, ErrorKind, Session};
use lockgate_wire::LockId;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// `Device.Pair` that takes longer than this failed.
pub const BOND_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting to a freshly bonded lock and finding its service may take this long.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(20);
/// Adapter property changes and disconnects may take this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The pairing state of one adapter session: dropped with the session, which unregisters
/// the agent.
pub struct Pairing {
    agent: Option<AgentHandle>,
    /// What the agent answers from; the bond task clears the target when it ends.
    state: Arc<watch::Sender<AgentState>>,
    bond: Option<CancellationToken>,
}

impl Default for Pairing {
    fn default() -> Self {
        Pairing {
            agent: None,
            state: Arc::new(watch::channel(AgentState::default()).0),
            bond: None,
        }
    }
}

impl Drop for Pairing {
    fn drop(&mut self) {
        if let Some(bond) = self.bond.take() {
            bond.cancel();
        }
    }
}

impl Pairing {
    /// Whether the agent is registered.
    pub fn is_open(&self) -> bool {
        self.agent.is_some()
    }

    /// Registers the agent (once) with `passkey`, and makes the adapter pairable.
    pub async fn open(
        &mut self,
        session: &Session,
        adapter: &Adapter,
        passkey: Option<Passkey>,
    ) -> Result<(), String> {
        self.state.send_modify(|s| s.passkey = passkey);
        if self.agent.is_none() {
            let agent = agent(self.state.subscribe());
            let handle = session
                .register_agent(agent)
                .await
                .map_err(|e| format!("registering the pairing agent with BlueZ: {e}"))?;
            self.agent = Some(handle);
            log::info!("pairing: agent registered");
        }
        set_pairable(adapter, true).await
    }

    /// Ends a bond under way, unregisters the agent and makes the adapter not pairable.
    pub async fn close(&mut self, adapter: &Adapter) {
        if let Some(bond) = self.bond.take() {
            bond.cancel();
        }
        self.state.send_replace(AgentState::default());
        if self.agent.take().is_some() {
            log::info!("pairing: agent unregistered");
        }
        if let Err(e) = set_pairable(adapter, false).await {
            log::error!("pairing: {e}");
        }
    }

    /// Starts bonding with `lock` at `address`; the outcome comes as [`BleEvent::Bonded`].
    pub fn bond(
        &mut self,
        adapter: &Adapter,
        lock: LockId,
        address: Address,
        events: mpsc::Sender<BleEvent>,
    ) {
        let cancel = CancellationToken::new();
        if let Some(previous) = self.bond.replace(cancel.clone()) {
            previous.cancel();
        }
        // The agent answers for this device only, from now until its bond ends.
        self.state.send_modify(|s| s.target = Some(address));
        let passkey_given = self.state.borrow().passkey.is_some();
        let state = self.state.clone();
        let adapter = adapter.clone();
        tokio::spawn(async move {
            log::info!(lock_id:% = lock; "pairing: bonding with {lock} ({address})");
            let device = adapter.device(address);
            let name = match &device {
                Ok(d) => d.name().await.ok().flatten(),
                Err(_) => None,
            };
            let result = match device {
                Ok(device) => bond(&adapter, &device, passkey_given, &cancel).await,
                Err(e) => Err((FailReason::Bluez, e.to_string())),
            };
            state.send_if_modified(|s| {
                let ours = s.target == Some(address);
                if ours {
                    s.target = None;
                }
                ours
            });
            let result = result.map_err(|(reason, detail)| {
                let error = format!("{} ({detail})", reason.advice());
                (reason, error)
            });
            let event = BleEvent::Bonded {
                lock,
                address,
                name,
                result,
            };
            let _ = events.send(event).await;
        });
    }
}

async fn set_pairable(adapter: &Adapter, pairable: bool) -> Result<(), String> {
    let set = async {
        if pairable {
            adapter.set_pairable_timeout(0).await?;
        }
        adapter.set_pairable(pairable).await
    };
    match tokio::time::timeout(CALL_TIMEOUT, set).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "setting Pairable={pairable} on {}: {e}",
            adapter.name()
        )),
        Err(_) => Err(format!(
            "setting Pairable={pairable} on {}: no answer",
            adapter.name()
        )),
    }
}

/// Bonds with `device` and checks its service; on failure, why and BlueZ's words. The link
/// `Pair` made is dropped either way: the lock's link actor connects when there is work.
async fn bond(
    adapter: &Adapter,
    device: &bluer::Device,
    passkey_given: bool,
    cancel: &CancellationToken,
) -> Result<(), (FailReason, String)> {
    let bonded = pair(device, passkey_given, cancel).await;
    let verified = match bonded {
        Ok(()) => tokio::time::timeout(VERIFY_TIMEOUT, verify(device)).await,
        Err(e) => Ok(Err(e)),
    };
    let _ = tokio::time::timeout(CALL_TIMEOUT, device.disconnect()).await;
    match verified {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e @ (FailReason::NoLockgateService, _))) => {
            let removed = adapter.remove_device(device.address()).await;
            if let Err(e) = removed {
                log::warn!("pairing: removing the bond of {}: {e}", device.address());
            }
            Err(e)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err((
            FailReason::Timeout,
            "bonded, but its services could not be read in time".into(),
        )),
    }
}

/// `Device.Pair`, bounded in time and given up when the window closes.
async fn pair(
    device: &bluer::Device,
    passkey_given: bool,
    cancel: &CancellationToken,
) -> Result<(), (FailReason, String)> {
    let paired = tokio::select! {
        () = cancel.cancelled() => {
            return Err((FailReason::WindowClosed, "bonding canceled".into()));
        }
        paired = tokio::time::timeout(BOND_TIMEOUT, device.pair()) => paired,
    };
    match paired {
        Ok(Ok(())) => Ok(()),
        // Bonded already (an earlier window, or by hand): checked like a new one.
        Ok(Err(e)) if e.kind == ErrorKind::AlreadyExists => Ok(()),
        Ok(Err(e)) => Err((classify(&e.kind, passkey_given), e.to_string())),
        Err(_) => {
            let waited = format!("no answer from BlueZ within {}s", BOND_TIMEOUT.as_secs());
            Err((FailReason::Timeout, waited))
        }
    }
}

/// Connects (if `Pair` left no link) and finds the lockgate service's `rx` and `tx`.
async fn verify(device: &bluer::Device) -> Result<(), (FailReason, String)> {
    let bluez = |e: bluer::Error| (FailReason::Bluez, e.to_string());
    if !device.is_connected().await.map_err(bluez)? {
        device.connect().await.map_err(bluez)?;
    }
    match characteristics(device).await {
        Ok(_) => Ok(()),
        Err(e) => Err((FailReason::NoLockgateService, e.message)),
    }
}

/// The reason for a failed `Device.Pair`. BlueZ answers `AuthenticationFailed` when the lock
/// refused the passkey entered (or the agent refused to enter one), `AuthenticationRejected`
/// when the lock refused to bond (it is not in pairing mode), `AuthenticationTimeout` or
/// `ConnectionAttemptFailed` when the lock did not answer.
pub fn classify(kind: &ErrorKind, passkey_given: bool) -> FailReason {
    match kind {
        ErrorKind::AuthenticationFailed if passkey_given => FailReason::WrongPasskey,
        ErrorKind::AuthenticationFailed => FailReason::NoPasskey,
        ErrorKind::AuthenticationRejected => FailReason::LeftPairingMode,
        ErrorKind::AuthenticationTimeout | ErrorKind::ConnectionAttemptFailed => {
            FailReason::Timeout
        }
        _ => FailReason::Bluez,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bluez_errors_become_reasons_a_person_can_act_on() {
        let cases = [
            (
                ErrorKind::AuthenticationFailed,
                true,
                FailReason::WrongPasskey,
            ),
            (
                ErrorKind::AuthenticationFailed,
                false,
                FailReason::NoPasskey,
            ),
            (
                ErrorKind::AuthenticationRejected,
                true,
                FailReason::LeftPairingMode,
            ),
            (ErrorKind::AuthenticationTimeout, true, FailReason::Timeout),
            (
                ErrorKind::ConnectionAttemptFailed,
                false,
                FailReason::Timeout,
            ),
            (ErrorKind::AuthenticationCanceled, true, FailReason::Bluez),
            (ErrorKind::Failed, true, FailReason::Bluez),
        ];
        for (kind, given, reason) in cases {
            assert_eq!(classify(&kind, given), reason, "{kind:?}, passkey {given}");
        }
    }
}
