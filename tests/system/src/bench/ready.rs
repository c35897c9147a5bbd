//! Part 4: start to READY. lockgated is spawned with `NOTIFY_SOCKET` naming a socket of the
//! bench ([`super::notify`]); the time runs from just before the spawn to the arrival of
//! `READY=1`, which the daemon sends once its configuration is loaded, its state (registry,
//! spool) open and its control socket listening. Also timed: start to `online` on
//! `bridge/state` as the observer receives it (MQTT connected, state published). One lock,
//! an empty spool, the broker up; stopped with SIGTERM between starts.

use super::notify::NotifySocket;
use super::report::Report;
use super::stats::{time, Summary};
use super::Options;
use crate::{Diagnostics, TestBed};
use anyhow::{bail, ensure, Result};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// The target.
const TARGET: Duration = Duration::from_millis(300);
/// How long lockgated may take to say READY.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// Starts lockgated and waits for its `READY=1` on `notify`; the time from the spawn. Fails
/// at once if lockgated exits instead.
pub async fn start_until_ready(bed: &mut TestBed, notify: &NotifySocket) -> Result<Duration> {
    notify.clear();
    let start = Instant::now();
    bed.gateway.start()?;
    let deadline = Instant::now() + READY_LIMIT;
    loop {
        if let Ok(at) = notify.ready(Duration::from_millis(250)).await {
            return Ok(at - start);
        }
        if let Some(status) = bed.gateway.exit_status() {
            bail!("lockgated exited ({status}) before READY=1");
        }
        ensure!(
            Instant::now() < deadline,
            "no READY=1 within {READY_LIMIT:?}"
        );
    }
}

/// Runs part 4.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    let starts = options.pick(10, 5);
    let notify = NotifySocket::bind()?;
    let env = notify.env();
    let mut bed = super::bed(1)
        .gateway(move |c| c.env.push(env))
        .gateway_stopped()
        .start(diag)
        .await?;
    let (mut ready, mut online) = (Vec::new(), Vec::new());
    for _ in 0..starts {
        let from = bed.observer.cursor();
        let start = Instant::now();
        ready.push(start_until_ready(&mut bed, &notify).await?);
        bed.wait_online(from).await?;
        let topic = bed.topics.bridge_state();
        let seen = bed.observer.messages()[from..]
            .iter()
            .find(|m| m.topic == topic)
            .map(|m| m.at - start);
        online.extend(seen);
        bed.gateway.kill(Signal::SIGTERM).await?;
    }
    let (ready, online) = (Summary::of(ready), Summary::of(online));
    println!("[ready] start to READY=1: {}", ready.text());
    println!("[ready] start to online on bridge/state: {}", online.text());
    report.row(
        &format!("start to READY=1, median of {starts} starts"),
        format!("{} (max {})", time(ready.median), time(ready.max)),
        "≤ 300 ms",
        Some(ready.median <= TARGET),
    )?;
    report.figure(
        "start to online on bridge/state (MQTT up)",
        format!("median {} (max {})", time(online.median), time(online.max)),
    )
}
