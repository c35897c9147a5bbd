//! The gateway's side of the benchmarks, with `bluer`: discovery, connecting and finding
//! `rx`/`tx`, one frame at a time over GATT (fragmented writes with response, notifications
//! reassembled), pairing with the label code, and sized session requests. Adapted from
//! `tests/common/mod.rs`, which benches cannot import.

use bluer::gatt::remote::{Characteristic, CharacteristicWriteRequest};
use bluer::{Adapter, AdapterEvent, Address, Device, DiscoveryFilter, Session, Uuid};
use futures_util::{Stream, StreamExt};
use lockgate_e2e::{
    ChannelState, EndpointPairing, EndpointSession, Incoming, PairingStep, Request, ResponseBody,
    SetupCode, StaticSecret,
};
use lockgate_wire::frag::{fragments, Reassembler};
use lockgate_wire::gatt::{RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID};
use lockgate_wire::LockId;
use rand_chacha::rand_core::SeedableRng;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// How long a lock may take to answer a frame.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// The longest authorization name.
const MAX_NAME_LEN: usize = 32;

/// What the gateway knows of a lock before pairing.
pub struct LockInfo {
    /// Its lock id.
    pub id: LockId,
    /// Its BLE address.
    pub addr: Address,
    /// The code on its label.
    pub label: String,
}

/// A link with an endpoint paired over it.
pub struct Paired {
    /// The link.
    pub link: Link,
    /// The endpoint's session with the lock.
    pub session: EndpointSession,
}

/// The default adapter of a new bluer session.
pub async fn adapter() -> (Session, Adapter) {
    let session = Session::new().await.expect("bluer connects to the bus");
    let adapter = session.default_adapter().await.expect("hci0");
    (session, adapter)
}

/// Discovers with the lockgate service filter until every address in `want` was seen.
pub async fn discover(adapter: &Adapter, want: &[Address]) {
    let filter = DiscoveryFilter {
        uuids: [Uuid::from_u128(SERVICE_UUID)].into(),
        ..Default::default()
    };
    adapter.set_discovery_filter(filter).await.unwrap();
    let mut events = adapter.discover_devices().await.unwrap();
    let mut missing: Vec<Address> = want.to_vec();
    while !missing.is_empty() {
        match events.next().await {
            Some(AdapterEvent::DeviceAdded(addr)) => missing.retain(|a| *a != addr),
            Some(_) => {}
            None => panic!("discovery ended with {missing:?} unseen"),
        }
    }
}

/// Connects to `addr` and opens a link over its `rx` and `tx`.
pub async fn open_link(adapter: &Adapter, addr: Address) -> Link {
    let device = adapter.device(addr).unwrap();
    let (rx, tx) = connect(&device).await;
    Link::open(rx, &tx).await
}

/// Connects and finds `rx` and `tx`.
async fn connect(device: &Device) -> (Characteristic, Characteristic) {
    device.connect().await.expect("connects");
    let (mut rx, mut tx) = (None, None);
    for service in device.services().await.expect("services resolve") {
        if service.uuid().await.unwrap() != Uuid::from_u128(SERVICE_UUID) {
            continue;
        }
        for ch in service.characteristics().await.unwrap() {
            let uuid = ch.uuid().await.unwrap();
            if uuid == Uuid::from_u128(RX_CHAR_UUID) {
                rx = Some(ch);
            } else if uuid == Uuid::from_u128(TX_CHAR_UUID) {
                tx = Some(ch);
            }
        }
    }
    (rx.expect("rx"), tx.expect("tx"))
}

/// One frame at a time over GATT: fragments written with response, notifications collected
/// until a whole frame is reassembled.
pub struct Link {
    rx: Characteristic,
    notifications: Pin<Box<dyn Stream<Item = Vec<u8>> + Send>>,
    reassembler: Reassembler,
    mtu: u16,
}

impl Link {
    async fn open(rx: Characteristic, tx: &Characteristic) -> Link {
        let notifications = Box::pin(tx.notify().await.expect("notify"));
        // bluer reports the ATT MTU minus 5 (a BlueZ workaround); write requests carry MTU - 3.
        let mtu = u16::try_from(rx.mtu().await.unwrap() + 5).unwrap();
        Link {
            rx,
            notifications,
            reassembler: Reassembler::default(),
            mtu,
        }
    }

    /// How many fragments a frame of `len` bytes takes.
    pub fn fragment_count(&self, len: usize) -> usize {
        fragments(&vec![0; len], self.mtu).unwrap().len()
    }

    async fn send(&self, frame: &[u8]) {
        let req = CharacteristicWriteRequest {
            op_type: bluer::gatt::WriteOp::Request,
            ..Default::default()
        };
        for fragment in fragments(frame, self.mtu).unwrap() {
            self.rx.write_ext(&fragment, &req).await.expect("write");
        }
    }

    async fn receive(&mut self) -> Vec<u8> {
        loop {
            let value = self.notifications.next().await.expect("notifications open");
            if let Some(frame) = self.reassembler.push(&value, Instant::now()).unwrap() {
                return frame;
            }
        }
    }

    async fn exchange(&mut self, frame: &[u8]) -> Vec<u8> {
        self.send(frame).await;
        tokio::time::timeout(ANSWER_LIMIT, self.receive())
            .await
            .expect("the lock answered")
    }
}

/// Sends `frame` and waits for the whole answer. Returns how long until the writes were
/// acknowledged, how long until the answer was reassembled, and the answer.
pub async fn timed_exchange(link: &mut Link, frame: &[u8]) -> (Duration, Duration, Vec<u8>) {
    let start = Instant::now();
    link.send(frame).await;
    let acked = start.elapsed();
    let answer = tokio::time::timeout(ANSWER_LIMIT, link.receive())
        .await
        .expect("the lock answered");
    (acked, start.elapsed(), answer)
}

/// Pairs a new endpoint with the lock over `link` using its label code; the lock's pairing
/// window must be open.
pub async fn pair(link: &mut Link, lock: &LockInfo) -> EndpointSession {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let key = StaticSecret::generate(&mut rng);
    let code = SetupCode::Label(lock.label.parse().unwrap());
    let (mut pairing, mut frame) =
        EndpointPairing::start(&key, lock.id, "bench", &code, rng).unwrap();
    loop {
        let answer = link.exchange(&frame).await;
        match pairing.handle(&answer).expect("pairing proceeds") {
            PairingStep::Send(next) => frame = next,
            PairingStep::Paired(p) => return EndpointSession::new(p, ChannelState::default()),
        }
    }
}

/// Seals a rename of the endpoint's own authorization to a name of `name_len` bytes.
pub fn rename(session: &mut EndpointSession, name_len: usize) -> Vec<u8> {
    let id = session.lock().auth_id;
    let name = "n".repeat(name_len);
    session
        .request(&Request::AuthRename { id, name })
        .unwrap()
        .frame
}

/// Checks that `answer` is the lock's authenticated `Done`.
pub fn expect_done(session: &mut EndpointSession, answer: &[u8]) {
    match session.receive(answer).unwrap() {
        Incoming::Response(r) if matches!(r.result, Ok(ResponseBody::Done)) => {}
        other => panic!("expected Done, got {other:?}"),
    }
}

/// The name length that makes a rename frame `frame_len` bytes long, found by sending one
/// rename with a 1-byte name (frames grow byte for byte with the name).
pub async fn calibrate(p: &mut Paired, frame_len: usize) -> usize {
    let probe = rename(&mut p.session, 1);
    let answer = p.link.exchange(&probe).await;
    expect_done(&mut p.session, &answer);
    (frame_len + 1)
        .saturating_sub(probe.len())
        .clamp(1, MAX_NAME_LEN)
}

/// Runs `count` rename exchanges one after the other; returns how long each took.
pub async fn exchange_renames(p: &mut Paired, name_len: usize, count: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(count);
    for _ in 0..count {
        let frame = rename(&mut p.session, name_len);
        let start = Instant::now();
        let answer = p.link.exchange(&frame).await;
        took.push(start.elapsed());
        expect_done(&mut p.session, &answer);
    }
    took
}
