//! Part 7: Home Assistant through `lockctl ha`, with locksim at its default timing (30 ms
//! connection intervals, a 250 ms scan period), lockgated with on-demand links (idle timeout
//! 2 s, as in the test bed), and a client acting as Home Assistant. Every run starts with the
//! lock's link down, the common case for a battery lock:
//!
//! * **HA command → lock moved**: `UNLOCK` or `LOCK` published on the entity's command
//!   topic, until locksim reports the bolt moving (the bridge's challenge and actuation
//!   exchanges through the broker and the gateway, which first links to the lock);
//! * **knob turned → HA state**: `locksim ctl knob`, until the new state arrives on the
//!   entity's state topic (the lock queues an event and advertises `pending`, the gateway
//!   links and relays it, the bridge opens it and publishes).

use super::procfs::vm_kib;
use super::report::Report;
use super::stats::{mib, Summary};
use super::Options;
use crate::bridge::{home_assistant, paired_bridge, wait_payload, GRACE, TOPIC};
use crate::Diagnostics;
use anyhow::{ensure, Result};
use std::time::{Duration, Instant};

/// How often locksim is asked for the mechanism while a command travels.
const POLL: Duration = Duration::from_millis(5);
/// A run gives up after this long.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// Runs part 7.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    let runs: usize = options.pick(50, 5);
    let bed = super::bed(1).sim(|s| s.fast = false).start(diag).await?;
    let lock = bed.lock_id(0);
    let id = lock.to_string();
    let (_admin, bridge) = paired_bridge(&bed, 0, None).await?;
    let ha = home_assistant(bed.broker.port()).await?;
    let running = bridge.spawn(&["ha"])?;
    let state = format!("{TOPIC}/{id}/state");
    let set = format!("{TOPIC}/{id}/set");
    wait_payload(&ha, &state, "LOCKED").await?;
    tokio::time::sleep(GRACE + Duration::from_secs(1)).await; // past the command grace

    let mut commands = Vec::with_capacity(runs);
    for n in 0..runs {
        let (command, moving, rest) = match n % 2 {
            0 => ("UNLOCK", "unlocking", "UNLOCKED"),
            _ => ("LOCK", "locking", "LOCKED"),
        };
        bed.wait_link(&lock, false).await?;
        let started = Instant::now();
        ha.publish(&set, command.as_bytes(), false).await?;
        loop {
            if bed.sim.mechanism(&lock).await? == moving {
                break;
            }
            ensure!(
                started.elapsed() < RUN_LIMIT,
                "{command} did not move the bolt"
            );
            tokio::time::sleep(POLL).await;
        }
        commands.push(started.elapsed());
        wait_payload(&ha, &state, rest).await?;
    }
    report.row(
        "HA command → lock moved (link down at the start)",
        Summary::of(commands).text(),
        "",
        None,
    )?;

    let mut knobs = Vec::with_capacity(runs);
    let mut expect = if runs.is_multiple_of(2) {
        "UNLOCKED"
    } else {
        "LOCKED"
    };
    for _ in 0..runs {
        bed.wait_link(&lock, false).await?;
        let from = ha.cursor();
        let started = Instant::now();
        bed.sim.ctl(&["knob", &id]).await?;
        let what = format!("{state} = {expect}");
        ha.next_message(RUN_LIMIT, from, &what, |m| {
            m.topic == state && m.payload == expect.as_bytes()
        })
        .await?;
        knobs.push(started.elapsed());
        expect = if expect == "LOCKED" {
            "UNLOCKED"
        } else {
            "LOCKED"
        };
    }
    if let Some(pid) = running.pid() {
        let (rss, hwm) = (vm_kib(pid, "VmRSS")?, vm_kib(pid, "VmHWM")?);
        report.figure(
            "lockctl ha resident memory after the runs (peak)",
            format!("{} ({})", mib(rss), mib(hwm)),
        )?;
    }
    let summary = Summary::of(knobs);
    let met = summary.median <= Duration::from_secs(1);
    report.row(
        "knob turned → HA state (link down at the start)",
        summary.text(),
        "≤ 1 s median",
        Some(met),
    )?;
    Ok(())
}
