//! Part 3, idle: lockgated's CPU time when nothing happens. 8 locks, the broker up, nothing
//! sent; over 30 s, lockgated's time on a CPU (schedstat, nanoseconds; utime + stime counts
//! 10 ms ticks) and its context switches (how often it woke up), once with on-demand links
//! (the default: none up) and, over 10 s, with 8 persistent links up.

use super::procfs::{context_switches, cpu_time, run_time};
use super::report::Report;
use super::Options;
use crate::{Diagnostics, TestBed};
use anyhow::Result;
use nix::sys::signal::Signal;
use std::time::Duration;

/// How long the gateway is left to settle before the window.
const SETTLE: Duration = Duration::from_secs(2);

/// What lockgated did in an idle window.
struct Idle {
    /// utime + stime.
    cpu: Duration,
    /// Time on a CPU from schedstat (ns resolution).
    run: Duration,
    /// Context switches.
    switches: u64,
    /// How long the window was.
    window: Duration,
}

/// One idle window of lockgated.
async fn idle_window(bed: &mut TestBed, window: Duration) -> Result<Idle> {
    tokio::time::sleep(SETTLE).await;
    let pid = super::gateway_pid(bed)?;
    let (cpu, run, switches) = (cpu_time(pid)?, run_time(pid)?, context_switches(pid)?);
    tokio::time::sleep(window).await;
    Ok(Idle {
        cpu: cpu_time(pid)?.saturating_sub(cpu),
        run: run_time(pid)?.saturating_sub(run),
        switches: context_switches(pid)? - switches,
        window,
    })
}

/// Runs the idle half of part 3.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    let window = options.pick(Duration::from_secs(30), Duration::from_secs(10));
    // The second figure is a comparison only: a shorter window will do.
    let linked_window = options.pick(Duration::from_secs(10), Duration::from_secs(5));
    let mut bed = super::bed(8)
        .gateway(|c| c.idle_timeout = Duration::from_secs(30))
        .start(diag)
        .await?;
    let on_demand = idle_window(&mut bed, window).await?;
    bed.gateway.kill(Signal::SIGTERM).await?;
    bed.gateway.reconfigure(|c| {
        c.max_connections = 8;
        c.link_policy = "persistent".into();
    })?;
    let from = bed.observer.cursor();
    bed.gateway.start()?;
    bed.wait_online(from).await?;
    super::wait_links(&bed, 8).await?;
    let persistent = idle_window(&mut bed, linked_window).await?;
    for (what, idle) in [
        ("idle CPU, 8 locks, on-demand (no link up)", on_demand),
        ("idle CPU, 8 locks, 8 persistent links up", persistent),
    ] {
        let secs = idle.window.as_secs_f64();
        let measured = format!(
            "{:.3} s in {secs:.0} s = {:.2}% of a core (utime+stime {:.2} s); {:.1} \
             wake-ups/s",
            idle.run.as_secs_f64(),
            100.0 * idle.run.as_secs_f64() / secs,
            idle.cpu.as_secs_f64(),
            idle.switches as f64 / secs
        );
        println!("[idle] {what}: {measured}");
        report.figure(what, measured)?;
    }
    Ok(())
}
