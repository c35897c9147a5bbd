//! The manager: the one task that decides. It owns the registry of paired locks, the
//! connection scheduler, the down-frame queues and each lock's observed state; it hears from
//! the adapter task, the link actors, the MQTT relay and the control socket, and answers with
//! commands to the link actors and messages for the relay. Nothing here touches BlueZ or the
//! network itself.

mod events;
mod pairing;
mod publish;
mod reload;
mod requests;
mod support;

use crate::ble::link::{LinkCmd, LinkEvent};
use crate::ble::{AdapterCmd, BleEvent};
use crate::config::Config;
use crate::control::{Request, Response};
use crate::control_server::Notices;
use crate::downq::DownQueues;
use crate::health::{Health, Static};
use crate::mqtt::{Inbound, MqttHandle};
use crate::pairing::Window;
use crate::registry::{PairedLock, Registry};
use crate::scheduler::{Action, Scheduler};
use crate::support::SupportService;
use bluer::{Adapter, Address};
use lockgate_wire::topics::Topics;
use lockgate_wire::LockId;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A lock heard within this long is `online`.
pub const AVAILABILITY_WINDOW: Duration = Duration::from_secs(600);
/// Consecutive connect failures (adapter powered) before the adapter is power-cycled.
pub const FAILURES_BEFORE_RESET: u32 = 5;
/// At most one power cycle this often.
pub const RESET_EVERY: Duration = Duration::from_secs(600);
/// How often health is published.
pub const HEALTH_EVERY: Duration = Duration::from_secs(60);
/// Commands a link actor may have queued.
const LINK_QUEUE: usize = 64;
/// Locks seen advertising but not paired, remembered for `locks add`.
const SEEN_MAX: usize = 64;

/// A lock seen advertising that is not paired (a candidate for `locks add`, or for bonding
/// while the pairing window is open).
#[derive(Debug, Clone)]
struct Seen {
    address: Address,
    rssi: Option<i16>,
    name: Option<String>,
    /// Its last advertisement had the `pairing` flag.
    pairing: bool,
}

/// A control-socket request with its reply slot.
pub type ControlMsg = (Request, oneshot::Sender<Response>);

/// One paired lock as the manager sees it.
#[derive(Debug)]
struct LockEntry {
    paired: PairedLock,
    link: mpsc::Sender<LinkCmd>,
    connected: bool,
    mtu: Option<u16>,
    rssi: Option<i16>,
    last_seen: Option<u64>,
    heard_at: Option<Instant>,
    /// `availability` as last published.
    online: Option<bool>,
    /// `rssi` as last published on `link`.
    published_rssi: Option<i16>,
}

/// Channels the manager talks through.
pub struct Wiring {
    /// To the MQTT relay.
    pub mqtt: MqttHandle,
    /// To the adapter task.
    pub adapter_cmds: mpsc::Sender<AdapterCmd>,
    /// Where link actors report (the manager's own inbox, cloned for each actor).
    pub link_events: mpsc::Sender<LinkEvent>,
    /// Tracks the link actors.
    pub tracker: TaskTracker,
    /// Event lines for `lockgate pair` clients.
    pub notices: Notices,
    /// When the pairing window closes (`None`: closed), for the LED.
    pub window_watch: watch::Sender<Option<Instant>>,
}

/// The manager's inputs.
pub struct Inputs {
    /// From the relay.
    pub inbound: mpsc::Receiver<Inbound>,
    /// From the adapter task.
    pub ble: mpsc::Receiver<BleEvent>,
    /// From the link actors.
    pub links: mpsc::Receiver<LinkEvent>,
    /// From the control socket.
    pub control: mpsc::Receiver<ControlMsg>,
    /// Configurations reloaded on SIGHUP.
    pub reload: mpsc::Receiver<Config>,
    /// Presses of the pairing button.
    pub button: mpsc::Receiver<()>,
}

/// The manager.
pub struct Manager {
    config: Config,
    topics: Topics,
    registry: Registry,
    locks: BTreeMap<LockId, LockEntry>,
    seen: BTreeMap<LockId, Seen>,
    scheduler: Scheduler,
    downq: DownQueues,
    adapter: Option<Adapter>,
    adapter_was_lost: bool,
    wiring: Wiring,
    health: Arc<Health>,
    fixed: Static,
    failures_in_row: u32,
    last_reset: Option<Instant>,
    /// The pairing window.
    window: Window,
    /// Milliseconds since start at the last loop turn (for the watchdog).
    progress: Arc<AtomicU64>,
    /// Remote support.
    support: SupportService,
    /// Home Assistant discovery, when enabled (fixed at start).
    discovery: Option<crate::homeassistant::Discovery>,
}

impl Manager {
    /// A manager for `registry`'s locks; starts their link actors.
    pub fn new(
        config: Config,
        topics: Topics,
        registry: Registry,
        wiring: Wiring,
        health: Arc<Health>,
        progress: Arc<AtomicU64>,
        support: SupportService,
    ) -> Manager {
        let fixed = Static {
            adapter: config.ble.adapter.clone().unwrap_or_else(|| "hci0".into()),
            max_connections: config.ble.max_connections,
        };
        let scheduler = Scheduler::new(
            usize::from(config.ble.max_connections),
            config.ble.idle_timeout,
        );
        let ha = &config.homeassistant;
        let discovery = ha.enabled.then(|| {
            crate::homeassistant::Discovery::new(
                &ha.discovery_prefix,
                &config.gateway.id,
                topics.clone(),
            )
        });
        let mut manager = Manager {
            discovery,
            config,
            topics,
            registry,
            locks: BTreeMap::new(),
            seen: BTreeMap::new(),
            scheduler,
            downq: DownQueues::default(),
            adapter: None,
            adapter_was_lost: false,
            wiring,
            health,
            fixed,
            failures_in_row: 0,
            last_reset: None,
            window: Window::new(),
            progress,
            support,
        };
        let paired: Vec<PairedLock> = manager.registry.locks().cloned().collect();
        for lock in paired {
            manager.serve(lock);
        }
        manager
    }

    /// Starts serving a paired lock: its actor, its scheduler slot.
    fn serve(&mut self, paired: PairedLock) {
        let Ok(address) = paired.address.parse::<Address>() else {
            log::error!(
                "registry: lock {} has a bad address {:?}",
                paired.id,
                paired.address
            );
            return;
        };
        let (tx, rx) = mpsc::channel(LINK_QUEUE);
        crate::ble::link::spawn(
            paired.id,
            address,
            rx,
            self.wiring.link_events.clone(),
            self.wiring.mqtt.clone(),
            self.health.clone(),
            &self.wiring.tracker,
        );
        if let Some(adapter) = &self.adapter {
            let _ = tx.try_send(LinkCmd::Adapter(Some(adapter.clone())));
        }
        let policy = self.config.link_policy(&paired.id);
        self.scheduler.add_lock(paired.id, policy, Instant::now());
        self.locks.insert(
            paired.id,
            LockEntry {
                paired,
                link: tx,
                connected: false,
                mtu: None,
                rssi: None,
                last_seen: None,
                heard_at: None,
                online: None,
                published_rssi: None,
            },
        );
    }

    /// Runs until `shutdown`; then refuses waiting down-frames and ends every link.
    pub async fn run(mut self, mut inputs: Inputs, shutdown: CancellationToken) {
        self.publish_bridge();
        self.publish_discovery();
        for id in self.locks.keys().copied().collect::<Vec<_>>() {
            self.publish_lock(&id);
        }
        let mut health_tick = tokio::time::interval(HEALTH_EVERY);
        let mut heartbeat = tokio::time::interval(crate::notify::HEARTBEAT);
        loop {
            let deadline = self.next_deadline(Instant::now());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(e) = inputs.links.recv() => self.on_link(e),
                Some(e) = inputs.ble.recv() => self.on_ble(e),
                Some(m) = inputs.inbound.recv() => match m {
                    Inbound::Support { topic, payload } => self.on_support(&topic, &payload),
                    other => self.on_inbound(other),
                },
                Some((req, reply)) = inputs.control.recv() => {
                    let response = self.on_control(req).await;
                    let _ = reply.send(response);
                }
                Some(config) = inputs.reload.recv() => {
                    self.support_reload(&config).await;
                    self.reload(config);
                }
                Some(()) = inputs.button.recv() => self.on_button().await,
                () = sleep_until(deadline) => {}
                _ = health_tick.tick() => self.publish_health(),
                _ = heartbeat.tick() => {}
            }
            self.tick(Instant::now());
        }
        self.stop();
    }

    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        // Without an adapter the scheduler is not polled: its deadlines would only spin.
        let scheduler = self
            .adapter
            .as_ref()
            .and_then(|_| self.scheduler.next_deadline(now));
        [
            scheduler,
            self.downq.next_expiry(),
            self.window.deadline(),
            self.support_deadline(now),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Time-driven work after every event: expiries, availability, the scheduler's actions.
    fn tick(&mut self, now: Instant) {
        let millis = u64::try_from(self.health.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.progress.store(millis, Ordering::Relaxed);
        self.expire_window(now);
        self.support_tick();
        for (lock, frame) in self.downq.expire(now) {
            self.expired(lock, &frame, crate::downq::Reason::NotConnected);
            self.scheduler
                .down_frames(&lock, self.downq.len(&lock), now);
        }
        for id in self.locks.keys().copied().collect::<Vec<_>>() {
            self.publish_availability(&id, now);
        }
        if self.adapter.is_none() {
            return;
        }
        for action in self.scheduler.poll(now) {
            let (id, cmd) = match action {
                Action::Connect(id) => (id, LinkCmd::Connect),
                Action::Disconnect(id) => (id, LinkCmd::Disconnect),
            };
            self.tell(&id, cmd);
        }
    }

    fn tell(&self, id: &LockId, cmd: LinkCmd) {
        if let Some(entry) = self.locks.get(id) {
            if let Err(e) = entry.link.try_send(cmd) {
                log::error!("ble: link actor of {id} is not keeping up: {e}");
            }
        }
    }

    fn stop(&mut self) {
        self.support_shutdown();
        self.close_window(crate::pairing::CloseReason::Shutdown);
        for (lock, frame) in self.downq.drain_all() {
            let receipt = crate::downq::Receipt::about(
                &frame,
                crate::downq::Status::Rejected,
                Some(crate::downq::Reason::ShuttingDown),
            );
            self.receipt(&lock, &receipt);
        }
        // Dropping the senders ends the actors, which disconnect their links.
        self.locks.clear();
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
