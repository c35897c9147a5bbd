//! Clients that leave the bus: bluetoothd forgets their agents, discovery sessions, filters
//! and notification sessions, so a restarted gateway starts from a clean slate.

use crate::bluez::emit_changed;
use crate::objects::paths;
use crate::world::{NotifyMode, Shared};
use futures_util::StreamExt;
use std::sync::Arc;
use zbus::zvariant::Value;

/// Watches `NameOwnerChanged` and cleans up after every unique name that disappears.
pub async fn watch(shared: Arc<Shared>) {
    let proxy = match zbus::fdo::DBusProxy::new(&shared.conn).await {
        Ok(p) => p,
        Err(e) => return log::warn!("cannot watch clients: {e}"),
    };
    let mut changes = match proxy.receive_name_owner_changed().await {
        Ok(s) => s,
        Err(e) => return log::warn!("cannot watch clients: {e}"),
    };
    while let Some(signal) = changes.next().await {
        let Ok(args) = signal.args() else { continue };
        if args.new_owner().is_none() && args.name().starts_with(':') {
            forget(&shared, args.name()).await;
        }
    }
}

/// Drops everything `client` held.
async fn forget(shared: &Arc<Shared>, client: &str) {
    let (stopped, silenced) = {
        let mut world = shared.world();
        world.agents.retain(|a| a.owner != client);
        let mut stopped = Vec::new();
        let mut silenced = Vec::new();
        for (a, adapter) in world.adapters.iter_mut().enumerate() {
            adapter.filters.remove(client);
            if adapter.discovery.remove(client).is_some() && adapter.discovery.is_empty() {
                stopped.push(crate::bluez::adapter_path(&adapter.name));
            }
            for (&l, dev) in adapter.devices.iter_mut() {
                if let NotifyMode::Sessions(clients) = &mut dev.notify {
                    if clients.remove(client) && clients.is_empty() {
                        dev.notify = NotifyMode::Off;
                        silenced.push((a, l));
                    }
                }
            }
        }
        (stopped, silenced)
    };
    for path in stopped {
        let changed = vec![("Discovering", Value::from(false))];
        emit_changed(&shared.conn, &path, "org.bluez.Adapter1", changed).await;
    }
    for (a, l) in silenced {
        if let Some(p) = paths(shared, a, l) {
            let changed = vec![("Notifying", Value::from(false))];
            emit_changed(
                &shared.conn,
                &p.tx,
                "org.bluez.GattCharacteristic1",
                changed,
            )
            .await;
        }
    }
}
