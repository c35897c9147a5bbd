//! The radio: what a discovering adapter sees (devices appearing, RSSI, advertisement flags),
//! locks moving out of and into range, and the housekeeping bluetoothd does on a timer
//! (temporary devices expire; the locks' own timers run).

use crate::bluez::emit_changed;
use crate::link::{drop_link, flush_events};
use crate::objects::{export_device, paths, unexport_device};
use crate::timing::Timing;
use crate::world::{unix_ms, DiscoveryFilter, Shared};
use lockgate_wire::COMPANY_ID;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zbus::zvariant::Value;

const DEVICE: &str = "org.bluez.Device1";
/// Without an RSSI filter bluetoothd signals RSSI changes of at least this much only.
const RSSI_THRESHOLD: i16 = 8;
/// How often housekeeping runs.
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// The lockgate service UUID as BlueZ spells UUIDs.
pub fn service_uuid() -> String {
    lockgate_wire::gatt::SERVICE_UUID_STR.to_owned()
}

/// `ManufacturerData` for an advertisement payload: `{0xFFFF: payload}`.
pub fn manufacturer_data(payload: Vec<u8>) -> HashMap<u16, Value<'static>> {
    HashMap::from([(COMPANY_ID, Value::from(payload))])
}

/// Whether a lock passes some session's filter (bluetoothd merges them).
fn wanted(filters: &[DiscoveryFilter], rssi: i16) -> bool {
    let uuid = service_uuid();
    filters.iter().any(|f| {
        (f.uuids.is_empty() || f.uuids.contains(&uuid)) && f.rssi.is_none_or(|min| rssi >= min)
    })
}

struct Seen {
    lock: usize,
    new: bool,
    rssi: Option<i16>,
    adv: Option<Vec<u8>>,
}

/// One scan of adapter `a`: returns `false` once discovery has stopped.
async fn scan(shared: &Arc<Shared>, a: usize) -> bool {
    let seen: Vec<Seen> = {
        let mut world = shared.world();
        let adapter = &world.adapters[a];
        if adapter.discovery.is_empty() || !adapter.powered {
            world.adapters[a].scanning = false;
            return false;
        }
        let filters: Vec<DiscoveryFilter> = adapter.discovery.values().cloned().collect();
        let every_rssi = filters.iter().any(|f| f.rssi.is_some());
        let now = unix_ms();
        let mut seen = Vec::new();
        for l in 0..world.locks.len() {
            let noise = (world.next_noise() % 9) as i16 - 4;
            let entry = &world.locks[l];
            let rssi = entry.base_rssi + noise;
            // A lock linked to a central does not advertise.
            if !entry.in_range || entry.linked_to.is_some() || !wanted(&filters, rssi) {
                continue;
            }
            let payload = entry.lock.advertisement(now).encode().to_vec();
            let dev = world.adapters[a].devices.entry(l).or_default();
            let adv_changed = dev.adv.as_deref() != Some(payload.as_slice());
            let rssi_changed = dev
                .rssi
                .is_none_or(|old| every_rssi || (old - rssi).abs() >= RSSI_THRESHOLD);
            dev.last_seen = Some(Instant::now());
            if rssi_changed {
                dev.rssi = Some(rssi);
            }
            dev.adv = Some(payload.clone());
            seen.push(Seen {
                lock: l,
                new: !dev.exported,
                rssi: rssi_changed.then_some(rssi),
                adv: adv_changed.then_some(payload),
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
        let mut changed = Vec::new();
        if let Some(rssi) = s.rssi {
            changed.push(("RSSI", Value::from(rssi)));
        }
        if let Some(payload) = s.adv {
            changed.push(("ManufacturerData", Value::from(manufacturer_data(payload))));
        }
        if !changed.is_empty() {
            emit_changed(&shared.conn, &p.device, DEVICE, changed).await;
        }
    }
    true
}

/// Starts scanning on adapter `a` unless a scan task already runs there.
pub fn start_scanning(shared: &Arc<Shared>, a: usize) {
    {
        let mut world = shared.world();
        if world.adapters[a].scanning {
            return;
        }
        world.adapters[a].scanning = true;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        // Like a radio, report devices after a first scan period, not in the reply.
        loop {
            Timing::wait(shared.config.timing.scan_period()).await;
            if !scan(&shared, a).await {
                break;
            }
        }
    });
}

/// Moves a lock out of or into range. Out of range drops its links at once (the supervision
/// timeout, shortened); the devices stay known until housekeeping expires temporary ones.
pub async fn set_in_range(shared: &Arc<Shared>, l: usize, in_range: bool) {
    let adapters = {
        let mut world = shared.world();
        world.locks[l].in_range = in_range;
        world.adapters.len()
    };
    if !in_range {
        for a in 0..adapters {
            drop_link(shared, a, l, "out_of_range").await;
        }
    }
}

/// Runs bluetoothd's timers for as long as the simulation lives: temporary devices not seen
/// for `temporary_timeout` are removed, and the locks' own timers (mechanism, pairing
/// window) run and persist.
pub async fn housekeeping(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(HOUSEKEEPING).await;
        let expired: Vec<(usize, usize)> = {
            let mut world = shared.world();
            let now_ms = unix_ms();
            for l in 0..world.locks.len() {
                let lock = &mut world.locks[l].lock;
                if let Err(e) = lock.poll(now_ms) {
                    log::error!("lock {}: {e}", lock.lock_id());
                }
                // A movement that ended, or auto-lock, may have queued events.
                flush_events(&mut world, l, shared.config.mtu);
            }
            let timeout = shared.config.temporary_timeout;
            let mut expired = Vec::new();
            for (a, adapter) in world.adapters.iter().enumerate() {
                for (&l, d) in &adapter.devices {
                    let stale = d.last_seen.is_none_or(|t| t.elapsed() >= timeout);
                    if d.exported && !d.permanent && !d.paired && !d.connected && stale {
                        expired.push((a, l));
                    }
                }
            }
            expired
        };
        for (a, l) in expired {
            unexport_device(&shared, a, l).await;
        }
    }
}
