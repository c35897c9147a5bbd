//! The simulated radio world: adapters, the locks around them, links, bonds and injected
//! faults. Plain state under one mutex, shared by the D-Bus interfaces, which hold the lock
//! only while they read or change it (never across an `.await`).

use crate::lock::{Address, SimLock};
use crate::timing::Timing;
use lockgate_e2e::LockConfig;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;

/// How locksim is set up.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of adapters (`hci0`, `hci1`, ...).
    pub adapters: u32,
    /// Number of simulated locks.
    pub locks: u32,
    /// Seed for lock identities, addresses and radio noise.
    pub seed: u64,
    /// Where locks and bonds persist; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// Link timing.
    pub timing: Timing,
    /// The ATT MTU every link negotiates (23 to 517).
    pub mtu: u16,
    /// How long a discovered device nobody connected to or bonded with stays known after it
    /// was last seen (bluetoothd's `TemporaryTimeout`, 30 s).
    pub temporary_timeout: Duration,
    /// Timings of the simulated locks themselves.
    pub lock: LockConfig,
    /// Every lock starts bonded to every adapter, as if paired earlier (tests and demos that
    /// need no pairing step). Persisted like any bond when there is a state directory.
    pub bonded: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            adapters: 1,
            locks: 3,
            seed: 7,
            state_dir: None,
            timing: Timing::default(),
            mtu: 247,
            temporary_timeout: Duration::from_secs(30),
            lock: LockConfig::default(),
            bonded: false,
        }
    }
}

/// A fault the next `Connect` to a lock meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFault {
    /// `org.bluez.Error.InProgress`.
    InProgress,
    /// `org.bluez.Error.Failed` with `le-connection-abort-by-local`.
    Failed,
}

/// Faults armed on one lock.
#[derive(Debug, Default)]
pub struct Faults {
    /// Consumed one per `Connect`.
    pub connect: VecDeque<ConnectFault>,
    /// Drop the link after this many more `rx` writes (mid-frame).
    pub drop_link_after_writes: Option<u32>,
    /// Notifications still to lose.
    pub lose_notifications: u32,
    /// Extra time every write takes.
    pub slow_writes: Duration,
}

/// What a client asked `SetDiscoveryFilter` for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryFilter {
    /// Only devices advertising one of these service UUIDs (lowercase); empty = all.
    pub uuids: BTreeSet<String>,
    /// Only devices at least this strong.
    pub rssi: Option<i16>,
}

/// How notifications on `tx` leave a link.
#[derive(Debug, Default)]
pub enum NotifyMode {
    /// Not notifying.
    #[default]
    Off,
    /// `StartNotify` sessions, by client: values as `PropertiesChanged` on `Value`. Like
    /// bluetoothd's, they outlive a disconnection and resume on the next link.
    Sessions(BTreeSet<String>),
    /// `AcquireNotify`: one datagram per value on this socket (shut down with the link).
    Acquired(Arc<UnixDatagram>),
}

/// One lock as seen by one adapter.
#[derive(Debug, Default)]
pub struct DeviceState {
    /// Exported on D-Bus.
    pub exported: bool,
    /// GATT objects exported.
    pub gatt_exported: bool,
    /// Last RSSI seen while discovering.
    pub rssi: Option<i16>,
    /// The advertisement payload last received.
    pub adv: Option<Vec<u8>>,
    /// When it was last seen advertising.
    pub last_seen: Option<std::time::Instant>,
    /// Connected or bonded once: no longer a temporary device.
    pub permanent: bool,
    /// Bonded.
    pub paired: bool,
    /// Trusted.
    pub trusted: bool,
    /// Blocked.
    pub blocked: bool,
    /// The user-set alias.
    pub alias: Option<String>,
    /// Link up.
    pub connected: bool,
    /// Services resolved on the current link.
    pub services_resolved: bool,
    /// A `Connect` is under way.
    pub connecting: bool,
    /// Incremented by every new link, so that work of an old link never touches a new one.
    pub link_id: u64,
    /// A Write Request is outstanding.
    pub write_pending: bool,
    /// A `Pair` is under way; `CancelPairing` notifies it.
    pub pairing: Option<Arc<tokio::sync::Notify>>,
    /// How `tx` notifications leave.
    pub notify: NotifyMode,
    /// The acquired write socket (our end), shut down with the link.
    pub write_socket: Option<Arc<UnixDatagram>>,
    /// The last value notified on `tx`.
    pub tx_value: Vec<u8>,
    /// Notifications waiting for the link's pacing task.
    pub link_tx: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

/// One adapter.
#[derive(Debug)]
pub struct AdapterState {
    /// `hci0`, ...
    pub name: String,
    /// Its address.
    pub address: Address,
    /// Alias (settable).
    pub alias: String,
    /// Powered.
    pub powered: bool,
    /// Pairable.
    pub pairable: bool,
    /// PairableTimeout in seconds.
    pub pairable_timeout: u32,
    /// Discoverable.
    pub discoverable: bool,
    /// DiscoverableTimeout in seconds.
    pub discoverable_timeout: u32,
    /// Discovery sessions, by client unique name.
    pub discovery: BTreeMap<String, DiscoveryFilter>,
    /// Filters set before a session started, by client.
    pub filters: BTreeMap<String, DiscoveryFilter>,
    /// What this adapter knows of each lock, by lock index.
    pub devices: BTreeMap<usize, DeviceState>,
    /// A scanning task is running.
    pub scanning: bool,
}

/// One simulated lock in the world.
pub struct LockEntry {
    /// The lock.
    pub lock: SimLock,
    /// Reachable by radio.
    pub in_range: bool,
    /// Its mean RSSI.
    pub base_rssi: i16,
    /// The adapter holding its link, if any (a lock takes one link at a time).
    pub linked_to: Option<usize>,
    /// Armed faults.
    pub faults: Faults,
}

/// A registered pairing agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReg {
    /// The client's unique bus name.
    pub owner: String,
    /// Its object path.
    pub path: String,
    /// Its IO capability.
    pub capability: String,
    /// It asked to be the default agent.
    pub default: bool,
}

impl AgentReg {
    /// Whether this is the agent `owner` registered at `path`.
    pub fn is(&self, owner: &str, path: &str) -> bool {
        self.owner == owner && self.path == path
    }

    /// Whether it can enter a passkey (the method the lock needs).
    pub fn has_keyboard(&self) -> bool {
        matches!(
            self.capability.as_str(),
            "" | "KeyboardOnly" | "KeyboardDisplay"
        )
    }
}

/// Everything, behind one mutex.
pub struct World {
    /// The adapters.
    pub adapters: Vec<AdapterState>,
    /// The locks.
    pub locks: Vec<LockEntry>,
    /// Registered agents.
    pub agents: Vec<AgentReg>,
    /// How often each fault or notable event happened.
    pub counters: BTreeMap<String, u64>,
    /// Random noise for RSSI and connect latency.
    pub noise: u64,
}

impl World {
    /// Counts one event.
    pub fn count(&mut self, what: &str) {
        *self.counters.entry(what.to_owned()).or_default() += 1;
    }

    /// A pseudo-random number (xorshift): radio noise needs no cryptographic quality.
    pub fn next_noise(&mut self) -> u64 {
        let mut x = self.noise | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.noise = x;
        x
    }

    /// The lock index whose lock id text is `id`.
    pub fn lock_index(&self, id: &str) -> Option<usize> {
        self.locks
            .iter()
            .position(|l| l.lock.lock_id().to_string().eq_ignore_ascii_case(id))
    }
}

/// What every interface object holds.
pub struct Shared {
    /// The world.
    pub world: Mutex<World>,
    /// The connection that owns `org.bluez`.
    pub conn: zbus::Connection,
    /// The configuration.
    pub config: SimConfig,
}

impl Shared {
    /// Locks the world. A poisoned lock (a panic elsewhere) is taken over: the state is
    /// plain data and stays usable.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The lock clock: Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
