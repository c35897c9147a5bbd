//! lockgated relays end to end (docs/GATEWAY.md): endpoints on MQTT pair with simulated
//! locks and use them through mosquitto and the gateway; many locks and endpoints at once;
//! more locks than BLE slots; and the gateway stays blind (a canary that only ever travels
//! end-to-end encrypted is nowhere in what it published, logged, stored or holds in memory).
//!
//! Faults, outages and receipts are in `relay_faults.rs`.

use anyhow::{ensure, Context, Result};
use futures_util::future::try_join_all;
use lockgate_e2e::command::LockStatus;
use lockgate_e2e::{MechanismState, Request, Response, ResponseBody};
use lockgate_systest::blindness::{contains, files_containing, memory_containing};
use lockgate_systest::process::poll_until;
use lockgate_systest::testbed::WAIT;
use lockgate_systest::{run, Endpoint, Mqtt, Settings, TestBed};
use lockgate_wire::LockId;
use rand_core::{OsRng, RngCore};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);

/// Asks for the status until the mechanism is `state` (it moves for a while).
async fn wait_state(phone: &mut Endpoint, lock: &LockId, state: MechanismState) -> Result<()> {
    let what = format!("{lock} {state:?}");
    poll_until(WAIT, &what, async || {
        let status: LockStatus = phone.status(lock).await?;
        Ok((status.state == state).then_some(()))
    })
    .await
}

/// Waits until every down frame the observer saw for `lock` has a receipt; all `written`.
async fn every_frame_written(bed: &TestBed, lock: &LockId) -> Result<()> {
    let topics = bed.topics.for_lock(lock);
    let (down, delivery) = (topics.down(), topics.delivery());
    let receipts = bed
        .observer
        .wait(WAIT, "a receipt for every down frame", |inbox| {
            let sent = inbox.messages.iter().filter(|m| m.topic == down).count();
            let receipts: Vec<_> = inbox
                .messages
                .iter()
                .filter(|m| m.topic == delivery)
                .cloned()
                .collect();
            (receipts.len() >= sent).then_some(receipts)
        })
        .await?;
    for receipt in receipts {
        let json = receipt.json()?;
        ensure!(json["status"] == "written", "receipt {json}");
    }
    Ok(())
}

#[test]
fn an_endpoint_pairs_and_locks_and_unlocks_through_broker_and_gateway() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().start(&diag).await?;
        let lock = bed.lock_id(0);
        let mut phone = bed.endpoint("phone").await?;
        bed.pair(&mut phone, 0).await?;
        let status = phone.status(&lock).await?;
        ensure!(!status.pairing_window_open, "pairing closed the window");
        let moving = phone.lock(&lock).await?;
        ensure!(matches!(
            moving,
            MechanismState::Locking | MechanismState::Locked
        ));
        wait_state(&mut phone, &lock, MechanismState::Locked).await?;
        let moving = phone.unlock(&lock).await?;
        ensure!(matches!(
            moving,
            MechanismState::Unlocking | MechanismState::Unlocked
        ));
        wait_state(&mut phone, &lock, MechanismState::Unlocked).await?;
        every_frame_written(&bed, &lock).await?;
        let availability = bed.topics.for_lock(&lock).availability();
        let online = phone.retained(&availability).await?;
        ensure!(online["state"] == "online", "{availability}: {online}");
        let state = phone.retained(&bed.topics.bridge_state()).await?;
        ensure!(state["state"] == "online", "bridge/state: {state}");
        Ok(())
    });
}

/// Sends a status request to every lock, then awaits every answer.
async fn status_of_all(endpoint: &mut Endpoint, locks: &[LockId]) -> Result<()> {
    let mut sent = Vec::new();
    for lock in locks {
        sent.push((*lock, endpoint.send(lock, &Request::Status).await?));
    }
    for (lock, counter) in sent {
        let answer = endpoint.answer(&lock, counter).await?;
        let ok = matches!(
            answer,
            Ok(Response {
                result: Ok(ResponseBody::Status(_)),
                ..
            })
        );
        ensure!(ok, "{lock} answered {answer:?}");
    }
    Ok(())
}

#[test]
fn eight_locks_serve_three_endpoints_at_once() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().locks(8).start(&diag).await?;
        let mut endpoints = Vec::new();
        for name in ["alice", "bob", "carol"] {
            endpoints.push(bed.endpoint(name).await?);
        }
        // A label pairing closes the lock's window: the button is pressed for each.
        for i in 0..bed.locks.len() {
            for endpoint in endpoints.iter_mut() {
                bed.pair(endpoint, i).await?;
            }
        }
        let locks: Vec<LockId> = bed.locks.iter().map(|l| l.id).collect();
        let all = endpoints.iter_mut().map(|e| status_of_all(e, &locks));
        try_join_all(all).await?;
        // Each endpoint actuates a lock of its own, at the same time.
        let actuations = endpoints
            .iter_mut()
            .zip(&locks)
            .map(|(e, lock)| e.unlock(lock));
        try_join_all(actuations).await?;
        Ok(())
    });
}

#[test]
fn twelve_locks_are_all_served_with_four_links() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder()
            .locks(12)
            .gateway(|c| c.max_connections = 4)
            .start(&diag)
            .await?;
        let mut phone = bed.endpoint("phone").await?;
        for i in 0..bed.locks.len() {
            bed.pair(&mut phone, i).await?;
        }
        let locks: Vec<LockId> = bed.locks.iter().map(|l| l.id).collect();
        phone.set_answer_limit(Duration::from_secs(90));
        status_of_all(&mut phone, &locks).await?;
        let most = bed.most_links_at_once();
        ensure!((1..=4).contains(&most), "{most} links were up at once");
        let health = phone.health().await?;
        ensure!(health["ble"]["max_connections"] == 4, "health: {health}");
        Ok(())
    });
}

#[test]
fn the_gateway_never_sees_what_travels_end_to_end() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().start(&diag).await?;
        let lock = bed.lock_id(0);
        let everything = Mqtt::connect(
            &Settings::plain("everything", bed.broker.port()),
            Duration::from_secs(10),
        )
        .await?;
        everything.subscribe("#").await?;
        // The pairing name travels in clear in PairStart, so the canary is not that: it is
        // the new name of the authorization, set and read back inside the E2E session.
        let canary = format!("CANARY-{:012x}", OsRng.next_u64() & 0xffff_ffff_ffff);
        let mut phone = bed.endpoint("phone").await?;
        bed.pair(&mut phone, 0).await?;
        phone.rename(&lock, &canary).await?;
        let names = phone.authorization_names(&lock).await?;
        ensure!(names.contains(&canary), "the rename took: {names:?}");
        phone.unlock(&lock).await?;
        phone.status(&lock).await?;
        let needle = canary.as_bytes();
        // The search works: the lock itself holds the name, in memory and in its state.
        let in_lock = memory_containing(bed.sim.pid(), needle)?;
        ensure!(
            !in_lock.is_empty(),
            "the memory search finds the name in the lock"
        );
        ensure!(!files_containing(&bed.sim.state_dir(), needle)?.is_empty());
        // Nowhere on MQTT, published by anyone.
        for m in everything.messages().iter().chain(&bed.observer.messages()) {
            ensure!(!contains(&m.payload, needle), "the canary on {}", m.topic);
        }
        ensure!(
            !contains(bed.gateway.log_text().as_bytes(), needle),
            "in the log"
        );
        let stored = files_containing(&bed.gateway.state_dir(), needle)?;
        ensure!(stored.is_empty(), "in the gateway's state: {stored:?}");
        let pid = bed.gateway.pid().context("lockgated runs")?;
        let held = memory_containing(pid, needle)?;
        ensure!(held.is_empty(), "in the gateway's memory: {held:?}");
        Ok(())
    });
}
