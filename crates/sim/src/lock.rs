//! One simulated lock: the reference lock of `lockgate-e2e` behind the `rx`/`tx`
//! characteristics, with reassembly and fragmentation from `lockgate-wire` at the link's MTU,
//! its advertisement, its BLE address, and its durable state.

use crate::store;
use lockgate_e2e::command::DoorState;
use lockgate_e2e::lock::{Effect, LockSnapshot};
use lockgate_e2e::{LockConfig, LockIdentity, LockMachine, MechanismState, Output, Via};
use lockgate_wire::frag::{fragments, Reassembler};
use lockgate_wire::{AdvFlags, Advertisement, LockId};
use rand_chacha::rand_core::{OsRng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;
use thiserror::Error;

/// Why a lock could not be created or saved.
#[derive(Debug, Error)]
pub enum LockError {
    /// Its state file could not be read or written.
    #[error("lock state {path}: {source}")]
    Store {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The system's random number generator failed.
    #[error("no randomness from the system: {0}")]
    Random(String),
    /// Its state file is not a valid lock snapshot.
    #[error("lock state {path} is invalid: {reason}; delete it to start the lock afresh")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// A BLE device address, most significant byte first as BlueZ shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 6]);

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// A simulated lock.
pub struct SimLock {
    machine: LockMachine<ChaCha20Rng>,
    address: Address,
    reassembler: Reassembler,
    state_file: Option<PathBuf>,
}

impl SimLock {
    /// The lock number `index` of a simulation seeded with `seed`: the same seed and index
    /// always give the same lock id, keys, label code and address. With a state directory its
    /// authorizations survive restarts.
    pub fn open(
        seed: u64,
        index: u32,
        state_dir: Option<&Path>,
        config: LockConfig,
    ) -> Result<Self, LockError> {
        let mut identity_rng = ChaCha20Rng::seed_from_u64(seed);
        identity_rng.set_stream(u64::from(index));
        let identity = LockIdentity::generate(&mut identity_rng);
        let lock_id = identity.lock_id;
        // Challenges and nonces must not be predictable, whatever the seed.
        let rng = ChaCha20Rng::from_rng(OsRng).map_err(|e| LockError::Random(e.to_string()))?;
        let state_file = state_dir.map(|d| d.join(format!("lock-{lock_id}.json")));
        let machine = match state_file.as_deref().map(store::load::<LockSnapshot>) {
            Some(Ok(Some(snapshot))) => restore(config, &snapshot, rng, state_file.as_deref())?,
            Some(Err(e)) => return Err(e),
            Some(Ok(None)) | None => LockMachine::new(config, identity, rng),
        };
        let id = machine.lock_id();
        let b = id.as_bytes();
        // A static random address: the two top bits set.
        let address = Address([0xC0 | (b[0] & 0x3F), b[1], b[2], b[3], b[4], b[5]]);
        let lock = SimLock {
            machine,
            address,
            reassembler: Reassembler::default(),
            state_file,
        };
        lock.save()?;
        Ok(lock)
    }

    /// The lock id.
    pub fn lock_id(&self) -> LockId {
        self.machine.lock_id()
    }

    /// The BLE address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The name the lock advertises.
    pub fn name(&self) -> String {
        let id = self.lock_id().to_string();
        format!("lockgate-{}", &id[..6])
    }

    /// The label code printed on the lock.
    pub fn label_code(&self) -> String {
        self.machine.label_code().digits().to_owned()
    }

    /// The 6-digit BLE passkey the lock asks for when bonding: the last six digits of its
    /// label code.
    pub fn passkey(&self) -> u32 {
        let digits = self.machine.label_code().digits();
        let tail = &digits[digits.len().saturating_sub(6)..];
        tail.parse().unwrap_or(0)
    }

    /// The mechanism state.
    pub fn mechanism(&self) -> MechanismState {
        self.machine.mechanism_state()
    }

    /// The manufacturer data it advertises now.
    pub fn advertisement(&self, now_ms: u64) -> Advertisement {
        Advertisement {
            lock_id: self.lock_id(),
            flags: AdvFlags {
                pairing: self.machine.pairing_window_open(now_ms),
                pending: self.machine.has_pending_events(),
            },
        }
    }

    /// Whether the lock's own pairing window is open.
    pub fn pairing_window_open(&self, now_ms: u64) -> bool {
        self.machine.pairing_window_open(now_ms)
    }

    /// The gateway wrote one ATT value to `rx`. Returns the notifications to send on `tx`.
    /// Malformed fragments and frames are counted and dropped by the layers below.
    pub fn write_rx(
        &mut self,
        fragment: &[u8],
        mtu: u16,
        now: Instant,
        now_ms: u64,
    ) -> Result<Vec<Vec<u8>>, LockError> {
        let frame = match self.reassembler.push(fragment, now) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(Vec::new()),
            Err(e) => {
                log::debug!("lock {}: fragment dropped: {e}", self.lock_id());
                return Ok(Vec::new());
            }
        };
        let out = self.machine.handle_frame(now_ms, Via::Gateway, &frame);
        let frames = self.commit(out)?;
        Ok(frames
            .iter()
            .flat_map(|f| fragments(f, mtu).into_iter().flatten())
            .collect())
    }

    /// The link went down: drop any half-received frame.
    pub fn link_lost(&mut self) {
        self.reassembler.reset();
    }

    /// The lock's own button.
    pub fn press_button(&mut self, now_ms: u64) -> Result<Vec<Effect>, LockError> {
        let out = self.machine.press_button(now_ms);
        self.commit_effects(out)
    }

    /// Runs the lock's timers.
    pub fn poll(&mut self, now_ms: u64) -> Result<Vec<Effect>, LockError> {
        let out = self.machine.poll(now_ms);
        self.commit_effects(out)
    }

    /// When [`poll`](Self::poll) next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        self.machine.next_deadline()
    }

    /// Makes the next movement jam.
    pub fn jam(&mut self) {
        self.machine.inject_jam();
    }

    /// Sets the battery level.
    pub fn set_battery(&mut self, now_ms: u64, percent: u8) -> Result<Vec<Effect>, LockError> {
        let out = self.machine.set_battery(now_ms, percent);
        self.commit_effects(out)
    }

    /// Sets the door sensor.
    pub fn set_door(&mut self, now_ms: u64, door: DoorState) -> Result<Vec<Effect>, LockError> {
        let out = self.machine.set_door(now_ms, door);
        self.commit_effects(out)
    }

    /// Someone turns the knob by hand.
    pub fn turn_knob(&mut self, now_ms: u64) -> Result<Vec<Effect>, LockError> {
        let out = self.machine.turn_knob(now_ms);
        self.commit_effects(out)
    }

    /// Whether state events wait for a gateway (advertised as `pending`).
    pub fn has_pending_events(&self) -> bool {
        self.machine.has_pending_events()
    }

    /// Seals the waiting state events; returns their fragments at `mtu` to notify on `tx`.
    pub fn collect_events(&mut self, mtu: u16, now_ms: u64) -> Result<Vec<Vec<u8>>, LockError> {
        let out = self.machine.collect_events(now_ms);
        let frames = self.commit(out)?;
        Ok(frames
            .iter()
            .flat_map(|f| fragments(f, mtu).into_iter().flatten())
            .collect())
    }

    /// Erases all authorizations.
    pub fn factory_reset(&mut self) -> Result<Vec<Effect>, LockError> {
        let out = self.machine.factory_reset();
        self.commit_effects(out)
    }

    fn commit_effects(&mut self, out: Output) -> Result<Vec<Effect>, LockError> {
        let effects = out.effects.clone();
        self.commit(out)?;
        Ok(effects)
    }

    /// Persists if asked (before anything is sent), logs effects, returns the frames.
    fn commit(&mut self, out: Output) -> Result<Vec<Vec<u8>>, LockError> {
        if out.persist {
            self.save()?;
        }
        for effect in &out.effects {
            log::info!("lock {}: {effect:?}", self.lock_id());
        }
        Ok(out.frames)
    }

    fn save(&self) -> Result<(), LockError> {
        match &self.state_file {
            Some(path) => store::save(path, &self.machine.snapshot()),
            None => Ok(()),
        }
    }
}

fn restore(
    config: LockConfig,
    snapshot: &LockSnapshot,
    rng: ChaCha20Rng,
    path: Option<&Path>,
) -> Result<LockMachine<ChaCha20Rng>, LockError> {
    LockMachine::restore(config, snapshot, rng).map_err(|e| LockError::Invalid {
        path: path.map(Path::to_path_buf).unwrap_or_default(),
        reason: e.to_string(),
    })
}
