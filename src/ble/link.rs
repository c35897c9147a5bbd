//! The link actor of one paired lock: it alone owns the lock's bluer `Device` and its
//! characteristics. It connects and disconnects when the manager says so, writes down-frames
//! fragment by fragment with write requests (in order, even over EATT), reassembles
//! notifications into up-frames and hands them to the MQTT relay, and reports what happened.

use crate::downq::DownFrame;
use crate::health::{Counters, Health};
use crate::mqtt::MqttHandle;
use bluer::gatt::remote::{Characteristic, CharacteristicWriteRequest};
use bluer::gatt::WriteOp;
use bluer::{Adapter, Address, Device, DeviceEvent, DeviceProperty, ErrorKind};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use lockgate_wire::envelope::Header;
use lockgate_wire::frag::{fragments, Reassembler, MAX_MTU, MIN_MTU};
use lockgate_wire::LockId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A connect, GATT discovery included, that takes longer than this failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// One fragment write that takes longer than this failed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// After `InProgress`, the stale attempt is cancelled and this long is waited out.
pub const IN_PROGRESS_SETTLE: Duration = Duration::from_millis(500);
/// Activity is reported at most this often.
const ACTIVITY_EVERY: Duration = Duration::from_millis(500);
/// A link asked to end stays up until it has been quiet this long (no write, no notification),
/// so that a lock's answer to the frame just written is not cut off ...
pub const DRAIN_QUIET: Duration = Duration::from_millis(300);
/// ... but no longer than this.
pub const DRAIN_MAX: Duration = Duration::from_secs(2);

/// What a link actor is told.
#[derive(Debug)]
pub enum LinkCmd {
    /// The adapter to use (`None`: it is gone; drop the link).
    Adapter(Option<Adapter>),
    /// Connect.
    Connect,
    /// Disconnect.
    Disconnect,
    /// Write a frame.
    Write(DownFrame),
}

/// What a link actor reports.
#[derive(Debug)]
pub enum LinkEvent {
    /// The link is up.
    Connected {
        /// The lock.
        lock: LockId,
        /// ATT MTU of the link.
        mtu: u16,
    },
    /// Connecting failed.
    ConnectFailed {
        /// The lock.
        lock: LockId,
        /// BlueZ said another connect was in progress.
        in_progress: bool,
        /// What happened.
        error: String,
    },
    /// The link is down.
    Disconnected {
        /// The lock.
        lock: LockId,
        /// The manager asked for it.
        asked: bool,
    },
    /// A frame was written.
    Written {
        /// The lock.
        lock: LockId,
        /// The frame.
        frame: DownFrame,
    },
    /// A frame could not be written (the link is down now).
    WriteFailed {
        /// The lock.
        lock: LockId,
        /// The frame.
        frame: DownFrame,
    },
    /// Frames moved: the link is not idle.
    Activity {
        /// The lock.
        lock: LockId,
    },
}

enum Input {
    Fragment(Vec<u8>),
    Gone,
}

struct Link {
    device: Device,
    rx: Characteristic,
    mtu: u16,
    inputs: BoxStream<'static, Input>,
}

struct Actor {
    lock: LockId,
    address: Address,
    adapter: Option<Adapter>,
    link: Option<Link>,
    reassembler: Reassembler,
    events: mpsc::Sender<LinkEvent>,
    up: MqttHandle,
    health: Arc<Health>,
    last_activity: Instant,
    /// The last write or notification on the link.
    last_io: Instant,
}

/// Starts the actor of `lock` at `address`; it ends when `cmds` closes.
pub fn spawn(
    lock: LockId,
    address: Address,
    cmds: mpsc::Receiver<LinkCmd>,
    events: mpsc::Sender<LinkEvent>,
    up: MqttHandle,
    health: Arc<Health>,
    tracker: &tokio_util::task::TaskTracker,
) {
    let actor = Actor {
        lock,
        address,
        adapter: None,
        link: None,
        reassembler: Reassembler::default(),
        events,
        up,
        health,
        last_activity: Instant::now(),
        last_io: Instant::now(),
    };
    tracker.spawn(actor.run(cmds));
}

async fn next_input(link: &mut Option<Link>) -> Input {
    match link {
        Some(link) => link.inputs.next().await.unwrap_or(Input::Gone),
        None => std::future::pending().await,
    }
}

impl Actor {
    async fn run(mut self, mut cmds: mpsc::Receiver<LinkCmd>) {
        loop {
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.on_cmd(cmd).await,
                    None => break,
                },
                input = next_input(&mut self.link) => match input {
                    Input::Fragment(bytes) => self.on_fragment(&bytes).await,
                    Input::Gone => self.lost("the link dropped").await,
                },
            }
        }
        self.teardown().await;
    }

    async fn report(&mut self, event: LinkEvent) {
        let _ = self.events.send(event).await;
    }

    async fn on_cmd(&mut self, cmd: LinkCmd) {
        match cmd {
            LinkCmd::Adapter(adapter) => {
                if adapter.is_none() && self.link.is_some() {
                    self.link = None;
                    self.report(LinkEvent::Disconnected {
                        lock: self.lock,
                        asked: false,
                    })
                    .await;
                }
                self.adapter = adapter;
            }
            LinkCmd::Connect => self.connect().await,
            LinkCmd::Disconnect => {
                self.drain().await;
                self.teardown().await;
                self.report(LinkEvent::Disconnected {
                    lock: self.lock,
                    asked: true,
                })
                .await;
            }
            LinkCmd::Write(frame) => self.write(frame).await,
        }
    }

    async fn connect(&mut self) {
        if let Some(mtu) = self.link.as_ref().map(|l| l.mtu) {
            return self
                .report(LinkEvent::Connected {
                    lock: self.lock,
                    mtu,
                })
                .await;
        }
        let opening = open(self.adapter.clone(), self.address);
        let result = match tokio::time::timeout(CONNECT_TIMEOUT, opening).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::plain("connect timed out")),
        };
        match result {
            Ok(link) => {
                let mtu = link.mtu;
                self.link = Some(link);
                self.reassembler.reset();
                Counters::bump(&self.health.counters.link_connects);
                log::info!(lock_id:% = self.lock; "ble: {} connected (ATT MTU {mtu})", self.lock);
                self.report(LinkEvent::Connected {
                    lock: self.lock,
                    mtu,
                })
                .await;
            }
            Err(e) => {
                // Whatever half-made link BlueZ keeps would block the next attempt.
                self.disconnect_device().await;
                if e.in_progress {
                    tokio::time::sleep(IN_PROGRESS_SETTLE).await;
                }
                self.report(LinkEvent::ConnectFailed {
                    lock: self.lock,
                    in_progress: e.in_progress,
                    error: e.message,
                })
                .await;
            }
        }
    }
}

/// Connects to the lock at `address` and sets up its characteristics.
async fn open(adapter: Option<Adapter>, address: Address) -> Result<Link, ConnectError> {
    let adapter = adapter.ok_or_else(|| ConnectError::plain("no adapter"))?;
    let device = adapter.device(address).map_err(ConnectError::from)?;
    device.connect().await.map_err(ConnectError::from)?;
    let (rx, tx) = characteristics(&device).await?;
    let notes = tx.notify().await.map_err(ConnectError::from)?;
    let events = device.events().await.map_err(ConnectError::from)?;
    // bluer reports the ATT MTU less the 5 bytes BlueZ sets aside; a write request
    // carries MTU - 3, which is what fragmentation counts with.
    let mtu = rx.mtu().await.map_err(ConnectError::from)? + 5;
    let mtu = u16::try_from(mtu)
        .unwrap_or(MAX_MTU)
        .clamp(MIN_MTU, MAX_MTU);
    let gone = events.filter_map(|e| async move {
        matches!(
            e,
            DeviceEvent::PropertyChanged(DeviceProperty::Connected(false))
        )
        .then_some(Input::Gone)
    });
    let inputs = futures_util::stream::select(notes.map(Input::Fragment), gone).boxed();
    Ok(Link {
        device,
        rx,
        mtu,
        inputs,
    })
}

impl Actor {
    async fn disconnect_device(&mut self) {
        if let Some(Ok(device)) = self.adapter.as_ref().map(|a| a.device(self.address)) {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, device.disconnect()).await;
        }
    }

    async fn teardown(&mut self) {
        if let Some(link) = self.link.take() {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, link.device.disconnect()).await;
        }
    }

    async fn lost(&mut self, why: &str) {
        log::warn!(lock_id:% = self.lock; "ble: {}: {why}", self.lock);
        Counters::bump(&self.health.counters.link_drops);
        self.teardown().await;
        self.report(LinkEvent::Disconnected {
            lock: self.lock,
            asked: false,
        })
        .await;
    }

    async fn write(&mut self, frame: DownFrame) {
        let Some((rx, mtu)) = self.link.as_ref().map(|l| (l.rx.clone(), l.mtu)) else {
            return self
                .report(LinkEvent::WriteFailed {
                    lock: self.lock,
                    frame,
                })
                .await;
        };
        let req = CharacteristicWriteRequest {
            op_type: WriteOp::Request,
            ..Default::default()
        };
        let mut ok = true;
        match fragments(&frame.frame, mtu) {
            Ok(parts) => {
                for part in parts {
                    let write = rx.write_ext(&part, &req);
                    if !matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(()))) {
                        ok = false;
                        break;
                    }
                }
            }
            Err(e) => {
                log::error!("ble: {}: cannot fragment a frame: {e}", self.lock);
                ok = false;
            }
        }
        if ok {
            self.activity().await;
            self.report(LinkEvent::Written {
                lock: self.lock,
                frame,
            })
            .await;
        } else {
            self.report(LinkEvent::WriteFailed {
                lock: self.lock,
                frame,
            })
            .await;
            self.lost("a write failed").await;
        }
    }

    async fn on_fragment(&mut self, bytes: &[u8]) {
        self.last_io = Instant::now();
        let frame = match self.reassembler.push(bytes, Instant::now()) {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                log::debug!("ble: {}: fragment dropped: {e}", self.lock);
                Counters::bump(&self.health.counters.malformed_notifications);
                return;
            }
        };
        if let Err(e) = Header::parse(&frame) {
            log::debug!("ble: {}: frame without a valid header: {e}", self.lock);
            Counters::bump(&self.health.counters.malformed_frames);
            return;
        }
        self.activity().await;
        self.up.up(self.lock, frame).await;
    }

    /// Before an asked-for disconnect: receives what the lock is still sending until the link
    /// has been quiet for `DRAIN_QUIET` (at once if it already has), at most `DRAIN_MAX`.
    /// Commands wait meanwhile; a write queued behind the disconnect finds no link and goes
    /// back to the manager.
    async fn drain(&mut self) {
        let give_up = tokio::time::Instant::now() + DRAIN_MAX;
        while self.link.is_some() {
            let quiet_at = tokio::time::Instant::from_std(self.last_io + DRAIN_QUIET);
            let until = quiet_at.min(give_up);
            if tokio::time::Instant::now() >= until {
                return;
            }
            tokio::select! {
                input = next_input(&mut self.link) => match input {
                    Input::Fragment(bytes) => self.on_fragment(&bytes).await,
                    Input::Gone => return,
                },
                () = tokio::time::sleep_until(until) => return,
            }
        }
    }

    async fn activity(&mut self) {
        let now = Instant::now();
        self.last_io = now;
        if now.duration_since(self.last_activity) >= ACTIVITY_EVERY {
            self.last_activity = now;
            self.report(LinkEvent::Activity { lock: self.lock }).await;
        }
    }
}

/// A failed connect.
pub(super) struct ConnectError {
    in_progress: bool,
    /// What happened.
    pub(super) message: String,
}

impl ConnectError {
    fn plain(message: &str) -> Self {
        ConnectError {
            in_progress: false,
            message: message.into(),
        }
    }
}

impl From<bluer::Error> for ConnectError {
    fn from(e: bluer::Error) -> Self {
        // BlueZ says `InProgress`, or `Failed` with "Operation already in progress".
        let in_progress = e.kind == ErrorKind::InProgress
            || (e.kind == ErrorKind::Failed && e.message.to_lowercase().contains("in progress"));
        ConnectError {
            in_progress,
            message: e.to_string(),
        }
    }
}

/// The lockgate service's `rx` and `tx` characteristics of a connected device.
pub(super) async fn characteristics(
    device: &Device,
) -> Result<(Characteristic, Characteristic), ConnectError> {
    let service_uuid = bluer::Uuid::from_u128(lockgate_wire::gatt::SERVICE_UUID);
    let rx_uuid = bluer::Uuid::from_u128(lockgate_wire::gatt::RX_CHAR_UUID);
    let tx_uuid = bluer::Uuid::from_u128(lockgate_wire::gatt::TX_CHAR_UUID);
    let (mut rx, mut tx) = (None, None);
    for service in device.services().await.map_err(ConnectError::from)? {
        if service.uuid().await.map_err(ConnectError::from)? != service_uuid {
            continue;
        }
        for ch in service
            .characteristics()
            .await
            .map_err(ConnectError::from)?
        {
            let uuid = ch.uuid().await.map_err(ConnectError::from)?;
            if uuid == rx_uuid {
                rx = Some(ch);
            } else if uuid == tx_uuid {
                tx = Some(ch);
            }
        }
    }
    rx.zip(tx)
        .ok_or_else(|| ConnectError::plain("the lock has no lockgate service with rx and tx"))
}
