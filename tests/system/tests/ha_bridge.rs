//! `lockctl ha`, the Home Assistant bridge, as a process against the real bed (mosquitto,
//! locksim, lockgated), with a test client acting as Home Assistant: discovery, commands
//! that move the simulated lock, a knob turned by hand reaching the state topic, retained and
//! early commands ignored, the gateway going away and coming back, stable unique ids, and
//! entities withdrawn when the gateway no longer has the lock. The gateway publishes its own
//! discovery of link health on the same devices; every config of both is checked against
//! Home Assistant's documented schema.

use anyhow::{ensure, Context, Result};
use lockgate_systest::bridge::{home_assistant, paired_bridge, wait_payload, GRACE, PREFIX};
use lockgate_systest::broker::Broker;
use lockgate_systest::ha_schema::{check, platform_of};
use lockgate_systest::mqtt::Mqtt;
use lockgate_systest::testbed::{GATEWAY_ID, WAIT};
use lockgate_systest::{run, TestBed};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

async fn mechanism(bed: &TestBed) -> Result<String> {
    bed.sim.mechanism(&bed.lock_id(0)).await
}

/// The discovery configs of node `node` received so far (the latest of each topic, empty
/// ones left out), by topic.
fn configs(ha: &Mqtt, node: &str) -> Vec<(String, Value)> {
    let node = format!("/{node}/");
    let mut found: Vec<(String, Value)> = Vec::new();
    for m in ha.messages() {
        if m.topic.starts_with(PREFIX) && m.topic.contains(&node) {
            found.retain(|(t, _)| *t != m.topic);
            if let Ok(v) = serde_json::from_slice(&m.payload) {
                found.push((m.topic.clone(), v));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Every config valid for its platform in Home Assistant's schema.
fn valid(configs: &[(String, Value)]) -> Result<()> {
    for (topic, config) in configs {
        let platform = platform_of(topic).context("a config topic")?;
        if let Err(problems) = check(platform, config) {
            anyhow::bail!("{topic}: {problems:?}\n{config:#}");
        }
    }
    Ok(())
}

fn unique_ids(configs: &[(String, Value)]) -> Vec<Value> {
    configs
        .iter()
        .map(|(_, v)| v["unique_id"].clone())
        .collect()
}

#[test]
fn home_assistant_drives_the_lock_and_sees_it_turned_by_hand() {
    run(LIMIT, |diag| async move {
        let discovery = (
            "LOCKGATE_HOMEASSISTANT__ENABLED".to_owned(),
            "true".to_owned(),
        );
        let mut bed = TestBed::builder()
            .gateway(move |c| c.env.push(discovery))
            .start(&diag)
            .await?;
        let lock = bed.lock_id(0).to_string();
        // Home Assistant's own broker; the gateway's carries only encrypted frames and the
        // gateway's diagnostics.
        let mut home = Broker::spawn().await?;
        let (admin, bridge) = paired_bridge(&bed, 0, Some(home.port())).await?;
        // The bridge is an ordinary endpoint: the admin sees it, with its role, by its name.
        let users = admin.run(&["users", "list", &lock, "--json"]).await?.ok()?;
        let listed = users["users"].as_array().context("users")?;
        ensure!(
            listed
                .iter()
                .any(|u| u["name"] == "home-assistant" && u["role"] == "user"),
            "{users}"
        );

        // Without a home-automation broker of its own, and without saying that it shares the
        // gateway's, the bridge refuses to start.
        let refused = admin.run(&["ha"]).await?;
        ensure!(
            refused.code != Some(0) && refused.stderr.contains("[ha.broker]"),
            "{refused:#?}"
        );

        let ha = home_assistant(home.port()).await?;
        let gateway_side = home_assistant(bed.broker.port()).await?;
        let set = format!("lockctl/{lock}/set");
        let state = format!("lockctl/{lock}/state");
        // A retained UNLOCK waits on the broker before the bridge starts: it must never act.
        ha.publish(&set, b"UNLOCK", true).await?;

        let running = bridge.spawn(&["ha", "-v"])?;
        wait_payload(&ha, "lockctl/bridge/state", "online").await?;
        wait_payload(&ha, &format!("lockctl/{lock}/availability"), "online").await?;
        wait_payload(&ha, &state, "LOCKED").await?;
        let bridge_node = format!("lockctl_{lock}");
        let first = configs(&ha, &bridge_node);
        ensure!(
            first.len() == 3,
            "lock, battery and door configs: {first:#?}"
        );
        valid(&first)?;
        // The gateway's own: its device with four diagnostics, the lock's link with three,
        // on the same lock device as the bridge's entities.
        let gateway_node = format!("lockgate_{GATEWAY_ID}");
        let lock_node = format!("lockgate_{lock}");
        let gateway_first = configs(&gateway_side, &gateway_node);
        let link_first = configs(&gateway_side, &lock_node);
        ensure!(gateway_first.len() == 4, "{gateway_first:#?}");
        ensure!(link_first.len() == 3, "{link_first:#?}");
        valid(&gateway_first)?;
        valid(&link_first)?;
        for (topic, config) in &link_first {
            ensure!(
                config["device"]["identifiers"][0] == format!("lockgate_lock_{lock}"),
                "{topic}: {config}"
            );
        }
        // Home Assistant restarting: everything is published again.
        let status = format!("{PREFIX}/status");
        let (from, from_gateway) = (ha.cursor(), gateway_side.cursor());
        ha.publish(&status, b"online", false).await?;
        gateway_side.publish(&status, b"online", false).await?;
        ha.next_on(WAIT, from, &first[0].0).await?;
        for topic in [&gateway_first[0].0, &link_first[0].0] {
            gateway_side.next_on(WAIT, from_gateway, topic).await?;
        }
        for (topic, config) in &first {
            ensure!(config["unique_id"].is_string(), "{topic}: {config}");
            ensure!(
                config["device"]["identifiers"][0] == format!("lockgate_lock_{lock}"),
                "{topic}: {config}"
            );
            ensure!(
                config["device"]["via_device"] == format!("lockgate_gw_{GATEWAY_ID}"),
                "{topic}: {config}"
            );
        }
        let lock_config = &first
            .iter()
            .find(|(t, _)| t.contains("/lock/"))
            .context("lock")?
            .1;
        ensure!(lock_config["command_topic"] == set.as_str());
        ensure!(lock_config["payload_open"] == "OPEN", "{lock_config}");
        wait_payload(&ha, &format!("lockctl/{lock}/battery"), "100").await?;
        tokio::time::sleep(GRACE + Duration::from_secs(1)).await;
        ensure!(
            mechanism(&bed).await? == "locked",
            "the retained UNLOCK acted"
        );
        ha.publish(&set, b"", true).await?;

        // Commands from "Home Assistant" move the simulated lock, and the state follows.
        ha.publish(&set, b"UNLOCK", false).await?;
        wait_payload(&ha, &state, "UNLOCKED").await?;
        ensure!(mechanism(&bed).await? == "unlocked");
        ha.publish(&set, b"LOCK", false).await?;
        wait_payload(&ha, &state, "LOCKED").await?;
        ha.publish(&set, b"OPEN", false).await?;
        wait_payload(&ha, &state, "OPEN").await?;
        wait_payload(&ha, &state, "UNLOCKED").await?;

        // A knob turned by hand reaches the state topic through a state event.
        bed.sim.ctl(&["knob", &lock]).await?;
        wait_payload(&ha, &state, "LOCKED").await?;
        let attributes = ha
            .latest(&format!("lockctl/{lock}/attributes"))
            .context("attributes")?
            .json()?;
        ensure!(attributes["last_change"] == "manual", "{attributes}");
        // The door and the battery too.
        bed.sim.ctl(&["door", &lock, "open"]).await?;
        wait_payload(&ha, &format!("lockctl/{lock}/door"), "open").await?;
        bed.sim.ctl(&["battery", &lock, "42"]).await?;
        wait_payload(&ha, &format!("lockctl/{lock}/battery"), "42").await?;

        // Home Assistant's broker restarts: the bridge reconnects, and a command arriving
        // right after it does nothing (a broker delivering what it kept must not move a
        // bolt). Clearing the bridge's retained state first makes its `online` the sign that
        // it is back.
        ha.publish("lockctl/bridge/state", b"", true).await?;
        home.stop().await?;
        home.start().await?;
        wait_payload(&ha, "lockctl/bridge/state", "online").await?;
        ha.publish(&set, b"UNLOCK", false).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        ensure!(
            mechanism(&bed).await? == "locked",
            "an UNLOCK right after the broker came back acted"
        );

        // The gateway goes away: the entities become unavailable; back, available again.
        bed.gateway.kill(Signal::SIGTERM).await?;
        wait_payload(&ha, &format!("lockctl/{lock}/availability"), "offline").await?;
        bed.start_gateway().await?;
        wait_payload(&ha, &format!("lockctl/{lock}/availability"), "online").await?;
        let gateway_again = configs(&gateway_side, &gateway_node);
        let link_again = configs(&gateway_side, &lock_node);
        ensure!(unique_ids(&gateway_first) == unique_ids(&gateway_again));
        ensure!(unique_ids(&link_first) == unique_ids(&link_again));

        // A restarted bridge: the same unique ids, and an UNLOCK right after it connects
        // does nothing.
        let first_run = running
            .stop(Signal::SIGTERM, Duration::from_secs(10))
            .await?;
        let ignored = "ignored Unlock: it arrived within";
        ensure!(
            first_run.stderr.contains(ignored) && first_run.stderr.contains("ignored a retained"),
            "the retained and the early command are logged: {}",
            first_run.stderr
        );
        wait_payload(&ha, "lockctl/bridge/state", "offline").await?;
        let from = ha.cursor();
        let running = bridge.spawn(&["ha", "-v"])?;
        ha.next_message(WAIT, from, "the bridge online again", |m| {
            m.topic == "lockctl/bridge/state" && m.payload == b"online"
        })
        .await?;
        ha.publish(&set, b"UNLOCK", false).await?;
        wait_payload(&ha, &state, "LOCKED").await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(mechanism(&bed).await? == "locked", "an early UNLOCK acted");
        let again = configs(&ha, &bridge_node);
        ensure!(
            unique_ids(&first) == unique_ids(&again),
            "unique ids changed"
        );

        // The lock removed from the gateway: the bridge withdraws its entities.
        let removed = bed.lockgate(&["locks", "remove", &lock]).await?;
        ensure!(removed.status.success(), "remove: {removed:?}");
        for (topic, _) in &again {
            wait_payload(&ha, topic, "").await?;
        }
        for (topic, _) in &link_first {
            wait_payload(&gateway_side, topic, "").await?;
        }
        // Nothing in clear went to the gateway's broker: no entity state, no command.
        let leaked: Vec<String> = gateway_side
            .messages()
            .into_iter()
            .map(|m| m.topic)
            .filter(|t| t.starts_with("lockctl/") || t.contains("/lockctl_"))
            .collect();
        ensure!(leaked.is_empty(), "on the gateway's broker: {leaked:?}");
        ensure!(
            configs(&gateway_side, &gateway_node).len() == 4,
            "the gateway's stay"
        );
        wait_payload(&ha, &state, "").await?;

        let out = running
            .stop(Signal::SIGTERM, Duration::from_secs(10))
            .await?;
        ensure!(
            out.stderr.contains("within"),
            "the early command is logged: {}",
            out.stderr
        );
        Ok(())
    })
}
