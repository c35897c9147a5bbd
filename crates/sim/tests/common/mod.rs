//! Helpers for driving locksim with `bluer`, exactly as a gateway would.

#![allow(dead_code)]

use bluer::gatt::remote::Characteristic;
use bluer::{Adapter, AdapterEvent, Address, Device, DiscoveryFilter, Session};
use futures_util::StreamExt;
use lockgate_e2e::{EndpointPairing, PairedLock, PairingStep, SetupCode, StaticSecret};
use lockgate_wire::frag::{fragments, Reassembler};
use lockgate_wire::LockId;
use locksim::testbed::Testbed;
use locksim::SimConfig;
use rand_chacha::rand_core::SeedableRng;
use std::time::{Duration, Instant};

/// A fast simulation with `locks` locks.
pub fn fast(locks: u32) -> SimConfig {
    SimConfig {
        locks,
        timing: locksim::Timing {
            fast: true,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

/// Declares a test that runs in its own process against a fresh testbed.
#[macro_export]
macro_rules! bluer_test {
    ($name:ident, $config:expr, |$tb:ident| $body:block) => {
        #[test]
        fn $name() {
            locksim::testbed::run_isolated(
                stringify!($name),
                $config,
                std::time::Duration::from_secs(90),
                |$tb| async move $body,
            );
        }
    };
}

/// Runs `body` on a current-thread runtime of its own, in a thread of its own, the way
/// lockgated runs its D-Bus client; the simulation goes on serving on the test's runtime.
pub async fn on_current_thread<T, F, Fut>(body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
            .block_on(body())
    })
    .await
    .expect("the client thread did not panic")
}

/// The simulated locks: (lock id, address, label code).
pub fn locks(tb: &Testbed) -> Vec<(LockId, Address, String)> {
    let world = tb.sim.shared().world();
    world
        .locks
        .iter()
        .map(|e| {
            let addr = Address::new(e.lock.address().0);
            (e.lock.lock_id(), addr, e.lock.label_code())
        })
        .collect()
}

/// The default adapter of a new bluer session.
pub async fn adapter() -> (Session, Adapter) {
    let session = Session::new()
        .await
        .expect("bluer connects to the private bus");
    let adapter = session.default_adapter().await.expect("hci0");
    (session, adapter)
}

/// Discovers with the lockgate service filter until every address in `want` was seen.
pub async fn discover(adapter: &Adapter, want: &[Address]) {
    let filter = DiscoveryFilter {
        uuids: [bluer::Uuid::from_u128(lockgate_wire::gatt::SERVICE_UUID)].into(),
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

/// The first lock, discovered: (session, adapter, its device, lock id, label code).
pub async fn first_lock(tb: &Testbed) -> (Session, Adapter, Device, LockId, String) {
    let (session, adapter) = adapter().await;
    let (id, addr, label) = locks(tb).remove(0);
    discover(&adapter, &[addr]).await;
    let device = adapter.device(addr).unwrap();
    (session, adapter, device, id, label)
}

/// Connects and finds `rx` and `tx`.
pub async fn connect(device: &Device) -> (Characteristic, Characteristic) {
    device.connect().await.expect("connects");
    let mut rx = None;
    let mut tx = None;
    for service in device.services().await.expect("services resolve") {
        if service.uuid().await.unwrap()
            != bluer::Uuid::from_u128(lockgate_wire::gatt::SERVICE_UUID)
        {
            continue;
        }
        for ch in service.characteristics().await.unwrap() {
            let uuid = ch.uuid().await.unwrap();
            if uuid == bluer::Uuid::from_u128(lockgate_wire::gatt::RX_CHAR_UUID) {
                rx = Some(ch);
            } else if uuid == bluer::Uuid::from_u128(lockgate_wire::gatt::TX_CHAR_UUID) {
                tx = Some(ch);
            }
        }
    }
    (rx.expect("rx"), tx.expect("tx"))
}

/// One frame over GATT: fragment, write each with response, collect notifications until a
/// whole frame is reassembled.
pub struct Link {
    pub rx: Characteristic,
    pub notifications: std::pin::Pin<Box<dyn futures_util::Stream<Item = Vec<u8>> + Send>>,
    pub reassembler: Reassembler,
    pub mtu: u16,
}

impl Link {
    pub async fn open(rx: Characteristic, tx: &Characteristic) -> Link {
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

    pub async fn send(&self, frame: &[u8]) {
        let req = bluer::gatt::remote::CharacteristicWriteRequest {
            op_type: bluer::gatt::WriteOp::Request,
            ..Default::default()
        };
        for fragment in fragments(frame, self.mtu).unwrap() {
            self.rx.write_ext(&fragment, &req).await.expect("write");
        }
    }

    pub async fn receive(&mut self) -> Vec<u8> {
        loop {
            let value = self
                .notifications
                .next()
                .await
                .expect("notification stream open");
            if let Some(frame) = self.reassembler.push(&value, Instant::now()).unwrap() {
                return frame;
            }
        }
    }

    pub async fn exchange(&mut self, frame: &[u8]) -> Vec<u8> {
        self.send(frame).await;
        tokio::time::timeout(Duration::from_secs(10), self.receive())
            .await
            .expect("the lock answered")
    }
}

/// Pairs a new endpoint with the lock over `link` using its label code.
pub async fn pair(link: &mut Link, lock_id: LockId, label: &str) -> (StaticSecret, PairedLock) {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let key = StaticSecret::generate(&mut rng);
    let code = SetupCode::Label(label.parse().unwrap());
    let (mut pairing, mut frame) =
        EndpointPairing::start(&key, lock_id, "test", &code, rng).unwrap();
    loop {
        let answer = link.exchange(&frame).await;
        match pairing.handle(&answer).expect("pairing proceeds") {
            PairingStep::Send(next) => frame = next,
            PairingStep::Paired(p) => return (key, p),
        }
    }
}
