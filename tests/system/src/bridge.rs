//! `lockctl ha`, the Home Assistant bridge, on a test bed: an admin paired by the button,
//! the bridge joined by the admin's invite, and a client acting as Home Assistant.

use crate::lockctl::Lockctl;
use crate::mqtt::{Mqtt, Settings};
use crate::process::poll_until;
use crate::testbed::{GATEWAY_ID, WAIT};
use crate::TestBed;
use anyhow::{Context, Result};
use std::time::Duration;

/// The bridge's entity topic (its default `[ha] topic`).
pub const TOPIC: &str = "lockctl";
/// The bridge's `command_grace` on a test bed.
pub const GRACE: Duration = Duration::from_secs(4);
/// Home Assistant's discovery prefix (the default).
pub const PREFIX: &str = "homeassistant";

/// Pairs an admin with lock `i` by its button, invites the bridge and joins it (role user,
/// name `home-assistant`), with `[ha] command_grace = "4s"` ([`GRACE`]) and, given `home` (a port on
/// 127.0.0.1), a home-automation broker of its own (`[ha.broker]`); else it shares the
/// gateway's (`share_gateway_broker`). Returns the admin and the bridge.
pub async fn paired_bridge(
    bed: &TestBed,
    i: usize,
    home: Option<u16>,
) -> Result<(Lockctl, Lockctl)> {
    let lock = bed.lock_id(i).to_string();
    let admin = bed.lockctl("phone")?;
    bed.sim.press(&bed.lock_id(i)).await?;
    let code = bed.locks[i].label_code.clone();
    let pair = ["pair", "--gateway", GATEWAY_ID, "--lock", &lock, "--json"];
    admin
        .run(&[&pair[..], &["--code", &code]].concat())
        .await?
        .ok()?;
    let invite = admin
        .run(&["users", "invite", &lock, "--json"])
        .await?
        .ok()?;
    let code = invite["code"]
        .as_str()
        .context("no invite code")?
        .to_owned();
    let bridge = bed.lockctl("home-assistant")?;
    let join = ["join", "--gateway", GATEWAY_ID, "--lock", &lock, "--json"];
    bridge
        .run(&[&join[..], &["--invite", &code]].concat())
        .await?
        .ok()?;
    let settings = bridge.config_dir().join("lockctl.toml");
    let mut text = std::fs::read_to_string(&settings)?;
    text.push_str("[ha]\ncommand_grace = \"4s\"\n");
    match home {
        Some(port) => {
            let broker = "[ha.broker]\nhost = \"127.0.0.1\"\ntransport = \"plain\"\n";
            text.push_str(&format!("{broker}port = {port}\n"));
        }
        None => text.push_str("share_gateway_broker = true\n"),
    }
    std::fs::write(&settings, text)?;
    Ok((admin, bridge))
}

/// A client acting as Home Assistant on the broker at 127.0.0.1:`port`, subscribed to the
/// discovery prefix and the bridge's topics.
pub async fn home_assistant(port: u16) -> Result<Mqtt> {
    let ha = Mqtt::start(&Settings::plain("home-assistant", port))?;
    ha.subscribe(&format!("{PREFIX}/#")).await?;
    ha.subscribe(&format!("{TOPIC}/#")).await?;
    Ok(ha)
}

/// Waits until the last message on `topic` is `payload`.
pub async fn wait_payload(ha: &Mqtt, topic: &str, payload: &str) -> Result<()> {
    poll_until(WAIT, &format!("{topic} = {payload}"), async || {
        let latest = ha.latest(topic);
        Ok(latest
            .filter(|m| m.payload == payload.as_bytes())
            .map(|_| ()))
    })
    .await
}
