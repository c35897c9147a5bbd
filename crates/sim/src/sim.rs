//! Starting a simulation on a D-Bus connection: locks, adapters, the ObjectManager at `/`,
//! the AgentManager, the control interface, and the `org.bluez` name. Bonds persist in the
//! state directory next to the locks.

use crate::bluez::adapter::Adapter;
use crate::bluez::agent::AgentManager;
use crate::bluez::{adapter_path, BUS_NAME, ROOT_PATH};
use crate::control::{Control, CONTROL_PATH};
use crate::lock::{Address, LockError, SimLock};
use crate::objects::export_device;
use crate::store;
use crate::world::{AdapterState, DeviceState, LockEntry, Shared, SimConfig, World};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Why the simulation could not start.
#[derive(Debug, Error)]
pub enum SimError {
    /// A lock's state could not be loaded or saved.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The D-Bus side failed (bus unreachable, `org.bluez` already owned, ...).
    #[error("D-Bus: {0}; is the bus address right, and is no other bluetoothd or locksim running on it?")]
    Bus(#[from] zbus::Error),
    /// The state directory could not be created.
    #[error("state directory {0}: {1}")]
    StateDir(std::path::PathBuf, std::io::Error),
}

/// A running simulation. Dropping it leaves the objects on the connection; drop the
/// connection (or stop the process) to end it.
#[derive(Clone)]
pub struct Sim {
    shared: Arc<Shared>,
}

type Bonds = BTreeMap<String, BTreeSet<String>>;

fn bonds_file(config: &SimConfig) -> Option<std::path::PathBuf> {
    config.state_dir.as_ref().map(|d| d.join("bonds.json"))
}

/// Writes which adapters are bonded with which locks.
pub fn save_bonds(shared: &Shared) {
    let Some(path) = bonds_file(&shared.config) else {
        return;
    };
    let bonds: Bonds = {
        let world = shared.world();
        world
            .adapters
            .iter()
            .map(|a| {
                let ids = a
                    .devices
                    .iter()
                    .filter(|(_, d)| d.paired)
                    .map(|(&l, _)| world.locks[l].lock.lock_id().to_string())
                    .collect();
                (a.name.clone(), ids)
            })
            .collect()
    };
    if let Err(e) = store::save(&path, &bonds) {
        log::error!("saving bonds: {e}");
    }
}

impl Sim {
    /// Serves the simulation on `conn` and claims `org.bluez`.
    pub async fn start(conn: zbus::Connection, mut config: SimConfig) -> Result<Sim, SimError> {
        config.mtu = config.mtu.clamp(23, 517);
        if let Some(dir) = &config.state_dir {
            std::fs::create_dir_all(dir).map_err(|e| SimError::StateDir(dir.clone(), e))?;
        }
        let mut locks = Vec::new();
        for i in 0..config.locks {
            let lock = SimLock::open(
                config.seed,
                i,
                config.state_dir.as_deref(),
                config.lock.clone(),
            )?;
            locks.push(LockEntry {
                lock,
                in_range: true,
                base_rssi: -45 - (i as i16 % 40),
                linked_to: None,
                faults: Default::default(),
            });
        }
        let bonds: Bonds = match bonds_file(&config) {
            Some(path) => store::load(&path)?.unwrap_or_default(),
            None => Bonds::new(),
        };
        let adapters = (0..config.adapters)
            .map(|i| adapter(i, &locks, &bonds, config.bonded))
            .collect();
        let shared = Arc::new(Shared {
            world: Mutex::new(World {
                adapters,
                locks,
                agents: Vec::new(),
                counters: BTreeMap::new(),
                noise: config.seed ^ 0x9E37_79B9_7F4A_7C15,
            }),
            conn: conn.clone(),
            config,
        });
        let server = conn.object_server();
        server.at("/", zbus::fdo::ObjectManager).await?;
        server
            .at(ROOT_PATH, AgentManager::new(shared.clone()))
            .await?;
        server
            .at(CONTROL_PATH, Control::new(shared.clone()))
            .await?;
        let names: Vec<String> = shared
            .world()
            .adapters
            .iter()
            .map(|a| a.name.clone())
            .collect();
        for (i, name) in names.iter().enumerate() {
            server
                .at(adapter_path(name), Adapter::new(shared.clone(), i))
                .await?;
        }
        let bonded: Vec<(usize, usize)> = {
            let world = shared.world();
            let pairs = world.adapters.iter().enumerate().flat_map(|(a, ad)| {
                ad.devices
                    .iter()
                    .filter(|(_, d)| d.paired)
                    .map(move |(&l, _)| (a, l))
            });
            pairs.collect()
        };
        for (a, l) in bonded {
            export_device(&shared, a, l).await;
        }
        if shared.config.bonded {
            save_bonds(&shared);
        }
        tokio::spawn(crate::clients::watch(shared.clone()));
        tokio::spawn(crate::radio::housekeeping(shared.clone()));
        conn.request_name(BUS_NAME).await?;
        log::info!(
            "locksim: {} lock(s) on {} adapter(s)",
            shared.config.locks,
            names.len()
        );
        Ok(Sim { shared })
    }

    /// The shared state, for tests that inspect or steer the world directly.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops as bluetoothd does: every registered agent gets `Agent1.Release` (best effort,
    /// one second each at most).
    pub async fn shutdown(&self) {
        let agents = std::mem::take(&mut self.shared.world().agents);
        for agent in agents {
            let call = self.shared.conn.call_method(
                Some(agent.owner.as_str()),
                agent.path.as_str(),
                Some("org.bluez.Agent1"),
                "Release",
                &(),
            );
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), call).await;
        }
    }

    /// How often each counted event happened.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.shared.world().counters.clone()
    }
}

/// Adapter `hci<i>`, bonded with the locks `bonds` names for it, or with all if `bond_all`.
fn adapter(i: u32, locks: &[LockEntry], bonds: &Bonds, bond_all: bool) -> AdapterState {
    let name = format!("hci{i}");
    let bonded = bonds.get(&name).cloned().unwrap_or_default();
    let devices = locks
        .iter()
        .enumerate()
        .filter(|(_, e)| bond_all || bonded.contains(&e.lock.lock_id().to_string()))
        .map(|(l, _)| {
            let dev = DeviceState {
                paired: true,
                trusted: true,
                ..DeviceState::default()
            };
            (l, dev)
        })
        .collect();
    let b = i.to_be_bytes();
    AdapterState {
        name,
        address: Address([0x00, 0x1A, 0x7D, 0xDA, b[2], b[3]]),
        alias: format!("locksim #{i}"),
        powered: true,
        pairable: false,
        pairable_timeout: 0,
        discoverable: false,
        discoverable_timeout: 180,
        discovery: BTreeMap::new(),
        filters: BTreeMap::new(),
        devices,
        scanning: false,
    }
}
