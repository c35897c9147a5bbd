//! Part 5: a broker outage of 60 s while locks produce 200 up-frames a second, then the spool
//! drained. 8 locks with persistent links; the bench, as a second BlueZ client
//! ([`super::gatt`]), writes probes straight to the locks round-robin at the rate (nothing can
//! come down through a broker that is away), and each lock's refusal is notified to the
//! gateway like any answer: an up-frame it must spool. 60 s at 200/s is 12,000 frames against
//! the default `spool.max_frames` of 10,000: the oldest 2,000 are dropped and counted, which
//! the part checks. Then the broker comes back; timed from then: the gateway online again (its
//! reconnect backoff), the first and the last spooled frame at the observer. Nothing may be
//! missing beyond the counted drops, and the drops must be the oldest frames.

use super::gatt::{self, GattLink};
use super::probe::{answered, probe};
use super::procfs::{family, shares, CpuMeter};
use super::report::Report;
use super::stats::time;
use super::{control_status, Options};
use crate::endpoint::figure;
use crate::{Diagnostics, Message, Mqtt, TestBed};
use anyhow::{ensure, Result};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Locks producing.
const LOCKS: u32 = 8;
/// Up-frames per second during the outage.
const RATE: u32 = 200;
/// Size of a probe (its answer, the up-frame, is 15 bytes).
const FRAME_LEN: usize = 64;
/// How long the spool may take to drain, reconnect backoff included.
const LIMIT: Duration = Duration::from_secs(120);

/// Frames that arrived at a client, keyed by what identifies them.
#[derive(Debug, Default)]
pub struct Arrivals {
    /// The distinct keys seen.
    pub keys: BTreeSet<u64>,
    /// Every matching message, copies included.
    pub total: usize,
    /// When the first and the last arrived.
    pub first: Option<Instant>,
    /// When the last arrived.
    pub last: Option<Instant>,
}

/// Waits until `client` has `expected` distinct frames that `key` identifies, among the
/// messages from index `from` (counted incrementally: one look at each message).
pub async fn arrivals(
    client: &Mqtt,
    from: usize,
    expected: usize,
    key: impl Fn(&Message) -> Option<u64>,
) -> Result<Arrivals> {
    let mut seen = Arrivals::default();
    let mut cursor = from;
    let what = format!("{expected} distinct frames");
    client
        .wait(LIMIT, &what, |inbox| {
            for m in inbox.messages.get(cursor..).unwrap_or_default() {
                let Some(k) = key(m) else { continue };
                seen.keys.insert(k);
                seen.total += 1;
                seen.first.get_or_insert(m.at);
                seen.last = Some(m.at);
            }
            cursor = inbox.messages.len();
            (seen.keys.len() >= expected).then_some(())
        })
        .await?;
    Ok(seen)
}

/// Writes probes round-robin to `links` at `rate` a second for `duration`; how many.
async fn produce(links: &[GattLink], rate: u32, duration: Duration) -> Result<u64> {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + duration;
    let mut written = 0;
    while Instant::now() < end {
        tick.tick().await;
        written += 1;
        let link = &links[written as usize % links.len()];
        link.write(&probe(written, FRAME_LEN)).await?;
    }
    Ok(written)
}

/// Waits until the gateway has spooled (or dropped) all `produced` frames; (frames, dropped).
async fn spooled(bed: &TestBed, produced: u64) -> Result<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = control_status(bed)?;
        let (frames, dropped) = (
            figure(&status, "/spool/frames"),
            figure(&status, "/spool/dropped"),
        );
        if frames + dropped >= produced || Instant::now() > deadline {
            return Ok((frames, dropped));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs part 5.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    let outage = options.pick(Duration::from_secs(60), Duration::from_secs(10));
    let mut bed = super::bed(LOCKS)
        .gateway(|c| {
            c.max_connections = LOCKS as u8;
            c.link_policy = "persistent".into();
        })
        .start(diag)
        .await?;
    super::wait_links(&bed, u64::from(LOCKS)).await?;
    let (_session, adapter) = gatt::session(bed.sim.bus_address()).await?;
    let mut links = Vec::new();
    for lock in &bed.locks {
        links.push(GattLink::open(&adapter, &lock.address, false).await?);
    }
    bed.broker.stop().await?;
    let started = Instant::now();
    let produced = produce(&links, RATE, outage).await?;
    let rate = produced as f64 / started.elapsed().as_secs_f64();
    let (frames, dropped) = spooled(&bed, produced).await?;
    println!(
        "[drain] broker away {} s: {produced} up-frames produced ({rate:.0}/s); spool holds \
         {frames}, dropped {dropped} (spool.max_frames 10,000)",
        outage.as_secs()
    );
    tokio::time::sleep_until((started + outage).into()).await;
    let drained = drain(&mut bed, produced, dropped).await?;
    write(&drained, report)
}

/// What the drain showed.
struct Drained {
    produced: u64,
    dropped: u64,
    seen: Arrivals,
    /// From the broker back to the gateway's `online`.
    online: Option<Duration>,
    /// From the broker back to the first and the last frame.
    first: Duration,
    last: Duration,
    /// lockgated's CPU time from the broker back to the last frame.
    gateway_cpu: Duration,
}

impl Drained {
    /// Frames produced after the counted drops that never arrived.
    fn lost(&self) -> usize {
        let kept = self.dropped + 1..=self.produced;
        kept.filter(|c| !self.seen.keys.contains(c)).count()
    }

    /// Whether the frames dropped were the oldest.
    fn oldest_dropped(&self) -> bool {
        (1..=self.dropped).all(|c| !self.seen.keys.contains(&c))
    }

    /// Frames a second from the first to the last.
    fn rate(&self) -> f64 {
        let secs = (self.last - self.first).as_secs_f64().max(1e-9);
        self.seen.keys.len() as f64 / secs
    }
}

/// Brings the broker back and times the drain.
async fn drain(bed: &mut TestBed, produced: u64, dropped: u64) -> Result<Drained> {
    let from = bed.observer.cursor();
    let meter = CpuMeter::start(&family());
    bed.broker.start().await?;
    let back = Instant::now();
    let expected = (produced - dropped) as usize;
    let key = |m: &Message| {
        m.topic
            .contains("/up/")
            .then(|| answered(&m.payload))
            .flatten()
    };
    let seen = arrivals(&bed.observer, from, expected, key).await?;
    let (wall, cpu) = meter.read();
    println!(
        "[drain] CPU from broker back to drained (share of one core): {}",
        shares(wall, &cpu)
    );
    let state = bed.topics.bridge_state();
    let online = bed.observer.messages()[from..]
        .iter()
        .find(|m| m.topic == state && m.payload.ends_with(br#""online"}"#))
        .map(|m| m.at - back);
    Ok(Drained {
        produced,
        dropped,
        online,
        first: seen.first.map_or(Duration::ZERO, |at| at - back),
        last: seen.last.map_or(Duration::ZERO, |at| at - back),
        gateway_cpu: cpu.get("lockgated").copied().unwrap_or_default(),
        seen,
    })
}

/// Prints and reports the drain; fails if anything is missing beyond the counted drops.
fn write(d: &Drained, report: &Report) -> Result<()> {
    let (lost, copies) = (d.lost(), d.seen.total - d.seen.keys.len());
    let online = d.online.map_or("?".into(), time);
    let frames = u32::try_from(d.seen.keys.len().max(1))?;
    println!(
        "[drain] broker back: gateway online after {online}, first frame after {}, last \
         after {}",
        time(d.first),
        time(d.last)
    );
    println!(
        "[drain] {} distinct frames ({copies} copies), {:.0} frames/s once flowing; lost beyond \
         the {} counted drops: {lost}; the drops were the oldest: {}; lockgated {} a frame",
        d.seen.keys.len(),
        d.rate(),
        d.dropped,
        d.oldest_dropped(),
        time(d.gateway_cpu / frames)
    );
    ensure!(
        lost == 0 && d.oldest_dropped(),
        "frames lost beyond the counted drops"
    );
    report.figure(
        "outage: frames produced / spooled / dropped (oldest)",
        format!(
            "{} / {} / {}",
            d.produced,
            d.produced - d.dropped,
            d.dropped
        ),
    )?;
    report.figure("broker back → gateway online (reconnect backoff)", online)?;
    report.figure(
        "broker back → spool drained (last frame at the observer)",
        format!("{} ({:.0} frames/s once flowing)", time(d.last), d.rate()),
    )?;
    report.figure(
        "lost beyond counted drops; copies",
        format!("{lost}; {copies}"),
    )
}
