//! locksim without bluer: durable state across restarts, the `locksim` binary (`up`, `ctl`),
//! and the control interface, checked with a plain zbus client.

use lockgate_e2e::{
    ChannelState, EndpointPairing, EndpointSession, Incoming, PairingStep, Request, SetupCode,
    StaticSecret,
};
use lockgate_wire::frag::{fragments, Reassembler};
use locksim::lock::SimLock;
use locksim::testbed::{managed_objects, Testbed};
use locksim::{SimConfig, Timing};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;
use zbus::zvariant::OwnedObjectPath;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("locksim-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends `frame` to the lock fragment by fragment and reassembles its answer.
fn exchange(lock: &mut SimLock, frame: &[u8]) -> Vec<u8> {
    let mut out = Reassembler::default();
    let mut answer = None;
    for fragment in fragments(frame, 23).unwrap() {
        let now_ms = locksim::world::unix_ms();
        for n in lock
            .write_rx(&fragment, 23, Instant::now(), now_ms)
            .unwrap()
        {
            answer = out.push(&n, Instant::now()).unwrap().or(answer);
        }
    }
    answer.expect("the lock answered")
}

#[test]
fn a_lock_keeps_its_authorizations_across_a_restart_with_a_state_dir() {
    let dir = temp_dir("restart");
    let config = lockgate_e2e::LockConfig::default();
    let mut lock = SimLock::open(7, 0, Some(&dir), config.clone()).unwrap();
    lock.press_button(locksim::world::unix_ms()).unwrap();
    let key = StaticSecret::generate(&mut rand_core::OsRng);
    let code = SetupCode::Label(lock.label_code().parse().unwrap());
    let (mut pairing, mut frame) =
        EndpointPairing::start(&key, lock.lock_id(), "phone", &code, rand_core::OsRng).unwrap();
    let paired = loop {
        match pairing.handle(&exchange(&mut lock, &frame)).unwrap() {
            PairingStep::Send(next) => frame = next,
            PairingStep::Paired(p) => break p,
        }
    };
    let mut session = EndpointSession::new(paired, ChannelState::default());
    let first = session.request(&Request::Status).unwrap();
    assert!(matches!(
        session.receive(&exchange(&mut lock, &first.frame)),
        Ok(Incoming::Response(_))
    ));
    drop(lock);
    let mut restarted = SimLock::open(7, 0, Some(&dir), config).unwrap();
    // The same lock, the same authorization; the replayed frame is refused.
    let again = session.request(&Request::Status).unwrap();
    assert!(matches!(
        session.receive(&exchange(&mut restarted, &again.frame)),
        Ok(Incoming::Response(_))
    ));
    let replay = exchange(&mut restarted, &first.frame);
    assert!(matches!(
        session.receive(&replay),
        Ok(Incoming::Refused { .. })
    ));
    let mode = std::fs::metadata(dir.join(format!("lock-{}.json", restarted.lock_id())))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap();
    assert_eq!(mode, 0o600, "lock state holds secrets");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_seed_gives_the_same_locks_and_different_seeds_different_ones() {
    let c = lockgate_e2e::LockConfig::default();
    let a = SimLock::open(7, 0, None, c.clone()).unwrap();
    let b = SimLock::open(7, 0, None, c.clone()).unwrap();
    let other = SimLock::open(8, 0, None, c.clone()).unwrap();
    let next = SimLock::open(7, 1, None, c).unwrap();
    assert_eq!(
        (a.lock_id(), a.label_code(), a.address()),
        (b.lock_id(), b.label_code(), b.address())
    );
    assert_ne!(a.lock_id(), other.lock_id());
    assert_ne!(a.lock_id(), next.lock_id());
}

/// A plain client of the testbed's bus.
async fn client(tb: &Testbed) -> zbus::Connection {
    zbus::connection::Builder::address(tb.address())
        .unwrap()
        .build()
        .await
        .unwrap()
}

/// Registers the agent at `/test/agent` of `client` with `capability`.
async fn register_agent(client: &zbus::Connection, capability: &str) {
    let path = OwnedObjectPath::try_from("/test/agent").unwrap();
    let manager = Some("org.bluez.AgentManager1");
    client
        .call_method(
            Some("org.bluez"),
            "/org/bluez",
            manager,
            "RegisterAgent",
            &(path, capability),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn bonds_survive_a_restart_with_a_state_dir() {
    let dir = temp_dir("bonds");
    let config = SimConfig {
        locks: 2,
        state_dir: Some(dir.clone()),
        timing: Timing {
            fast: true,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let bonded_address = {
        let tb = Testbed::start(config.clone()).await.unwrap();
        let shared = tb.sim.shared();
        shared.world().adapters[0]
            .devices
            .entry(1)
            .or_default()
            .paired = true;
        locksim::sim::save_bonds(shared);
        let address = shared.world().locks[1].lock.address().to_string();
        address
    };
    let tb = Testbed::start(config).await.unwrap();
    let client = client(&tb).await;
    let objects = managed_objects(&client).await.unwrap();
    let devices: Vec<_> = objects
        .values()
        .filter_map(|ifaces| ifaces.get("org.bluez.Device1"))
        .collect();
    assert_eq!(
        devices.len(),
        1,
        "only the bonded lock is known before any discovery"
    );
    let address = String::try_from(devices[0]["Address"].try_clone().unwrap()).unwrap();
    assert_eq!(address, bonded_address);
    assert!(bool::try_from(&devices[0]["Paired"]).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_control_interface_refuses_unknown_locks_and_faults_with_a_clear_error() {
    let tb = Testbed::start(SimConfig::default()).await.unwrap();
    let client = client(&tb).await;
    let call = |method: &'static str, body: (String, String, u32)| {
        let client = client.clone();
        async move {
            client
                .call_method(
                    Some("org.bluez"),
                    "/org/lockgate/sim",
                    Some("org.lockgate.Sim1"),
                    method,
                    &body,
                )
                .await
        }
    };
    let id = tb.sim.shared().world().locks[0].lock.lock_id().to_string();
    let unknown = call(
        "InjectFault",
        ("0000000000000000".into(), "link-drop".into(), 1),
    )
    .await;
    assert!(unknown.unwrap_err().to_string().contains("no lock"));
    let bogus = call("InjectFault", (id.clone(), "meteor".into(), 1)).await;
    assert!(bogus.unwrap_err().to_string().contains("unknown fault"));
    call("InjectFault", (id, "notification-loss".into(), 2))
        .await
        .unwrap();
    assert_eq!(
        tb.sim.shared().world().locks[0].faults.lose_notifications,
        2
    );
}

/// Runs `locksim up` with `args`; returns the child and the address of its private bus.
fn locksim_up(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_locksim"))
        .arg("up")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("export DBUS_SYSTEM_BUS_ADDRESS=")
        .expect("the address line")
        .to_owned();
    (child, address)
}

#[test]
fn locksim_up_serves_a_private_bus_that_ctl_can_steer() {
    let (mut child, address) = locksim_up(&["--locks", "2", "--fast"]);
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_locksim"))
            .args(["ctl", "--bus-address", &address])
            .args(args)
            .output()
            .unwrap()
    };
    // The name appears once locksim has registered everything.
    let mut listed = ctl(&["locks"]);
    for _ in 0..50 {
        if listed.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        listed = ctl(&["locks"]);
    }
    // SIGTERM: locksim stops cleanly and takes its dbus-daemon down with it.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "locksim exits cleanly on SIGTERM"
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(text.lines().count(), 3, "a header and two locks:\n{text}");
    assert!(text.contains("label code"));
}

#[tokio::test]
async fn locksim_ctl_presses_buttons_and_reports_bad_input() {
    let tb = Testbed::start(SimConfig::default()).await.unwrap();
    let id = tb.sim.shared().world().locks[2].lock.lock_id().to_string();
    let ctl = |args: Vec<String>| {
        let address = tb.address().to_owned();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_locksim"))
                .args(["ctl", "--bus-address", &address])
                .args(args)
                .output()
                .unwrap()
        })
    };
    let pressed = ctl(vec!["press".into(), id.clone()]).await.unwrap();
    assert!(pressed.status.success());
    assert!(tb.sim.shared().world().locks[2]
        .lock
        .pairing_window_open(locksim::world::unix_ms()));
    let bad = ctl(vec!["range".into(), id, "sideways".into()])
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected in or out"));
}

#[tokio::test]
async fn a_client_that_leaves_the_bus_loses_its_agent_and_discovery() {
    let config = SimConfig {
        timing: Timing {
            fast: true,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let tb = Testbed::start(config).await.unwrap();
    let client = client(&tb).await;
    register_agent(&client, "KeyboardDisplay").await;
    let adapter = Some("org.bluez.Adapter1");
    client
        .call_method(
            Some("org.bluez"),
            "/org/bluez/hci0",
            adapter,
            "StartDiscovery",
            &(),
        )
        .await
        .unwrap();
    assert_eq!(tb.sim.shared().world().agents.len(), 1);
    drop(client);
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let world = tb.sim.shared().world();
        if world.agents.is_empty() && world.adapters[0].discovery.is_empty() {
            return;
        }
    }
    panic!("the departed client's agent and discovery session were kept");
}

/// An agent object that records the calls bluetoothd (here locksim) makes to it.
struct RecordingAgent(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

#[zbus::interface(name = "org.bluez.Agent1")]
impl RecordingAgent {
    fn release(&self) {
        self.0.lock().unwrap().push("Release".into());
    }
}

#[tokio::test]
async fn stopping_releases_every_registered_agent() {
    let tb = Testbed::start(SimConfig::default()).await.unwrap();
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = zbus::connection::Builder::address(tb.address())
        .unwrap()
        .serve_at("/test/agent", RecordingAgent(calls.clone()))
        .unwrap()
        .build()
        .await
        .unwrap();
    register_agent(&client, "KeyboardOnly").await;
    tb.sim.shutdown().await;
    assert_eq!(*calls.lock().unwrap(), vec!["Release".to_string()]);
}

#[tokio::test]
async fn with_bonded_every_lock_starts_bonded_to_every_adapter() {
    let dir = temp_dir("bonded");
    let state_dir = dir.to_str().unwrap();
    let args = ["--locks", "3", "--adapters", "2", "--fast", "--bonded"];
    let (mut child, address) = locksim_up(&[&args[..], &["--state-dir", state_dir]].concat());
    let client = zbus::connection::Builder::address(address.as_str())
        .unwrap()
        .build()
        .await
        .unwrap();
    // org.bluez is claimed last, once every object is exported.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    let objects = loop {
        match managed_objects(&client).await {
            Ok(objects) => break objects,
            Err(e) if Instant::now() > deadline => panic!("locksim never served: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    // SIGTERM: locksim takes its dbus-daemon down with it.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    child.wait().unwrap();
    let mut bonded: Vec<String> = objects
        .iter()
        .filter_map(|(path, ifaces)| {
            let device = ifaces.get("org.bluez.Device1")?;
            bool::try_from(&device["Paired"])
                .unwrap()
                .then(|| path.as_str().rsplit_once("/dev_").unwrap().0.to_owned())
        })
        .collect();
    bonded.sort();
    let expected = ["/org/bluez/hci0"; 3]
        .into_iter()
        .chain(["/org/bluez/hci1"; 3])
        .collect::<Vec<_>>();
    assert_eq!(bonded, expected, "three bonded devices on each adapter");
    let bonds = std::fs::read_to_string(dir.join("bonds.json")).unwrap();
    let bonds: HashMap<String, Vec<String>> = serde_json::from_str(&bonds).unwrap();
    assert_eq!(bonds["hci0"].len(), 3, "the bonds are kept like any other");
    assert_eq!(bonds["hci1"], bonds["hci0"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_control_interface_lists_registered_agents() {
    let tb = Testbed::start(SimConfig::default()).await.unwrap();
    let client = client(&tb).await;
    let agents = |conn: zbus::Connection| async move {
        let reply = conn
            .call_method(
                Some("org.bluez"),
                locksim::control::CONTROL_PATH,
                Some(locksim::control::CONTROL_INTERFACE),
                "Agents",
                &(),
            )
            .await
            .unwrap();
        reply
            .body()
            .deserialize::<Vec<(String, String, String)>>()
            .unwrap()
    };
    assert!(agents(client.clone()).await.is_empty());
    register_agent(&client, "KeyboardOnly").await;
    let listed = agents(client.clone()).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, client.unique_name().unwrap().to_string());
    assert_eq!(
        (listed[0].1.as_str(), listed[0].2.as_str()),
        ("/test/agent", "KeyboardOnly")
    );
}
