//! `org.lockgate.Sim1` at `/org/lockgate/sim`: the simulation's own control interface, for
//! tests and for `locksim ctl`: buttons, batteries, jams, range, countable faults, and the
//! registered agents.

use crate::bluez::adapter::set_powered;
use crate::link::flush_events;
use crate::lock::{LockError, SimLock};
use crate::radio::set_in_range;
use crate::world::{unix_ms, ConnectFault, Shared};
use lockgate_e2e::command::DoorState;
use lockgate_e2e::lock::Effect;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use zbus::fdo;

/// Where the control interface lives.
pub const CONTROL_PATH: &str = "/org/lockgate/sim";
/// Its name.
pub const CONTROL_INTERFACE: &str = "org.lockgate.Sim1";

/// The faults `InjectFault` knows.
pub const FAULTS: [&str; 5] = [
    "connect-in-progress",
    "connect-failed",
    "link-drop",
    "notification-loss",
    "slow-writes",
];

/// The control interface.
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    /// The control interface of the simulation.
    pub fn new(shared: Arc<Shared>) -> Self {
        Control { shared }
    }

    /// Changes lock `l` with `f`, counts it, and sends the events it queued if a gateway is
    /// linked and listening (else the lock advertises `pending`).
    fn change(
        &self,
        l: usize,
        counter: &str,
        f: impl FnOnce(&mut SimLock, u64) -> Result<Vec<Effect>, LockError>,
    ) -> fdo::Result<()> {
        let mut world = self.shared.world();
        f(&mut world.locks[l].lock, unix_ms()).map_err(failed)?;
        world.count(counter);
        flush_events(&mut world, l, self.shared.config.mtu);
        Ok(())
    }

    fn lock(&self, id: &str) -> fdo::Result<usize> {
        self.shared.world().lock_index(id).ok_or_else(|| {
            fdo::Error::InvalidArgs(format!("no lock {id:?}; see `locksim ctl locks`"))
        })
    }
}

fn failed(e: impl std::fmt::Display) -> fdo::Error {
    fdo::Error::Failed(e.to_string())
}

#[zbus::interface(name = "org.lockgate.Sim1")]
impl Control {
    /// Every lock: (lock id, address, name, label code, passkey, in range, mechanism).
    fn locks(&self) -> Vec<(String, String, String, String, u32, bool, String)> {
        let world = self.shared.world();
        world
            .locks
            .iter()
            .map(|e| {
                let l = &e.lock;
                (
                    l.lock_id().to_string(),
                    l.address().to_string(),
                    l.name(),
                    l.label_code(),
                    l.passkey(),
                    e.in_range,
                    format!("{:?}", l.mechanism()).to_lowercase(),
                )
            })
            .collect()
    }

    /// Presses a lock's own button (opens or closes its pairing window).
    fn press_button(&self, lock: &str) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        let mut world = self.shared.world();
        world.locks[l]
            .lock
            .press_button(unix_ms())
            .map_err(failed)?;
        world.count("ctl.button");
        Ok(())
    }

    /// Sets a lock's battery level.
    fn set_battery(&self, lock: &str, percent: u8) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        self.change(l, "ctl.battery", |lock, now| lock.set_battery(now, percent))
    }

    /// Turns a lock's knob by hand: locked or jammed → unlocked, unlocked → locked, at once.
    fn turn_knob(&self, lock: &str) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        self.change(l, "ctl.knob", SimLock::turn_knob)
    }

    /// Makes a lock's next movement jam.
    fn jam(&self, lock: &str) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        self.shared.world().locks[l].lock.jam();
        Ok(())
    }

    /// Opens (`open`) or closes (`closed`) a lock's door.
    fn set_door(&self, lock: &str, door: &str) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        let door = match door {
            "open" => DoorState::Open,
            "closed" => DoorState::Closed,
            other => {
                return Err(fdo::Error::InvalidArgs(format!(
                    "door {other:?}: open or closed"
                )))
            }
        };
        self.change(l, "ctl.door", |lock, now| lock.set_door(now, door))
    }

    /// Erases a lock's authorizations.
    fn factory_reset(&self, lock: &str) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        self.shared.world().locks[l]
            .lock
            .factory_reset()
            .map_err(failed)?;
        Ok(())
    }

    /// Moves a lock into or out of radio range.
    async fn set_in_range(&self, lock: &str, in_range: bool) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        set_in_range(&self.shared, l, in_range).await;
        Ok(())
    }

    /// Powers an adapter (`hci0`, ...) on or off, as rfkill would.
    async fn set_adapter_powered(&self, adapter: &str, powered: bool) -> fdo::Result<()> {
        let a = self
            .shared
            .world()
            .adapters
            .iter()
            .position(|x| x.name == adapter)
            .ok_or_else(|| fdo::Error::InvalidArgs(format!("no adapter {adapter:?}")))?;
        set_powered(&self.shared, a, powered).await;
        self.shared.world().count("fault.adapter_power");
        Ok(())
    }

    /// Arms a fault on a lock. `connect-in-progress` / `connect-failed`: the next `count`
    /// connects fail so; `link-drop`: the link drops at the write after the next `count`;
    /// `notification-loss`: the next `count` notifications are lost; `slow-writes`: every
    /// write takes `count` ms longer (0 disarms).
    fn inject_fault(&self, lock: &str, fault: &str, count: u32) -> fdo::Result<()> {
        let l = self.lock(lock)?;
        let mut world = self.shared.world();
        let faults = &mut world.locks[l].faults;
        match fault {
            "connect-in-progress" => faults
                .connect
                .extend((0..count).map(|_| ConnectFault::InProgress)),
            "connect-failed" => faults
                .connect
                .extend((0..count).map(|_| ConnectFault::Failed)),
            "link-drop" => faults.drop_link_after_writes = Some(count),
            "notification-loss" => faults.lose_notifications += count,
            "slow-writes" => faults.slow_writes = Duration::from_millis(u64::from(count)),
            other => {
                return Err(fdo::Error::InvalidArgs(format!(
                    "unknown fault {other:?}; one of {}",
                    FAULTS.join(", ")
                )))
            }
        }
        Ok(())
    }

    /// The registered pairing agents: (client's bus name, object path, capability), as a
    /// test checks that a client registers one only while it means to bond.
    fn agents(&self) -> Vec<(String, String, String)> {
        let world = self.shared.world();
        let agents = world.agents.iter();
        agents
            .map(|a| (a.owner.clone(), a.path.clone(), a.capability.clone()))
            .collect()
    }

    /// How often each counted event happened (faults under `fault.*`).
    fn counters(&self) -> HashMap<String, u64> {
        self.shared.world().counters.clone().into_iter().collect()
    }
}
