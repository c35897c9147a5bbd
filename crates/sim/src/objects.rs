//! Exporting and removing the D-Bus objects of a device and of its GATT database. zbus emits
//! `InterfacesAdded` / `InterfacesRemoved` through the ObjectManager at `/`.

use crate::bluez::device::Device;
use crate::bluez::gatt::{Characteristic, Descriptor, Role, Service};
use crate::bluez::{device_path, owned_path};
use crate::world::Shared;
use std::sync::Arc;
use zbus::zvariant::OwnedObjectPath;

/// Paths of one device's objects.
pub struct DevicePaths {
    /// The device.
    pub device: OwnedObjectPath,
    /// The lockgate service.
    pub service: OwnedObjectPath,
    /// `rx`.
    pub rx: OwnedObjectPath,
    /// `tx`.
    pub tx: OwnedObjectPath,
    /// `tx`'s CCCD.
    pub cccd: OwnedObjectPath,
}

/// The paths of lock `lock` under adapter `adapter`.
pub fn paths(shared: &Shared, adapter: usize, lock: usize) -> Option<DevicePaths> {
    let world = shared.world();
    let name = world.adapters.get(adapter)?.name.clone();
    let address = world.locks.get(lock)?.lock.address();
    drop(world);
    let device = device_path(&name, address);
    let service = owned_path(format!("{}/service0001", device.as_str()));
    let rx = owned_path(format!("{}/char0002", service.as_str()));
    let tx = owned_path(format!("{}/char0004", service.as_str()));
    let cccd = owned_path(format!("{}/desc0005", tx.as_str()));
    Some(DevicePaths {
        device,
        service,
        rx,
        tx,
        cccd,
    })
}

/// Exports the Device1 object, once.
pub async fn export_device(shared: &Arc<Shared>, adapter: usize, lock: usize) {
    let Some(p) = paths(shared, adapter, lock) else {
        return;
    };
    {
        let mut world = shared.world();
        let Some(dev) = world.adapters[adapter].devices.get_mut(&lock) else {
            return;
        };
        if dev.exported {
            return;
        }
        dev.exported = true;
    }
    let device = Device::new(shared.clone(), adapter, lock);
    if let Err(e) = shared.conn.object_server().at(&p.device, device).await {
        log::warn!("exporting {}: {e}", p.device);
    }
}

/// Exports the GATT database of a device, once (BlueZ keeps it cached afterwards).
pub async fn export_gatt(shared: &Arc<Shared>, adapter: usize, lock: usize) {
    let Some(p) = paths(shared, adapter, lock) else {
        return;
    };
    {
        let mut world = shared.world();
        let Some(dev) = world.adapters[adapter].devices.get_mut(&lock) else {
            return;
        };
        if dev.gatt_exported {
            return;
        }
        dev.gatt_exported = true;
    }
    let server = shared.conn.object_server();
    let ids = (shared.clone(), adapter, lock);
    let results = [
        server.at(&p.service, Service::new(p.device.clone())).await,
        server
            .at(
                &p.rx,
                Characteristic::new(ids.clone(), Role::Rx, p.service.clone()),
            )
            .await,
        server
            .at(
                &p.tx,
                Characteristic::new(ids.clone(), Role::Tx, p.service.clone()),
            )
            .await,
        server.at(&p.cccd, Descriptor::new(ids, p.tx.clone())).await,
    ];
    for r in results {
        if let Err(e) = r {
            log::warn!("exporting GATT of {}: {e}", p.device);
        }
    }
}

/// Removes a device and its GATT objects.
pub async fn unexport_device(shared: &Arc<Shared>, adapter: usize, lock: usize) {
    let Some(p) = paths(shared, adapter, lock) else {
        return;
    };
    {
        let mut world = shared.world();
        let Some(dev) = world.adapters[adapter].devices.get_mut(&lock) else {
            return;
        };
        dev.exported = false;
        dev.gatt_exported = false;
        dev.rssi = None;
    }
    let server = shared.conn.object_server();
    let _ = server.remove::<Descriptor, _>(&p.cccd).await;
    let _ = server.remove::<Characteristic, _>(&p.tx).await;
    let _ = server.remove::<Characteristic, _>(&p.rx).await;
    let _ = server.remove::<Service, _>(&p.service).await;
    let _ = server.remove::<Device, _>(&p.device).await;
}
