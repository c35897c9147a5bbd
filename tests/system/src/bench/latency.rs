//! Part 1: what the gateway adds to a round trip. Round trips of the same frame size, one
//! after the other on a quiet bed with one lock (link kept up, `persistent`):
//!
//! * **through the gateway**: an MQTT client publishes a probe ([`super::probe`]) to the
//!   lock's down topic; the gateway writes it to the lock over GATT, the lock refuses it with
//!   an `Error` frame, the gateway publishes that on `up/<auth id>`, the client receives it.
//!   Two broker hops, a GATT exchange, and the gateway twice.
//! * **a status request of a paired endpoint**, the same path with a real E2E session (the
//!   lock opens and seals; the endpoint opens the answer): the figure a user sees.
//! * **broker one hop**: one client publishes a payload of the request's size, another
//!   receives it, through the same mosquitto.
//! * **direct GATT**: the bench itself writes the probe to the lock with bluer and receives
//!   the refusal, as the gateway's link actor does (the gateway stopped first).
//!
//! The gateway adds = through − 2 × one hop − direct GATT. Every MQTT time is taken from the
//! publish call to the event loop's receipt of the answer ([`crate::Message::at`]); the
//! bench's clients send small packets at once (`TCP_NODELAY`).
//!
//! The probes and the hop are timed twice: against mosquitto as Debian ships it (Nagle's
//! algorithm on), then against the same broker restarted with `set_tcp_nodelay true`, which
//! separates the broker's share of the round trip from the gateway's.

use super::gatt::{self, GattLink};
use super::probe::{answered, probe, PROBE_AUTH};
use super::report::Report;
use super::stats::{signed_time, time, Summary};
use super::Options;
use crate::{Diagnostics, Mqtt, Settings, TestBed};
use anyhow::{ensure, Context, Result};
use lockgate_wire::LockId;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// How long one answer may take.
const LIMIT: Duration = Duration::from_secs(10);

/// How many round trips.
#[derive(Debug, Clone, Copy)]
struct Counts {
    warmup: usize,
    n: usize,
}

/// The probes and the hop through one broker configuration.
struct Through {
    probe: Summary,
    hop: Summary,
}

impl Counts {
    /// `full` round trips (`quick` with `--quick`) after a warm-up.
    fn of(options: &Options, full: usize, quick: usize) -> Counts {
        Counts {
            warmup: options.pick(50, 10),
            n: options.pick(full, quick),
        }
    }
}

/// Runs part 1.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    let mut bed = super::bed(1)
        .gateway(|c| c.link_policy = "persistent".into())
        .start(diag)
        .await?;
    let lock = bed.lock_id(0);
    bed.wait_link(&lock, true).await?;
    let request_len = status_series(&mut bed, lock, options, report).await?;
    let counts = Counts::of(options, 500, 100);
    let stock = through(&bed, lock, request_len, counts, "n1").await?;
    restart_broker_without_nagle(&mut bed).await?;
    // A comparison: fewer round trips will do.
    let fewer = Counts::of(options, 200, 50);
    let nodelay = through(&bed, lock, request_len, fewer, "n2").await?;
    bed.gateway.kill(Signal::SIGTERM).await?;
    let gatt = gatt_round_trips(&bed, request_len, counts).await?;
    let what = "direct GATT (bluer → locksim → bluer)";
    println!("[latency] {what}: {}", gatt.text());
    report.figure(what, short(&gatt))?;
    for (name, t) in [
        ("mosquitto as shipped", &stock),
        ("mosquitto set_tcp_nodelay", &nodelay),
    ] {
        write(name, t, &gatt, report)?;
    }
    Ok(())
}

/// Pairs an endpoint, times its status requests and reports them; the request's size.
async fn status_series(
    bed: &mut TestBed,
    lock: LockId,
    options: &Options,
    report: &Report,
) -> Result<usize> {
    let counts = Counts::of(options, 200, 50);
    let (status, (request_len, answer_len)) = status_round_trips(bed, lock, counts).await?;
    println!(
        "[latency] frames: request {request_len} B, status answer {answer_len} B, probe \
         answer 15 B; {} warm-up round trips before each series",
        counts.warmup
    );
    println!(
        "[latency] status request of a paired endpoint: {}",
        status.text()
    );
    let what = "status request of a paired endpoint (mosquitto as shipped)";
    report.figure(what, short(&status))?;
    Ok(request_len)
}

/// Restarts the broker with `set_tcp_nodelay true` and waits until the gateway is back.
async fn restart_broker_without_nagle(bed: &mut TestBed) -> Result<()> {
    let state = bed.topics.bridge_state();
    let before = bed.observer.cursor();
    bed.observer.subscribe(&state).await?;
    // The retained `online` first, so that only a new one counts below.
    bed.observer.next_on(LIMIT, before, &state).await?;
    let from = bed.observer.cursor();
    bed.broker.stop().await?;
    bed.broker.set_tcp_nodelay(true)?;
    bed.broker.start().await?;
    bed.wait_online(from).await
}

/// Times probes through the gateway and the one hop, with clients named after `tag`.
async fn through(
    bed: &TestBed,
    lock: LockId,
    len: usize,
    counts: Counts,
    tag: &str,
) -> Result<Through> {
    Ok(Through {
        probe: probe_round_trips(bed, lock, len, counts, tag).await?,
        hop: broker_one_hop(bed, len, counts, tag).await?,
    })
}

fn write(broker: &str, t: &Through, gatt: &Summary, report: &Report) -> Result<()> {
    println!(
        "[latency] {broker}: through the gateway (probe → refusal): {}",
        t.probe.text()
    );
    println!("[latency] {broker}: broker one hop: {}", t.hop.text());
    report.figure(
        &format!("through the gateway, probe ({broker})"),
        short(&t.probe),
    )?;
    report.figure(&format!("broker one hop ({broker})"), short(&t.hop))?;
    let secs = |d: Duration| d.as_secs_f64();
    let adds = |through: Duration, hop: Duration, gatt: Duration| {
        secs(through) - 2.0 * secs(hop) - secs(gatt)
    };
    let median = adds(t.probe.median, t.hop.median, gatt.median);
    let p99 = adds(t.probe.p99, t.hop.p99, gatt.p99);
    let bound = adds(t.probe.p99, t.hop.median, gatt.median);
    println!(
        "[latency] {broker}: gateway adds median {}, p99 {} (p99s subtracted), at most {} \
         (through p99 − baseline medians)",
        signed_time(median),
        signed_time(p99),
        signed_time(bound)
    );
    report.row(
        &format!("gateway adds, median ({broker})"),
        signed_time(median),
        "< 1 ms",
        Some(median < 1e-3),
    )?;
    report.row(
        &format!("gateway adds, p99 ({broker}; p99s subtracted, and at most)"),
        format!("{}; at most {}", signed_time(p99), signed_time(bound)),
        "< 3 ms",
        Some(p99 < 3e-3),
    )
}

fn short(s: &Summary) -> String {
    format!("median {}, p99 {}", time(s.median), time(s.p99))
}

/// Pairs an endpoint and times its status requests; also returns the sizes of the sealed
/// request and answer, as the observer saw them.
async fn status_round_trips(
    bed: &mut TestBed,
    lock: LockId,
    counts: Counts,
) -> Result<(Summary, (usize, usize))> {
    let mut phone = bed.endpoint("bench").await?;
    bed.pair(&mut phone, 0).await?;
    phone.status(&lock).await?;
    let auth = phone.auth_id(&lock).context("paired")?;
    let topics = bed.topics.for_lock(&lock);
    // The observer sees the request before the answer: once it has the answer, the last
    // down-frame it saw is the request.
    let answer = bed.observer.next_on(LIMIT, 0, &topics.up(auth)).await?;
    let request = bed.observer.latest(&topics.down()).context("the request")?;
    let sizes = (request.payload.len(), answer.payload.len());
    // From here the observer would only add deliveries the baselines do not have.
    bed.observer
        .unsubscribe(&format!("{}/#", bed.topics.base()))
        .await?;
    let mut samples = Vec::with_capacity(counts.n);
    for i in 0..counts.warmup + counts.n {
        let start = Instant::now();
        phone.status(&lock).await?;
        if i >= counts.warmup {
            samples.push(start.elapsed());
        }
    }
    Ok((Summary::of(samples), sizes))
}

/// Times probes of `len` bytes through broker, gateway and lock.
async fn probe_round_trips(
    bed: &TestBed,
    lock: LockId,
    len: usize,
    counts: Counts,
    tag: &str,
) -> Result<Summary> {
    let topics = bed.topics.for_lock(&lock);
    let settings = Settings::plain(&format!("bench-prober-{tag}"), bed.broker.port());
    let client = Mqtt::connect(&settings, LIMIT).await?;
    let up = topics.up(PROBE_AUTH);
    client.subscribe(&up).await?;
    until_relayed(&client, &topics.down(), &up, len).await?;
    let mut samples = Vec::with_capacity(counts.n);
    for i in 0..counts.warmup + counts.n {
        let counter = i as u64 + 1;
        let from = client.cursor();
        let start = Instant::now();
        client
            .publish(&topics.down(), &probe(counter, len), false)
            .await?;
        let answer = |m: &crate::Message| m.topic == up && answered(&m.payload) == Some(counter);
        let (_, m) = client
            .next_message(LIMIT, from, "the refusal", answer)
            .await?;
        if i >= counts.warmup {
            samples.push(m.at - start);
        }
    }
    Ok(Summary::of(samples))
}

/// Sends probe 0 until one is answered: the gateway may still be subscribing after a
/// reconnect, and a probe it did not get is never answered.
async fn until_relayed(client: &Mqtt, down: &str, up: &str, len: usize) -> Result<()> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let from = client.cursor();
        client.publish(down, &probe(0, len), false).await?;
        let answer = |m: &crate::Message| m.topic == up && answered(&m.payload) == Some(0);
        let step = Duration::from_millis(500);
        match client.next_message(step, from, "the refusal", answer).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => {}
        }
    }
}

/// Times a payload of `len` bytes from one client to another through the broker.
async fn broker_one_hop(bed: &TestBed, len: usize, counts: Counts, tag: &str) -> Result<Summary> {
    let port = bed.broker.port();
    let client = |end: &str| Settings::plain(&format!("bench-hop-{tag}-{end}"), port);
    let sender = Mqtt::connect(&client("a"), LIMIT).await?;
    let receiver = Mqtt::connect(&client("b"), LIMIT).await?;
    let topic = "lockgate-bench/hop";
    receiver.subscribe(topic).await?;
    let mut samples = Vec::with_capacity(counts.n);
    for i in 0..counts.warmup + counts.n {
        let payload = probe(i as u64 + 1, len);
        let from = receiver.cursor();
        let start = Instant::now();
        sender.publish(topic, &payload, false).await?;
        let arrived = |m: &crate::Message| m.payload == payload;
        let (_, m) = receiver
            .next_message(LIMIT, from, "the hop", arrived)
            .await?;
        if i >= counts.warmup {
            samples.push(m.at - start);
        }
    }
    Ok(Summary::of(samples))
}

/// Times probes of `len` bytes written by the bench itself to the lock over GATT.
async fn gatt_round_trips(bed: &TestBed, len: usize, counts: Counts) -> Result<Summary> {
    let (_session, adapter) = gatt::session(bed.sim.bus_address()).await?;
    let mut link = GattLink::open(&adapter, &bed.locks[0].address, true).await?;
    let mut samples = Vec::with_capacity(counts.n);
    for i in 0..counts.warmup + counts.n {
        let counter = i as u64 + 1;
        let start = Instant::now();
        link.write(&probe(counter, len)).await?;
        let answer = link.receive().await?;
        ensure!(
            answered(&answer) == Some(counter),
            "the lock answered {answer:?}"
        );
        if i >= counts.warmup {
            samples.push(start.elapsed());
        }
    }
    link.disconnect().await?;
    Ok(Summary::of(samples))
}
