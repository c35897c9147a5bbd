//! The lock's GATT database: `org.bluez.GattService1` (the lockgate service),
//! `org.bluez.GattCharacteristic1` (`rx`, written by the gateway; `tx`, notified by the lock)
//! and `org.bluez.GattDescriptor1` (the CCCD of `tx`). `AcquireWrite` and `AcquireNotify`
//! hand out `SOCK_SEQPACKET` socket pairs as bluetoothd does: one datagram per value.

use super::{absent, emit_changed, BluezError, CCCD_UUID};
use crate::link::write_rx;
use crate::world::{NotifyMode, Shared};
use lockgate_wire::gatt::{RX_CHAR_UUID_STR, SERVICE_UUID_STR, TX_CHAR_UUID_STR};
use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::UnixDatagram;
use zbus::message::Header;
use zbus::zvariant::{OwnedFd, OwnedObjectPath, OwnedValue, Value};

const CHARACTERISTIC: &str = "org.bluez.GattCharacteristic1";

/// The lockgate service.
pub struct Service {
    device: OwnedObjectPath,
}

impl Service {
    /// The service object of `device`.
    pub fn new(device: OwnedObjectPath) -> Self {
        Service { device }
    }
}

#[zbus::interface(name = "org.bluez.GattService1")]
impl Service {
    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        SERVICE_UUID_STR.into()
    }

    #[zbus(property)]
    fn primary(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn device(&self) -> OwnedObjectPath {
        self.device.clone()
    }

    #[zbus(property)]
    fn includes(&self) -> Vec<OwnedObjectPath> {
        Vec::new()
    }
}

/// Which characteristic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Written by the gateway.
    Rx,
    /// Notified by the lock.
    Tx,
}

/// `rx` or `tx` of one lock on one adapter.
pub struct Characteristic {
    shared: Arc<Shared>,
    adapter: usize,
    lock: usize,
    role: Role,
    service: OwnedObjectPath,
}

impl Characteristic {
    /// The characteristic `role` of a device whose service is at `service`.
    pub fn new(ids: (Arc<Shared>, usize, usize), role: Role, service: OwnedObjectPath) -> Self {
        let (shared, adapter, lock) = ids;
        Characteristic {
            shared,
            adapter,
            lock,
            role,
            service,
        }
    }

    fn connected(&self) -> bool {
        self.shared.world().adapters[self.adapter]
            .devices
            .get(&self.lock)
            .is_some_and(|d| d.connected)
    }

    fn my_path(&self) -> OwnedObjectPath {
        let n = if self.role == Role::Rx {
            "0002"
        } else {
            "0004"
        };
        super::owned_path(format!("{}/char{n}", self.service.as_str()))
    }

    fn require(&self, role: Role, what: &str) -> Result<(), BluezError> {
        if self.role != role {
            return Err(BluezError::NotPermitted(format!("{what} not permitted")));
        }
        if !self.connected() {
            return Err(BluezError::Failed("Not connected".into()));
        }
        Ok(())
    }
}

/// A `SOCK_SEQPACKET` pair: our end for tokio, theirs for the client.
fn socket_pair() -> Result<(UnixDatagram, OwnedFd), BluezError> {
    let failed = |e: std::io::Error| BluezError::Failed(format!("socketpair: {e}"));
    let (ours, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| failed(e.into()))?;
    let ours = std::os::unix::net::UnixDatagram::from(ours);
    ours.set_nonblocking(true).map_err(failed)?;
    let ours = UnixDatagram::from_std(ours).map_err(failed)?;
    Ok((ours, OwnedFd::from(theirs)))
}

fn write_type(options: &HashMap<String, OwnedValue>) -> Result<bool, BluezError> {
    if let Some(offset) = options.get("offset") {
        if u16::try_from(offset).unwrap_or(1) != 0 {
            return Err(BluezError::InvalidOffset("Invalid offset".into()));
        }
    }
    match options.get("type").map(<&str>::try_from) {
        None | Some(Ok("request")) | Some(Ok("reliable")) => Ok(true),
        Some(Ok("command")) => Ok(false),
        Some(_) => Err(BluezError::InvalidArguments(
            "Invalid arguments: type".into(),
        )),
    }
}

#[zbus::interface(name = "org.bluez.GattCharacteristic1")]
impl Characteristic {
    async fn read_value(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<Vec<u8>, BluezError> {
        Err(BluezError::NotPermitted("Read not permitted".into()))
    }

    async fn write_value(
        &self,
        value: Vec<u8>,
        options: HashMap<String, OwnedValue>,
    ) -> Result<(), BluezError> {
        self.require(Role::Rx, "Write")?;
        let with_response = write_type(&options)?;
        write_rx(&self.shared, self.adapter, self.lock, &value, with_response).await
    }

    async fn start_notify(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        self.require(Role::Tx, "Notify")?;
        let client = header.sender().map(|s| s.to_string()).unwrap_or_default();
        {
            let mut world = self.shared.world();
            let dev = world.adapters[self.adapter]
                .devices
                .entry(self.lock)
                .or_default();
            match &dev.notify {
                NotifyMode::Acquired(_) => {
                    return Err(BluezError::NotPermitted("Notify acquired".into()))
                }
                NotifyMode::Session(c) if *c == client => {
                    return Err(BluezError::InProgress("In Progress".into()))
                }
                _ => dev.notify = NotifyMode::Session(client),
            }
        }
        let changed = vec![("Notifying", Value::from(true))];
        emit_changed(&self.shared.conn, &self.my_path(), CHARACTERISTIC, changed).await;
        Ok(())
    }

    async fn stop_notify(&self) -> Result<(), BluezError> {
        {
            let mut world = self.shared.world();
            let dev = world.adapters[self.adapter]
                .devices
                .entry(self.lock)
                .or_default();
            if !matches!(dev.notify, NotifyMode::Session(_)) {
                return Err(BluezError::Failed("No notify session started".into()));
            }
            dev.notify = NotifyMode::Off;
        }
        let changed = vec![("Notifying", Value::from(false))];
        emit_changed(&self.shared.conn, &self.my_path(), CHARACTERISTIC, changed).await;
        Ok(())
    }

    async fn acquire_write(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(OwnedFd, u16), BluezError> {
        self.require(Role::Rx, "Write")?;
        let (ours, theirs) = socket_pair()?;
        let mtu = self.shared.config.mtu;
        let (shared, a, l) = (self.shared.clone(), self.adapter, self.lock);
        let path = self.my_path();
        {
            let mut world = self.shared.world();
            let dev = world.adapters[a].devices.entry(l).or_default();
            if dev.write_acquired {
                return Err(BluezError::NotPermitted("Write acquired".into()));
            }
            dev.write_acquired = true;
            let reader = tokio::spawn(read_writes(shared, a, l, ours, path.clone()));
            dev.write_reader = Some(reader.abort_handle());
        }
        let changed = vec![("WriteAcquired", Value::from(true))];
        emit_changed(&self.shared.conn, &path, CHARACTERISTIC, changed).await;
        Ok((theirs, mtu))
    }

    async fn acquire_notify(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(OwnedFd, u16), BluezError> {
        self.require(Role::Tx, "Notify")?;
        let (ours, theirs) = socket_pair()?;
        let ours = Arc::new(ours);
        {
            let mut world = self.shared.world();
            let dev = world.adapters[self.adapter]
                .devices
                .entry(self.lock)
                .or_default();
            if !matches!(dev.notify, NotifyMode::Off) {
                return Err(BluezError::NotPermitted("Notify acquired".into()));
            }
            dev.notify = NotifyMode::Acquired(ours.clone());
        }
        let path = self.my_path();
        let changed = vec![
            ("NotifyAcquired", Value::from(true)),
            ("Notifying", Value::from(true)),
        ];
        emit_changed(&self.shared.conn, &path, CHARACTERISTIC, changed).await;
        tokio::spawn(watch_notify_socket(
            self.shared.clone(),
            self.adapter,
            self.lock,
            ours,
            path,
        ));
        Ok((theirs, self.shared.config.mtu))
    }

    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        match self.role {
            Role::Rx => RX_CHAR_UUID_STR.into(),
            Role::Tx => TX_CHAR_UUID_STR.into(),
        }
    }

    #[zbus(property)]
    fn service(&self) -> OwnedObjectPath {
        self.service.clone()
    }

    #[zbus(property)]
    fn value(&self) -> Vec<u8> {
        let world = self.shared.world();
        let dev = world.adapters[self.adapter].devices.get(&self.lock);
        match self.role {
            Role::Rx => Vec::new(),
            Role::Tx => dev.map(|d| d.tx_value.clone()).unwrap_or_default(),
        }
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        let flags: &[&str] = match self.role {
            Role::Rx => &["write", "write-without-response"],
            Role::Tx => &["notify"],
        };
        flags.iter().map(|f| (*f).to_owned()).collect()
    }

    #[zbus(property, name = "MTU")]
    fn mtu(&self) -> u16 {
        self.shared.config.mtu
    }

    #[zbus(property)]
    fn notifying(&self) -> zbus::fdo::Result<bool> {
        if self.role == Role::Rx {
            return Err(absent("Notifying"));
        }
        let world = self.shared.world();
        let dev = world.adapters[self.adapter].devices.get(&self.lock);
        Ok(dev.is_some_and(|d| !matches!(d.notify, NotifyMode::Off)))
    }

    #[zbus(property)]
    fn notify_acquired(&self) -> zbus::fdo::Result<bool> {
        if self.role == Role::Rx {
            return Err(absent("NotifyAcquired"));
        }
        let world = self.shared.world();
        let dev = world.adapters[self.adapter].devices.get(&self.lock);
        Ok(dev.is_some_and(|d| matches!(d.notify, NotifyMode::Acquired(_))))
    }

    #[zbus(property)]
    fn write_acquired(&self) -> zbus::fdo::Result<bool> {
        if self.role == Role::Tx {
            return Err(absent("WriteAcquired"));
        }
        let world = self.shared.world();
        let dev = world.adapters[self.adapter].devices.get(&self.lock);
        Ok(dev.is_some_and(|d| d.write_acquired))
    }
}

/// Feeds datagrams from an acquired write socket to `rx` until the client closes it.
async fn read_writes(
    shared: Arc<Shared>,
    a: usize,
    l: usize,
    socket: UnixDatagram,
    path: OwnedObjectPath,
) {
    let mut buf = vec![0u8; usize::from(shared.config.mtu)];
    loop {
        match socket.recv(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Err(e) = write_rx(&shared, a, l, &buf[..n], false).await {
                    log::debug!("acquired write refused: {e}");
                }
            }
        }
    }
    if let Some(dev) = shared.world().adapters[a].devices.get_mut(&l) {
        dev.write_acquired = false;
        dev.write_reader = None;
    }
    let changed = vec![("WriteAcquired", Value::from(false))];
    emit_changed(&shared.conn, &path, CHARACTERISTIC, changed).await;
}

/// Releases an acquired notify socket when the client closes it.
async fn watch_notify_socket(
    shared: Arc<Shared>,
    a: usize,
    l: usize,
    socket: Arc<UnixDatagram>,
    path: OwnedObjectPath,
) {
    let mut buf = [0u8; 1];
    // The client never writes: readiness means it hung up.
    let _ = socket.recv(&mut buf).await;
    let released = {
        let mut world = shared.world();
        match world.adapters[a].devices.get_mut(&l) {
            Some(dev) if matches!(&dev.notify, NotifyMode::Acquired(s) if Arc::ptr_eq(s, &socket)) =>
            {
                dev.notify = NotifyMode::Off;
                true
            }
            _ => false,
        }
    };
    if released {
        let changed = vec![
            ("NotifyAcquired", Value::from(false)),
            ("Notifying", Value::from(false)),
        ];
        emit_changed(&shared.conn, &path, CHARACTERISTIC, changed).await;
    }
}

/// The CCCD of `tx`.
pub struct Descriptor {
    shared: Arc<Shared>,
    adapter: usize,
    lock: usize,
    characteristic: OwnedObjectPath,
}

impl Descriptor {
    /// The CCCD under `characteristic`.
    pub fn new(ids: (Arc<Shared>, usize, usize), characteristic: OwnedObjectPath) -> Self {
        let (shared, adapter, lock) = ids;
        Descriptor {
            shared,
            adapter,
            lock,
            characteristic,
        }
    }

    fn current(&self) -> Vec<u8> {
        let world = self.shared.world();
        let on = world.adapters[self.adapter]
            .devices
            .get(&self.lock)
            .is_some_and(|d| !matches!(d.notify, NotifyMode::Off));
        vec![u8::from(on), 0]
    }
}

#[zbus::interface(name = "org.bluez.GattDescriptor1")]
impl Descriptor {
    async fn read_value(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<Vec<u8>, BluezError> {
        Ok(self.current())
    }

    async fn write_value(
        &self,
        _value: Vec<u8>,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(), BluezError> {
        // bluetoothd manages the CCCD itself; clients use StartNotify / AcquireNotify.
        Err(BluezError::NotPermitted("Write not permitted".into()))
    }

    #[zbus(property, name = "UUID")]
    fn uuid(&self) -> String {
        CCCD_UUID.into()
    }

    #[zbus(property)]
    fn characteristic(&self) -> OwnedObjectPath {
        self.characteristic.clone()
    }

    #[zbus(property)]
    fn value(&self) -> Vec<u8> {
        self.current()
    }

    #[zbus(property)]
    fn flags(&self) -> Vec<String> {
        vec!["read".into()]
    }
}
