//! The adapter task: finds the Bluetooth adapter (by name, or BlueZ's default), waits for it
//! to be present and powered, discovers with the lockgate service filter, and reports
//! lockgate advertisements. When the adapter is powered off or vanishes it reports that,
//! and waits for it again. It also carries out the adapter-wide commands: a power cycle, a
//! restart of discovery, removing a device's bond, and the pairing window's agent, `Pairable`
//! and bonds ([`super::bonding`]).

use super::bonding::Pairing;
use super::{AdapterCmd, BleEvent};
use crate::backoff::Backoff;
use bluer::{Adapter, AdapterEvent, AdapterProperty, Address, DiscoveryFilter, Session};
use futures_util::{Stream, StreamExt};
use lockgate_wire::adv::{Advertisement, COMPANY_ID};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long the adapter stays off in a power cycle.
pub const POWER_CYCLE_OFF: Duration = Duration::from_secs(1);
/// How long a restart of discovery waits for the old session to stop.
const DISCOVERY_STOP_WAIT: Duration = Duration::from_secs(2);

/// Runs until `shutdown`.
pub async fn run(
    name: Option<String>,
    events: mpsc::Sender<BleEvent>,
    mut cmds: mpsc::Receiver<AdapterCmd>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        let outcome = match Session::new().await {
            Ok(session) => watch(&session, name.as_deref(), &events, &mut cmds, &shutdown).await,
            Err(e) => Err(format!("cannot reach BlueZ on the system bus: {e}")),
        };
        match outcome {
            Ok(()) => return,
            Err(reason) => {
                if events.send(BleEvent::AdapterDown { reason }).await.is_err() {
                    return;
                }
            }
        }
        let delay = backoff.next_delay();
        if wait_refusing(delay, &mut cmds, &shutdown).await {
            return;
        }
    }
}

/// Sleeps `delay`, refusing commands meanwhile; true when shut down.
async fn wait_refusing(
    delay: Duration,
    cmds: &mut mpsc::Receiver<AdapterCmd>,
    shutdown: &CancellationToken,
) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return false,
            () = shutdown.cancelled() => return true,
            cmd = cmds.recv() => match cmd {
                Some(cmd) => cmd.refuse("the Bluetooth adapter is not available"),
                None => return true,
            },
        }
    }
}

async fn find(session: &Session, name: Option<&str>) -> Result<Adapter, String> {
    let adapter = match name {
        Some(name) => session.adapter(name).map_err(|e| e.to_string())?,
        None => session
            .default_adapter()
            .await
            .map_err(|e| format!("no Bluetooth adapter: {e}"))?,
    };
    // Building the handle does not check that the adapter exists; asking it something does.
    adapter
        .is_powered()
        .await
        .map_err(|e| format!("adapter {}: {e}", adapter.name()))?;
    Ok(adapter)
}

/// Serves one adapter while it is present and powered. `Ok` only on shutdown.
async fn watch(
    session: &Session,
    name: Option<&str>,
    events: &mpsc::Sender<BleEvent>,
    cmds: &mut mpsc::Receiver<AdapterCmd>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let adapter = find(session, name).await?;
    let mut adapter_events = adapter.events().await.map_err(|e| e.to_string())?;
    if !adapter.is_powered().await.map_err(|e| e.to_string())? {
        let reason = format!("adapter {} is powered off", adapter.name());
        let _ = events.send(BleEvent::AdapterDown { reason }).await;
        wait_powered(&mut adapter_events, cmds, shutdown).await?;
    }
    let filter = DiscoveryFilter {
        uuids: [bluer::Uuid::from_u128(lockgate_wire::gatt::SERVICE_UUID)].into(),
        transport: bluer::DiscoveryTransport::Le,
        ..Default::default()
    };
    adapter
        .set_discovery_filter(filter)
        .await
        .map_err(|e| format!("discovery filter: {e}"))?;
    let mut discovery = discover(&adapter).await?;
    log::info!("ble: adapter {} ready, discovering", adapter.name());
    if events
        .send(BleEvent::AdapterUp(adapter.clone()))
        .await
        .is_err()
    {
        return Ok(());
    }
    let mut pairing = Pairing::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                if pairing.is_open() {
                    pairing.close(&adapter).await;
                }
                return Ok(());
            }
            event = discovery.next() => match event {
                Some(AdapterEvent::DeviceAdded(addr)) => {
                    if let Some(advert) = advertisement(&adapter, addr).await {
                        if events.send(advert).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                Some(_) => {}
                None => return Err(format!("adapter {}: discovery ended", adapter.name())),
            },
            event = adapter_events.next() => match event {
                Some(AdapterEvent::PropertyChanged(AdapterProperty::Powered(false))) => {
                    return Err(format!("adapter {} was powered off", adapter.name()));
                }
                Some(_) => {}
                None => return Err(format!("adapter {} was removed", adapter.name())),
            },
            cmd = cmds.recv() => match cmd {
                Some(AdapterCmd::OpenPairing { passkey, reply }) => {
                    let opened = pairing.open(session, &adapter, passkey).await;
                    if let Err(e) = &opened {
                        log::error!("pairing: {e}");
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(opened);
                    }
                }
                Some(AdapterCmd::ClosePairing) => pairing.close(&adapter).await,
                Some(AdapterCmd::RestartDiscovery) => {
                    drop(discovery);
                    wait_discovery_stopped(&adapter).await;
                    discovery = discover(&adapter).await?;
                    log::info!("ble: adapter {}: discovery restarted", adapter.name());
                }
                Some(AdapterCmd::Bond { lock, address }) => {
                    pairing.bond(&adapter, lock, address, events.clone());
                }
                Some(cmd) => carry_out(&adapter, cmd).await,
                None => return Ok(()),
            },
        }
    }
}

/// Starts a discovery session (with the filter set before); dropping the stream ends it.
async fn discover(adapter: &Adapter) -> Result<impl Stream<Item = AdapterEvent>, String> {
    adapter
        .discover_devices_with_changes()
        .await
        .map_err(|e| format!("starting discovery: {e}"))
}

/// After the discovery stream was dropped: waits (at most [`DISCOVERY_STOP_WAIT`]) until the
/// adapter stops discovering. bluer stops the session in a task of its own, and a new session
/// asked for before that would join the old one instead of starting anew. Another BlueZ client
/// discovering keeps `Discovering` true: then the wait runs out, and the session is new anyway.
async fn wait_discovery_stopped(adapter: &Adapter) {
    let stopped = async {
        while adapter.is_discovering().await.unwrap_or(false) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let _ = tokio::time::timeout(DISCOVERY_STOP_WAIT, stopped).await;
}

async fn wait_powered(
    adapter_events: &mut (impl futures_util::Stream<Item = AdapterEvent> + Unpin),
    cmds: &mut mpsc::Receiver<AdapterCmd>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Err("shutting down".into()),
            event = adapter_events.next() => match event {
                Some(AdapterEvent::PropertyChanged(AdapterProperty::Powered(true))) => return Ok(()),
                Some(_) => {}
                None => return Err("the adapter was removed".into()),
            },
            cmd = cmds.recv() => match cmd {
                Some(cmd) => cmd.refuse("the Bluetooth adapter is powered off"),
                None => return Err("shutting down".into()),
            },
        }
    }
}

async fn carry_out(adapter: &Adapter, cmd: AdapterCmd) {
    match cmd {
        AdapterCmd::PowerCycle => {
            log::warn!("ble: power-cycling adapter {}", adapter.name());
            if let Err(e) = adapter.set_powered(false).await {
                log::error!("ble: powering {} off: {e}", adapter.name());
                return;
            }
            tokio::time::sleep(POWER_CYCLE_OFF).await;
            if let Err(e) = adapter.set_powered(true).await {
                log::error!("ble: powering {} on: {e}", adapter.name());
            }
        }
        AdapterCmd::RemoveDevice { address, reply } => {
            let result = adapter
                .remove_device(address)
                .await
                .map_err(|e| format!("removing the bond of {address}: {e}"));
            let _ = reply.send(result);
        }
        AdapterCmd::IsBonded { address, reply } => {
            let result = match adapter.device(address) {
                Ok(device) => device.is_paired().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = reply.send(result);
        }
        // Carried out in `watch`, which holds the pairing state.
        cmd @ (AdapterCmd::OpenPairing { .. }
        | AdapterCmd::ClosePairing
        | AdapterCmd::Bond { .. }
        | AdapterCmd::RestartDiscovery) => {
            cmd.refuse("internal error: a discovery or pairing command reached carry_out");
        }
    }
}

/// The lockgate advertisement of device `addr`, if it has one.
async fn advertisement(adapter: &Adapter, addr: Address) -> Option<BleEvent> {
    let device = adapter.device(addr).ok()?;
    let data = device.manufacturer_data().await.ok()??;
    let payload = data.get(&COMPANY_ID)?;
    let adv = match Advertisement::decode(COMPANY_ID, payload) {
        Ok(adv) => adv,
        Err(e) => {
            log::debug!("ble: {addr}: not a lockgate advertisement: {e}");
            return None;
        }
    };
    let rssi = device.rssi().await.ok().flatten();
    let name = device.name().await.ok().flatten();
    Some(BleEvent::Advert {
        lock: adv.lock_id,
        address: addr,
        rssi,
        flags: adv.flags,
        name,
    })
}
