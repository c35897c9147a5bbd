//! `org.bluez.Device1` for each lock an adapter knows: link, bonding through the registered
//! agent (passkey entry), and the properties bluer reads.

use super::{absent, emit_changed, BluezError};
use crate::link::{connect, drop_link};
use crate::radio::{manufacturer_data, service_uuid};
use crate::world::{unix_ms, AgentReg, DeviceState, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

    /// Asks the agent for the passkey the lock wants and checks it.
    async fn authenticate(&self, agent: Option<AgentReg>, passkey: u32) -> Result<(), BluezError> {
        let Some(agent) = agent else {
            return Err(BluezError::AuthenticationFailed(
                "Authentication Failed: no agent".into(),
            ));
        };
        let reply = self
            .shared
            .conn
            .call_method(
                Some(agent.owner.as_str()),
                agent.path.as_str(),
                Some("org.bluez.Agent1"),
                "RequestPasskey",
                &(self.path(),),
            )
            .await;
        match reply {
            Ok(msg) => match msg.body().deserialize::<u32>() {
                Ok(given) if given == passkey => Ok(()),
                _ => Err(BluezError::AuthenticationFailed(
                    "Authentication Failed".into(),
                )),
            },
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.bluez.Error.Canceled" =>
            {
                Err(BluezError::AuthenticationCanceled(
                    "Authentication Canceled".into(),
                ))
            }
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.bluez.Error.Rejected" =>
            {
                Err(BluezError::AuthenticationRejected(
                    "Authentication Rejected".into(),
                ))
            }
            Err(_) => Err(BluezError::AuthenticationFailed(
                "Authentication Failed".into(),
            )),
        }
    }
}

#[zbus::interface(name = "org.bluez.Device1")]
impl Device {
    async fn connect(&self) -> Result<(), BluezError> {
        connect(&self.shared, self.adapter, self.lock).await
    }

    async fn disconnect(&self) -> Result<(), BluezError> {
        if drop_link(&self.shared, self.adapter, self.lock, "disconnect").await {
            Ok(())
        } else {
            Err(BluezError::NotConnected("Not Connected".into()))
        }
    }

    async fn connect_profile(&self, _uuid: String) -> Result<(), BluezError> {
        Err(BluezError::NotSupported("Not Supported".into()))
    }

    async fn disconnect_profile(&self, _uuid: String) -> Result<(), BluezError> {
        Err(BluezError::NotSupported("Not Supported".into()))
    }

    async fn pair(&self) -> Result<(), BluezError> {
        let cancel = Arc::new(AtomicBool::new(false));
        let (connected, agent, window_open, passkey) = {
            let mut world = self.shared.world();
            if !world.adapters[self.adapter].powered {
                return Err(BluezError::NotReady("Resource Not Ready".into()));
            }
            let agent = world.agents.first().cloned();
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
        let result = async {
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
        }
        .await;
        self.dev_mut(|d| d.pairing = None);
        if cancel.load(Ordering::SeqCst) {
            return Err(BluezError::AuthenticationCanceled(
                "Authentication Canceled".into(),
            ));
        }
        let outcome = if result.is_ok() {
            "pair.ok"
        } else {
            "pair.failed"
        };
        self.shared.world().count(outcome);
        result?;
        self.dev_mut(|d| d.paired = true);
        crate::sim::save_bonds(&self.shared);
        let changed = vec![("Paired", Value::from(true)), ("Bonded", Value::from(true))];
        emit_changed(&self.shared.conn, &self.path(), DEVICE, changed).await;
        Ok(())
    }

    async fn cancel_pairing(&self) -> Result<(), BluezError> {
        let (cancel, agent) = {
            let world = self.shared.world();
            let pairing = world.adapters[self.adapter]
                .devices
                .get(&self.lock)
                .and_then(|d| d.pairing.clone());
            (pairing, world.agents.first().cloned())
        };
        let Some(cancel) = cancel else {
            return Err(BluezError::DoesNotExist("Does Not Exist".into()));
        };
        cancel.store(true, Ordering::SeqCst);
        if let Some(agent) = agent {
            let _ = self
                .shared
                .conn
                .call_method(
                    Some(agent.owner.as_str()),
                    agent.path.as_str(),
                    Some("org.bluez.Agent1"),
                    "Cancel",
                    &(),
                )
                .await;
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
    fn set_alias(&mut self, alias: String) {
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
    fn set_trusted(&mut self, value: bool) {
        self.dev_mut(|d| d.trusted = value);
    }

    #[zbus(property)]
    fn blocked(&self) -> bool {
        self.dev(|d| d.blocked)
    }

    #[zbus(property)]
    fn set_blocked(&mut self, value: bool) {
        self.dev_mut(|d| d.blocked = value);
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
