//! The daemon put together: opens the state (registry, spool), binds the control socket,
//! starts the MQTT driver and relay, the adapter task, the manager and the control server,
//! tells systemd it is ready, and on shutdown stops them in an order that loses nothing: first
//! the side that takes frames in (BLE, control), then the relay, which flushes the spool and
//! says `offline`.

use crate::ble::adapter;
use crate::config::Config;
use crate::health::Health;
use crate::manager::{Inputs, Manager, Wiring};
use crate::registry::Registry;
use crate::spool::{Spool, SpoolLimits};
use crate::{control_server, notify};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The registry of paired locks.
    #[error("{0}")]
    Registry(#[from] crate::registry::RegistryError),
    /// The spool.
    #[error("{0}")]
    Spool(#[from] crate::spool::SpoolError),
    /// The control socket.
    #[error("{0}")]
    Control(#[from] crate::control_server::ControlError),
    /// The broker settings.
    #[error("{0}")]
    Mqtt(#[from] crate::mqtt::options::OptionsError),
    /// The topics.
    #[error("gateway topics: {0}")]
    Topics(#[from] lockgate_wire::TopicError),
    /// Remote support.
    #[error("remote support: {0}")]
    Support(#[from] crate::support::SupportError),
}

/// Channel sizes.
const INBOX: usize = 1024;

/// Runs the daemon until `shutdown` is cancelled; configurations sent on `reload` are applied
/// as far as they can be live. `log_ring` holds the recent log lines support sessions may
/// read (the one given to `logging::init_with_ring`).
pub async fn run(
    config: Config,
    reload: mpsc::Receiver<Config>,
    shutdown: CancellationToken,
    log_ring: crate::support::LogRing,
) -> Result<(), StartError> {
    let health = Arc::new(Health::default());
    let topics = config.topics()?;
    create_private_dir(&config.state_dir)?;
    let registry = Registry::load(&config.state_dir)?;
    let limits = SpoolLimits {
        max_frames: config.spool.max_frames,
        max_bytes: config.spool.max_bytes,
    };
    let spool = Spool::open(&config.spool_path(), limits)?;
    let support =
        crate::support::SupportService::new(&config, log_ring, crate::support::unix_now_ms())?;
    let listener = control_server::bind(&config.control_socket, Some(control_server::GROUP))?;

    let tracker = TaskTracker::new();
    let links_tracker = TaskTracker::new();
    let relay_stop = CancellationToken::new();
    let (inbound_tx, inbound) = mpsc::channel(INBOX);
    let (ble_tx, ble) = mpsc::channel(INBOX);
    let (adapter_tx, adapter_rx) = mpsc::channel(16);
    let (links_tx, links) = mpsc::channel(INBOX);
    let (control_tx, control) = mpsc::channel(16);
    let (notices, _) = broadcast::channel(control_server::NOTICE_BUFFER);
    let (button_tx, button) = mpsc::channel(4);
    let (window_watch, window) = watch::channel(None);
    let manager_beat = Arc::new(AtomicU64::new(0));
    let mqtt = crate::mqtt::start(
        &config,
        topics.clone(),
        support.subscriptions(),
        spool,
        health.clone(),
        inbound_tx,
        relay_stop.clone(),
    )?;
    tracker.spawn(adapter::run(
        config.ble.adapter.clone(),
        ble_tx,
        adapter_rx,
        shutdown.clone(),
    ));
    tracker.spawn(control_server::serve(
        listener,
        control_tx,
        notices.clone(),
        shutdown.clone(),
    ));
    crate::pairing::gpio::start(
        &config.pairing,
        button_tx,
        window,
        shutdown.clone(),
        &tracker,
    );
    let wiring = Wiring {
        mqtt: mqtt.handle.clone(),
        adapter_cmds: adapter_tx,
        link_events: links_tx,
        tracker: links_tracker.clone(),
        notices,
        window_watch,
    };
    let broker = format!("{}:{}", config.mqtt.host, config.mqtt.port());
    let locks = registry.locks().count();
    let manager = Manager::new(
        config,
        topics,
        registry,
        wiring,
        health.clone(),
        manager_beat.clone(),
        support,
    );
    let inputs = Inputs {
        inbound,
        ble,
        links,
        control,
        reload,
        button,
    };
    let manager_task = tracker.spawn(manager.run(inputs, shutdown.clone()));
    if let Some(interval) = notify::watchdog_interval() {
        let beats = vec![mqtt.heartbeat.clone(), manager_beat];
        tracker.spawn(notify::watchdog(
            interval,
            beats,
            health.started,
            shutdown.clone(),
        ));
    }
    log::info!(
        "lockgated {} ready: {locks} paired lock(s), broker {broker}",
        crate::VERSION
    );
    notify::ready(&format!("{locks} paired lock(s); connecting to {broker}"));

    shutdown.cancelled().await;
    notify::stopping();
    log::info!("stopping");
    let _ = manager_task.await;
    links_tracker.close();
    links_tracker.wait().await;
    relay_stop.cancel();
    let _ = mqtt.relay.await;
    let _ = mqtt.driver.await;
    tracker.close();
    tracker.wait().await;
    log::info!("stopped");
    Ok(())
}

fn create_private_dir(path: &std::path::Path) -> Result<(), StartError> {
    use std::os::unix::fs::DirBuilderExt;
    let error = |source| StartError::StateDir {
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(error)
}
