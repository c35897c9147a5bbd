//! `lockgate-demo --once` against the real processes (mosquitto, dbus-daemon, locksim,
//! lockgated, lockctl): it exits 0, the endpoints read the expected results in clear, and the
//! relayed side of its table shows no clear text.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_demo_walks_through_and_the_relayed_side_shows_no_clear_text() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_lockgate-demo"))
        .arg("--once")
        .output()
        .expect("running lockgate-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    for expected in [
        "the gateway bonded lock",
        "paired as admin (auth id 1), name alice-phone",
        "status: locked, door closed, battery",
        "unlock → unlocking",
        "status: unlocked",
        "joined as user (auth id 2)",
        "lock → locking",
        "checked: none of the",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    // The table: relayed frames on the left of " | ", clear text on the right.
    let table = stdout
        .split_once("RELAYED BY THE GATEWAY")
        .expect("no table")
        .1;
    let mut frames = 0;
    for line in table.lines() {
        let Some((relayed, _clear)) = line.split_once(" | ") else {
            continue;
        };
        if relayed.starts_with("up ") || relayed.starts_with("down ") {
            frames += 1;
            for word in ["locked", "unlock", "battery", "admin", "user"] {
                assert!(
                    !relayed.contains(word),
                    "{word:?} on the relayed side: {line}"
                );
            }
        }
    }
    assert!(frames >= 10, "only {frames} relayed frames in:\n{stdout}");
    // Generous: the first run may build locksim, lockgated, lockgate and lockctl.
    assert!(started.elapsed() < Duration::from_secs(20 * 60));
}
