//! The lock's GATT database: `org.bluez.GattService1` (the lockgate service),
//! `org.bluez.GattCharacteristic1` (`rx`, written by the gateway; `tx`, notified by the lock)
//! and `org.bluez.GattDescriptor1` (the CCCD of `tx`). `AcquireWrite` and `AcquireNotify`
//! hand out `SOCK_SEQPACKET` socket pairs as bluetoothd does: one datagram per value.

use super::{absent, emit_changed, BluezError, CCCD_UUID};
use crate::link::write_rx;
use crate::world::{DeviceState, NotifyMode, Shared};
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

    /// Runs `f` on this device's state, under the world lock.
    fn dev<T>(&self, f: impl FnOnce(&mut DeviceState) -> T) -> T {
        let mut world = self.shared.world();
        f(world.adapters[self.adapter]
            .devices
            .entry(self.lock)
            .or_default())
    }

    /// The lock's waiting state events go out now that someone listens.
    fn flush_events(&self) {
        let mtu = self.shared.config.mtu;
        crate::link::flush_events(&mut self.shared.world(), self.lock, mtu);
    }

    fn connected(&self) -> bool {
        self.dev(|d| d.connected)
    }

    fn my_path(&self) -> OwnedObjectPath {
        let n = if self.role == Role::Rx {
            "0002"
        } else {
            "0004"
        };
        super::owned_path(format!("{}/char{n}", self.service.as_str()))
    }

    fn require(&self, role: Role, connected: bool) -> Result<(), BluezError> {
        if self.role != role {
            return Err(BluezError::NotSupported(
                "Operation is not supported".into(),
            ));
        }
        if connected && !self.connected() {
            return Err(BluezError::Failed("Not connected".into()));
        }
        Ok(())
    }

    async fn emit(&self, changed: Vec<(&'static str, Value<'static>)>) {
        emit_changed(&self.shared.conn, &self.my_path(), CHARACTERISTIC, changed).await;
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
            // The lock's ATT server keeps no partial values.
            return Err(BluezError::InvalidArguments("Invalid offset".into()));
        }
    }
    let kind = options
        .get("type")
        .map(|v| <&str>::try_from(v).map(str::to_ascii_lowercase));
    match kind {
        None => Ok(true),
        Some(Ok(k)) if k == "request" || k == "reliable" => Ok(true),
        Some(Ok(k)) if k == "command" => Ok(false),
        Some(_) => Err(BluezError::NotSupported(
            "Operation is not supported".into(),
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
        self.require(Role::Rx, true)?;
        let with_response = write_type(&options)?;
        if self.dev(|d| d.write_socket.is_some()) {
            return Err(BluezError::NotPermitted("Write acquired".into()));
        }
        write_rx(&self.shared, self.adapter, self.lock, &value, with_response).await
    }

    /// Sessions are per client, outlive disconnections, and may start while disconnected.
    async fn start_notify(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        self.require(Role::Tx, false)?;
        let client = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let first = self.dev(|dev| match &mut dev.notify {
            NotifyMode::Acquired(_) => Err(BluezError::NotPermitted("Notify acquired".into())),
            NotifyMode::Sessions(clients) => {
                clients.insert(client);
                Ok(false)
            }
            NotifyMode::Off => {
                dev.notify = NotifyMode::Sessions([client].into());
                Ok(true)
            }
        })?;
        if first {
            self.emit(vec![("Notifying", Value::from(true))]).await;
        }
        self.flush_events();
        Ok(())
    }

    async fn stop_notify(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        self.require(Role::Tx, false)?;
        let client = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let ended = self.dev(|dev| match &mut dev.notify {
            NotifyMode::Acquired(socket) => {
                let _ = socket.shutdown(std::net::Shutdown::Both);
                dev.notify = NotifyMode::Off;
                Ok(Some("NotifyAcquired"))
            }
            NotifyMode::Sessions(clients) if clients.contains(&client) => {
                clients.remove(&client);
                if clients.is_empty() {
                    dev.notify = NotifyMode::Off;
                    return Ok(Some("Notifying"));
                }
                Ok(None)
            }
            _ => Err(BluezError::Failed("No notify session started".into())),
        })?;
        if let Some(property) = ended {
            self.emit(vec![(property, Value::from(false))]).await;
        }
        Ok(())
    }

    async fn acquire_write(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(OwnedFd, u16), BluezError> {
        self.require(Role::Rx, true)?;
        let (ours, theirs) = socket_pair()?;
        let ours = Arc::new(ours);
        self.dev(|dev| match dev.write_socket {
            Some(_) => Err(BluezError::NotPermitted("Write acquired".into())),
            None => {
                dev.write_socket = Some(ours.clone());
                Ok(())
            }
        })?;
        let ids = (self.shared.clone(), self.adapter, self.lock);
        tokio::spawn(read_writes(ids, ours, self.my_path()));
        self.emit(vec![("WriteAcquired", Value::from(true))]).await;
        Ok((theirs, self.shared.config.mtu))
    }

    async fn acquire_notify(
        &self,
        _options: HashMap<String, OwnedValue>,
    ) -> Result<(OwnedFd, u16), BluezError> {
        self.require(Role::Tx, true)?;
        let (ours, theirs) = socket_pair()?;
        let ours = Arc::new(ours);
        self.dev(|dev| match dev.notify {
            NotifyMode::Sessions(_) => Err(BluezError::InProgress("In Progress".into())),
            NotifyMode::Acquired(_) => Err(BluezError::NotPermitted("Notify acquired".into())),
            NotifyMode::Off => {
                dev.notify = NotifyMode::Acquired(ours.clone());
                Ok(())
            }
        })?;
        self.emit(vec![("NotifyAcquired", Value::from(true))]).await;
        let ids = (self.shared.clone(), self.adapter, self.lock);
        tokio::spawn(watch_notify_socket(ids, ours, self.my_path()));
        self.flush_events();
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
        match self.role {
            Role::Rx => Vec::new(),
            Role::Tx => self.dev(|d| d.tx_value.clone()),
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

    /// Present only while connected, as in bluetoothd.
    #[zbus(property, name = "MTU")]
    fn mtu(&self) -> zbus::fdo::Result<u16> {
        match self.connected() {
            true => Ok(self.shared.config.mtu),
            false => Err(absent("MTU")),
        }
    }

    #[zbus(property)]
    fn notifying(&self) -> zbus::fdo::Result<bool> {
        if self.role == Role::Rx {
            return Err(absent("Notifying"));
        }
        Ok(self.dev(|d| matches!(&d.notify, NotifyMode::Sessions(c) if !c.is_empty())))
    }

    #[zbus(property)]
    fn notify_acquired(&self) -> zbus::fdo::Result<bool> {
        if self.role == Role::Rx {
            return Err(absent("NotifyAcquired"));
        }
        Ok(self.dev(|d| matches!(d.notify, NotifyMode::Acquired(_))))
    }

    #[zbus(property)]
    fn write_acquired(&self) -> zbus::fdo::Result<bool> {
        if self.role == Role::Tx {
            return Err(absent("WriteAcquired"));
        }
        Ok(self.dev(|d| d.write_socket.is_some()))
    }
}

/// Feeds datagrams from an acquired write socket to `rx` until the client closes it (or the
/// link drops and shuts it down).
async fn read_writes(
    ids: (Arc<Shared>, usize, usize),
    socket: Arc<UnixDatagram>,
    path: OwnedObjectPath,
) {
    let (shared, a, l) = ids;
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
    let released = release(&shared, a, l, |d| {
        let ours = d
            .write_socket
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &socket));
        if ours {
            d.write_socket = None;
        }
        ours
    });
    if released {
        let changed = vec![("WriteAcquired", Value::from(false))];
        emit_changed(&shared.conn, &path, CHARACTERISTIC, changed).await;
    }
}

/// Releases an acquired notify socket when the client closes it.
async fn watch_notify_socket(
    ids: (Arc<Shared>, usize, usize),
    socket: Arc<UnixDatagram>,
    path: OwnedObjectPath,
) {
    let (shared, a, l) = ids;
    let mut buf = [0u8; 1];
    // The client never writes: readiness means it hung up (or the link shut it down).
    let _ = socket.recv(&mut buf).await;
    let released = release(&shared, a, l, |d| {
        let ours = matches!(&d.notify, NotifyMode::Acquired(s) if Arc::ptr_eq(s, &socket));
        if ours {
            d.notify = NotifyMode::Off;
        }
        ours
    });
    if released {
        let changed = vec![("NotifyAcquired", Value::from(false))];
        emit_changed(&shared.conn, &path, CHARACTERISTIC, changed).await;
    }
}

fn release(shared: &Shared, a: usize, l: usize, f: impl FnOnce(&mut DeviceState) -> bool) -> bool {
    shared.world().adapters[a]
        .devices
        .get_mut(&l)
        .is_some_and(f)
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
}
