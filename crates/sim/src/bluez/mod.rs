//! The BlueZ D-Bus API surface (as in BlueZ 5.66+, `doc/org.bluez.*.rst`): object paths,
//! error names, and the interfaces locksim serves.

pub mod adapter;
pub mod agent;
pub mod device;
pub mod gatt;

use crate::lock::Address;
use std::collections::HashMap;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, Value};

/// The well-known name bluetoothd owns.
pub const BUS_NAME: &str = "org.bluez";
/// Where the AgentManager1 lives.
pub const ROOT_PATH: &str = "/org/bluez";
/// The Client Characteristic Configuration descriptor.
pub const CCCD_UUID: &str = "00002902-0000-1000-8000-00805f9b34fb";

/// Errors as bluetoothd names them (`org.bluez.Error.*`); the message is for people.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.bluez.Error")]
pub enum BluezError {
    /// A D-Bus level failure.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// `org.bluez.Error.InProgress`.
    InProgress(String),
    /// `org.bluez.Error.AlreadyConnected`.
    AlreadyConnected(String),
    /// `org.bluez.Error.AlreadyExists`.
    AlreadyExists(String),
    /// `org.bluez.Error.Failed`.
    Failed(String),
    /// `org.bluez.Error.NotReady`.
    NotReady(String),
    /// `org.bluez.Error.NotConnected`.
    NotConnected(String),
    /// `org.bluez.Error.DoesNotExist`.
    DoesNotExist(String),
    /// `org.bluez.Error.InvalidArguments`.
    InvalidArguments(String),
    /// `org.bluez.Error.InvalidOffset`.
    InvalidOffset(String),
    /// `org.bluez.Error.InvalidValueLength`.
    InvalidValueLength(String),
    /// `org.bluez.Error.NotPermitted`.
    NotPermitted(String),
    /// `org.bluez.Error.NotSupported`.
    NotSupported(String),
    /// `org.bluez.Error.AuthenticationFailed`.
    AuthenticationFailed(String),
    /// `org.bluez.Error.AuthenticationRejected`.
    AuthenticationRejected(String),
    /// `org.bluez.Error.AuthenticationCanceled`.
    AuthenticationCanceled(String),
    /// `org.bluez.Error.AuthenticationTimeout`.
    AuthenticationTimeout(String),
    /// `org.bluez.Error.ConnectionAttemptFailed`.
    ConnectionAttemptFailed(String),
}

/// The path of adapter `name` (`/org/bluez/hci0`).
pub fn adapter_path(name: &str) -> OwnedObjectPath {
    owned_path(format!("{ROOT_PATH}/{name}"))
}

/// The path of a device (`/org/bluez/hci0/dev_C0_11_22_33_44_55`).
pub fn device_path(adapter: &str, address: Address) -> OwnedObjectPath {
    let addr = address.to_string().replace(':', "_");
    owned_path(format!("{ROOT_PATH}/{adapter}/dev_{addr}"))
}

/// Builds a path from text this module formats itself (always valid).
pub fn owned_path(text: String) -> OwnedObjectPath {
    ObjectPath::try_from(text)
        .map(OwnedObjectPath::from)
        .unwrap_or_else(|_| OwnedObjectPath::from(ObjectPath::from_static_str_unchecked("/")))
}

/// Emits `PropertiesChanged` for `iface` at `path` with the given values.
pub async fn emit_changed(
    conn: &zbus::Connection,
    path: &OwnedObjectPath,
    iface: &'static str,
    changed: Vec<(&'static str, Value<'_>)>,
) {
    let Ok(emitter) = SignalEmitter::new(conn, path.as_ref()) else {
        return;
    };
    let Ok(name) = zbus::names::InterfaceName::try_from(iface) else {
        return;
    };
    let map: HashMap<&str, Value<'_>> = changed.into_iter().collect();
    if let Err(e) =
        zbus::fdo::Properties::properties_changed(&emitter, name, map, (&[][..]).into()).await
    {
        log::debug!("PropertiesChanged on {path}: {e}");
    }
}

/// Emits `PropertiesChanged` invalidating `names` (bluetoothd's way of saying a property
/// went away, e.g. RSSI when discovery stops).
pub async fn emit_invalidated(
    conn: &zbus::Connection,
    path: &OwnedObjectPath,
    iface: &'static str,
    names: &[&str],
) {
    let (Ok(emitter), Ok(name)) = (
        SignalEmitter::new(conn, path.as_ref()),
        zbus::names::InterfaceName::try_from(iface),
    ) else {
        return;
    };
    let map: HashMap<&str, Value<'_>> = HashMap::new();
    if let Err(e) =
        zbus::fdo::Properties::properties_changed(&emitter, name, map, names.into()).await
    {
        log::debug!("PropertiesChanged on {path}: {e}");
    }
}

/// The answer bluetoothd gives for a property an object does not have: bluer (and libdbus
/// clients generally) read `InvalidArgs` as "absent".
pub fn absent(name: &str) -> zbus::fdo::Error {
    zbus::fdo::Error::InvalidArgs(format!("No such property '{name}'"))
}
