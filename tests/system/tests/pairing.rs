//! The pairing window against the real daemon (docs/GATEWAY.md §6): `lockgate pair` bonds a
//! lock in pairing mode, enrolls it and relays for it; outside the window nothing is bonded
//! (no agent registered, adapter not pairable, as locksim reports); MQTT cannot open the
//! window but can close it; a wrong or missing passkey fails with a message a person can act
//! on; the window expires on time; the agent enters the passkey for the lock being bonded
//! only.

use anyhow::{bail, ensure, Context, Result};
use lockgate_systest::process::poll_until;
use lockgate_systest::sim::LockInfo;
use lockgate_systest::testbed::WAIT;
use lockgate_systest::{run, TestBed};
use serde_json::{json, Value};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Child;

const LIMIT: Duration = Duration::from_secs(90);

/// Starts `lockgate <args>` in the background (it runs until the window closes).
fn spawn(bed: &TestBed, args: &[&str]) -> Result<Child> {
    let mut command = bed.lockgate_command(args)?;
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    Ok(command.spawn()?)
}

/// Waits for a background `lockgate` to end.
async fn finish(child: Child) -> Result<Output> {
    match tokio::time::timeout(WAIT, child.wait_with_output()).await {
        Ok(output) => Ok(output?),
        Err(_) => bail!("lockgate pair did not end within {WAIT:?}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until locksim shows the agent registered (or not) and hci0 pairable (or not).
async fn wait_window_in_bluez(bed: &TestBed, open: bool) -> Result<()> {
    let what = format!("an agent registered and the adapter pairable: {open}");
    poll_until(WAIT, &what, async || {
        let agents = bed.sim.agents().await?;
        let pairable = bed.sim.pairable().await?;
        Ok((agents.is_empty() != open && pairable == open).then_some(()))
    })
    .await
}

/// Whether lock `i` is bonded with hci0 in locksim.
async fn bonded(bed: &TestBed, i: usize) -> Result<bool> {
    let address = bed.locks[i].address.replace(':', "_");
    let bonded = bed.sim.bonded_devices().await?;
    Ok(bonded.iter().any(|path| path.ends_with(&address)))
}

/// The ids listed on `bridge/locks` by its latest message.
fn listed_ids(v: &Value) -> Vec<String> {
    let locks = v.as_array().into_iter().flatten();
    locks
        .filter_map(|l| l["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn lockgate_pair_bonds_a_lock_in_pairing_mode_enrolls_it_and_frames_relay() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().unpaired().start(&diag).await?;
        let lock = bed.locks[0].clone();
        let from = bed.observer.cursor();
        bed.sim.press(&lock.id).await?;
        let pair = spawn(
            &bed,
            &["pair", "--seconds", "30", "--passkey", lock.passkey()],
        )?;
        bed.wait_event(from, "pairing_window_opened").await?;
        let paired = bed.wait_event(from, "lock_paired").await?;
        ensure!(paired["data"]["id"] == lock.id.to_string(), "{paired}");
        ensure!(bonded(&bed, 0).await?, "the lock is not bonded in BlueZ");
        let locks_topic = bed.topics.bridge_locks();
        let id = lock.id.to_string();
        let listed = |v: &Value| listed_ids(v) == [id.clone()];
        bed.wait_json(&locks_topic, from, "the lock on bridge/locks", listed)
            .await?;
        let registry = std::fs::read_to_string(bed.gateway.state_dir().join("locks.json"))?;
        ensure!(registry.contains(&id), "not in the registry: {registry}");

        // The lock's own window is still open: an endpoint pairs through the gateway, and a
        // request and its answer are relayed.
        let mut phone = bed.endpoint("phone").await?;
        phone.pair(lock.id, &lock.label_code).await?;
        phone.status(&lock.id).await?;

        let stop = bed.lockgate(&["pair", "--stop"]).await?;
        ensure!(stop.status.success(), "pair --stop: {stop:?}");
        let out = finish(pair).await?;
        let stdout = text(&out.stdout);
        ensure!(out.status.success(), "lockgate pair failed: {out:?}");
        ensure!(stdout.contains(&format!("lock {id}")), "{stdout}");
        ensure!(stdout.contains("1 paired, 0 failed"), "{stdout}");
        let closed = bed.wait_event(from, "pairing_window_closed").await?;
        ensure!(closed["data"]["reason"] == "stop", "{closed}");
        wait_window_in_bluez(&bed, false).await
    });
}

/// The object path BlueZ gives `lock` on hci0.
fn device_path(lock: &LockInfo) -> String {
    format!("/org/bluez/hci0/dev_{}", lock.address.replace(':', "_"))
}

/// Asks the gateway's agent, as bluetoothd would, for everything a pairing may ask about
/// `lock`; fails unless every request is rejected.
async fn agent_refuses_everything(bed: &TestBed, lock: &LockInfo) -> Result<()> {
    let agents = bed.sim.agents().await?;
    let (owner, path, _) = agents.first().context("no agent registered")?;
    let agent = (owner.as_str(), path.as_str());
    let device = zbus::zvariant::ObjectPath::try_from(device_path(lock))?;
    let service = "0000180d-0000-1000-8000-00805f9b34fb";
    let sim = &bed.sim;
    let answers = [
        sim.ask_agent(agent, "RequestPasskey", &(&device,)).await?,
        sim.ask_agent(agent, "RequestPinCode", &(&device,)).await?,
        sim.ask_agent(agent, "RequestConfirmation", &(&device, 123_456u32))
            .await?,
        sim.ask_agent(agent, "RequestAuthorization", &(&device,))
            .await?,
        sim.ask_agent(agent, "AuthorizeService", &(&device, service))
            .await?,
    ];
    let rejected = |a: &std::result::Result<(), String>| {
        a.as_ref().is_err_and(|e| e == "org.bluez.Error.Rejected")
    };
    ensure!(
        answers.iter().all(rejected),
        "RequestPasskey, RequestPinCode, RequestConfirmation, RequestAuthorization, \
         AuthorizeService for {}: {answers:?}",
        lock.address
    );
    Ok(())
}

#[test]
fn the_agent_enters_the_passkey_for_the_lock_being_bonded_only() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().locks(2).unpaired().start(&diag).await?;
        let (lock, stranger) = (bed.locks[0].clone(), bed.locks[1].clone());
        let from = bed.observer.cursor();
        // The window is open with the lock's passkey, no lock is in pairing mode: the agent
        // is registered, yet it answers no one, the lock included.
        let args = ["pair", "--seconds", "30", "--passkey", lock.passkey()];
        let pair = spawn(&bed, &args)?;
        wait_window_in_bluez(&bed, true).await?;
        agent_refuses_everything(&bed, &stranger).await?;
        agent_refuses_everything(&bed, &lock).await?;
        let log = bed.gateway.log_text().to_ascii_lowercase();
        let named = format!("{} asks for a passkey; refused", stranger.address);
        ensure!(
            log.contains(&named.to_ascii_lowercase()),
            "no warning: {log}"
        );

        // The lock in pairing mode is bonded: the agent answered it, and it alone.
        bed.sim.press(&lock.id).await?;
        let paired = bed.wait_event(from, "lock_paired").await?;
        ensure!(paired["data"]["id"] == lock.id.to_string(), "{paired}");
        ensure!(bonded(&bed, 0).await?, "the lock is not bonded in BlueZ");
        ensure!(!bonded(&bed, 1).await?, "the stranger is bonded");
        // Its bond over, the lock is a stranger again.
        agent_refuses_everything(&bed, &lock).await?;

        bed.lockgate(&["pair", "--stop"]).await?;
        let out = finish(pair).await?;
        ensure!(out.status.success(), "lockgate pair failed: {out:?}");
        Ok(())
    });
}

#[test]
fn with_the_window_closed_a_lock_in_pairing_mode_is_not_bonded() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().unpaired().start(&diag).await?;
        let lock = bed.locks[0].clone();
        bed.sim.press(&lock.id).await?;
        // Long enough for several scans of the lock advertising `pairing`.
        tokio::time::sleep(Duration::from_secs(3)).await;
        ensure!(!bonded(&bed, 0).await?, "bonded without a window");
        ensure!(bed.sim.agents().await?.is_empty(), "an agent is registered");
        ensure!(!bed.sim.pairable().await?, "the adapter is pairable");
        let counters = bed.sim.counters().await?;
        ensure!(!counters.contains_key("pair.ok"), "{counters:?}");
        ensure!(!counters.contains_key("pair.failed"), "{counters:?}");
        let info = bed
            .observer
            .latest(&bed.topics.bridge_info())
            .context("bridge/info")?;
        ensure!(
            info.json()?["pairing"] == json!({"open": false}),
            "{info:?}"
        );
        Ok(())
    });
}

#[test]
fn mqtt_cannot_open_the_window_but_can_query_it() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().unpaired().start(&diag).await?;
        bed.sim.press(&bed.locks[0].id).await?;
        let mut phone = bed.endpoint("phone").await?;
        let refused = phone
            .bridge_request("pairing/open", json!({"seconds": 60}))
            .await?;
        ensure!(refused["status"] == "error", "{refused}");
        let error = refused["error"].as_str().unwrap_or_default();
        ensure!(error.contains("lockgate pair"), "{refused}");
        let state = phone.bridge_request("pairing/state", json!({})).await?;
        ensure!(state["data"] == json!({"open": false}), "{state}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(bed.sim.agents().await?.is_empty(), "an agent is registered");
        ensure!(!bed.sim.pairable().await?, "the adapter is pairable");
        ensure!(!bonded(&bed, 0).await?, "bonded over MQTT");
        Ok(())
    });
}

#[test]
fn a_wrong_or_missing_passkey_fails_with_what_to_do_and_a_non_zero_exit() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().unpaired().start(&diag).await?;
        let lock = bed.locks[0].clone();
        let wrong = if lock.passkey() == "000000" {
            "000001"
        } else {
            "000000"
        };
        bed.sim.press(&lock.id).await?;
        for (args, reason, advice) in [
            (
                &["pair", "--seconds", "30", "--passkey", wrong][..],
                "wrong_passkey",
                "refused the passkey",
            ),
            (&["pair", "--seconds", "30"][..], "no_passkey", "--passkey"),
        ] {
            let from = bed.observer.cursor();
            let pair = spawn(&bed, args)?;
            let failed = bed.wait_event(from, "lock_pairing_failed").await?;
            ensure!(failed["data"]["reason"] == reason, "{failed}");
            bed.lockgate(&["pair", "--stop"]).await?;
            let out = finish(pair).await?;
            ensure!(!out.status.success(), "{args:?} succeeded: {out:?}");
            let stdout = text(&out.stdout);
            ensure!(stdout.contains("failed to pair"), "{stdout}");
            ensure!(stdout.contains(advice), "{args:?}: {stdout}");
            ensure!(!bonded(&bed, 0).await?, "bonded with {args:?}");
        }
        Ok(())
    });
}

#[test]
fn bridge_request_pairing_close_closes_the_window() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().unpaired().start(&diag).await?;
        let from = bed.observer.cursor();
        let pair = spawn(&bed, &["pair", "--seconds", "60"])?;
        bed.wait_event(from, "pairing_window_opened").await?;
        wait_window_in_bluez(&bed, true).await?;
        let info = bed.topics.bridge_info();
        let open = |v: &Value| v["pairing"]["open"] == true && v["pairing"]["seconds_left"] == 60;
        bed.wait_json(&info, from, "bridge/info with the window open", open)
            .await?;
        let mut phone = bed.endpoint("phone").await?;
        let closed = phone.bridge_request("pairing/close", json!({})).await?;
        ensure!(closed["data"] == json!({"open": false}), "{closed}");
        let event = bed.wait_event(from, "pairing_window_closed").await?;
        ensure!(event["data"]["reason"] == "mqtt", "{event}");
        let out = finish(pair).await?;
        ensure!(out.status.success(), "{out:?}");
        ensure!(text(&out.stdout).contains("closed over MQTT"), "{out:?}");
        wait_window_in_bluez(&bed, false).await?;
        let shut = |v: &Value| v["pairing"] == json!({"open": false});
        bed.wait_json(&info, from, "bridge/info with the window closed", shut)
            .await?;
        Ok(())
    });
}

#[test]
fn the_window_expires_on_time() {
    run(LIMIT, |diag| async move {
        let bed = TestBed::builder().unpaired().start(&diag).await?;
        let from = bed.observer.cursor();
        let started = Instant::now();
        let out = bed.lockgate(&["pair", "--seconds", "2"]).await?;
        let took = started.elapsed();
        ensure!(out.status.success(), "{out:?}");
        ensure!(took >= Duration::from_secs(2), "closed after {took:?}");
        ensure!(text(&out.stdout).contains("its time ran out"), "{out:?}");
        let closed = bed.wait_event(from, "pairing_window_closed").await?;
        ensure!(closed["data"]["reason"] == "expired", "{closed}");
        wait_window_in_bluez(&bed, false).await
    });
}
