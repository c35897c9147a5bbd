//! Part 6: what a person waits for, with locksim at its default timing (30 ms connection
//! intervals, a 250 ms scan period; not `--fast`), lockgated at its defaults, and the real
//! `lockctl` binary, each run a new process as a person runs it:
//!
//! * **button press to lock enrolled**: the gateway's pairing window is open (`lockgate pair
//!   --passkey`), the lock's button is pressed; the time until `lock_paired` arrives on
//!   `bridge/event` (discovery of the `pairing` advertisement, bonding with the passkey, the
//!   service check, the registry written);
//! * **`lockctl pair` end to end**: the lock in pairing mode (its button pressed), then
//!   `lockctl pair` from start to exit (broker connect, gateway check, the SPAKE2 exchange with the lock through the
//!   gateway, the key store written);
//! * **`lockctl unlock` end to end**: 100 runs from rest, each followed by an untimed
//!   `lockctl lock` (the bolt takes 1.5 s each way: the part takes about 7 minutes);
//! * **the support handshake**: `lockgate support start`, then `lockctl`'s library opening the
//!   session (broker connect, gateway check, SPAKE2 and the key confirmations, the welcome).

use super::report::Report;
use super::stats::Summary;
use super::Options;
use crate::lockctl::Run;
use crate::testbed::GATEWAY_ID;
use crate::{Diagnostics, TestBed};
use anyhow::{ensure, Context, Result};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The reference lock's actuation time (1.5 s) and a margin.
const SETTLE: Duration = Duration::from_millis(1_600);

/// Runs part 6.
pub async fn run(diag: &Diagnostics, options: &Options, report: &Report) -> Result<()> {
    let enrolls: u32 = options.pick(5, 2);
    let mut bed = super::bed(enrolls)
        .unpaired()
        .sim(|s| s.fast = false)
        .start(diag)
        .await?;
    let mut enrolled = Vec::new();
    for i in 0..enrolls as usize {
        enrolled.push(enroll(&mut bed, i).await?);
    }
    report.figure(
        "button press to lock enrolled (window open, passkey)",
        Summary::of(enrolled).text(),
    )?;

    let pairs: usize = options.pick(10, 3);
    let mut paired = Vec::new();
    let mut admin = None;
    for n in 0..pairs {
        let lock = bed.locks[n % bed.locks.len()].clone();
        let endpoint = bed.lockctl(&format!("endpoint-{n}"))?;
        // Enrolling opened each lock's own window; a pairing closes it, and a press opens it.
        if n >= bed.locks.len() {
            bed.sim.press(&lock.id).await?;
        }
        let id = lock.id.to_string();
        let args = [
            "--json",
            "pair",
            "--gateway",
            GATEWAY_ID,
            "--lock",
            &id,
            "--code",
        ];
        let run = endpoint
            .run(&[&args[..], &[lock.label_code.as_str()]].concat())
            .await?;
        run.ok()?;
        paired.push(run.took);
        if n == 0 {
            admin = Some((endpoint, id));
        }
    }
    report.figure("lockctl pair, end to end", Summary::of(paired).text())?;

    let (endpoint, lock) = admin.context("no endpoint paired")?;
    let unlocks = options.pick(100, 10);
    let mut samples = Vec::with_capacity(unlocks);
    for _ in 0..unlocks {
        let run = endpoint.run(&["--json", "unlock", &lock]).await?;
        samples.push(timed(&run)?);
        // The bolt moves for the lock's actuation time; another command meanwhile is refused
        // as `mechanism_busy`.
        tokio::time::sleep(SETTLE).await;
        timed(&endpoint.run(&["--json", "lock", &lock]).await?)?;
        tokio::time::sleep(SETTLE).await;
    }
    report.figure("lockctl unlock, end to end", Summary::of(samples).text())?;

    let handshakes = options.pick(10, 3);
    let staff = bed.lockctl("staff")?;
    let settings = lockctl::config::load(staff.config_dir(), &Default::default())?;
    let target = lockctl::support::SupportTarget {
        gateway: GATEWAY_ID.into(),
        base_topic: None,
        operator: "bench".into(),
    };
    let mut samples = Vec::with_capacity(handshakes);
    for _ in 0..handshakes {
        let code = support_code(&bed).await?;
        let start = Instant::now();
        let progress = lockctl::progress::Silent;
        let session =
            lockctl::support::SupportSession::open(&settings, &target, &code, &progress).await?;
        samples.push(start.elapsed());
        session.quit().await?;
    }
    report.figure(
        "support handshake (connect, check gateway, SPAKE2, welcome)",
        Summary::of(samples).text(),
    )?;
    Ok(())
}

/// Opens a pairing window for lock `i`, presses its button, and times press → `lock_paired`.
async fn enroll(bed: &mut TestBed, i: usize) -> Result<Duration> {
    let lock = bed.locks[i].clone();
    let from = bed.observer.cursor();
    let mut window =
        bed.lockgate_command(&["pair", "--seconds", "60", "--passkey", lock.passkey()])?;
    let window = window.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    bed.wait_event(from, "pairing_window_opened").await?;
    let from = bed.observer.cursor();
    let start = Instant::now();
    bed.sim.press(&lock.id).await?;
    let paired = bed.wait_event(from, "lock_paired").await?;
    let took = start.elapsed();
    ensure!(paired["data"]["id"] == lock.id.to_string(), "{paired}");
    let stop = bed.lockgate(&["pair", "--stop"]).await?;
    ensure!(stop.status.success(), "lockgate pair --stop: {stop:?}");
    let _ = tokio::time::timeout(Duration::from_secs(10), window.wait_with_output()).await;
    Ok(took)
}

/// A new support code from `lockgate support start`.
async fn support_code(bed: &TestBed) -> Result<lockgate_support::SupportCode> {
    let out = bed.lockgate(&["support", "start", "--json"]).await?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("lockgate support start: {out:?}"))?;
    let code = v["code"].as_str().context("no code")?;
    Ok(code.parse()?)
}

/// The time of a lockctl run that must have succeeded.
fn timed(run: &Run) -> Result<Duration> {
    run.ok()?;
    Ok(run.took)
}
