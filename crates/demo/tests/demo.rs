//! `lockgate-demo --once` against the real processes (mosquitto, dbus-daemon, locksim,
//! lockgated, lockctl): it exits 0, the endpoints read the expected results in clear, and the
//! relayed side of its table shows no clear text. Left running, a Ctrl-C at the terminal
//! stops it and all its children in order, and none outlives it when it is killed.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
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

/// The demo left running (not `--once`), in a process group of its own as a shell starts a
/// foreground job; SIGKILLed on drop if the test ends early.
struct RunningDemo {
    child: Child,
    /// Its stdout, line by line, as it comes.
    lines: Receiver<String>,
    stdout: String,
}

/// Generous: the first run may build locksim, lockgated, lockgate and lockctl.
const READY_LIMIT: Duration = Duration::from_secs(20 * 60);
/// Stopping everything takes a few seconds.
const STOP_LIMIT: Duration = Duration::from_secs(60);

impl RunningDemo {
    /// Starts the demo and waits until it says that everything keeps running.
    fn start() -> RunningDemo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lockgate-demo"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting lockgate-demo");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut demo = RunningDemo {
            child,
            lines,
            stdout: String::new(),
        };
        demo.read_until("Ctrl-C stops everything", READY_LIMIT);
        demo
    }

    /// Reads its stdout until a line contains `text`; panics after `limit`.
    fn read_until(&mut self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push_str(&line);
                    self.stdout.push('\n');
                    if line.contains(text) {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no {text:?} from the demo ({e:?}); it said:\n{}",
                    self.stdout
                ),
            }
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("a pid"))
    }

    /// Waits for its exit (at most [`STOP_LIMIT`]) and reads the rest of its stdout.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the demo") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not exit within {STOP_LIMIT:?}:\n{}",
                self.stdout
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push_str(&line);
            self.stdout.push('\n');
        }
        status
    }
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every live (not zombie) process and its parent, from `/proc`.
fn processes() -> Vec<(i32, i32)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (Some(state), Some(ppid)) = (fields.next(), fields.next()) else {
            continue;
        };
        let pid = head.split(' ').next().and_then(|p| p.parse().ok());
        if let (Some(pid), Ok(ppid), false) = (pid, ppid.parse(), state == "Z") {
            all.push((pid, ppid));
        }
    }
    all
}

/// The live descendants of `root`.
fn descendants(root: i32) -> BTreeSet<i32> {
    let all = processes();
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &all {
            if ppid == parent && found.insert(pid) {
                frontier.push(pid);
            }
        }
    }
    found
}

/// Those of `pids` still alive.
fn alive(pids: &BTreeSet<i32>) -> Vec<i32> {
    let live: BTreeSet<i32> = processes().into_iter().map(|(pid, _)| pid).collect();
    pids.intersection(&live).copied().collect()
}

/// Waits (at most [`STOP_LIMIT`]) until none of `pids` is alive.
fn wait_all_gone(pids: &BTreeSet<i32>) -> Vec<i32> {
    let deadline = Instant::now() + STOP_LIMIT;
    loop {
        let left = alive(pids);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_at_the_terminal_stops_the_demo_and_its_children_in_order() {
    let mut demo = RunningDemo::start();
    let children = descendants(demo.pid().as_raw());
    assert!(
        children.len() >= 4,
        "expected dbus-daemon, locksim, mosquitto and lockgated, found {children:?}"
    );
    // As a terminal does on Ctrl-C: SIGINT to the whole foreground process group.
    killpg(demo.pid(), Signal::SIGINT).expect("SIGINT to the demo's process group");
    let status = demo.wait();
    let stdout = &demo.stdout;
    assert!(status.success(), "{status}:\n{stdout}");
    for expected in [
        "SIGINT: stopping lockgated, locksim, mosquitto and the private D-Bus",
        "stopped; temporary directories removed",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let left = wait_all_gone(&children);
    assert!(left.is_empty(), "still running after the demo: {left:?}");
}

#[test]
fn the_children_die_with_the_demo_when_it_is_killed() {
    let mut demo = RunningDemo::start();
    let children = descendants(demo.pid().as_raw());
    assert!(children.len() >= 4, "found only {children:?}");
    kill(demo.pid(), Signal::SIGKILL).expect("SIGKILL to the demo");
    demo.wait();
    let left = wait_all_gone(&children);
    assert!(left.is_empty(), "outlived the demo: {left:?}");
}
