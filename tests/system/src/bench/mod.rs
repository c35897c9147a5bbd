//! The benchmark of lockgated (`cargo run --release -p lockgate-systest --bin bench`): figures
//! measured with the system tests' bed (mosquitto, locksim `--fast` on a private bus, lockgated
//! as a child process), one part each:
//!
//! 1. [`latency`]: what the gateway adds to a lock ↔ endpoint round trip;
//! 2. [`throughput`]: frames relayed per second with 16 locks, and CPU per frame;
//! 3. [`memory`]: RSS with 32 locks and a full spool; [`idle`]: CPU with 8 locks idle;
//! 4. [`ready`]: start to `READY=1`;
//! 5. [`drain`]: a 60 s broker outage at 200 frames/s, and the spool drained after it;
//! 6. [`endpoint`]: what a person waits for (locksim at its default timing): a button press
//!    to a lock enrolled, `lockctl pair`, `lockctl unlock`, the support handshake.
//!
//! Each part runs in a child process of its own (the same executable, told which part by
//! [`PART_VAR`]), because bluer reads the bus address once per process and every part has its
//! own bus; the child appends its figures to a file and the parent prints one table. A bench
//! is not a test: nothing here asserts a time, it reports one.

pub mod drain;
pub mod endpoint;
pub mod gatt;
pub mod homeassistant;
pub mod idle;
pub mod latency;
pub mod memory;
pub mod notify;
pub mod probe;
pub mod procfs;
pub mod ready;
pub mod report;
pub mod stats;
pub mod throughput;

use crate::binaries::{binaries, BIN_DIR_VAR};
use crate::testbed::Builder;
use crate::{Diagnostics, TestBed};
use anyhow::{bail, Context, Result};
use report::Report;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Tells a child process which part to run.
const PART_VAR: &str = "SYSTEST_BENCH_PART";
/// Names the file a child appends its rows to.
const ROWS_VAR: &str = "SYSTEST_BENCH_ROWS";
/// The longest one part may take ([`endpoint`] waits for the bolt: [`ENDPOINT_LIMIT`]).
const PART_LIMIT: Duration = Duration::from_secs(300);
const ENDPOINT_LIMIT: Duration = Duration::from_secs(900);

/// The parts, in the order they run, with their section titles.
pub const PARTS: [(&str, &str); 8] = [
    ("latency", "1 latency"),
    ("throughput", "2 throughput"),
    ("rss", "3 memory"),
    ("idle", "3 idle"),
    ("ready", "4 start"),
    ("drain", "5 outage"),
    ("endpoint", "6 endpoint"),
    ("homeassistant", "7 Home Assistant"),
];

/// How the bench was asked to run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Shorter runs and fewer samples (for trying the bench out, not for figures).
    pub quick: bool,
    /// Only these parts (all when empty).
    pub parts: Vec<String>,
}

impl Options {
    /// Parses `[--quick] [PART...]`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options> {
        let mut options = Options::default();
        for arg in args {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "-h" | "--help" => bail!("usage: bench [--quick] [PART...]; parts: {}", names()),
                part if PARTS.iter().any(|(name, _)| *name == part) => {
                    options.parts.push(part.to_owned())
                }
                other => bail!("unknown argument {other:?}; parts: {}", names()),
            }
        }
        Ok(options)
    }

    /// `full`, or `quick` with `--quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        match self.quick {
            true => quick,
            false => full,
        }
    }
}

fn names() -> String {
    PARTS.map(|(name, _)| name).join(", ")
}

/// Runs the bench: every part asked for (in a child process each), then the table.
pub fn main(options: Options) -> Result<()> {
    if let Ok(part) = std::env::var(PART_VAR) {
        let rows = std::env::var_os(ROWS_VAR).context("the rows file of a part")?;
        return run_part(&part, &options, Path::new(&rows));
    }
    let binaries = binaries()?;
    let bin_dir = binaries
        .lockgated
        .parent()
        .context("lockgated's directory")?;
    println!("{}", machine());
    println!("binaries: {}", bin_dir.display());
    let rows_dir = tempfile::tempdir()?;
    let rows = rows_dir.path().join("rows.jsonl");
    let exe = std::env::current_exe()?;
    for (part, section) in PARTS {
        if !options.parts.is_empty() && !options.parts.iter().any(|p| p == part) {
            continue;
        }
        println!("\n== {section} ==");
        let mut child = Command::new(&exe);
        child
            .env(PART_VAR, part)
            .env(ROWS_VAR, &rows)
            .env(BIN_DIR_VAR, bin_dir);
        if options.quick {
            child.arg("--quick");
        }
        let started = std::time::Instant::now();
        let status = child
            .status()
            .with_context(|| format!("running part {part}"))?;
        println!("({section}: {:.0} s)", started.elapsed().as_secs_f64());
        if !status.success() {
            Report::new(&rows, section).figure("the part failed", status.to_string())?;
        }
    }
    println!("\n{}", report::table(&report::read_rows(&rows)));
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// Runs one part in this process, bounded in time, with the bed's logs if it fails.
fn run_part(part: &str, options: &Options, rows: &Path) -> Result<()> {
    let section = PARTS
        .iter()
        .find(|(name, _)| *name == part)
        .map(|(_, section)| *section)
        .with_context(|| format!("no part {part:?}"))?;
    let report = Report::new(rows, section);
    let limit = match part {
        "endpoint" | "homeassistant" => ENDPOINT_LIMIT,
        _ => PART_LIMIT,
    };
    crate::run(limit, |diag: Diagnostics| async move {
        match part {
            "latency" => latency::run(&diag, options, &report).await,
            "throughput" => throughput::run(&diag, options, &report).await,
            "rss" => memory::rss(&diag, options, &report).await,
            "idle" => idle::run(&diag, options, &report).await,
            "ready" => ready::run(&diag, options, &report).await,
            "endpoint" => endpoint::run(&diag, options, &report).await,
            "homeassistant" => homeassistant::run(&diag, options, &report).await,
            _ => drain::run(&diag, options, &report).await,
        }
    });
    Ok(())
}

/// A test bed for a part: `locks` locks, lockgated logging at its default level (`info`; the
/// system tests' `debug` would cost CPU per frame), locksim at `warn` (it logs every refusal
/// of a probe at `info`).
pub fn bed(locks: u32) -> Builder {
    TestBed::builder()
        .locks(locks)
        .sim(|s| s.log_level = "warn".into())
        .gateway(|c| c.env.push(("RUST_LOG".into(), "info".into())))
}

/// lockgated's process id.
pub fn gateway_pid(bed: &mut TestBed) -> Result<u32> {
    bed.gateway.pid().context("lockgated is not running")
}

/// The machine: CPU model, cores, kernel, and the mosquitto in use.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory = procfs_mem_total().unwrap_or(0);
    format!(
        "machine: {model}, {cores} core(s), {:.0} GiB, Linux {}; load average {}",
        memory as f64 / (1024.0 * 1024.0),
        kernel.trim(),
        load_average()
    )
}

/// The 1, 5 and 15 minute load averages (other work on the machine skews every figure).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// MemTotal in KiB.
fn procfs_mem_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

/// The daemon's status over its control socket (`lockgate status --json`): the `status`
/// object.
pub fn control_status(bed: &TestBed) -> Result<serde_json::Value> {
    let output = Command::new(&binaries()?.lockgate)
        .args(["status", "--json", "--socket"])
        .arg(bed.gateway.control_socket())
        .output()?;
    if !output.status.success() {
        bail!(
            "lockgate status: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    Ok(reply["status"].clone())
}

/// Waits until lockgated has `links` links up (its control socket's status).
pub async fn wait_links(bed: &TestBed, links: u64) -> Result<()> {
    let what = format!("{links} links up");
    crate::process::poll_until(Duration::from_secs(30), &what, async || {
        let status = control_status(bed)?;
        Ok((crate::endpoint::figure(&status, "/ble/links") >= links).then_some(()))
    })
    .await
}
