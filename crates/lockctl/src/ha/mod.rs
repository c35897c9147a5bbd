//! `lockctl ha`: the Home Assistant bridge (docs/HOMEASSISTANT.md). A long-running endpoint
//! that holds its own paired key for each lock in its key store, keeps the locks' state
//! current from their E2E state events, and exposes every lock as Home Assistant entities
//! (MQTT discovery) on a home-automation broker, where commands come back.
//!
//! Two connections: to the gateway's broker for E2E frames (blind to everything), and to the
//! home-automation broker (may be the same) for entities, whose state is plaintext by
//! design. A retained command, or one arriving within `command_grace` of a (re)connect, is
//! ignored: a broker replaying its store never moves a bolt.

pub mod agent;
pub mod entities;

use crate::broker::{Broker, Message};
use crate::config::Settings;
use crate::error::Error;
use crate::pairing::gateway_topics;
use crate::relay::{GatewayState, Receipt, CONNECT_LIMIT};
use crate::store::{KeyStore, LockClaim, LockRecord};
use agent::{Agent, Command, Out};
use lockgate_e2e::EndpointSession;
use lockgate_wire::topics::LockTopics;
use std::future::Future;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_secs(1);

const NO_HOME_BROKER: &str = "lockctl ha needs [ha.broker] in lockctl.toml: the broker Home \
     Assistant uses, which sees lock states in clear and whose publishers can command the \
     locks. Set `share_gateway_broker = true` under [ha] instead only if the gateway's broker \
     is local and only your Home Assistant may publish to it (docs/HOMEASSISTANT.md)";

struct Bridged {
    record: LockRecord,
    claim: LockClaim,
    agent: Agent,
    gateway: LockTopics,
    gateway_state: String,
    gateway_locks: String,
    entities: entities::Topics,
    /// The gateway no longer lists the lock: its entities are withdrawn.
    removed: bool,
    /// The `unlatch` flag the discovery configs were last published with.
    discovered: Option<bool>,
}

/// The bridge, until `shutdown` completes.
pub async fn run(
    store: &KeyStore,
    settings: &Settings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let ha = &settings.ha;
    let mut locks = Vec::new();
    for record in store.locks()? {
        let claim = store.claim(record.lock)?;
        let record = claim.load()?.ok_or(Error::NotPaired(record.lock))?;
        let topics = gateway_topics(&record.gateway, Some(&record.base_topic))?;
        let session = EndpointSession::new(record.paired_lock(), record.channel);
        locks.push(Bridged {
            agent: Agent::new(session),
            gateway: topics.for_lock(&record.lock),
            gateway_state: topics.bridge_state(),
            gateway_locks: topics.bridge_locks(),
            removed: false,
            entities: entities::Topics::new(&ha.topic, &record.lock),
            discovered: None,
            record,
            claim,
        });
    }
    if locks.is_empty() {
        return Err(Error::Usage(
            "this key store has no paired lock: pair the bridge first (`lockctl join` with an \
             invite, under the same --config-dir)"
                .into(),
        ));
    }
    let ha_broker = match (&ha.broker, ha.share_gateway_broker) {
        (Some(broker), _) => broker,
        (None, true) => &settings.broker,
        (None, false) => return Err(Error::Usage(NO_HOME_BROKER.into())),
    };
    let mut gateway = Broker::connect(&settings.broker, CONNECT_LIMIT).await?;
    for l in &locks {
        for filter in [
            l.gateway_state.clone(),
            l.gateway_locks.clone(),
            l.gateway.availability(),
            l.gateway.up(l.agent.auth_id()),
            l.gateway.delivery(),
        ] {
            gateway.subscribe(&filter).await?;
        }
    }
    let bridge_state = entities::bridge_state(&ha.topic);

    let will = (bridge_state.as_str(), entities::OFFLINE.as_bytes());
    let mut home = Broker::connect_with_will(ha_broker, CONNECT_LIMIT, Some(will)).await?;
    home.subscribe(&format!("{}/+/set", ha.topic)).await?;
    let ha_status = format!("{}/status", ha.discovery_prefix);
    home.subscribe(&ha_status).await?;
    log::info!(
        "bridging {} lock(s) to {} (entities under {}/)",
        locks.len(),
        home.address(),
        ha.topic
    );

    let mut connections = 0;
    let mut gateway_connections = gateway.connections();
    let mut connected_at = Instant::now();
    tokio::pin!(shutdown);
    loop {
        let now = Instant::now();
        if home.connections() != connections {
            // (Re)connected: announce ourselves, and hold commands off for the grace time.
            connections = home.connections();
            connected_at = now;
            home.publish_retained(&bridge_state, entities::ONLINE.into())
                .await?;
            republish(&home, settings, &mut locks).await?;
        }
        let mut outs = Vec::new();
        if gateway.connections() != gateway_connections {
            // Frames relayed while we were away are lost: read every lock's state again.
            gateway_connections = gateway.connections();
            for (i, l) in locks.iter_mut().enumerate() {
                outs.extend(l.agent.refresh(now).into_iter().map(|o| (i, o)));
            }
        }
        let deadline = tokio::time::Instant::now() + TICK;
        let woke = tokio::select! {
            () = &mut shutdown => break,
            m = gateway.next_message(deadline) => m.map(From::Gateway),
            m = home.next_message(deadline) => m.map(From::Home),
        };
        let now = Instant::now();
        match woke {
            Some(From::Gateway(m)) => {
                for (i, l) in locks.iter_mut().enumerate() {
                    if m.topic == l.gateway_locks {
                        listed(&home, settings, l, &m.payload).await?;
                    }
                    outs.extend(from_gateway(now, l, &m).into_iter().map(|o| (i, o)));
                }
            }
            // Home Assistant (re)started.
            Some(From::Home(m)) if m.topic == ha_status && m.payload == b"online" => {
                republish(&home, settings, &mut locks).await?;
            }
            Some(From::Home(m)) => {
                // The client counts a ConnAck before it hands on any message of that
                // connection: a command of a connection made while we waited is early.
                let early =
                    home.connections() != connections || now < connected_at + ha.command_grace;
                if let Some(i) = locks.iter().position(|l| m.topic == l.entities.leaf("set")) {
                    let lock = locks[i].record.lock;
                    let agent = &mut locks[i].agent;
                    let out = command(now, agent, &lock, &m, early, ha.command_grace);
                    outs.extend(out.into_iter().map(|o| (i, o)));
                }
            }
            None => {}
        }
        for (i, l) in locks.iter_mut().enumerate() {
            outs.extend(l.agent.tick(now).into_iter().map(|o| (i, o)));
        }
        for (i, out) in outs {
            carry_out(&gateway, &home, settings, &mut locks[i], out).await?;
        }
    }
    for l in &mut locks {
        l.record.channel.rx_top = l.agent.session_state().rx_top;
        if let Err(e) = l.claim.save(&l.record) {
            log::warn!("lock {}: {e}", l.record.lock);
        }
    }
    let _ = home
        .publish_retained(&bridge_state, entities::OFFLINE.into())
        .await;
    home.disconnect(Duration::from_secs(2)).await;
    gateway.disconnect(Duration::from_secs(2)).await;
    Ok(())
}

/// The gateway's list of its locks: a lock no longer on it has its entities withdrawn
/// (empty retained configs and states); back on it, they return.
async fn listed(
    home: &Broker,
    settings: &Settings,
    l: &mut Bridged,
    payload: &[u8],
) -> Result<(), Error> {
    #[derive(serde::Deserialize)]
    struct Listed {
        id: String,
    }
    let Ok(list) = serde_json::from_slice::<Vec<Listed>>(payload) else {
        return Ok(());
    };
    let id = l.record.lock.to_string();
    let removed = !list.iter().any(|x| x.id == id);
    if removed == l.removed {
        return Ok(());
    }
    l.removed = removed;
    if !removed {
        log::info!("lock {id}: listed by its gateway again");
        l.discovered = None;
        return publish(home, settings, l).await;
    }
    log::warn!("lock {id}: its gateway no longer lists it; withdrawing its entities");
    let ha = &settings.ha;
    let lock = entities::Lock {
        id: l.record.lock,
        gateway: &l.record.gateway,
        unlatch: false,
    };
    for (topic, _) in entities::discovery(&ha.discovery_prefix, &ha.topic, &lock) {
        home.publish_retained(&topic, Vec::new()).await?;
    }
    for leaf in ["state", "battery", "door", "attributes", "availability"] {
        home.publish_retained(&l.entities.leaf(leaf), Vec::new())
            .await?;
    }
    l.discovered = None;
    Ok(())
}

/// Publishes every lock's discovery configs and state again.
async fn republish(home: &Broker, settings: &Settings, locks: &mut [Bridged]) -> Result<(), Error> {
    for l in locks {
        l.discovered = None;
        publish(home, settings, l).await?;
    }
    Ok(())
}

/// What woke the bridge.
enum From {
    Gateway(Message),
    Home(Message),
}

/// A message on a lock's command topic: a command for the agent unless it is unknown,
/// retained, or `early` (within `grace` of connecting to the broker).
fn command(
    now: Instant,
    agent: &mut Agent,
    lock: &lockgate_wire::LockId,
    m: &Message,
    early: bool,
    grace: Duration,
) -> Vec<Out> {
    match accepted(lock, m, early, grace) {
        Some(command) => {
            log::info!("lock {lock}: {command:?} from Home Assistant");
            agent.command(now, command)
        }
        None => Vec::new(),
    }
}

/// The command in `m`, unless it is unknown, retained or `early`; says why in the log.
fn accepted(
    lock: &lockgate_wire::LockId,
    m: &Message,
    early: bool,
    grace: Duration,
) -> Option<Command> {
    let Some(command) = Command::parse(&m.payload) else {
        log::warn!(
            "lock {lock}: unknown command on {}: use LOCK, UNLOCK or OPEN",
            m.topic
        );
        return None;
    };
    if m.retain {
        log::warn!("lock {lock}: ignored a retained {command:?} (a stored command never acts)");
        return None;
    }
    if early {
        log::warn!(
            "lock {lock}: ignored {command:?}: it arrived within {grace:?} of connecting to \
             the broker"
        );
        return None;
    }
    Some(command)
}

/// A gateway message for lock `l`, if it concerns it.
fn from_gateway(now: Instant, l: &mut Bridged, m: &Message) -> Vec<Out> {
    if m.topic == l.gateway_state {
        return match GatewayState::parse(&m.payload) {
            Some(GatewayState::Online) => l.agent.gateway(now, true),
            Some(GatewayState::Offline) => l.agent.gateway(now, false),
            None => Vec::new(),
        };
    }
    if m.topic == l.gateway.availability() {
        let online = GatewayState::parse(&m.payload) == Some(GatewayState::Online);
        return l.agent.link(online);
    }
    if m.topic == l.gateway.up(l.agent.auth_id()) {
        return l.agent.frame(now, &m.payload);
    }
    if m.topic == l.gateway.delivery() {
        if let Ok(r) = serde_json::from_slice::<Receipt>(&m.payload) {
            let ours = r.auth_id == Some(l.agent.auth_id());
            if let (true, Some(counter), "expired" | "rejected") =
                (ours, r.counter, r.status.as_str())
            {
                let reason = r.reason.unwrap_or(r.status);
                return l.agent.undelivered(now, counter, &reason);
            }
        }
    }
    Vec::new()
}

async fn carry_out(
    gateway: &Broker,
    home: &Broker,
    settings: &Settings,
    l: &mut Bridged,
    out: Out,
) -> Result<(), Error> {
    match out {
        Out::Persist(state) => {
            l.record.channel = state;
            l.claim.save(&l.record)?;
        }
        Out::Send(frame) => gateway.publish(&l.gateway.down(), frame).await?,
        Out::Changed => publish(home, settings, l).await?,
        Out::Failed(message) => log::warn!("lock {}: {message}", l.record.lock),
    }
    Ok(())
}

/// Publishes the lock's discovery configs (when its latch support is known and changed)
/// and its retained state.
async fn publish(home: &Broker, settings: &Settings, l: &mut Bridged) -> Result<(), Error> {
    if l.removed {
        return Ok(());
    }
    let unlatch = l.agent.status().map(|s| s.unlatch_supported);
    if let Some(unlatch) = unlatch.filter(|u| l.discovered != Some(*u)) {
        let lock = entities::Lock {
            id: l.record.lock,
            gateway: &l.record.gateway,
            unlatch,
        };
        let ha = &settings.ha;
        for (topic, config) in entities::discovery(&ha.discovery_prefix, &ha.topic, &lock) {
            home.publish_retained(&topic, config.to_string().into_bytes())
                .await?;
        }
        l.discovered = Some(unlatch);
    }
    for (topic, payload) in entities::states(&l.entities, &l.agent) {
        home.publish_retained(&topic, payload.into_bytes()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8], retain: bool) -> Message {
        Message {
            topic: "lockctl/0123456789abcdef/set".into(),
            payload: payload.to_vec(),
            retain,
        }
    }

    #[test]
    fn only_fresh_live_known_commands_are_accepted() {
        let lock: lockgate_wire::LockId = "0123456789abcdef".parse().unwrap();
        let grace = Duration::from_secs(5);
        let ok = |m: &Message, early| accepted(&lock, m, early, grace);
        assert_eq!(ok(&message(b"UNLOCK", false), false), Some(Command::Unlock));
        assert_eq!(ok(&message(b"UNLOCK", true), false), None, "retained");
        assert_eq!(ok(&message(b"UNLOCK", false), true), None, "early");
        assert_eq!(ok(&message(b"unlock", false), false), None, "unknown");
    }
}
