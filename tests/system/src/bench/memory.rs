//! Part 3, memory: lockgated's resident memory with 32 locks and a full spool.
//!
//! The spool is written before the gateway starts, as a gateway stopped during a
//! broker outage leaves it ([`crate::spool::write_spool`], GATEWAY.md §3): 10,000 frames of
//! 1,677 bytes, which fills both default limits (10,000 frames, 16 MiB of frames). The broker
//! is kept away, so the spool stays full. `VmRSS` and `VmHWM` are read from `/proc` after the
//! gateway settled: once with the daemon's defaults (on-demand links, at most 4, none needed),
//! once with as many links up as lockgated allows (`persistent`, `max_connections = 10`);
//! then the broker comes back and the same figures are read after the spool drained.

use super::drain::arrivals;
use super::notify::NotifySocket;
use super::procfs::vm_kib;
use super::report::Report;
use super::stats::{mib, time};
use super::{control_status, Options};
use crate::endpoint::figure;
use crate::spool::{write_spool, Record};
use crate::{Diagnostics, LockInfo, Message, TestBed};
use anyhow::{ensure, Result};
use lockgate_wire::Header;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// Locks of the memory figure.
const RSS_LOCKS: u32 = 32;
/// The most links lockgated accepts (`ble.max_connections`).
const MAX_LINKS: u8 = 10;
/// Frames in the full spool (the default `spool.max_frames`).
const SPOOL_FRAMES: u64 = 10_000;
/// Their size: 10,000 frames of 1,677 bytes are 16,770,000 bytes, just under the default
/// `spool.max_bytes` of 16 MiB (16,777,216).
const SPOOL_FRAME_LEN: usize = 1_677;
/// The target.
const RSS_TARGET_KIB: u64 = 16 * 1024;
/// How long the gateway is left to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// The records of a full spool, spread over `locks`.
fn full_spool(locks: &[LockInfo]) -> Vec<Record> {
    (0..SPOOL_FRAMES)
        .map(|seq| Record {
            seq,
            lock: locks[seq as usize % locks.len()].id,
            frame: super::probe::probe(seq + 1, SPOOL_FRAME_LEN),
        })
        .collect()
}

/// Memory of the gateway at one moment, in KiB.
struct Memory {
    rss: u64,
    hwm: u64,
}

impl Memory {
    fn of(bed: &mut TestBed) -> Result<Memory> {
        let pid = super::gateway_pid(bed)?;
        Ok(Memory {
            rss: vm_kib(pid, "VmRSS")?,
            hwm: vm_kib(pid, "VmHWM")?,
        })
    }

    fn text(&self) -> String {
        format!("VmRSS {}, VmHWM {}", mib(self.rss), mib(self.hwm))
    }
}

/// Starts the gateway (broker away), waits for READY and `links` links, lets it settle, and
/// reads its memory; checks that the spool is full.
async fn start_full(
    bed: &mut TestBed,
    notify: &NotifySocket,
    links: u64,
) -> Result<(Memory, Duration)> {
    let ready = super::ready::start_until_ready(bed, notify).await?;
    super::wait_links(bed, links).await?;
    let status = control_status(bed)?;
    let (frames, bytes) = (
        figure(&status, "/spool/frames"),
        figure(&status, "/spool/bytes"),
    );
    ensure!(frames == SPOOL_FRAMES, "the spool holds {frames} frames");
    tokio::time::sleep(SETTLE).await;
    println!(
        "[rss]   spool {frames} frames, {bytes} bytes of frames; start to READY: {}",
        time(ready)
    );
    Ok((Memory::of(bed)?, ready))
}

/// Runs the memory half of part 3.
pub async fn rss(diag: &Diagnostics, _options: &Options, report: &Report) -> Result<()> {
    let notify = NotifySocket::bind()?;
    let env = notify.env();
    let mut bed = super::bed(RSS_LOCKS)
        .gateway(move |c| {
            c.env.push(env);
            c.idle_timeout = Duration::from_secs(30);
        })
        .gateway_stopped()
        .start(diag)
        .await?;
    write_spool(&bed.gateway.spool_dir(), &full_spool(&bed.locks))?;
    bed.broker.stop().await?;
    let (defaults, ready) = start_full(&mut bed, &notify, 0).await?;
    println!(
        "[rss] 32 locks, defaults (no link needed), spool full: {}",
        defaults.text()
    );
    bed.gateway.kill(Signal::SIGTERM).await?;
    bed.gateway.reconfigure(|c| {
        c.max_connections = MAX_LINKS;
        c.link_policy = "persistent".into();
    })?;
    let (linked, _) = start_full(&mut bed, &notify, u64::from(MAX_LINKS)).await?;
    println!("[rss] 32 locks, 10 links up, spool full: {}", linked.text());
    let drained = drain_full(&mut bed).await?;
    println!("[rss] the same after the spool drained: {}", drained.text());
    let rows = [
        (
            "RSS, 32 locks (defaults: no link up), spool full",
            &defaults,
        ),
        (
            "RSS, 32 locks, 10 links up (the most allowed), spool full",
            &linked,
        ),
        ("RSS after the full spool drained (10 links)", &drained),
    ];
    for (what, memory) in rows {
        let met = memory.rss <= RSS_TARGET_KIB;
        report.row(what, memory.text(), "≤ 16 MiB", Some(met))?;
    }
    report.figure(
        "start to READY=1 with the full spool, 32 locks",
        time(ready),
    )
}

/// Brings the broker back and waits until the observer received every spooled frame; the
/// gateway's memory then.
async fn drain_full(bed: &mut TestBed) -> Result<Memory> {
    let from = bed.observer.cursor();
    let start = Instant::now();
    bed.broker.start().await?;
    let counter = |m: &Message| {
        let (header, _) = Header::parse(&m.payload).ok()?;
        m.topic.contains("/up/").then_some(header.counter)
    };
    let seen = arrivals(&bed.observer, from, SPOOL_FRAMES as usize, counter).await?;
    println!(
        "[rss] broker back: {} frames of {SPOOL_FRAME_LEN} B received within {}",
        seen.keys.len(),
        time(start.elapsed())
    );
    tokio::time::sleep(SETTLE).await;
    Memory::of(bed)
}
