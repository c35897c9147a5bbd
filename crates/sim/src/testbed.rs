//! Private D-Bus buses for tests and demos: [`PrivateBus`] runs a `dbus-daemon` on a socket in
//! a temporary directory; [`Testbed`] adds locksim on it; [`run_isolated`] runs a test body in
//! a process of its own, because libdbus (and so `bluer`) reads the system bus address only
//! once per process. [`managed_objects`] lists what a bus client sees.

use crate::{Sim, SimConfig, SimError};
use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use thiserror::Error;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

/// The environment variable that marks a child running one isolated test.
const ISOLATED: &str = "LOCKSIM_ISOLATED_TEST";

/// What `org.freedesktop.DBus.ObjectManager.GetManagedObjects` returns: every object path
/// with its interfaces and their properties.
pub type ManagedObjects = HashMap<OwnedObjectPath, HashMap<String, HashMap<String, OwnedValue>>>;

/// Every object `org.bluez` exports on `conn`'s bus (fails until locksim serves there).
pub async fn managed_objects(conn: &zbus::Connection) -> zbus::Result<ManagedObjects> {
    let reply = conn
        .call_method(
            Some("org.bluez"),
            "/",
            Some("org.freedesktop.DBus.ObjectManager"),
            "GetManagedObjects",
            &(),
        )
        .await?;
    reply.body().deserialize()
}

/// Why a testbed could not start.
#[derive(Debug, Error)]
pub enum TestbedError {
    /// `dbus-daemon` could not be started.
    #[error("starting dbus-daemon: {0} (install it: apt-get install dbus-daemon)")]
    Daemon(std::io::Error),
    /// It started but printed no address.
    #[error("dbus-daemon printed no address")]
    NoAddress,
    /// Connecting to it failed.
    #[error("connecting to the private bus: {0}")]
    Connect(#[from] zbus::Error),
    /// locksim did not start.
    #[error(transparent)]
    Sim(#[from] SimError),
}

fn bus_config(socket: &std::path::Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// A `dbus-daemon` of our own, stopped and cleaned up on drop.
pub struct PrivateBus {
    child: Child,
    dir: PathBuf,
    address: String,
}

impl PrivateBus {
    /// Starts a bus on a socket in a fresh temporary directory.
    pub fn start() -> Result<Self, TestbedError> {
        Self::start_with(|_| {})
    }

    /// Starts a bus like [`PrivateBus::start`], `prepare` having set up the `dbus-daemon`
    /// command further (a process group, a parent-death signal, ...).
    pub fn start_with(prepare: impl FnOnce(&mut Command)) -> Result<Self, TestbedError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("locksim-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(TestbedError::Daemon)?;
        let config = dir.join("bus.conf");
        std::fs::write(&config, bus_config(&dir.join("bus"))).map_err(TestbedError::Daemon)?;
        let mut command = Command::new("dbus-daemon");
        command
            .arg(format!("--config-file={}", config.display()))
            .args(["--print-address=1", "--nofork", "--nopidfile"])
            .stdout(Stdio::piped())
            // It complains that it may not raise its fd limit when not privileged; harmless.
            .stderr(Stdio::null());
        prepare(&mut command);
        let mut child = command.spawn().map_err(TestbedError::Daemon)?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let address = line.trim().to_owned();
        let bus = PrivateBus {
            child,
            dir,
            address,
        };
        if bus.address.is_empty() {
            return Err(TestbedError::NoAddress);
        }
        Ok(bus)
    }

    /// The address to connect to (set it as `DBUS_SYSTEM_BUS_ADDRESS` for bluer).
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private bus with locksim serving on it.
pub struct Testbed {
    /// The simulation (to steer and inspect).
    pub sim: Sim,
    /// locksim's own connection.
    pub conn: zbus::Connection,
    /// The bus (declared last: it outlives the connection).
    pub bus: PrivateBus,
}

impl Testbed {
    /// Starts a bus and locksim with `config`.
    pub async fn start(config: SimConfig) -> Result<Self, TestbedError> {
        let bus = PrivateBus::start()?;
        let conn = zbus::connection::Builder::address(bus.address())?
            .build()
            .await?;
        let sim = Sim::start(conn.clone(), config).await?;
        Ok(Testbed { sim, conn, bus })
    }

    /// The bus address.
    pub fn address(&self) -> &str {
        self.bus.address()
    }
}

/// Runs `body` against a fresh [`Testbed`] in a child process of the test binary, with
/// `DBUS_SYSTEM_BUS_ADDRESS` pointing at the testbed's bus, within `limit`. `test_name` must
/// be the test's full name as the test harness knows it (its path inside the test binary).
pub fn run_isolated<F, Fut>(test_name: &str, config: SimConfig, limit: Duration, body: F)
where
    F: FnOnce(Testbed) -> Fut,
    Fut: Future<Output = ()>,
{
    if std::env::var(ISOLATED).as_deref() == Ok(test_name) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            let testbed = Testbed::start(config).await.expect("the testbed starts");
            std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", testbed.address());
            tokio::time::timeout(limit, body(testbed))
                .await
                .expect("the test finished in time");
        });
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ISOLATED, test_name)
        .output()
        .expect("the test binary runs");
    assert!(
        output.status.success(),
        "isolated test {test_name} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
