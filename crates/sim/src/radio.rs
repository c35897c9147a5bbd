//! The radio: what a discovering adapter sees (devices appearing, RSSI, advertisement flags)
//! and locks moving out of and into range.

use crate::bluez::{emit_changed, BUS_NAME};
use crate::link::drop_link;
use crate::objects::{export_device, paths, unexport_device};
use crate::timing::Timing;
use crate::world::{unix_ms, DiscoveryFilter, Shared};
use lockgate_wire::COMPANY_ID;
use std::collections::HashMap;
use std::sync::Arc;
use zbus::zvariant::Value;

const DEVICE: &str = "org.bluez.Device1";

/// The lockgate service UUID as BlueZ spells UUIDs.
pub fn service_uuid() -> String {
    lockgate_wire::gatt::SERVICE_UUID_STR.to_owned()
}

/// `ManufacturerData` for an advertisement payload: `{0xFFFF: payload}`.
pub fn manufacturer_data(payload: Vec<u8>) -> HashMap<u16, Value<'static>> {
    HashMap::from([(COMPANY_ID, Value::from(payload))])
}

/// Whether a lock passes every session's filter (the union, as bluetoothd merges them).
fn wanted(filters: &[DiscoveryFilter], rssi: i16) -> bool {
    let uuid = service_uuid();
    filters.iter().any(|f| {
        (f.uuids.is_empty() || f.uuids.contains(&uuid)) && f.rssi.is_none_or(|min| rssi >= min)
    })
}

struct Seen {
    lock: usize,
    new: bool,
    rssi: i16,
    adv: Option<Vec<u8>>,
}

/// One scan of adapter `a`: returns `false` once discovery has stopped.
async fn scan(shared: &Arc<Shared>, a: usize) -> bool {
    let seen: Vec<Seen> = {
        let mut world = shared.world();
        let adapter = &world.adapters[a];
        if adapter.discovery.is_empty() || !adapter.powered {
            return false;
        }
        let filters: Vec<DiscoveryFilter> = adapter.discovery.values().cloned().collect();
        let now = unix_ms();
        let mut seen = Vec::new();
        for l in 0..world.locks.len() {
            let noise = (world.next_noise() % 9) as i16 - 4;
            let entry = &world.locks[l];
            let rssi = entry.base_rssi + noise;
            if !entry.in_range || !wanted(&filters, rssi) {
                continue;
            }
            let adv = entry.lock.advertisement(now);
            let dev = world.adapters[a].devices.entry(l).or_default();
            let flags = adv.flags.to_byte();
            let adv_changed = dev.adv_flags != Some(flags);
            dev.adv_flags = Some(flags);
            dev.rssi = Some(rssi);
            seen.push(Seen {
                lock: l,
                new: !dev.exported,
                rssi,
                adv: adv_changed.then(|| adv.encode().to_vec()),
            });
        }
        seen
    };
    for s in seen {
        if s.new {
            export_device(shared, a, s.lock).await;
            continue;
        }
        let Some(p) = paths(shared, a, s.lock) else {
            continue;
        };
        let mut changed = vec![("RSSI", Value::from(s.rssi))];
        if let Some(payload) = s.adv {
            changed.push(("ManufacturerData", Value::from(manufacturer_data(payload))));
        }
        emit_changed(&shared.conn, &p.device, DEVICE, changed).await;
    }
    true
}

/// Runs while adapter `a` is discovering.
pub async fn run_discovery(shared: Arc<Shared>, a: usize) {
    log::debug!("{BUS_NAME}: adapter {a} discovering");
    // Like a radio, report devices after a first scan period, not in the StartDiscovery reply.
    loop {
        Timing::wait(shared.config.timing.scan_period()).await;
        if !scan(&shared, a).await {
            break;
        }
    }
}

/// Moves a lock out of or into range. Out of range drops its links and forgets it on every
/// adapter that has no bond with it.
pub async fn set_in_range(shared: &Arc<Shared>, l: usize, in_range: bool) {
    let adapters = {
        let mut world = shared.world();
        world.locks[l].in_range = in_range;
        world.adapters.len()
    };
    if in_range {
        return;
    }
    for a in 0..adapters {
        drop_link(shared, a, l, "out_of_range").await;
        let forget = shared.world().adapters[a]
            .devices
            .get(&l)
            .is_some_and(|d| d.exported && !d.paired);
        if forget {
            unexport_device(shared, a, l).await;
        }
    }
}
