//! Links between an adapter and a lock: connecting with realistic latency, dropping, `rx`
//! writes into the lock, and paced `tx` notifications out of it. Every link has an id, so the
//! late work of an old link (a pending notification, services resolving) never touches a new
//! one.

use crate::bluez::{emit_changed, BluezError};
use crate::objects::{export_gatt, paths};
use crate::timing::Timing;
use crate::world::{unix_ms, ConnectFault, NotifyMode, Shared, World};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use zbus::zvariant::Value;

const DEVICE: &str = "org.bluez.Device1";
const CHARACTERISTIC: &str = "org.bluez.GattCharacteristic1";
/// Notifications sent in one connection event before the next interval.
const NOTIFICATIONS_PER_EVENT: usize = 6;
/// How long a connection attempt to a silent lock waits before giving up (shortened from
/// the kernel's seconds to keep tests quick).
const CONNECT_TIMEOUT_INTERVALS: u32 = 10;

fn abort_by_local() -> BluezError {
    BluezError::Failed("le-connection-abort-by-local".into())
}

/// Connects adapter `a` to lock `l`, as `Device1.Connect` does for an LE device.
pub async fn connect(shared: &Arc<Shared>, a: usize, l: usize) -> Result<(), BluezError> {
    let timing = shared.config.timing;
    let (delay, reachable) = {
        let mut world = shared.world();
        if !world.adapters[a].powered {
            return Err(BluezError::NotReady("Resource Not Ready".into()));
        }
        let noise = world.next_noise();
        if let Some(fault) = world.locks[l].faults.connect.pop_front() {
            world.count("fault.connect");
            return Err(match fault {
                ConnectFault::InProgress => BluezError::InProgress("In Progress".into()),
                ConnectFault::Failed => abort_by_local(),
            });
        }
        let entry = &world.locks[l];
        let reachable = entry.in_range && entry.linked_to.is_none_or(|other| other == a);
        let dev = world.adapters[a].devices.entry(l).or_default();
        if dev.connected {
            return Ok(());
        }
        if dev.connecting {
            return Err(BluezError::InProgress("In Progress".into()));
        }
        dev.connecting = true;
        match reachable {
            true => (timing.connect(noise), true),
            false => (timing.intervals(CONNECT_TIMEOUT_INTERVALS), false),
        }
    };
    Timing::wait(delay).await;
    let (sender, receiver) = mpsc::unbounded_channel();
    let link_id = {
        let mut world = shared.world();
        let entry = &world.locks[l];
        let still = reachable
            && world.adapters[a].powered
            && entry.in_range
            && entry.linked_to.is_none_or(|other| other == a);
        let dev = world.adapters[a].devices.entry(l).or_default();
        // RemoveDevice while connecting: the object is gone, so is the attempt.
        let still = still && dev.exported;
        dev.connecting = false;
        if !still {
            return Err(abort_by_local());
        }
        dev.connected = true;
        dev.permanent = true;
        dev.link_id += 1;
        dev.link_tx = Some(sender);
        let link_id = dev.link_id;
        world.locks[l].linked_to = Some(a);
        world.count("link.connected");
        link_id
    };
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
    tokio::spawn(pace_notifications(shared.clone(), a, l, link_id, receiver));
    tokio::spawn(resolve_services(shared.clone(), a, l, link_id));
    Ok(())
}

/// Sends lock `l`'s waiting state events (PROTOCOL.md §9.6) if a client listens on its link:
/// connected, services resolved, `tx` notifying. Call with the world locked after anything
/// that may queue events or make a link ready for them.
pub fn flush_events(world: &mut World, l: usize, mtu: u16) {
    let Some(a) = world.locks[l].linked_to else {
        return;
    };
    let Some(dev) = world.adapters[a].devices.get(&l) else {
        return;
    };
    let listening = match &dev.notify {
        NotifyMode::Off => false,
        NotifyMode::Sessions(clients) => !clients.is_empty(),
        NotifyMode::Acquired(_) => true,
    };
    let Some(tx) = dev
        .link_tx
        .clone()
        .filter(|_| dev.connected && dev.services_resolved && listening)
    else {
        return;
    };
    let lock = &mut world.locks[l].lock;
    if !lock.has_pending_events() {
        return;
    }
    match lock.collect_events(mtu, unix_ms()) {
        Ok(fragments) => {
            for fragment in fragments {
                let _ = tx.send(fragment);
            }
            world.count("events.sent");
        }
        Err(e) => log::error!("lock {}: {e}", lock.lock_id()),
    }
}

/// Exports the GATT database and sets `ServicesResolved`, one interval after connecting.
async fn resolve_services(shared: Arc<Shared>, a: usize, l: usize, link_id: u64) {
    Timing::wait(shared.config.timing.intervals(1)).await;
    export_gatt(&shared, a, l).await;
    let resolved = {
        let mut world = shared.world();
        let dev = world.adapters[a].devices.entry(l).or_default();
        let current = dev.connected && dev.link_id == link_id;
        dev.services_resolved |= current;
        if current {
            // `StartNotify` sessions outlive links: a client may be listening already.
            flush_events(&mut world, l, shared.config.mtu);
        }
        current
    };
    if let (true, Some(p)) = (resolved, paths(&shared, a, l)) {
        let changed = vec![("ServicesResolved", Value::from(true))];
        emit_changed(&shared.conn, &p.device, DEVICE, changed).await;
    }
}

/// Drops the link between adapter `a` and lock `l`, if up. Returns whether it was.
/// `StartNotify` sessions survive (bluetoothd re-registers them on the next link); acquired
/// sockets are shut down, so their holders see the hang-up.
pub async fn drop_link(shared: &Arc<Shared>, a: usize, l: usize, why: &str) -> bool {
    let (had_write, had_notify) = {
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
        // bluetoothd's default filter (`DuplicateData` true) signals every advertisement
        // report; the simulation signals changes only, and the first report after a link
        // again, so that a client sees flags (`pending`) a lock raises anew once unlinked.
        dev.adv = None;
        dev.write_pending = false;
        let write = dev.write_socket.take();
        let notify = match std::mem::take(&mut dev.notify) {
            NotifyMode::Acquired(socket) => Some(socket),
            sessions => {
                dev.notify = sessions;
                None
            }
        };
        for socket in write.iter().chain(notify.iter()) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let entry = &mut world.locks[l];
        entry.linked_to = None;
        entry.lock.link_lost();
        world.count(&format!("link.dropped.{why}"));
        (write.is_some(), notify.is_some())
    };
    log::info!("link {a}/{l} dropped: {why}");
    if let Some(p) = paths(shared, a, l) {
        let conn = &shared.conn;
        emit_changed(
            conn,
            &p.device,
            DEVICE,
            vec![("ServicesResolved", Value::from(false))],
        )
        .await;
        emit_changed(
            conn,
            &p.device,
            DEVICE,
            vec![("Connected", Value::from(false))],
        )
        .await;
        if had_write {
            let changed = vec![("WriteAcquired", Value::from(false))];
            emit_changed(conn, &p.rx, CHARACTERISTIC, changed).await;
        }
        if had_notify {
            let changed = vec![("NotifyAcquired", Value::from(false))];
            emit_changed(conn, &p.tx, CHARACTERISTIC, changed).await;
        }
    }
    true
}

/// One ATT write to `rx`: a Write Request when `with_response` (one at a time, answered a
/// connection interval later; longer than MTU − 3 becomes a long write), else a Write Command.
pub async fn write_rx(
    shared: &Arc<Shared>,
    a: usize,
    l: usize,
    value: &[u8],
    with_response: bool,
) -> Result<(), BluezError> {
    let mtu = shared.config.mtu;
    let timing = shared.config.timing;
    let (slow, drop_now, link_id, rounds) = {
        let mut world = shared.world();
        let dev = world.adapters[a].devices.entry(l).or_default();
        if !dev.connected {
            return Err(BluezError::Failed("Not connected".into()));
        }
        let payload = usize::from(mtu).saturating_sub(3).max(1);
        if !with_response && value.len() > payload {
            return Err(BluezError::Failed("Failed to initiate write".into()));
        }
        if with_response {
            if dev.write_pending {
                return Err(BluezError::InProgress("In Progress".into()));
            }
            dev.write_pending = true;
        }
        let link_id = dev.link_id;
        let rounds = value.len().div_ceil(payload).max(1) as u32;
        let tx = dev.link_tx.clone();
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
        if !drop_now {
            let notifications = entry
                .lock
                .write_rx(value, mtu, Instant::now(), unix_ms())
                .map_err(|e| BluezError::Failed(e.to_string()));
            let notifications = match notifications {
                Ok(n) => n,
                Err(e) => {
                    world.adapters[a]
                        .devices
                        .entry(l)
                        .or_default()
                        .write_pending = false;
                    return Err(e);
                }
            };
            for n in notifications {
                if let Some(tx) = &tx {
                    let _ = tx.send(n);
                }
            }
        }
        let slow = entry.faults.slow_writes;
        if !drop_now {
            // An actuation queues events for every subscriber, the sender included.
            flush_events(&mut world, l, mtu);
        }
        (slow, drop_now, link_id, rounds)
    };
    if drop_now {
        shared.world().count("fault.link_drop");
        drop_link(shared, a, l, "fault").await;
        return Err(BluezError::Failed("Not connected".into()));
    }
    let response = if with_response {
        timing.intervals(rounds)
    } else {
        Default::default()
    };
    Timing::wait(response + slow).await;
    if with_response {
        let mut world = shared.world();
        if let Some(dev) = world.adapters[a]
            .devices
            .get_mut(&l)
            .filter(|d| d.link_id == link_id)
        {
            dev.write_pending = false;
        }
    }
    Ok(())
}

/// Sends queued notifications, a burst per connection interval, until the link drops.
async fn pace_notifications(
    shared: Arc<Shared>,
    a: usize,
    l: usize,
    link_id: u64,
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
            notify(&shared, a, l, link_id, value).await;
        }
    }
}

/// Delivers one notification the way the client asked for them, on link `link_id` only.
async fn notify(shared: &Arc<Shared>, a: usize, l: usize, link_id: u64, value: Vec<u8>) {
    let socket = {
        let mut world = shared.world();
        let current = world.adapters[a]
            .devices
            .get(&l)
            .is_some_and(|d| d.connected && d.link_id == link_id);
        if !current {
            return;
        }
        if world.locks[l].faults.lose_notifications > 0 {
            world.locks[l].faults.lose_notifications -= 1;
            world.count("fault.notification_lost");
            return;
        }
        let Some(dev) = world.adapters[a].devices.get_mut(&l) else {
            return;
        };
        let socket = match &dev.notify {
            NotifyMode::Acquired(socket) => Some(socket.clone()),
            NotifyMode::Sessions(clients) if !clients.is_empty() => {
                dev.tx_value = value.clone();
                None
            }
            _ => {
                world.count("notification.not_subscribed");
                return;
            }
        };
        world.count("notification.sent");
        socket
    };
    match socket {
        // Non-blocking, like bluetoothd: a client that stops reading loses notifications
        // instead of stalling the link.
        Some(socket) => {
            if socket.try_send(&value).is_err() {
                shared.world().count("notification.dropped_socket_full");
            }
        }
        None => {
            if let Some(p) = paths(shared, a, l) {
                let changed = vec![("Value", Value::from(value))];
                emit_changed(&shared.conn, &p.tx, CHARACTERISTIC, changed).await;
            }
        }
    }
}
