//! Benchmarks of locksim driven through `bluer` exactly as the gateway drives it (discover,
//! connect, find `rx`/`tx`, pair with the label code, fragmented frames both ways), in fast
//! mode at the default MTU: the round-trip time of one 64-byte frame, throughput over 16 links
//! at once, and resident memory with 32 locks, in-process and as the real `locksim` binary
//! (links opened all at once, as a gateway does, and one by one).
//!
//! A `harness = false` binary that prints figures. Each part runs in a child process of its
//! own, because libdbus (and so bluer) reads `DBUS_SYSTEM_BUS_ADDRESS` only once per process.
//! `cargo bench -p locksim --bench locksim -- rtt rss` runs only the parts named.

mod client;

use client::{
    adapter, calibrate, discover, exchange_renames, expect_done, open_link, pair, rename,
    timed_exchange, Link, LockInfo, Paired,
};
use futures_util::future::join_all;
use locksim::control::{CONTROL_INTERFACE, CONTROL_PATH};
use locksim::testbed::{PrivateBus, Testbed};
use locksim::SimConfig;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variable that tells a child process which part to run.
const PART: &str = "LOCKSIM_BENCH_PART";
/// The parts, in the order they run.
const PARTS: [&str; 5] = [
    "rtt",
    "throughput",
    "rss",
    "rss-binary",
    "rss-binary-one-by-one",
];
/// The most time one part may take.
const PART_LIMIT: Duration = Duration::from_secs(60);
/// Size of the request frames sent.
const FRAME_LEN: usize = 64;
/// Round trips before timing starts.
const WARMUP: usize = 50;
/// Round trips timed.
const ROUND_TRIPS: usize = 500;
/// Locks exchanging at once in the throughput part.
const THROUGHPUT_LOCKS: u32 = 16;
/// Exchanges per lock in the throughput part.
const EXCHANGES_PER_LOCK: usize = 200;
/// Locks in the memory parts.
const RSS_LOCKS: u32 = 32;

fn main() {
    if let Ok(part) = std::env::var(PART) {
        run_part(&part);
        return;
    }
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let exe = std::env::current_exe().expect("the bench's own path");
    println!(
        "locksim through bluer: fast mode, MTU {}, {} CPU(s)",
        SimConfig::default().mtu,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for part in PARTS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == part) {
            continue;
        }
        let status = Command::new(&exe).env(PART, part).status().unwrap();
        assert!(status.success(), "part {part} failed: {status}");
    }
}

fn run_part(part: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let work = async {
            match part {
                "rtt" => round_trip_time().await,
                "throughput" => throughput().await,
                "rss" => rss_in_process().await,
                "rss-binary" => rss_of_the_binary(Connecting::AllAtOnce).await,
                "rss-binary-one-by-one" => rss_of_the_binary(Connecting::OneByOne).await,
                other => panic!("no part {other:?}; the parts are {PARTS:?}"),
            }
        };
        tokio::time::timeout(PART_LIMIT, work)
            .await
            .expect("the part finished in time");
    });
}

/// A fast simulation with `locks` locks.
fn fast(locks: u32) -> SimConfig {
    SimConfig {
        locks,
        timing: locksim::Timing {
            fast: true,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

/// The locks of an in-process testbed, each with its pairing window open.
fn open_all_windows(tb: &Testbed) -> Vec<LockInfo> {
    let mut world = tb.sim.shared().world();
    world
        .locks
        .iter_mut()
        .map(|e| {
            e.lock.press_button(locksim::world::unix_ms()).unwrap();
            LockInfo {
                id: e.lock.lock_id(),
                addr: bluer::Address::new(e.lock.address().0),
                label: e.lock.label_code(),
            }
        })
        .collect()
}

/// Starts a testbed with `locks` locks and points bluer at it.
async fn start(locks: u32) -> Testbed {
    let tb = Testbed::start(fast(locks)).await.unwrap();
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", tb.address());
    tb
}

/// Discovers every lock of `tb` and pairs one endpoint with each, all at once. Returns the
/// bluer session (keep it) and the paired links.
async fn pair_all(tb: &Testbed) -> (bluer::Session, Vec<Paired>) {
    let infos = open_all_windows(tb);
    let (session, adapter) = adapter().await;
    let addrs: Vec<_> = infos.iter().map(|l| l.addr).collect();
    discover(&adapter, &addrs).await;
    let paired = join_all(infos.iter().map(|info| async {
        let mut link = open_link(&adapter, info.addr).await;
        let session = pair(&mut link, info).await;
        Paired { link, session }
    }))
    .await;
    (session, paired)
}

/// Part 1: the round trip of one 64-byte frame, bluer → locksim → bluer.
async fn round_trip_time() {
    let tb = start(1).await;
    let (_session, mut paired) = pair_all(&tb).await;
    let p = &mut paired[0];
    let name_len = calibrate(p, FRAME_LEN).await;
    let (mut acks, mut trips) = (Vec::new(), Vec::new());
    let (mut sent_len, mut answer_len) = (0, 0);
    for i in 0..WARMUP + ROUND_TRIPS {
        let frame = rename(&mut p.session, name_len);
        let (ack, trip, answer) = timed_exchange(&mut p.link, &frame).await;
        expect_done(&mut p.session, &answer);
        (sent_len, answer_len) = (frame.len(), answer.len());
        if i >= WARMUP {
            acks.push(ack);
            trips.push(trip);
        }
    }
    println!(
        "\n[rtt] 1 lock; AuthRename request frame {sent_len} B ({} fragment), answer {answer_len} B; \
         {ROUND_TRIPS} round trips after {WARMUP} warm-up",
        p.link.fragment_count(sent_len)
    );
    println!(
        "[rtt] round trip (write until answer reassembled): {}",
        summary(trips)
    );
    println!(
        "[rtt]   of which the write with response returned:  {}",
        summary(acks)
    );
}

/// Part 2: request/response exchanges on 16 links at once, all driven from one task.
async fn throughput() {
    let tb = start(THROUGHPUT_LOCKS).await;
    let (_session, mut paired) = pair_all(&tb).await;
    let name_len = calibrate(&mut paired[0], FRAME_LEN).await;
    join_all(paired.iter_mut().map(|p| exchange_renames(p, name_len, 10))).await;
    let started = Instant::now();
    let per_link = join_all(
        paired
            .iter_mut()
            .map(|p| exchange_renames(p, name_len, EXCHANGES_PER_LOCK)),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let latencies: Vec<Duration> = per_link.into_iter().flatten().collect();
    let exchanges = latencies.len() as f64;
    println!(
        "\n[throughput] {THROUGHPUT_LOCKS} locks x {EXCHANGES_PER_LOCK} exchanges of a \
         {FRAME_LEN} B request, all links at once from one task: {elapsed:.2} s"
    );
    println!(
        "[throughput] {:.0} frames/s (both directions), {:.0} exchanges/s",
        2.0 * exchanges / elapsed,
        exchanges / elapsed
    );
    println!(
        "[throughput] exchange latency under load: {}",
        summary(latencies)
    );
}

/// Part 3a: this process's resident memory around an in-process locksim with 32 locks.
async fn rss_in_process() {
    let before = vm_kib("self", "VmRSS");
    let tb = start(RSS_LOCKS).await;
    let started = vm_kib("self", "VmRSS");
    let (_session, paired) = pair_all(&tb).await;
    let linked = vm_kib("self", "VmRSS");
    println!("\n[rss] in-process, {RSS_LOCKS} locks, connected all at once (VmRSS of the bench)");
    println!("[rss]   before the testbed:          {}", mib(before));
    let grown = |kib: u64, base: u64| format!("{} (+{})", mib(kib), mib(kib.saturating_sub(base)));
    println!(
        "[rss]   locksim started:             {}",
        grown(started, before)
    );
    println!(
        "[rss]   {} connected and paired:     {} over started; includes bluer's client side",
        paired.len(),
        grown(linked, started)
    );
}

/// The real `locksim` binary, killed on drop.
struct SimProcess(Child);

impl SimProcess {
    /// Starts `locksim` in fast mode with `locks` locks on `bus`.
    fn spawn(bus: &PrivateBus, locks: u32) -> SimProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_locksim"))
            .args(["--locks", &locks.to_string(), "--fast"])
            .args(["--bus-address", bus.address()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        SimProcess(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How the memory parts connect to the locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connecting {
    /// All at once, as a gateway with one actor per link does.
    AllAtOnce,
    /// One after the other.
    OneByOne,
}

/// Connects to every lock and opens its link.
async fn open_links(adapter: &bluer::Adapter, infos: &[LockInfo], how: Connecting) -> Vec<Link> {
    if how == Connecting::AllAtOnce {
        return join_all(infos.iter().map(|l| open_link(adapter, l.addr))).await;
    }
    let mut links = Vec::with_capacity(infos.len());
    for info in infos {
        links.push(open_link(adapter, info.addr).await);
    }
    links
}

/// Part 3b: the resident memory of the real `locksim` binary with 32 locks.
async fn rss_of_the_binary(how: Connecting) {
    let bus = PrivateBus::start().unwrap();
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", bus.address());
    let mut sim = SimProcess::spawn(&bus, RSS_LOCKS);
    let control = zbus::connection::Builder::address(bus.address())
        .unwrap()
        .build()
        .await
        .unwrap();
    let infos = served_locks(&control, &mut sim).await;
    let idle = vm_kib(&sim.pid(), "VmRSS");
    let (_session, adapter) = adapter().await;
    let addrs: Vec<_> = infos.iter().map(|l| l.addr).collect();
    discover(&adapter, &addrs).await;
    let mut links = open_links(&adapter, &infos, how).await;
    let connected = vm_kib(&sim.pid(), "VmRSS");
    for info in &infos {
        control_call(&control, "PressButton", &(info.id.to_string(),)).await;
    }
    join_all(links.iter_mut().zip(&infos).map(|(l, i)| pair(l, i))).await;
    let paired = vm_kib(&sim.pid(), "VmRSS");
    let peak = vm_kib(&sim.pid(), "VmHWM");
    println!(
        "\n[rss] the locksim binary, {RSS_LOCKS} locks, connected {how:?} (VmRSS of the child only)"
    );
    println!("[rss]   serving, no client yet:      {}", mib(idle));
    let grown = |kib: u64| format!("{} (+{})", mib(kib), mib(kib.saturating_sub(idle)));
    let n = links.len();
    println!("[rss]   {n} connected, notifying:     {}", grown(connected));
    println!("[rss]   {n} paired:                   {}", grown(paired));
    println!("[rss]   peak (VmHWM):                {}", mib(peak));
}

/// Waits until the child serves `org.bluez` and lists its locks.
async fn served_locks(control: &zbus::Connection, sim: &mut SimProcess) -> Vec<LockInfo> {
    type Row = (String, String, String, String, u32, bool, String);
    loop {
        let reply = control
            .call_method(
                Some("org.bluez"),
                CONTROL_PATH,
                Some(CONTROL_INTERFACE),
                "Locks",
                &(),
            )
            .await;
        if let Ok(reply) = reply {
            let rows: Vec<Row> = reply.body().deserialize().unwrap();
            let info = |(id, addr, _, label, ..): Row| LockInfo {
                id: id.parse().unwrap(),
                addr: addr.parse().unwrap(),
                label,
            };
            return rows.into_iter().map(info).collect();
        }
        if let Some(status) = sim.0.try_wait().unwrap() {
            panic!("locksim exited before serving: {status}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Calls `method` of locksim's control interface.
async fn control_call<B>(control: &zbus::Connection, method: &str, body: &B)
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
{
    control
        .call_method(
            Some("org.bluez"),
            CONTROL_PATH,
            Some(CONTROL_INTERFACE),
            method,
            body,
        )
        .await
        .unwrap();
}

/// The `field` (`VmRSS`, `VmHWM`) of process `pid` (`self` for this one) in KiB.
fn vm_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} line in kB for process {pid}"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Median, p90, p99 and max in microseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| {
        let rank = (p / 100.0 * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1e6
    };
    format!(
        "median {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs (n = {})",
        at(50.0),
        at(90.0),
        at(99.0),
        at(100.0),
        samples.len()
    )
}
