//! The simulated locks: a private dbus-daemon ([`locksim::testbed::PrivateBus`]) and the
//! `locksim` binary serving on it as a child process, with its own state directory. Steered
//! with `locksim ctl` (as a person at a terminal would) and inspected through its
//! `org.lockgate.Sim1` interface.

use crate::binaries::Binaries;
use crate::process::{detach_from_terminal, poll_until, tail, ChildProcess};
use anyhow::{bail, Context, Result};
use lockgate_wire::LockId;
use locksim::control::{CONTROL_INTERFACE, CONTROL_PATH};
use locksim::testbed::PrivateBus;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tempfile::TempDir;

/// How long locksim may take to serve, and a `locksim ctl` call to answer.
const LIMIT: Duration = Duration::from_secs(15);

/// How locksim is started.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Number of locks.
    pub locks: u32,
    /// Seed of the lock identities.
    pub seed: u64,
    /// Every lock starts bonded to hci0 (`--bonded`).
    pub bonded: bool,
    /// ATT MTU of every link (`--mtu`); locksim's default when `None`.
    pub mtu: Option<u16>,
    /// Further arguments.
    pub extra_args: Vec<String>,
    /// Its `RUST_LOG` (`info`: every lock event; benches use `warn`).
    pub log_level: String,
    /// No air time (`--fast`); `false` for locksim's default timing (30 ms connection
    /// intervals).
    pub fast: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            locks: 1,
            seed: 7,
            bonded: true,
            mtu: None,
            extra_args: Vec::new(),
            log_level: "info".to_owned(),
            fast: true,
        }
    }
}

impl LockInfo {
    /// The BLE passkey the lock asks for when bonding: the last six digits of its label code.
    pub fn passkey(&self) -> &str {
        &self.label_code[self.label_code.len().saturating_sub(6)..]
    }
}

/// One simulated lock, as `locksim ctl locks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// Its lock id.
    pub id: LockId,
    /// Its Bluetooth address (`AA:BB:...`).
    pub address: String,
    /// The name it advertises.
    pub name: String,
    /// The label code printed on it.
    pub label_code: String,
    /// In radio range.
    pub in_range: bool,
}

/// locksim on a private bus; both stop on drop.
pub struct Sim {
    process: ChildProcess,
    conn: zbus::Connection,
    bus: PrivateBus,
    locksim: PathBuf,
    dir: TempDir,
}

type LockRow = (String, String, String, String, u32, bool, String);

impl Sim {
    /// Starts a bus and locksim on it, and waits until locksim serves `org.bluez`.
    pub async fn start(binaries: &Binaries, options: &SimOptions) -> Result<Sim> {
        let dir = tempfile::Builder::new().prefix("lockgate-sim-").tempdir()?;
        let bus = PrivateBus::start_with(detach_from_terminal)
            .context("starting a private dbus-daemon")?;
        let mut command = Command::new(&binaries.locksim);
        command
            .args(["--bus-address", bus.address()])
            .args(["--locks", &options.locks.to_string()])
            .args(["--seed", &options.seed.to_string()])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(&options.extra_args)
            .env("RUST_LOG", &options.log_level);
        if options.bonded {
            command.arg("--bonded");
        }
        if options.fast {
            command.arg("--fast");
        }
        if let Some(mtu) = options.mtu {
            command.args(["--mtu", &mtu.to_string()]);
        }
        let log = dir.path().join("locksim.log");
        let process = ChildProcess::spawn("locksim", command, &log)?;
        let conn = zbus::connection::Builder::address(bus.address())?
            .build()
            .await
            .context("connecting to the private bus")?;
        let mut sim = Sim {
            process,
            conn,
            bus,
            locksim: binaries.locksim.clone(),
            dir,
        };
        sim.wait_serving().await?;
        Ok(sim)
    }

    async fn wait_serving(&mut self) -> Result<()> {
        let Sim { process, conn, .. } = self;
        poll_until(LIMIT, "locksim to serve org.bluez", async || {
            if let Some(status) = process.exit_status()? {
                bail!(
                    "locksim exited ({status}):\n{}",
                    tail(process.log_path(), 4000)
                );
            }
            Ok(call::<Vec<LockRow>>(conn, "Locks").await.ok().map(drop))
        })
        .await
    }

    /// The bus address (`DBUS_SYSTEM_BUS_ADDRESS` for the gateway).
    pub fn bus_address(&self) -> &str {
        self.bus.address()
    }

    /// Runs `locksim ctl <args>` against this simulation; its stdout, or an error with its
    /// stderr.
    pub async fn ctl(&self, args: &[&str]) -> Result<String> {
        let mut command = tokio::process::Command::new(&self.locksim);
        command
            .args(["ctl", "--bus-address", self.bus.address()])
            .args(args)
            .kill_on_drop(true);
        let run = tokio::time::timeout(LIMIT, command.output());
        let output = run
            .await
            .with_context(|| format!("locksim ctl {args:?} took over {LIMIT:?}"))??;
        if !output.status.success() {
            bail!(
                "locksim ctl {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Presses `lock`'s button (opens its pairing window, or closes it if open).
    pub async fn press(&self, lock: &LockId) -> Result<()> {
        self.ctl(&["press", &lock.to_string()]).await.map(drop)
    }

    /// Every lock.
    pub async fn locks(&self) -> Result<Vec<LockInfo>> {
        let rows: Vec<LockRow> = call(&self.conn, "Locks").await?;
        rows.into_iter()
            .map(|(id, address, name, label_code, _, in_range, _)| {
                Ok(LockInfo {
                    id: id.parse().with_context(|| format!("lock id {id:?}"))?,
                    address,
                    name,
                    label_code,
                    in_range,
                })
            })
            .collect()
    }

    /// Lock `id`'s mechanism state as locksim names it (`locked`, `unlocked`, ...).
    pub async fn mechanism(&self, id: &LockId) -> Result<String> {
        let rows: Vec<LockRow> = call(&self.conn, "Locks").await?;
        let want = id.to_string();
        rows.into_iter()
            .find(|row| row.0 == want)
            .map(|row| row.6)
            .with_context(|| format!("no lock {want} in locksim"))
    }

    /// How often each counted event or fault happened (`locksim ctl counters`).
    pub async fn counters(&self) -> Result<BTreeMap<String, u64>> {
        let counters: HashMap<String, u64> = call(&self.conn, "Counters").await?;
        Ok(counters.into_iter().collect())
    }

    /// The object paths of the devices bonded to an adapter (`/org/bluez/hci0/dev_...`), as a
    /// BlueZ client sees them.
    pub async fn bonded_devices(&self) -> Result<Vec<String>> {
        let objects = locksim::testbed::managed_objects(&self.conn).await?;
        let mut bonded = Vec::new();
        for (path, interfaces) in objects {
            let paired = interfaces
                .get("org.bluez.Device1")
                .and_then(|device| device.get("Paired"))
                .map(bool::try_from)
                .transpose()?;
            if paired == Some(true) {
                bonded.push(path.to_string());
            }
        }
        bonded.sort();
        Ok(bonded)
    }

    /// The pairing agents registered with the simulated BlueZ: (bus name, path, capability).
    pub async fn agents(&self) -> Result<Vec<(String, String, String)>> {
        call(&self.conn, "Agents").await
    }

    /// Calls `org.bluez.Agent1.<method>` with `body` on the agent `owner` registered at
    /// `path`, as bluetoothd does while pairing: `Ok(())` if the agent answered, `Err` with the
    /// D-Bus error name if it refused.
    pub async fn ask_agent<B>(
        &self,
        (owner, path): (&str, &str),
        method: &str,
        body: &B,
    ) -> Result<std::result::Result<(), String>>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let call = self
            .conn
            .call_method(Some(owner), path, Some("org.bluez.Agent1"), method, body);
        match tokio::time::timeout(LIMIT, call).await {
            Err(_) => bail!("the agent did not answer {method} within {LIMIT:?}"),
            Ok(Ok(_)) => Ok(Ok(())),
            Ok(Err(zbus::Error::MethodError(name, _, _))) => Ok(Err(name.to_string())),
            Ok(Err(e)) => Err(e).with_context(|| format!("calling the agent's {method}")),
        }
    }

    /// Whether adapter hci0 is pairable (`org.bluez.Adapter1.Pairable`).
    pub async fn pairable(&self) -> Result<bool> {
        let reply = self
            .conn
            .call_method(
                Some("org.bluez"),
                "/org/bluez/hci0",
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.bluez.Adapter1", "Pairable"),
            )
            .await
            .context("reading Pairable of hci0")?;
        let value: zbus::zvariant::OwnedValue = reply.body().deserialize()?;
        Ok(bool::try_from(value)?)
    }

    /// locksim's exit status once it has exited, else `None` (it runs).
    pub fn exit_status(&mut self) -> Result<Option<std::process::ExitStatus>> {
        self.process.exit_status()
    }

    /// locksim's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// locksim's log so far (the last 64 KiB).
    pub fn log(&self) -> String {
        tail(self.process.log_path(), 64 * 1024)
    }

    /// locksim's state directory (locks and bonds).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The working directory (state, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Calls `method` of `org.lockgate.Sim1` without arguments.
async fn call<T>(conn: &zbus::Connection, method: &str) -> Result<T>
where
    T: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let reply = conn
        .call_method(
            Some("org.bluez"),
            CONTROL_PATH,
            Some(CONTROL_INTERFACE),
            method,
            &(),
        )
        .await
        .with_context(|| format!("org.lockgate.Sim1.{method}"))?;
    Ok(reply.body().deserialize()?)
}
