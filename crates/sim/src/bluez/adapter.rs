//! `org.bluez.Adapter1` at `/org/bluez/hciN`: power, discovery sessions and filters, device
//! removal. Every client's `StartDiscovery` and `StopDiscovery` is counted
//! (`discovery.started`, `discovery.stopped`).

use super::{emit_changed, BluezError};
use crate::link::drop_link;
use crate::objects::unexport_device;
use crate::radio::start_scanning;
use crate::world::{DiscoveryFilter, Shared};
use std::collections::HashMap;
use std::sync::Arc;
use zbus::message::Header;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

const ADAPTER: &str = "org.bluez.Adapter1";
const FILTER_KEYS: [&str; 7] = [
    "UUIDs",
    "RSSI",
    "Pathloss",
    "Transport",
    "DuplicateData",
    "Discoverable",
    "Pattern",
];

/// One adapter.
pub struct Adapter {
    shared: Arc<Shared>,
    index: usize,
}

impl Adapter {
    /// The interface of adapter `index`.
    pub fn new(shared: Arc<Shared>, index: usize) -> Self {
        Adapter { shared, index }
    }

    fn read<T>(&self, f: impl FnOnce(&crate::world::AdapterState) -> T) -> T {
        f(&self.shared.world().adapters[self.index])
    }

    fn path(&self) -> OwnedObjectPath {
        super::adapter_path(&self.read(|a| a.name.clone()))
    }
}

fn sender(header: &Header<'_>) -> String {
    header.sender().map(|s| s.to_string()).unwrap_or_default()
}

/// Expands a 16- or 32-bit UUID to 128 bits with the Bluetooth base UUID.
fn full_uuid(uuid: &str) -> Option<String> {
    let lower = uuid.to_ascii_lowercase();
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    match lower.len() {
        4 | 8 if hex(&lower) => Some(format!("{lower:0>8}-0000-1000-8000-00805f9b34fb")),
        36 if lower.split('-').map(str::len).eq([8, 4, 4, 4, 12])
            && hex(&lower.replace('-', "")) =>
        {
            Some(lower)
        }
        _ => None,
    }
}

fn parse_filter(props: &HashMap<String, OwnedValue>) -> Result<DiscoveryFilter, BluezError> {
    let invalid = |what: &str| BluezError::InvalidArguments(format!("Invalid arguments: {what}"));
    let mut filter = DiscoveryFilter::default();
    for (key, value) in props {
        match key.as_str() {
            "UUIDs" => {
                let uuids: Vec<String> = value
                    .try_clone()
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or_else(|| invalid("UUIDs"))?;
                filter.uuids = uuids
                    .iter()
                    .map(|u| full_uuid(u).ok_or_else(|| invalid("UUIDs")))
                    .collect::<Result<_, _>>()?;
            }
            "RSSI" => {
                let rssi = i16::try_from(value).map_err(|_| invalid("RSSI"))?;
                if !(-127..=20).contains(&rssi) {
                    return Err(invalid("RSSI"));
                }
                filter.rssi = Some(rssi);
            }
            "Pathloss" => {
                u16::try_from(value).map_err(|_| invalid("Pathloss"))?;
            }
            "Transport" => {
                let t = <&str>::try_from(value).map_err(|_| invalid("Transport"))?;
                if !["auto", "le", "bredr"].contains(&t) {
                    return Err(invalid("Transport"));
                }
            }
            "DuplicateData" | "Discoverable" => {
                bool::try_from(value).map_err(|_| invalid(key))?;
            }
            "Pattern" => {
                <&str>::try_from(value).map_err(|_| invalid("Pattern"))?;
            }
            other => return Err(invalid(other)),
        }
    }
    if props.contains_key("RSSI") && props.contains_key("Pathloss") {
        return Err(invalid("RSSI and Pathloss together"));
    }
    Ok(filter)
}

#[zbus::interface(name = "org.bluez.Adapter1")]
impl Adapter {
    async fn start_discovery(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        let client = sender(&header);
        let first = {
            let mut world = self.shared.world();
            let adapter = &mut world.adapters[self.index];
            if !adapter.powered {
                return Err(BluezError::NotReady("Resource Not Ready".into()));
            }
            if adapter.discovery.contains_key(&client) {
                return Err(BluezError::InProgress(
                    "Operation already in progress".into(),
                ));
            }
            let filter = adapter.filters.get(&client).cloned().unwrap_or_default();
            adapter.discovery.insert(client, filter);
            let first = adapter.discovery.len() == 1;
            world.count("discovery.started");
            first
        };
        if first {
            let changed = vec![("Discovering", Value::from(true))];
            emit_changed(&self.shared.conn, &self.path(), ADAPTER, changed).await;
            start_scanning(&self.shared, self.index);
        }
        Ok(())
    }

    async fn stop_discovery(&self, #[zbus(header)] header: Header<'_>) -> Result<(), BluezError> {
        let client = sender(&header);
        let last = {
            let mut world = self.shared.world();
            let adapter = &mut world.adapters[self.index];
            if !adapter.powered {
                return Err(BluezError::NotReady("Resource Not Ready".into()));
            }
            if adapter.discovery.remove(&client).is_none() {
                return Err(BluezError::Failed("No discovery started".into()));
            }
            let last = adapter.discovery.is_empty();
            world.count("discovery.stopped");
            last
        };
        if last {
            let changed = vec![("Discovering", Value::from(false))];
            emit_changed(&self.shared.conn, &self.path(), ADAPTER, changed).await;
            forget_rssi(&self.shared, self.index).await;
        }
        Ok(())
    }

    async fn set_discovery_filter(
        &self,
        properties: HashMap<String, OwnedValue>,
        #[zbus(header)] header: Header<'_>,
    ) -> Result<(), BluezError> {
        let client = sender(&header);
        let mut world = self.shared.world();
        let adapter = &mut world.adapters[self.index];
        if !adapter.powered {
            return Err(BluezError::NotReady("Resource Not Ready".into()));
        }
        let filter = parse_filter(&properties)?;
        if let Some(active) = adapter.discovery.get_mut(&client) {
            *active = filter.clone();
        }
        adapter.filters.insert(client, filter);
        Ok(())
    }

    fn get_discovery_filters(&self) -> Vec<String> {
        FILTER_KEYS.iter().map(|k| (*k).to_owned()).collect()
    }

    async fn remove_device(&self, device: OwnedObjectPath) -> Result<(), BluezError> {
        let lock = {
            let world = self.shared.world();
            let adapter = &world.adapters[self.index];
            if !adapter.powered {
                return Err(BluezError::NotReady("Resource Not Ready".into()));
            }
            (0..world.locks.len()).find(|&l| {
                super::device_path(&adapter.name, world.locks[l].lock.address()) == device
                    && adapter.devices.get(&l).is_some_and(|d| d.exported)
            })
        };
        let Some(l) = lock else {
            return Err(BluezError::DoesNotExist("Does Not Exist".into()));
        };
        drop_link(&self.shared, self.index, l, "removed").await;
        if let Some(dev) = self.shared.world().adapters[self.index].devices.get_mut(&l) {
            dev.paired = false;
            dev.trusted = false;
        }
        crate::sim::save_bonds(&self.shared);
        unexport_device(&self.shared, self.index, l).await;
        Ok(())
    }

    #[zbus(property)]
    fn address(&self) -> String {
        self.read(|a| a.address.to_string())
    }

    #[zbus(property)]
    fn address_type(&self) -> String {
        "public".into()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        "locksim".into()
    }

    #[zbus(property)]
    fn alias(&self) -> String {
        self.read(|a| a.alias.clone())
    }

    #[zbus(property)]
    fn set_alias(&self, alias: String) {
        self.shared.world().adapters[self.index].alias = alias;
    }

    #[zbus(property)]
    fn class(&self) -> u32 {
        0
    }

    #[zbus(property)]
    fn powered(&self) -> bool {
        self.read(|a| a.powered)
    }

    #[zbus(property)]
    async fn set_powered(&self, powered: bool) {
        set_powered(&self.shared, self.index, powered).await;
    }

    #[zbus(property)]
    fn discoverable(&self) -> bool {
        self.read(|a| a.discoverable)
    }

    #[zbus(property)]
    fn set_discoverable(&self, value: bool) {
        self.shared.world().adapters[self.index].discoverable = value;
    }

    #[zbus(property)]
    fn discoverable_timeout(&self) -> u32 {
        self.read(|a| a.discoverable_timeout)
    }

    #[zbus(property)]
    fn set_discoverable_timeout(&self, value: u32) {
        self.shared.world().adapters[self.index].discoverable_timeout = value;
    }

    #[zbus(property)]
    fn pairable(&self) -> bool {
        self.read(|a| a.pairable)
    }

    #[zbus(property)]
    fn set_pairable(&self, value: bool) {
        self.shared.world().adapters[self.index].pairable = value;
    }

    #[zbus(property)]
    fn pairable_timeout(&self) -> u32 {
        self.read(|a| a.pairable_timeout)
    }

    #[zbus(property)]
    fn set_pairable_timeout(&self, value: u32) {
        self.shared.world().adapters[self.index].pairable_timeout = value;
    }

    #[zbus(property)]
    fn discovering(&self) -> bool {
        self.read(|a| !a.discovery.is_empty())
    }

    #[zbus(property, name = "UUIDs")]
    fn uuids(&self) -> Vec<String> {
        Vec::new()
    }

    #[zbus(property)]
    fn modalias(&self) -> String {
        "usb:v1D6Bp0246d0542".into()
    }
}

/// When discovery stops bluetoothd drops the RSSI of every device it had seen.
async fn forget_rssi(shared: &Arc<Shared>, a: usize) {
    let cleared: Vec<usize> = {
        let mut world = shared.world();
        let devices = &mut world.adapters[a].devices;
        devices
            .iter_mut()
            .filter_map(|(&l, d)| (d.exported && d.rssi.take().is_some()).then_some(l))
            .collect()
    };
    for l in cleared {
        if let Some(p) = crate::objects::paths(shared, a, l) {
            super::emit_invalidated(&shared.conn, &p.device, "org.bluez.Device1", &["RSSI"]).await;
        }
    }
}

/// Powers adapter `a` on or off. Off drops every link and ends discovery; the change is
/// announced as `PropertiesChanged` (zbus announces it too when a client sets it).
pub async fn set_powered(shared: &Arc<Shared>, a: usize, powered: bool) {
    let (locks, was_discovering, path) = {
        let mut world = shared.world();
        let adapter = &mut world.adapters[a];
        adapter.powered = powered;
        let was_discovering = !powered && !adapter.discovery.is_empty();
        if !powered {
            adapter.discovery.clear();
            adapter.discoverable = false;
        }
        let path = super::adapter_path(&adapter.name);
        (world.locks.len(), was_discovering, path)
    };
    if !powered {
        for l in 0..locks {
            drop_link(shared, a, l, "powered_off").await;
        }
    }
    let mut changed = vec![("Powered", Value::from(powered))];
    if was_discovering {
        changed.push(("Discovering", Value::from(false)));
    }
    emit_changed(&shared.conn, &path, ADAPTER, changed).await;
}
