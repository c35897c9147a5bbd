//! The MQTT relay against a real mosquitto on a loopback port: up-frames arrive in order, none
//! is lost while the broker is down, the spool survives the relay being dropped, `online` /
//! last will `offline` are retained, and retained down-frames and requests are ignored.
//! Needs `/usr/sbin/mosquitto` (Debian package `mosquitto`).

use lockgate::config::Config;
use lockgate::health::Health;
use lockgate::mqtt::{self, Inbound};
use lockgate::spool::{Spool, SpoolLimits};
use lockgate_wire::envelope::{build_frame, Header, Kind};
use lockgate_wire::LockId;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const LOCK: LockId = LockId::from_bytes([0x4c, 0x47, 0, 0, 0, 0, 0, 1]);

/// A mosquitto with persistence (so a durable subscriber keeps its queue across restarts).
struct Broker {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n\
                 persistence_location {}/\nautosave_interval 1\nlog_dest file {}/broker.log\n\
                 user {}\n",
                dir.display(),
                dir.display(),
                current_user(),
            ),
        )
        .unwrap();
        let mut broker = Broker {
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        broker.resume();
        broker
    }

    fn resume(&mut self) {
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed (apt-get install mosquitto)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pause(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run as root, mosquitto drops to user `mosquitto`, which cannot write in the test's
/// directory; tell it to stay who it is.
fn current_user() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn config(dir: &Path, port: u16) -> Config {
    let file = dir.join("lockgate.toml");
    std::fs::write(
        &file,
        format!(
            "state_dir = {:?}\n[gateway]\nid = \"gw1\"\n[mqtt]\nhost = \"127.0.0.1\"\n\
             port = {port}\ntransport = \"plain\"\nkeepalive = \"5s\"\n",
            dir.join("state").display().to_string()
        ),
    )
    .unwrap();
    Config::load(&file, []).unwrap()
}

fn frame(counter: u64) -> Vec<u8> {
    let header = Header {
        kind: Kind::Session,
        auth_id: 1,
        counter,
    };
    build_frame(&header, b"sealed")
}

fn counter_of(payload: &[u8]) -> u64 {
    Header::parse(payload).unwrap().0.counter
}

/// A durable subscriber (clean session off) standing for an endpoint; returns once the broker
/// has acknowledged its subscriptions.
async fn observer(port: u16, filters: &[&str]) -> mpsc::UnboundedReceiver<rumqttc::Publish> {
    let mut options = MqttOptions::new("observer", "127.0.0.1", port);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let (tx, rx) = mpsc::unbounded_channel();
    let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    let mut acks_due = filters.len();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    for f in &filters {
                        client.subscribe(f, QoS::AtLeastOnce).await.unwrap();
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    acks_due = acks_due.saturating_sub(1);
                    if acks_due == 0 {
                        if let Some(done) = subscribed_tx.take() {
                            let _ = done.send(());
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(20), subscribed)
        .await
        .expect("the observer subscribed")
        .unwrap();
    rx
}

/// Receives until every counter in `want` has arrived; returns them in the order of their
/// first copies. Copies of frames from before `want` (at-least-once delivery) are skipped.
async fn collect_up(
    rx: &mut mpsc::UnboundedReceiver<rumqttc::Publish>,
    want: std::ops::Range<u64>,
) -> Vec<u64> {
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while (seen.len() as u64) < want.end - want.start {
        let p = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {order:?} of {want:?} arrived"))
            .unwrap();
        assert_eq!(p.topic, format!("lockgate/gw1/{LOCK}/up/1"));
        let c = counter_of(&p.payload);
        assert!(c < want.end, "frame {c} was never sent");
        if want.contains(&c) && seen.insert(c) {
            order.push(c);
        }
    }
    order
}

struct Relay {
    started: mqtt::Started,
    stop: CancellationToken,
    health: Arc<Health>,
    inbound: mpsc::Receiver<Inbound>,
}

fn start_relay(config: &Config) -> Relay {
    let spool = Spool::open(
        &config.spool_path(),
        SpoolLimits {
            max_frames: 10_000,
            max_bytes: 16 << 20,
        },
    )
    .unwrap();
    let health = Arc::new(Health::default());
    let (tx, inbound) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let topics = config.topics().unwrap();
    let started = mqtt::start(
        config,
        topics,
        Vec::new(),
        spool,
        health.clone(),
        tx,
        stop.clone(),
    )
    .unwrap();
    Relay {
        started,
        stop,
        health,
        inbound,
    }
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_up_frame_is_lost_or_reordered_while_the_broker_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path());
    let config = config(dir.path(), broker.port);
    let mut endpoint = observer(broker.port, &["lockgate/gw1/+/up/1"]).await;
    let relay = start_relay(&config);
    let connected = || {
        relay
            .health
            .mqtt_connected
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    wait_for("the relay to connect", connected).await;
    for c in 0..100 {
        assert!(relay.started.handle.up(LOCK, frame(c)).await);
    }
    assert_eq!(
        collect_up(&mut endpoint, 0..100).await,
        (0..100).collect::<Vec<_>>()
    );

    broker.pause();
    wait_for("the relay to notice", || !connected()).await;
    for c in 100..300 {
        assert!(relay.started.handle.up(LOCK, frame(c)).await);
    }
    broker.resume();
    let got = collect_up(&mut endpoint, 100..300).await;
    assert_eq!(got, (100..300).collect::<Vec<_>>());
    wait_for("the spool to drain", || {
        relay
            .health
            .spool_frames
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    })
    .await;
    relay.stop.cancel();
    relay.started.relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_spooled_while_offline_are_published_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(dir.path());
    let config = config(dir.path(), broker.port);
    let mut endpoint = observer(broker.port, &["lockgate/gw1/+/up/1"]).await;
    broker.pause();
    let first = start_relay(&config);
    for c in 0..50 {
        assert!(first.started.handle.up(LOCK, frame(c)).await);
    }
    first.stop.cancel();
    first.started.relay.await.unwrap();
    broker.resume();
    let second = start_relay(&config);
    assert_eq!(
        collect_up(&mut endpoint, 0..50).await,
        (0..50).collect::<Vec<_>>()
    );
    second.stop.cancel();
    second.started.relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_is_online_while_up_and_offline_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let config = config(dir.path(), broker.port);
    let relay = start_relay(&config);
    let mut watcher = observer(broker.port, &["lockgate/gw1/bridge/state"]).await;
    let next_state = |p: rumqttc::Publish| String::from_utf8(p.payload.to_vec()).unwrap();
    let first = tokio::time::timeout(Duration::from_secs(20), watcher.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next_state(first), mqtt::ONLINE);
    relay.stop.cancel();
    relay.started.relay.await.unwrap();
    let last = tokio::time::timeout(Duration::from_secs(20), watcher.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(last.retain || next_state(last.clone()) == mqtt::OFFLINE);
    assert_eq!(next_state(last), mqtt::OFFLINE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_down_frames_and_requests_are_ignored_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start(dir.path());
    let config = config(dir.path(), broker.port);
    let (sender, mut sender_loop) =
        AsyncClient::new(MqttOptions::new("sender", "127.0.0.1", broker.port), 16);
    tokio::spawn(async move { while sender_loop.poll().await.is_ok() {} });
    let down = format!("lockgate/gw1/{LOCK}/down");
    let request = "lockgate/gw1/bridge/request/health";
    sender
        .publish(&down, QoS::AtLeastOnce, true, frame(1))
        .await
        .unwrap();
    sender
        .publish(request, QoS::AtLeastOnce, true, "{}")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut relay = start_relay(&config);
    let counters = &relay.health.counters;
    wait_for("both retained messages", || {
        let c = counters.snapshot();
        c["down_retained_ignored"] == 1 && c["requests_retained_ignored"] == 1
    })
    .await;
    sender
        .publish(&down, QoS::AtLeastOnce, false, frame(2))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), relay.inbound.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got,
        Inbound::Down {
            lock: LOCK.to_string(),
            frame: frame(2)
        },
        "the live frame comes through; the retained one never did"
    );
    relay.stop.cancel();
    relay.started.relay.await.unwrap();
}
