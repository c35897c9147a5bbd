//! `locksim`: serve simulated locks behind a BlueZ look-alike, start a private bus for it, or
//! steer a running simulation.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use lockgate_e2e::LockConfig;
use locksim::control::{CONTROL_INTERFACE, CONTROL_PATH};
use locksim::testbed::PrivateBus;
use locksim::{Sim, SimConfig, Timing};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "locksim",
    version,
    about = "Simulated lockgate locks behind a BlueZ look-alike on D-Bus"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    sim: SimArgs,
}

#[derive(Args)]
struct SimArgs {
    /// D-Bus address to serve on (default: $DBUS_SYSTEM_BUS_ADDRESS).
    #[arg(long, global = true)]
    bus_address: Option<String>,
    /// Number of simulated locks.
    #[arg(long, global = true, default_value_t = 3)]
    locks: u32,
    /// Number of adapters (hci0, hci1, ...).
    #[arg(long, global = true, default_value_t = 1)]
    adapters: u32,
    /// Seed for lock identities: the same seed gives the same locks.
    #[arg(long, global = true, default_value_t = 7)]
    seed: u64,
    /// Keep locks and bonds here across restarts (files are mode 0600).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
    /// No radio latency (for benchmarks).
    #[arg(long, global = true)]
    fast: bool,
    /// BLE connection interval in milliseconds.
    #[arg(long, global = true, default_value_t = 30)]
    interval_ms: u64,
    /// Every lock starts bonded to every adapter, as if paired earlier (for tests and demos:
    /// a gateway can use the locks without a pairing step). Kept in --state-dir like any bond.
    #[arg(long, global = true)]
    bonded: bool,
    /// Locks lock themselves after resting unlocked this many seconds with the door not
    /// open (0: off).
    #[arg(long, global = true, default_value_t = 0)]
    auto_lock_secs: u64,
    /// ATT MTU of every link (23 to 517).
    #[arg(long, global = true, default_value_t = 247, value_parser = clap::value_parser!(u16).range(23..=517))]
    mtu: u16,
}

#[derive(Subcommand)]
enum Command {
    /// Start a private dbus-daemon, print its address, and serve locksim on it.
    Up,
    /// Steer a running locksim.
    Ctl {
        #[command(subcommand)]
        action: Ctl,
    },
}

#[derive(Subcommand)]
enum Ctl {
    /// List the locks with their label codes and passkeys.
    Locks,
    /// Press a lock's button (opens or closes its pairing window).
    Press { lock: String },
    /// Set a lock's battery level (subscribed endpoints get an event).
    Battery { lock: String, percent: u8 },
    /// Turn a lock's knob by hand: locked → unlocked, unlocked → locked, at once.
    Knob { lock: String },
    /// Make a lock's next movement jam.
    Jam { lock: String },
    /// Open or close a lock's door (`open` or `closed`).
    Door { lock: String, state: String },
    /// Move a lock out of or into range (`out` or `in`).
    Range { lock: String, state: String },
    /// Erase a lock's authorizations.
    Reset { lock: String },
    /// Power an adapter `on` or `off`.
    Power { adapter: String, state: String },
    /// Arm a fault: connect-in-progress, connect-failed, link-drop, notification-loss, slow-writes.
    Fault {
        lock: String,
        fault: String,
        count: u32,
    },
    /// Print the event and fault counters.
    Counters,
}

impl SimArgs {
    fn config(&self) -> SimConfig {
        SimConfig {
            adapters: self.adapters,
            locks: self.locks,
            seed: self.seed,
            state_dir: self.state_dir.clone(),
            timing: Timing {
                interval: Duration::from_millis(self.interval_ms),
                fast: self.fast,
            },
            mtu: self.mtu,
            bonded: self.bonded,
            lock: LockConfig {
                auto_lock_ms: self.auto_lock_secs.saturating_mul(1000),
                ..LockConfig::default()
            },
            ..SimConfig::default()
        }
    }

    fn address(&self) -> Result<String> {
        match (&self.bus_address, std::env::var("DBUS_SYSTEM_BUS_ADDRESS")) {
            (Some(a), _) => Ok(a.clone()),
            (None, Ok(a)) => Ok(a),
            (None, Err(_)) => bail!(
                "no bus: pass --bus-address or set DBUS_SYSTEM_BUS_ADDRESS (see `locksim up`)"
            ),
        }
    }
}

async fn serve(address: &str, config: SimConfig) -> Result<()> {
    let conn = zbus::connection::Builder::address(address)
        .with_context(|| format!("bus address {address:?}"))?
        .build()
        .await
        .with_context(|| format!("connecting to {address}"))?;
    let sim = Sim::start(conn, config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    log::info!("locksim: stopping");
    sim.shutdown().await;
    Ok(())
}

async fn ctl(address: &str, action: Ctl) -> Result<()> {
    let conn = zbus::connection::Builder::address(address)?.build().await?;
    let call = |method: &'static str| {
        let conn = conn.clone();
        move |body: zbus::zvariant::Structure<'static>| async move {
            conn.call_method(
                Some("org.bluez"),
                CONTROL_PATH,
                Some(CONTROL_INTERFACE),
                method,
                &body,
            )
            .await
            .with_context(|| format!("{method} (is locksim running on this bus?)"))
        }
    };
    use zbus::zvariant::StructureBuilder as S;
    let s = || S::new();
    match action {
        Ctl::Locks => {
            let reply = conn
                .call_method(
                    Some("org.bluez"),
                    CONTROL_PATH,
                    Some(CONTROL_INTERFACE),
                    "Locks",
                    &(),
                )
                .await
                .context("Locks (is locksim running on this bus?)")?;
            let locks: Vec<(String, String, String, String, u32, bool, String)> =
                reply.body().deserialize()?;
            println!(
                "{:<16}  {:<17}  {:<15}  {:<10}  {:<7}  {:<8}  mechanism",
                "lock id", "address", "name", "label code", "passkey", "range"
            );
            for (id, addr, name, label, passkey, in_range, mech) in locks {
                let range = if in_range { "in" } else { "out" };
                println!("{id:<16}  {addr:<17}  {name:<15}  {label:<10}  {passkey:06}   {range:<8}  {mech}");
            }
        }
        Ctl::Press { lock } => drop(call("PressButton")(s().add_field(lock).build()?).await?),
        Ctl::Battery { lock, percent } => {
            drop(call("SetBattery")(s().add_field(lock).add_field(percent).build()?).await?)
        }
        Ctl::Knob { lock } => drop(call("TurnKnob")(s().add_field(lock).build()?).await?),
        Ctl::Jam { lock } => drop(call("Jam")(s().add_field(lock).build()?).await?),
        Ctl::Door { lock, state } => {
            drop(call("SetDoor")(s().add_field(lock).add_field(state).build()?).await?)
        }
        Ctl::Range { lock, state } => {
            let in_range = parse_switch(&state, "in", "out")?;
            drop(call("SetInRange")(s().add_field(lock).add_field(in_range).build()?).await?)
        }
        Ctl::Reset { lock } => drop(call("FactoryReset")(s().add_field(lock).build()?).await?),
        Ctl::Power { adapter, state } => {
            let on = parse_switch(&state, "on", "off")?;
            drop(call("SetAdapterPowered")(s().add_field(adapter).add_field(on).build()?).await?)
        }
        Ctl::Fault { lock, fault, count } => drop(
            call("InjectFault")(
                s().add_field(lock)
                    .add_field(fault)
                    .add_field(count)
                    .build()?,
            )
            .await?,
        ),
        Ctl::Counters => {
            let reply = conn
                .call_method(
                    Some("org.bluez"),
                    CONTROL_PATH,
                    Some(CONTROL_INTERFACE),
                    "Counters",
                    &(),
                )
                .await
                .context("Counters (is locksim running on this bus?)")?;
            let counters: HashMap<String, u64> = reply.body().deserialize()?;
            let mut sorted: Vec<_> = counters.into_iter().collect();
            sorted.sort();
            for (name, n) in sorted {
                println!("{name} {n}");
            }
        }
    }
    Ok(())
}

fn parse_switch(value: &str, yes: &str, no: &str) -> Result<bool> {
    match value {
        v if v == yes => Ok(true),
        v if v == no => Ok(false),
        other => bail!("expected {yes} or {no}, not {other:?}"),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    match cli.command {
        None => serve(&cli.sim.address()?, cli.sim.config()).await,
        Some(Command::Up) => {
            let bus = PrivateBus::start()?;
            println!("export DBUS_SYSTEM_BUS_ADDRESS={}", bus.address());
            serve(bus.address(), cli.sim.config()).await
        }
        Some(Command::Ctl { action }) => ctl(&cli.sim.address()?, action).await,
    }
}
