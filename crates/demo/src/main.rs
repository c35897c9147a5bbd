//! `cargo run -p lockgate-demo`: the whole system on one machine, narrated.
//!
//! A private D-Bus with locksim (three simulated locks, none bonded), mosquitto on a free
//! loopback port, and lockgated on them; then a person's steps: press a lock's button, open
//! the gateway's pairing window (`lockgate pair`) so that it bonds, pair a `lockctl` endpoint
//! with the label code, read the status, unlock, invite a second endpoint that joins and reads
//! the status too. An observer subscribed to the gateway's topics records every frame the
//! gateway relays; the demo prints them beside what the endpoints read in clear, and checks
//! that no relayed frame carries any of that clear text.
//!
//! Then everything keeps running, with the commands to try by hand, until Ctrl-C or SIGTERM;
//! `--once` stops at once instead (the system test). The processes and their temporary
//! directories come from the system-test harness (`lockgate-systest`), used as a library.

mod narrate;

use anyhow::{bail, Context, Result};
use lockgate_systest::binaries::{binaries, Binaries};
use lockgate_systest::lockctl::{Lockctl, Run};
use lockgate_systest::mqtt::{Message, Mqtt, Settings};
use lockgate_systest::{Broker, Gateway, GatewayConfig, LockInfo, Sim, SimOptions};
use lockgate_wire::envelope::{Header, HEADER_LEN};
use lockgate_wire::{Topic, Topics};
use narrate::{Frame, Narrator, Row};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

/// The gateway's id: its topics live under `lockgate/demo`.
const GATEWAY_ID: &str = "demo";

/// Generous bounds: the demo must not give up on a slow machine (a Raspberry Pi).
const ONLINE_LIMIT: Duration = Duration::from_secs(60);
const EVENT_LIMIT: Duration = Duration::from_secs(60);

/// How long the relayed frames of a step may trail the endpoint's answer at the observer.
const SETTLE: Duration = Duration::from_millis(400);

const USAGE: &str = "usage: lockgate-demo [--once]

Runs locksim (3 simulated locks on a private D-Bus), mosquitto on a free loopback port and
lockgated; bonds a lock, pairs a lockctl endpoint with its label code, unlocks, invites a second
endpoint, and prints what the gateway relayed beside what the endpoints read in clear.
Then leaves everything running for you to try lockctl and lockgate by hand; Ctrl-C stops it.

  --once   stop after the walk-through instead of waiting for Ctrl-C
";

fn main() -> ExitCode {
    let mut once = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--once" | "--no-wait" => once = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("lockgate-demo: unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if let Err(e) = prerequisites() {
        eprintln!("lockgate-demo: {e:#}");
        return ExitCode::FAILURE;
    }
    println!(
        "lockgate demo: locksim + mosquitto + lockgated + two lockctl endpoints, on this machine"
    );
    println!(
        "  (building locksim, lockgated, lockgate and lockctl if needed: minutes the first time)"
    );
    let binaries = match binaries() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("lockgate-demo: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(binaries, once)),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nlockgate-demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The programs the demo starts that cargo does not build, with the line that installs them.
fn prerequisites() -> Result<()> {
    let apt = "sudo apt-get install -y mosquitto dbus-daemon libdbus-1-dev pkg-config";
    let mosquitto = lockgate_systest::broker::MOSQUITTO;
    if !Path::new(mosquitto).exists() {
        bail!("{mosquitto} is missing (the demo runs its own broker on a free port): {apt}");
    }
    let found = std::process::Command::new("dbus-daemon")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !found.is_ok_and(|s| s.success()) {
        bail!("dbus-daemon is missing (locksim serves on a private D-Bus): {apt}");
    }
    Ok(())
}

/// Stops on SIGINT or SIGTERM: what arrived.
async fn stop_signal() -> &'static str {
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

async fn run(binaries: &'static Binaries, once: bool) -> Result<()> {
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut n = Narrator::new();
    // Interrupted while setting up: everything started so far is dropped here, which kills
    // the children and removes their temporary directories.
    let mut demo = tokio::select! {
        demo = Demo::start(binaries, &mut n) => demo?,
        s = &mut stop => {
            println!("\n{s}: stopping");
            return Ok(());
        }
    };
    let walk = tokio::select! {
        walk = demo.walk_through(&mut n) => walk,
        s = &mut stop => {
            println!("\n{s}: stopping");
            return demo.shutdown().await;
        }
    };
    if let Err(e) = walk {
        let _ = demo.shutdown().await;
        return Err(e);
    }
    n.table(&demo.rows);
    let check = demo.check_blind(&mut n);
    if once || check.is_err() {
        demo.shutdown().await?;
        return check;
    }
    demo.print_instructions();
    let s = (&mut stop).await;
    println!("\n{s}: stopping lockgated, locksim, mosquitto and the private D-Bus");
    demo.shutdown().await?;
    println!("stopped; temporary directories removed");
    Ok(())
}

/// Everything the demo runs.
struct Demo {
    binaries: &'static Binaries,
    broker: Broker,
    sim: Sim,
    gateway: Gateway,
    observer: Mqtt,
    topics: Topics,
    locks: Vec<LockInfo>,
    alice: Lockctl,
    bob: Lockctl,
    rows: Vec<Row>,
    /// Clear text the endpoints read or typed, which no relayed frame may contain.
    secrets: Vec<String>,
}

impl Demo {
    async fn start(binaries: &'static Binaries, n: &mut Narrator) -> Result<Demo> {
        let broker = Broker::spawn().await.context("starting mosquitto")?;
        n.step(&format!(
            "mosquitto listens on 127.0.0.1:{} (plain MQTT, loopback only)",
            broker.port()
        ));
        let options = SimOptions {
            locks: 3,
            bonded: false,
            ..SimOptions::default()
        };
        let sim = Sim::start(binaries, &options)
            .await
            .context("starting locksim")?;
        let locks = sim.locks().await?;
        n.step("locksim serves org.bluez on a private D-Bus: 3 locks, none bonded");
        for lock in &locks {
            n.detail(&format!(
                "lock {}  \"{}\"  label code {}",
                lock.id, lock.name, lock.label_code
            ));
        }
        let mut config = GatewayConfig::new(GATEWAY_ID, broker.port());
        config.keepalive = Duration::from_secs(30);
        config.idle_timeout = Duration::from_secs(10);
        config.down_frame_ttl = Duration::from_secs(30);
        let mut gateway = Gateway::new(binaries, config, sim.bus_address())?;
        let topics = Topics::for_gateway(GATEWAY_ID)?;
        let observer = Mqtt::connect(
            &Settings::plain("demo-observer", broker.port()),
            Duration::from_secs(10),
        )
        .await?;
        observer.subscribe(&format!("{}/#", topics.base())).await?;
        let from = observer.cursor();
        gateway.start()?;
        let online = topics.bridge_state();
        let is_online =
            |m: &Message| m.topic == online && m.json().is_ok_and(|v| v["state"] == "online");
        let deadline = Instant::now() + ONLINE_LIMIT;
        loop {
            let seen = observer.next_message(Duration::from_millis(250), from, "online", is_online);
            if seen.await.is_ok() {
                break;
            }
            if let Some(status) = gateway.exit_status() {
                bail!(
                    "lockgated exited ({status}) instead of coming online; its log:\n{}",
                    gateway.log()
                );
            }
            if Instant::now() >= deadline {
                bail!("lockgated did not come online within {ONLINE_LIMIT:?}");
            }
        }
        n.step(&format!(
            "lockgated is online as gateway \"{GATEWAY_ID}\" (topics {}/#); an observer records them",
            topics.base()
        ));
        let alice = Lockctl::new(binaries, broker.port(), "alice-phone")?;
        let bob = Lockctl::new(binaries, broker.port(), "bob-phone")?;
        Ok(Demo {
            binaries,
            broker,
            sim,
            gateway,
            observer,
            topics,
            locks,
            alice,
            bob,
            rows: Vec::new(),
            secrets: Vec::new(),
        })
    }

    async fn walk_through(&mut self, n: &mut Narrator) -> Result<()> {
        let lock = self.locks[0].clone();
        let id = lock.id.to_string();
        self.secrets.push(lock.label_code.clone());

        self.sim.press(&lock.id).await?;
        n.step(&format!(
            "pressed the button of lock {id}: it advertises pairing mode"
        ));

        let from = self.observer.cursor();
        let mut pair =
            self.lockgate_command(&["pair", "--seconds", "120", "--passkey", lock.passkey()]);
        let window = pair
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting lockgate pair")?;
        self.wait_event(from, "pairing_window_opened").await?;
        n.step(&format!(
            "`lockgate pair --passkey {}` opened the gateway's pairing window (BLE bonding allowed)",
            lock.passkey()
        ));
        let paired = self.wait_event(from, "lock_paired").await?;
        n.step(&format!(
            "the gateway bonded lock {} and enrolled it",
            paired["data"]["id"].as_str().unwrap_or(&id)
        ));
        let stop = self.lockgate(&["pair", "--stop"]).await?;
        if !stop.status.success() {
            bail!("lockgate pair --stop failed: {stop:?}");
        }
        let out = tokio::time::timeout(EVENT_LIMIT, window.wait_with_output())
            .await
            .context("lockgate pair did not end")??;
        let said = String::from_utf8_lossy(&out.stdout);
        n.step("closed the gateway's pairing window (`lockgate pair --stop`)");
        for line in said.lines().filter(|l| !l.trim().is_empty()) {
            n.detail(&format!("lockgate pair: {line}"));
        }

        let gateway = GATEWAY_ID;
        let code = lock.label_code.clone();
        let args = [
            "pair",
            "--gateway",
            gateway,
            "--lock",
            &id,
            "--code",
            &code,
            "--json",
        ];
        let r = self
            .step(n, "alice: pair with the label code", Who::Alice, &args)
            .await?;
        let clear = format!(
            "paired as {} (auth id {}), name {}",
            r["role"].as_str().unwrap_or("?"),
            r["auth_id"],
            r["name"].as_str().unwrap_or("?")
        );
        self.finish_row(vec![clear]).await;

        let r = self
            .step(n, "alice: status", Who::Alice, &["status", &id, "--json"])
            .await?;
        self.finish_row(vec![status_line(&r)]).await;

        let r = self
            .step(n, "alice: unlock", Who::Alice, &["unlock", &id, "--json"])
            .await?;
        let mut clear = vec![format!("unlock → {}", r["state"].as_str().unwrap_or("?"))];
        let deadline = Instant::now() + EVENT_LIMIT;
        loop {
            let s = self.alice_json(&["status", &id, "--json"]).await?;
            if s["state"] == "unlocked" {
                clear.push(status_line(&s));
                break;
            }
            if Instant::now() >= deadline {
                bail!("lock {id} did not report unlocked within {EVENT_LIMIT:?}: {s}");
            }
            tokio::time::sleep(Duration::from_millis(750)).await;
        }
        self.finish_row(clear).await;

        let r = self
            .step(
                n,
                "alice: invite a second endpoint",
                Who::Alice,
                &["users", "invite", &id, "--json"],
            )
            .await?;
        let invite = r["code"].as_str().unwrap_or_default().to_owned();
        self.secrets.push(invite.replace('-', ""));
        self.finish_row(vec![format!(
            "invite {invite} (role {})",
            r["role"].as_str().unwrap_or("?")
        )])
        .await;

        let args = [
            "join",
            "--gateway",
            gateway,
            "--lock",
            &id,
            "--invite",
            &invite,
            "--json",
        ];
        let r = self
            .step(n, "bob: join with the invite", Who::Bob, &args)
            .await?;
        self.finish_row(vec![format!(
            "joined as {} (auth id {})",
            r["role"].as_str().unwrap_or("?"),
            r["auth_id"]
        )])
        .await;

        let r = self
            .step(n, "bob: status", Who::Bob, &["status", &id, "--json"])
            .await?;
        self.finish_row(vec![status_line(&r)]).await;

        let r = self
            .step(n, "alice: lock", Who::Alice, &["lock", &id, "--json"])
            .await?;
        self.finish_row(vec![format!(
            "lock → {}",
            r["state"].as_str().unwrap_or("?")
        )])
        .await;
        Ok(())
    }

    /// Runs one lockctl command as a step of the walk-through: its JSON report, and a new
    /// row of the table holding the frames relayed meanwhile (its clear side is set by
    /// [`Demo::finish_row`]).
    async fn step(
        &mut self,
        n: &mut Narrator,
        title: &str,
        who: Who,
        args: &[&str],
    ) -> Result<Value> {
        let from = self.observer.cursor();
        let endpoint = match who {
            Who::Alice => &self.alice,
            Who::Bob => &self.bob,
        };
        let run = endpoint.run(args).await?;
        let report = ok(&run)?;
        n.step(&format!("{title}: `lockctl {}`", args.join(" ")));
        self.rows.push(Row {
            step: title.to_owned(),
            from,
            frames: Vec::new(),
            clear: Vec::new(),
        });
        Ok(report)
    }

    /// Sets the clear side of the last row and collects the frames relayed since it began.
    async fn finish_row(&mut self, clear: Vec<String>) {
        tokio::time::sleep(SETTLE).await;
        let messages = self.observer.messages();
        let topics = &self.topics;
        if let Some(row) = self.rows.last_mut() {
            row.clear = clear;
            row.frames = messages
                .iter()
                .skip(row.from)
                .filter_map(|m| frame(topics, m))
                .collect();
        }
    }

    async fn alice_json(&self, args: &[&str]) -> Result<Value> {
        ok(&self.alice.run(args).await?)
    }

    /// The first `bridge/event` of type `kind` at observer index `from` or later.
    async fn wait_event(&self, from: usize, kind: &str) -> Result<Value> {
        let topic = self.topics.bridge_event();
        let what = format!("a {kind} event on {topic}");
        let accept = |m: &Message| m.topic == topic && m.json().is_ok_and(|v| v["type"] == kind);
        let (_, m) = self
            .observer
            .next_message(EVENT_LIMIT, from, &what, accept)
            .await?;
        m.json()
    }

    fn lockgate_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binaries.lockgate);
        command
            .args(args)
            .arg("--socket")
            .arg(self.gateway.control_socket())
            .stdin(Stdio::null())
            // A Ctrl-C at the terminal is for the demo, which ends this command itself.
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    async fn lockgate(&self, args: &[&str]) -> Result<std::process::Output> {
        let run = self.lockgate_command(args).output();
        tokio::time::timeout(EVENT_LIMIT, run)
            .await
            .with_context(|| format!("lockgate {} did not finish", args.join(" ")))?
            .map_err(Into::into)
    }

    /// Checks that no relayed frame contains any clear text of the walk-through.
    fn check_blind(&self, n: &mut Narrator) -> Result<()> {
        let mut words: Vec<String> = self.secrets.clone();
        for row in &self.rows {
            words.extend(row.clear.iter().cloned());
        }
        words.extend(["locked", "unlocked", "unlocking", "locking", "battery"].map(str::to_owned));
        let messages = self.observer.messages();
        let frames: Vec<&Message> = messages
            .iter()
            .filter(|m| frame(&self.topics, m).is_some())
            .collect();
        for m in &frames {
            for w in words.iter().filter(|w| w.len() >= 4) {
                if contains(&m.payload, w.as_bytes()) {
                    bail!("a frame relayed on {} contains {w:?} in clear", m.topic);
                }
            }
        }
        n.step(&format!(
            "checked: none of the {} relayed frames contains the label code, the invite code or \
             the state, battery or role the endpoints read",
            frames.len()
        ));
        Ok(())
    }

    fn print_instructions(&self) {
        let b = self.binaries;
        let bin_dir = b.lockctl.parent().unwrap_or(Path::new("."));
        let id = self.locks[0].id.to_string();
        let other = self.locks[1].clone();
        let socket = self.gateway.control_socket();
        println!();
        println!("Everything keeps running. In another shell:");
        println!();
        println!("  export PATH={}:$PATH", bin_dir.display());
        println!(
            "  export DBUS_SYSTEM_BUS_ADDRESS='{}'",
            self.sim.bus_address()
        );
        println!(
            "  export LOCKCTL_CONFIG_DIR={}",
            self.alice.config_dir().display()
        );
        println!();
        println!("  lockctl locks                      # alice's paired locks");
        println!("  lockctl status {id}");
        println!("  lockctl unlock {id}; lockctl lock {id}");
        println!("  lockctl users list {id}");
        println!(
            "  LOCKCTL_CONFIG_DIR={} lockctl status {id}   # as bob",
            self.bob.config_dir().display()
        );
        println!();
        println!("  lockgate status --socket {}", socket.display());
        println!("  lockgate locks --socket {}", socket.display());
        println!(
            "  locksim ctl locks                  # the simulated locks and their label codes"
        );
        println!();
        println!(
            "  # bond a second lock: press its button, open the window, pair with its label code"
        );
        println!("  locksim ctl press {}", other.id);
        println!(
            "  lockgate pair --seconds 60 --passkey {} --socket {}",
            other.passkey(),
            socket.display()
        );
        println!(
            "  lockctl pair --gateway {GATEWAY_ID} --lock {} --code {}",
            other.id, other.label_code
        );
        println!();
        println!(
            "  mosquitto_sub -p {} -t '{}/#' -v    # watch the relay (mosquitto-clients)",
            self.broker.port(),
            self.topics.base()
        );
        println!("  lockgated's log: {}", self.gateway.log_path().display());
        println!();
        println!("Ctrl-C stops everything and removes the temporary directories.");
    }

    /// Stops lockgated cleanly (SIGTERM), then the rest; temporary directories go on drop.
    /// The children run in process groups of their own (a Ctrl-C at the terminal reaches only
    /// the demo), so each must still run now: one that has exited already is reported.
    async fn shutdown(mut self) -> Result<()> {
        let mut gone = Vec::new();
        if let Some(status) = self.gateway.exit_status() {
            gone.push(format!("lockgated ({status})"));
        } else {
            let status = self.gateway.kill(Signal::SIGTERM).await;
            let status = status.context("stopping lockgated")?;
            if !status.success() {
                bail!(
                    "lockgated stopped with {status}; its log: {}",
                    self.gateway.log_path().display()
                );
            }
        }
        let Demo {
            mut sim,
            mut broker,
            ..
        } = self;
        if let Some(status) = sim.exit_status()? {
            gone.push(format!("locksim ({status})"));
        }
        drop(sim);
        if broker.is_running() {
            let _ = broker.stop().await;
        } else {
            gone.push("mosquitto".to_owned());
        }
        if !gone.is_empty() {
            bail!("exited before the demo stopped them: {}", gone.join(", "));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Who {
    Alice,
    Bob,
}

/// The JSON report of a lockctl command that must have succeeded.
fn ok(run: &Run) -> Result<Value> {
    if run.code != Some(0) {
        bail!(
            "lockctl {} failed (exit code {:?}): {}{}",
            run.args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
    }
    run.json()
}

/// A status report as a person reads it.
fn status_line(s: &Value) -> String {
    let battery = match s["battery_percent"].as_u64() {
        Some(p) => format!("battery {p} %"),
        None => "battery ?".to_owned(),
    };
    format!(
        "status: {}, door {}, {battery}",
        s["state"].as_str().unwrap_or("?"),
        s["door"].as_str().unwrap_or("?")
    )
}

/// A relayed lock frame (`<lock>/up/<auth id>` or `<lock>/down`), or `None`.
fn frame(topics: &Topics, m: &Message) -> Option<Frame> {
    let up = match topics.parse(&m.topic).ok()? {
        Topic::Up { .. } => true,
        Topic::Down { .. } => false,
        _ => return None,
    };
    let topic = m
        .topic
        .strip_prefix(topics.base())
        .map(|t| t.trim_start_matches('/'))
        .unwrap_or(&m.topic)
        .to_owned();
    Some(Frame {
        up,
        topic,
        size: m.payload.len(),
        header: match Header::parse(&m.payload) {
            Ok((h, _)) => format!("{:?} #{}", h.kind, h.counter).to_lowercase(),
            Err(_) => "no header".to_owned(),
        },
        body: m.payload.iter().skip(HEADER_LEN).take(8).copied().collect(),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
