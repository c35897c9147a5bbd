//! Links between an adapter and a lock: connecting with realistic latency, dropping, `rx`
//! writes into the lock, and paced `tx` notifications out of it.

use crate::bluez::{emit_changed, BluezError};
use crate::objects::{export_gatt, paths};
use crate::timing::Timing;
use crate::world::{unix_ms, ConnectFault, NotifyMode, Shared};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use zbus::zvariant::Value;

const DEVICE: &str = "org.bluez.Device1";
const CHARACTERISTIC: &str = "org.bluez.GattCharacteristic1";
/// Notifications sent in one connection event before the next interval.
const NOTIFICATIONS_PER_EVENT: usize = 6;

/// Connects adapter `a` to lock `l`, as `Device1.Connect` does.
pub async fn connect(shared: &Arc<Shared>, a: usize, l: usize) -> Result<(), BluezError> {
    let delay = {
        let mut world = shared.world();
        if !world.adapters[a].powered {
            return Err(BluezError::NotReady("Resource Not Ready".into()));
        }
        let noise = world.next_noise();
        if let Some(fault) = world.locks[l].faults.connect.pop_front() {
            world.count("fault.connect");
            return Err(match fault {
                ConnectFault::InProgress => BluezError::InProgress("In Progress".into()),
                ConnectFault::Failed => BluezError::Failed("le-connection-abort-by-local".into()),
            });
        }
        let entry = &world.locks[l];
        let (in_range, linked_to) = (entry.in_range, entry.linked_to);
        let dev = world.adapters[a].devices.entry(l).or_default();
        if dev.connected {
            return Err(BluezError::AlreadyConnected("Already Connected".into()));
        }
        if dev.connecting {
            return Err(BluezError::InProgress("In Progress".into()));
        }
        if !in_range || linked_to.is_some_and(|other| other != a) {
            return Err(BluezError::Failed("le-connection-abort-by-local".into()));
        }
        dev.connecting = true;
        shared.config.timing.connect(noise)
    };
    Timing::wait(delay).await;
    let (sender, receiver) = mpsc::unbounded_channel();
    {
        let mut world = shared.world();
        let still_possible = world.adapters[a].powered && world.locks[l].in_range;
        let dev = world.adapters[a].devices.entry(l).or_default();
        dev.connecting = false;
        if !still_possible {
            return Err(BluezError::Failed("le-connection-abort-by-local".into()));
        }
        dev.connected = true;
        dev.link_tx = Some(sender);
        world.locks[l].linked_to = Some(a);
        world.count("link.connected");
    }
    let Some(p) = paths(shared, a, l) else {
        return Ok(());
    };
    emit_changed(
        &shared.conn,
        &p.device,
        DEVICE,
        vec![("Connected", Value::from(true))],
    )
    .await;
    tokio::spawn(pace_notifications(shared.clone(), a, l, receiver));
    let shared = shared.clone();
    tokio::spawn(async move {
        Timing::wait(shared.config.timing.intervals(1)).await;
        export_gatt(&shared, a, l).await;
        let resolved = {
            let mut world = shared.world();
            let dev = world.adapters[a].devices.entry(l).or_default();
            dev.services_resolved = dev.connected;
            dev.connected
        };
        if resolved {
            let changed = vec![("ServicesResolved", Value::from(true))];
            emit_changed(&shared.conn, &p.device, DEVICE, changed).await;
        }
    });
    Ok(())
}

/// Drops the link between adapter `a` and lock `l`, if up. Returns whether it was.
pub async fn drop_link(shared: &Arc<Shared>, a: usize, l: usize, why: &str) -> bool {
    let was_notifying = {
        let mut world = shared.world();
        let Some(dev) = world.adapters[a].devices.get_mut(&l) else {
            return false;
        };
        if !dev.connected {
            return false;
        }
        dev.connected = false;
        dev.services_resolved = false;
        dev.link_tx = None;
        dev.write_acquired = false;
        if let Some(reader) = dev.write_reader.take() {
            reader.abort();
        }
        let was_notifying = !matches!(dev.notify, NotifyMode::Off);
        dev.notify = NotifyMode::Off;
        let entry = &mut world.locks[l];
        entry.linked_to = None;
        entry.lock.link_lost();
        world.count(&format!("link.dropped.{why}"));
        was_notifying
    };
    log::info!("link {a}/{l} dropped: {why}");
    if let Some(p) = paths(shared, a, l) {
        let changed = vec![
            ("Connected", Value::from(false)),
            ("ServicesResolved", Value::from(false)),
        ];
        emit_changed(&shared.conn, &p.device, DEVICE, changed).await;
        if was_notifying {
            let changed = vec![
                ("Notifying", Value::from(false)),
                ("NotifyAcquired", Value::from(false)),
            ];
            emit_changed(&shared.conn, &p.tx, CHARACTERISTIC, changed).await;
        }
    }
    true
}

/// One ATT write to `rx` (a Write Request when `with_response`, else a Write Command).
pub async fn write_rx(
    shared: &Arc<Shared>,
    a: usize,
    l: usize,
    value: &[u8],
    with_response: bool,
) -> Result<(), BluezError> {
    let mtu = shared.config.mtu;
    let (slow, drop_now) = {
        let mut world = shared.world();
        let connected = world.adapters[a]
            .devices
            .get(&l)
            .is_some_and(|d| d.connected);
        if !connected {
            return Err(BluezError::Failed("Not connected".into()));
        }
        if value.len() > usize::from(mtu) - 3 {
            return Err(BluezError::InvalidValueLength("Invalid Length".into()));
        }
        let entry = &mut world.locks[l];
        let drop_now = match entry.faults.drop_link_after_writes.as_mut() {
            Some(0) => {
                entry.faults.drop_link_after_writes = None;
                true
            }
            Some(n) => {
                *n -= 1;
                false
            }
            None => false,
        };
        let slow = entry.faults.slow_writes;
        if !drop_now {
            let notifications = entry
                .lock
                .write_rx(value, mtu, Instant::now(), unix_ms())
                .map_err(|e| BluezError::Failed(e.to_string()))?;
            if let Some(tx) = world.adapters[a]
                .devices
                .get(&l)
                .and_then(|d| d.link_tx.clone())
            {
                for n in notifications {
                    let _ = tx.send(n);
                }
            }
        }
        (slow, drop_now)
    };
    if drop_now {
        shared.world().count("fault.link_drop");
        drop_link(shared, a, l, "fault").await;
        return Err(BluezError::Failed("Not connected".into()));
    }
    let response = if with_response {
        shared.config.timing.intervals(1)
    } else {
        std::time::Duration::ZERO
    };
    Timing::wait(response + slow).await;
    Ok(())
}

/// Sends queued notifications, a burst per connection interval, until the link drops.
async fn pace_notifications(
    shared: Arc<Shared>,
    a: usize,
    l: usize,
    mut queue: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(first) = queue.recv().await {
        Timing::wait(shared.config.timing.intervals(1)).await;
        let mut burst = vec![first];
        while burst.len() < NOTIFICATIONS_PER_EVENT {
            match queue.try_recv() {
                Ok(next) => burst.push(next),
                Err(_) => break,
            }
        }
        for value in burst {
            notify(&shared, a, l, value).await;
        }
    }
}

/// Delivers one notification the way the client asked for them.
async fn notify(shared: &Arc<Shared>, a: usize, l: usize, value: Vec<u8>) {
    enum Route {
        Socket(Arc<tokio::net::UnixDatagram>),
        Signal,
    }
    let route = {
        let mut world = shared.world();
        if world.locks[l].faults.lose_notifications > 0 {
            world.locks[l].faults.lose_notifications -= 1;
            world.count("fault.notification_lost");
            return;
        }
        let Some(dev) = world.adapters[a].devices.get_mut(&l) else {
            return;
        };
        let route = match &dev.notify {
            NotifyMode::Acquired(socket) => Route::Socket(socket.clone()),
            NotifyMode::Session(_) => {
                dev.tx_value = value.clone();
                Route::Signal
            }
            NotifyMode::Off => {
                world.count("notification.not_subscribed");
                return;
            }
        };
        world.count("notification.sent");
        route
    };
    match route {
        Route::Socket(socket) => {
            if let Err(e) = socket.send(&value).await {
                log::debug!("notification socket closed: {e}");
            }
        }
        Route::Signal => {
            if let Some(p) = paths(shared, a, l) {
                let changed = vec![("Value", Value::from(value))];
                emit_changed(&shared.conn, &p.tx, CHARACTERISTIC, changed).await;
            }
        }
    }
}
