//! Part 2: frames relayed per second with many locks, and the gateway's CPU time per frame.
//! lockgated accepts at most 10 links (`ble.max_connections` is 1 to 10), so two setups run:
//! 10 locks on 10 persistent links (link scheduling out of the way), and 16 locks on those 10
//! links (the scheduler rotates links among locks with down-frames waiting).
//!
//! One MQTT client keeps [`WINDOW`] probes ([`super::probe`]) in flight per lock: each probe
//! is written to its lock by the gateway, refused with an `Error` frame, published back; each
//! answer received sends the next probe to the same lock. No pairing is needed and the lock's
//! work is minimal, so the figure is the relay's. Frames per second are counted twice: the
//! answers the client received within the measured window, and the gateway's own
//! `up_published` counter (health before and after). CPU time is utime + stime of every
//! process of the bed over the same window (from `/proc/<pid>/stat`).

use super::probe::{answered, probe, PROBE_AUTH};
use super::procfs::{family, shares, CpuMeter};
use super::report::Report;
use super::stats::{time, Summary};
use super::Options;
use crate::endpoint::figure;
use crate::{Diagnostics, Endpoint, Message, Mqtt, Settings, TestBed};
use anyhow::Result;
use serde_json::Value;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The most links lockgated accepts (`ble.max_connections`).
const MAX_LINKS: u8 = 10;
/// Probes in flight per lock (the gateway queues at most 16 for a lock without a link).
pub const WINDOW: usize = 16;
/// Size of a probe: a typical small command.
const FRAME_LEN: usize = 64;
/// Load before the measured window.
const WARMUP: Duration = Duration::from_secs(2);
/// How long an answer may take before the run is called stuck.
const STUCK: Duration = Duration::from_secs(10);
/// After the load, how long without an answer ends the wait for the last ones (a link is
/// held at least 2 s before the scheduler gives it to another lock).
const QUIET: Duration = Duration::from_secs(3);

/// A closed loop of probes over many locks through one MQTT client.
struct Load<'a> {
    client: &'a Mqtt,
    downs: Vec<String>,
    lock_of: HashMap<String, usize>,
    next: Vec<u64>,
    sent: HashMap<(usize, u64), Instant>,
    cursor: usize,
    /// When each answer arrived and how long after its probe.
    answers: Vec<(Instant, Duration)>,
}

impl<'a> Load<'a> {
    fn new(bed: &TestBed, client: &'a Mqtt) -> Load<'a> {
        let topics: Vec<_> = bed
            .locks
            .iter()
            .map(|l| bed.topics.for_lock(&l.id))
            .collect();
        Load {
            client,
            downs: topics.iter().map(|t| t.down()).collect(),
            lock_of: topics
                .iter()
                .enumerate()
                .map(|(i, t)| (t.up(PROBE_AUTH), i))
                .collect(),
            next: vec![1; topics.len()],
            sent: HashMap::new(),
            cursor: 0,
            answers: Vec::new(),
        }
    }

    async fn send(&mut self, lock: usize) -> Result<()> {
        let counter = self.next[lock];
        self.next[lock] += 1;
        self.sent.insert((lock, counter), Instant::now());
        let frame = probe(counter, FRAME_LEN);
        self.client.publish_queued(&self.downs[lock], &frame).await
    }

    /// Fills every lock's window.
    async fn prime(&mut self) -> Result<()> {
        for _ in 0..WINDOW {
            for lock in 0..self.downs.len() {
                self.send(lock).await?;
            }
        }
        Ok(())
    }

    /// Takes the answers that have arrived; with `refill`, sends a probe for each.
    async fn step(&mut self, refill: bool) -> Result<()> {
        let cursor = self.cursor;
        let new: Vec<Message> = self
            .client
            .wait(STUCK, "answers to probes", |inbox| {
                let fresh = inbox.messages.get(cursor..).unwrap_or_default();
                (!fresh.is_empty()).then(|| fresh.to_vec())
            })
            .await?;
        self.cursor += new.len();
        for m in new {
            let Some(&lock) = self.lock_of.get(&m.topic) else {
                continue;
            };
            let Some(sent) = answered(&m.payload).and_then(|c| self.sent.remove(&(lock, c))) else {
                continue;
            };
            self.answers.push((m.at, m.at - sent));
            if refill {
                self.send(lock).await?;
            }
        }
        Ok(())
    }

    async fn run_until(&mut self, end: Instant) -> Result<()> {
        while Instant::now() < end {
            self.step(true).await?;
        }
        Ok(())
    }

    /// Stops sending and takes the answers still due; how many never came (lost with a link
    /// taken away, or expired waiting for one). Gives up after [`QUIET`] without an answer.
    async fn finish(&mut self) -> usize {
        while !self.sent.is_empty() {
            match tokio::time::timeout(QUIET, self.step(false)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        self.sent.len()
    }
}

/// Runs part 2.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    for locks in [u32::from(MAX_LINKS), 16] {
        setup(diag, options, report, locks).await?;
    }
    Ok(())
}

/// Measures with `locks` locks on [`MAX_LINKS`] persistent links.
async fn setup(diag: &Diagnostics, options: &Options, report: &Report, locks: u32) -> Result<()> {
    let mut bed = super::bed(locks)
        .gateway(|c| {
            c.max_connections = MAX_LINKS;
            c.link_policy = "persistent".into();
        })
        .start(diag)
        .await?;
    super::wait_links(&bed, u64::from(locks.min(u32::from(MAX_LINKS)))).await?;
    let base = bed.topics.base().to_owned();
    // Only the load's own traffic: no observer, no receipts for the health endpoint.
    bed.observer.unsubscribe(&format!("{base}/#")).await?;
    let mut stats = bed.endpoint("bench-stats").await?;
    let receipts = format!("{base}/+/delivery");
    stats.mqtt().unsubscribe(&receipts).await?;
    let settings = Settings::plain("bench-driver", bed.broker.port());
    let client = Mqtt::connect(&settings, STUCK).await?;
    client
        .subscribe(&format!("{base}/+/up/{PROBE_AUTH}"))
        .await?;
    let measured = options.pick(Duration::from_secs(10), Duration::from_secs(3));
    let mut window = measure(&bed, &client, &mut stats, measured).await?;
    window.locks = locks;
    let health = stats.health().await?;
    print(&window, &health);
    write(&window, &health, report)
}

/// Runs the load: warm-up, then the measured window.
async fn measure(
    bed: &TestBed,
    client: &Mqtt,
    stats: &mut Endpoint,
    measured: Duration,
) -> Result<Window> {
    let mut load = Load::new(bed, client);
    load.prime().await?;
    load.run_until(Instant::now() + WARMUP).await?;
    let before = stats.health().await?;
    let meter = CpuMeter::start(&family());
    let (start, end) = (Instant::now(), Instant::now() + measured);
    load.run_until(end).await?;
    let (wall, cpu) = meter.read();
    let after = stats.health().await?;
    println!(
        "[throughput] CPU per process (share of one core): {}",
        shares(wall, &cpu)
    );
    let delta = |counter: &str| {
        let pointer = format!("/counters/{counter}");
        figure(&after, &pointer) - figure(&before, &pointer)
    };
    let in_window = load
        .answers
        .iter()
        .filter(|(at, _)| (start..end).contains(at));
    Ok(Window {
        locks: 0,
        received: in_window.count(),
        published: delta("up_published"),
        written: delta("down_written"),
        gateway_cpu: cpu.get("lockgated").copied().unwrap_or_default(),
        latency: Summary::of(load.answers.iter().map(|(_, d)| *d).collect()),
        unanswered: load.finish().await,
        wall,
    })
}

/// What the measured window saw.
struct Window {
    locks: u32,
    unanswered: usize,
    wall: Duration,
    received: usize,
    published: u64,
    written: u64,
    gateway_cpu: Duration,
    latency: Summary,
}

impl Window {
    fn per_second(&self, n: f64) -> f64 {
        n / self.wall.as_secs_f64()
    }

    /// lockgated's CPU time divided by `n` frames.
    fn cpu_per(&self, n: u64) -> String {
        time(self.gateway_cpu / u32::try_from(n.max(1)).unwrap_or(u32::MAX))
    }

    fn setup(&self) -> String {
        format!("{} locks on {MAX_LINKS} links", self.locks)
    }
}

/// Frames written to a lock whose answer never came back as an up-frame.
fn lost(health: &Value) -> u64 {
    figure(health, "/counters/down_written") - figure(health, "/counters/up_frames")
}

fn print(w: &Window, health: &Value) {
    println!(
        "[throughput] {}, {WINDOW} probes of {FRAME_LEN} B in flight a lock, {:.1} s measured: \
         {} up-frames published ({:.0}/s; the client received {:.0}/s), {} down-frames written",
        w.setup(),
        w.wall.as_secs_f64(),
        w.published,
        w.per_second(w.published as f64),
        w.per_second(w.received as f64),
        w.written,
    );
    println!(
        "[throughput] lockgated CPU {:.0}% of one core: {} per up-frame (its down-frame, \
         receipt and publish included), {} per frame relayed (up or down)",
        100.0 * w.per_second(w.gateway_cpu.as_secs_f64()),
        w.cpu_per(w.published),
        w.cpu_per(w.published + w.written),
    );
    println!("[throughput] round trip under load: {}", w.latency.text());
    println!(
        "[throughput] down-frames refused: {}, expired: {}; probes never answered: {} ({} of \
         them written, their answer lost); link connects: {}",
        figure(health, "/counters/down_rejected"),
        figure(health, "/counters/down_expired"),
        w.unanswered,
        lost(health),
        figure(health, "/counters/link_connects"),
    );
}

fn write(w: &Window, health: &Value, report: &Report) -> Result<()> {
    let setup = w.setup();
    let rate = w.per_second(w.published as f64);
    report.row(
        &format!("up-frames published per second, {setup}"),
        format!(
            "{rate:.0}/s (client received {:.0}/s)",
            w.per_second(w.received as f64)
        ),
        "≥ 5,000/s",
        Some(rate >= 5000.0),
    )?;
    report.figure(
        &format!("lockgated CPU per up-frame (per frame up or down), {setup}"),
        format!(
            "{} ({}); {:.0}% of a core",
            w.cpu_per(w.published),
            w.cpu_per(w.published + w.written),
            100.0 * w.per_second(w.gateway_cpu.as_secs_f64())
        ),
    )?;
    let latency = format!(
        "median {}, p99 {}",
        time(w.latency.median),
        time(w.latency.p99)
    );
    report.figure(&format!("probe round trip under load, {setup}"), latency)?;
    report.figure(
        &format!("frames written whose answer never came, {setup}"),
        format!(
            "{} of {}",
            lost(health),
            figure(health, "/counters/down_written")
        ),
    )
}
