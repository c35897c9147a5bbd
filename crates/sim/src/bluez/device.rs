//! `org.bluez.Device1` for each lock an adapter knows: link, bonding through the registered
//! agent (passkey entry), and the properties bluer reads.

use super::{absent, emit_changed, BluezError};
use crate::link::{connect, drop_link};
use crate::radio::{manufacturer_data, service_uuid};
use crate::world::{unix_ms, AgentReg, DeviceState, Shared};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;
use zbus::message::Header;
use zbus::zvariant::{OwnedObjectPath, Value};

const DEVICE: &str = "org.bluez.Device1";

/// One lock as seen by one adapter.
pub struct Device {
    shared: Arc<Shared>,
    adapter: usize,
    lock: usize,
}

impl Device {
    /// The interface of lock `lock` on adapter `adapter`.
    pub fn new(shared: Arc<Shared>, adapter: usize, lock: usize) -> Self {
        Device {
            shared,
            adapter,
            lock,
        }
    }

    fn dev<T>(&self, f: impl FnOnce(&DeviceState) -> T) -> T {
        let world = self.shared.world();
        let default = DeviceState::default();
        f(world.adapters[self.adapter]
            .devices
            .get(&self.lock)
            .unwrap_or(&default))
    }

    fn dev_mut<T>(&self, f: impl FnOnce(&mut DeviceState) -> T) -> T {
        let mut world = self.shared.world();
        f(world.adapters[self.adapter]
            .devices
            .entry(self.lock)
            .or_default())
    }

    fn path(&self) -> OwnedObjectPath {
        let world = self.shared.world();
        super::device_path(
            &world.adapters[self.adapter].name,
            world.locks[self.lock].lock.address(),
        )
    }

    /// Runs the lock's pairing method with `agent`: the lock displays no passkey (it is
    /// printed on its label), so it needs passkey entry and refuses Just Works.
    async fn authenticate(&self, agent: Option<AgentReg>, passkey: u32) -> Result<(), BluezError> {
        let failed =
            |why: &str| BluezError::AuthenticationFailed(format!("Authentication Failed: {why}"));
        let agent = agent.ok_or_else(|| failed("no agent to enter the lock's passkey"))?;
        if !agent.has_keyboard() {
            return Err(failed(
                "the lock needs passkey entry; register a keyboard-capable agent",
            ));
        }
        let args = (self.path(),);
        let call = self.shared.conn.call_method(
            Some(agent.owner.as_str()),
            agent.path.as_str(),
            Some("org.bluez.Agent1"),
            "RequestPasskey",
            &args,
        );
        match tokio::time::timeout(AGENT_TIMEOUT, call).await {
            Err(_) => Err(BluezError::AuthenticationTimeout(
                "Authentication Timeout".into(),
            )),
            Ok(Ok(msg)) => match msg.body().deserialize::<u32>() {
                Ok(given) if given == passkey => Ok(()),
                _ => Err(failed("wrong passkey")),
            },
            // bluetoothd answers a refusing agent with a negative reply: the pairing fails.
            Ok(Err(_)) => Err(failed("the agent refused")),
        }
    }
}

/// How long bluetoothd waits for an agent.
const AGENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The agent for a `Pair` from `caller`: its own, else the default one.
fn pick_agent(agents: &[AgentReg], caller: &str) -> Option<AgentReg> {
    agents
        .iter()
        .find(|a| a.owner == caller)
        .or_else(|| agents.iter().find(|a| a.default))
        .cloned()
}

#[zbus::interface(name = "org.bluez.Device1")]
impl Device {
    async fn connect(&self) -> Result<(), BluezError> {
        connect(&self.shared, self.adapter, self.lock).await
    }

    /// Like bluetoothd, disconnecting a device that is not connected succeeds.
    async fn disconnect(&self) -> Result<(), BluezError> {
        drop_link(&self.shared, self.adapter, self.lock, "disconnect").await;
        Ok(())
    }

    async fn connect_profile(&self, _uuid: String) -> Result<(), BluezError> {
        Err(BluezError::NotSupported("Not Supported".into()))
    }

    async fn disconnect_profile(&self, _uuid: String) -> Result<(), BluezError> {
        Err(BluezError::NotSupported("Not Supported".into()))
    }

    async fn pair(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        let caller = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let cancel = Arc::new(Notify::new());
        let (connected, agent, window_open, passkey) = {
            let mut world = self.shared.world();
            if !world.adapters[self.adapter].powered {
                return Err(BluezError::NotReady("Resource Not Ready".into()));
            }
            let agent = pick_agent(&world.agents, &caller);
            let entry = &world.locks[self.lock];
            let window_open = entry.lock.pairing_window_open(unix_ms());
            let passkey = entry.lock.passkey();
            let dev = world.adapters[self.adapter]
                .devices
                .entry(self.lock)
                .or_default();
            if dev.paired {
                return Err(BluezError::AlreadyExists("Already Exists".into()));
            }
            if dev.pairing.is_some() {
                return Err(BluezError::InProgress("In Progress".into()));
            }
            dev.pairing = Some(cancel.clone());
            (dev.connected, agent, window_open, passkey)
        };
        let attempt = async {
            if !connected {
                connect(&self.shared, self.adapter, self.lock).await?;
            }
            if !window_open {
                // The lock is not in pairing mode: it refuses to bond.
                return Err(BluezError::AuthenticationRejected(
                    "Authentication Rejected".into(),
                ));
            }
            self.authenticate(agent, passkey).await
        };
        let result = tokio::select! {
            r = attempt => r,
            _ = cancel.notified() => Err(BluezError::AuthenticationCanceled("Authentication Canceled".into())),
        };
        let still_linked = self.dev_mut(|d| {
            d.pairing = None;
            d.connected
        });
        let result = match result {
            Ok(()) if !still_linked => Err(BluezError::AuthenticationCanceled(
                "Authentication Canceled".into(),
            )),
            other => other,
        };
        let outcome = if result.is_ok() {
            "pair.ok"
        } else {
            "pair.failed"
        };
        self.shared.world().count(outcome);
        result?;
        self.dev_mut(|d| {
            d.paired = true;
            d.permanent = true;
        });
        crate::sim::save_bonds(&self.shared);
        let changed = vec![("Paired", Value::from(true)), ("Bonded", Value::from(true))];
        emit_changed(&self.shared.conn, &self.path(), DEVICE, changed).await;
        Ok(())
    }

    /// Ends a pending `Pair` at once with `AuthenticationCanceled`; tells the agent.
    async fn cancel_pairing(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        let caller = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let (cancel, agent) = {
            let world = self.shared.world();
            let dev = world.adapters[self.adapter].devices.get(&self.lock);
            (
                dev.and_then(|d| d.pairing.clone()),
                pick_agent(&world.agents, &caller),
            )
        };
        let Some(cancel) = cancel else {
            return Err(BluezError::DoesNotExist("Does Not Exist".into()));
        };
        cancel.notify_one();
        if let Some(agent) = agent {
            let conn = self.shared.conn.clone();
            tokio::spawn(async move {
                let _ = conn
                    .call_method(
                        Some(agent.owner.as_str()),
                        agent.path.as_str(),
                        Some("org.bluez.Agent1"),
                        "Cancel",
                        &(),
                    )
                    .await;
            });
        }
        Ok(())
    }

    #[zbus(property)]
    fn address(&self) -> String {
        self.shared.world().locks[self.lock]
            .lock
            .address()
            .to_string()
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "random".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.shared.world().locks[self.lock].lock.name()
    }

    #[zbus(property)]
    fn alias(&self) -> String {
        let name = self.shared.world().locks[self.lock].lock.name();
        self.dev(|d| d.alias.clone()).unwrap_or(name)
    }

    #[zbus(property)]
    fn set_alias(&self, alias: String) {
        self.dev_mut(|d| d.alias = (!alias.is_empty()).then_some(alias));
    }

    #[zbus(property)]
    fn adapter(&self) -> OwnedObjectPath {
        super::adapter_path(&self.shared.world().adapters[self.adapter].name)
    }

    #[zbus(property)]
    fn paired(&self) -> bool {
        self.dev(|d| d.paired)
    }

    #[zbus(property)]
    fn bonded(&self) -> bool {
        self.dev(|d| d.paired)
    }

    #[zbus(property)]
    fn trusted(&self) -> bool {
        self.dev(|d| d.trusted)
    }

    #[zbus(property)]
    fn set_trusted(&self, value: bool) {
        self.dev_mut(|d| d.trusted = value);
    }

    #[zbus(property)]
    fn blocked(&self) -> bool {
        self.dev(|d| d.blocked)
    }

    /// Blocking a device also drops its link, as bluetoothd does.
    #[zbus(property)]
    async fn set_blocked(&self, value: bool) {
        self.dev_mut(|d| d.blocked = value);
        if value {
            drop_link(&self.shared, self.adapter, self.lock, "blocked").await;
        }
    }

    #[zbus(property)]
    fn legacy_pairing(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn connected(&self) -> bool {
        self.dev(|d| d.connected)
    }

    #[zbus(property)]
    fn services_resolved(&self) -> bool {
        self.dev(|d| d.services_resolved)
    }

    #[zbus(property, name = "RSSI")]
    fn rssi(&self) -> zbus::fdo::Result<i16> {
        self.dev(|d| d.rssi).ok_or_else(|| absent("RSSI"))
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> Vec<String> {
        vec![service_uuid()]
    }

    #[zbus(property)]
    fn manufacturer_data(&self) -> HashMap<u16, Value<'static>> {
        let payload = self.shared.world().locks[self.lock]
            .lock
            .advertisement(unix_ms())
            .encode();
        manufacturer_data(payload.to_vec())
    }

    #[zbus(property)]
    fn service_data(&self) -> zbus::fdo::Result<HashMap<String, Value<'static>>> {
        Err(absent("ServiceData"))
    }

    #[zbus(property)]
    fn tx_power(&self) -> zbus::fdo::Result<i16> {
        Err(absent("TxPower"))
    }

    #[zbus(property)]
    fn icon(&self) -> zbus::fdo::Result<String> {
        Err(absent("Icon"))
    }

    #[zbus(property)]
    fn class(&self) -> zbus::fdo::Result<u32> {
        Err(absent("Class"))
    }

    #[zbus(property)]
    fn appearance(&self) -> zbus::fdo::Result<u16> {
        Err(absent("Appearance"))
    }

    #[zbus(property)]
    fn modalias(&self) -> zbus::fdo::Result<String> {
        Err(absent("Modalias"))
    }

    #[zbus(property)]
    fn wake_allowed(&self) -> zbus::fdo::Result<bool> {
        Err(absent("WakeAllowed"))
    }
}
