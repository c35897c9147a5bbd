//! The harness itself, without the daemon: mosquitto starts, stops and starts again, speaks
//! TLS with the generated certificates and refuses strangers; locksim starts bonded and
//! `locksim ctl` steers it; the gateway's generated configuration passes
//! `lockgate check-config`; the memory scanner finds what is there; an endpoint pairs and
//! talks to a lock over MQTT through a stand-in for the gateway.

use anyhow::{ensure, Context, Result};
use lockgate_e2e::{LockConfig, LockIdentity, LockMachine, MechanismState, Request, Via};
use lockgate_systest::binaries::binaries;
use lockgate_systest::blindness::memory_containing;
use lockgate_systest::broker::TlsListener;
use lockgate_systest::endpoint::figure;
use lockgate_systest::gateway::without_ambient_config;
use lockgate_systest::process::{poll_until, ChildProcess};
use lockgate_systest::{
    run, Broker, Certs, Endpoint, Gateway, GatewayConfig, Mqtt, MqttTransport, Settings, Sim,
    SimOptions, Transport,
};
use lockgate_wire::{Header, Topic, Topics};
use locksim::world::unix_ms;
use rand_core::OsRng;
use serde_json::json;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const CONNECT: Duration = Duration::from_secs(10);

/// `client` publishes on `topic` and `to` receives it.
async fn round_trip(from: &Mqtt, to: &Mqtt, topic: &str, payload: &[u8]) -> Result<()> {
    let cursor = to.cursor();
    from.publish(topic, payload, false).await?;
    let got = to.next_on(CONNECT, cursor, topic).await?;
    ensure!(got.payload == payload, "payload changed on the way");
    Ok(())
}

fn tls(certs: &Certs, name: &str, port: u16, ca: &std::path::Path) -> Settings {
    Settings {
        transport: Transport::Tls {
            ca: ca.to_path_buf(),
            client: Some((certs.client_cert.clone(), certs.client_key.clone())),
        },
        ..Settings::plain(name, port)
    }
}

#[test]
fn mosquitto_relays_a_message_between_two_clients() {
    run(LIMIT, |_| async move {
        let broker = Broker::spawn().await?;
        let a = Mqtt::connect(&Settings::plain("a", broker.port()), CONNECT).await?;
        let b = Mqtt::connect(&Settings::plain("b", broker.port()), CONNECT).await?;
        b.subscribe("t/#").await?;
        round_trip(&a, &b, "t/1", b"hello").await
    });
}

#[test]
fn the_broker_starts_again_on_the_same_port_with_its_sessions() {
    run(LIMIT, |_| async move {
        let mut broker = Broker::spawn().await?;
        let port = broker.port();
        let subscriber = Mqtt::connect(&Settings::plain("sub", port), CONNECT).await?;
        subscriber.subscribe("t/#").await?;
        broker.stop().await?;
        let gone = |i: &lockgate_systest::mqtt::Inbox| (!i.connected).then_some(());
        subscriber.wait(CONNECT, "the disconnection", gone).await?;
        ensure!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens while stopped"
        );
        broker.start().await?;
        ensure!(broker.port() == port, "same port");
        // The publisher may well be faster than the subscriber's reconnection: the persisted
        // session holds the message for it.
        let publisher = Mqtt::connect(&Settings::plain("pub", port), CONNECT).await?;
        round_trip(&publisher, &subscriber, "t/after", b"again").await?;
        let reconnected = subscriber.inbox().connacks;
        ensure!(reconnected == 2, "{reconnected} ConnAcks");
        Ok(())
    });
}

/// A test PKI and a broker with a TLS listener on it: (certificates, broker, TLS port).
async fn tls_broker() -> Result<(Certs, Broker, u16)> {
    let certs = Certs::generate()?;
    let broker = Broker::spawn_with(Some(TlsListener::from_certs(&certs))).await?;
    let port = broker.tls_port().context("a TLS listener")?;
    Ok((certs, broker, port))
}

#[test]
fn a_tls_client_with_the_test_ca_and_certificate_connects() {
    run(LIMIT, |_| async move {
        let (certs, broker, port) = tls_broker().await?;
        let secure = Mqtt::connect(&tls(&certs, "secure", port, &certs.ca), CONNECT)
            .await
            .with_context(|| broker.log())?;
        let plain = Mqtt::connect(&Settings::plain("plain", broker.port()), CONNECT).await?;
        plain.subscribe("t/#").await?;
        round_trip(&secure, &plain, "t/tls", b"over tls").await
    });
}

#[test]
fn a_tls_client_trusting_another_ca_is_refused_with_a_certificate_error() {
    run(LIMIT, |_| async move {
        let (certs, _broker, port) = tls_broker().await?;
        let settings = tls(&certs, "stranger", port, &certs.other_ca);
        let refused = Mqtt::connect(&settings, Duration::from_secs(3)).await;
        let error = format!("{:#}", refused.err().context("the connection was refused")?);
        ensure!(
            error.to_lowercase().contains("certificate"),
            "not a certificate error: {error}"
        );
        Ok(())
    });
}

#[test]
fn the_tls_listener_requires_a_client_certificate() {
    run(LIMIT, |_| async move {
        let (certs, _broker, port) = tls_broker().await?;
        let mut settings = tls(&certs, "anonymous", port, &certs.ca);
        settings.transport = Transport::Tls {
            ca: certs.ca.clone(),
            client: None,
        };
        let refused = Mqtt::connect(&settings, Duration::from_secs(3)).await;
        ensure!(refused.is_err(), "connected without a client certificate");
        Ok(())
    });
}

#[test]
fn locksim_starts_with_bonded_locks_that_ctl_lists_and_steers() {
    run(LIMIT, |_| async move {
        let options = SimOptions {
            locks: 3,
            ..SimOptions::default()
        };
        let sim = Sim::start(binaries()?, &options).await?;
        let locks = sim.locks().await?;
        ensure!(locks.len() == 3, "{locks:?}");
        let listing = sim.ctl(&["locks"]).await?;
        ensure!(
            listing.lines().count() == 4,
            "a header and three locks:\n{listing}"
        );
        for lock in &locks {
            let line = listing
                .lines()
                .find(|l| l.starts_with(&lock.id.to_string()));
            let line = line.with_context(|| format!("{} listed", lock.id))?;
            ensure!(line.contains(&lock.label_code) && line.contains(&lock.address));
        }
        let bonded = sim.bonded_devices().await?;
        ensure!(bonded.len() == 3, "bonded to hci0: {bonded:?}");
        ensure!(bonded.iter().all(|p| p.starts_with("/org/bluez/hci0/dev_")));
        sim.ctl(&["power", "hci0", "off"]).await?;
        ensure!(sim.counters().await?.get("fault.adapter_power") == Some(&1));
        sim.ctl(&["range", &locks[0].id.to_string(), "out"]).await?;
        ensure!(!sim.locks().await?[0].in_range, "out of range");
        let bad = sim.ctl(&["press", "0000000000000000"]).await;
        ensure!(bad.is_err_and(|e| e.to_string().contains("no lock")));
        Ok(())
    });
}

#[test]
fn the_generated_gateway_configuration_passes_check_config() {
    run(LIMIT, |_| async move {
        let certs = Certs::generate()?;
        let plain = GatewayConfig::new("systest", 1883);
        let mut secure = GatewayConfig::new("systest", 8883);
        secure.transport = MqttTransport::Tls {
            ca_file: certs.ca.clone(),
            client: Some((certs.client_cert.clone(), certs.client_key.clone())),
        };
        for config in [plain, secure] {
            let gateway = Gateway::new(binaries()?, config, "unix:path=/nonexistent")?;
            let mut command = Command::new(&binaries()?.lockgate);
            let output = without_ambient_config(&mut command)
                .arg("check-config")
                .arg("--config")
                .arg(gateway.config_path())
                .output()?;
            ensure!(
                output.status.success(),
                "lockgate check-config refused:\n{}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                std::fs::read_to_string(gateway.config_path())?
            );
        }
        Ok(())
    });
}

#[test]
fn the_memory_scanner_finds_a_canary_in_a_child_process_and_nothing_else() {
    run(LIMIT, |_| async move {
        let canary = format!(
            "CANARY-{:016x}",
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        );
        let absent = format!(
            "ABSENT-{:016x}",
            rand_core::RngCore::next_u64(&mut rand_core::OsRng)
        );
        let dir = tempfile::tempdir()?;
        let mut command = Command::new("sleep");
        command.arg("30").env("SYSTEST_CANARY", &canary);
        let mut child = ChildProcess::spawn("sleep", command, &dir.path().join("log"))?;
        // The environment is on the new program's stack once it runs.
        let pid = child.pid();
        poll_until(CONNECT, "sleep to run", async || {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"))?;
            Ok(exe.ends_with("sleep").then_some(()))
        })
        .await?;
        let hits = memory_containing(pid, canary.as_bytes())?;
        ensure!(
            !hits.is_empty(),
            "the canary in the environment was not found"
        );
        let none = memory_containing(pid, absent.as_bytes())?;
        ensure!(none.is_empty(), "found what is not there: {none:?}");
        child.stop(Duration::from_secs(5)).await?;
        Ok(())
    });
}

/// Stands in for the gateway: relays down frames to an in-memory reference lock, publishes
/// a `written` receipt and every answer twice (at-least-once delivery), and answers health
/// requests with the number of down frames seen.
async fn stand_in_relay(relay: Mqtt, topics: Topics, mut lock: LockMachine<OsRng>) -> Result<()> {
    relay.subscribe(&topics.down_filter()).await?;
    relay.subscribe(&topics.bridge_request("health")?).await?;
    let health_request = topics.bridge_request("health")?;
    let mut down_frames = 0;
    let mut from = 0;
    loop {
        let (i, m) = relay
            .next_message(Duration::from_secs(3600), from, "a frame", |_| true)
            .await?;
        from = i + 1;
        if m.topic == health_request {
            let transaction = m.json()?["transaction"].clone();
            let response = json!({"status": "ok", "transaction": transaction,
                "data": {"counters": {"down_frames": down_frames}}});
            let topic = topics.bridge_response("health")?;
            relay
                .publish(&topic, response.to_string().as_bytes(), false)
                .await?;
            continue;
        }
        let Ok(Topic::Down { lock: level }) = topics.parse(&m.topic) else {
            continue;
        };
        down_frames += 1;
        let lock_topics = topics.lock(&level)?;
        let (header, _) = Header::parse(&m.payload)?;
        let receipt = json!({"status": "written", "auth_id": header.auth_id,
            "counter": header.counter});
        let receipt = receipt.to_string();
        relay
            .publish(&lock_topics.delivery(), receipt.as_bytes(), false)
            .await?;
        let output = lock.handle_frame(unix_ms(), Via::Gateway, &m.payload);
        for frame in output.frames {
            let (header, _) = Header::parse(&frame)?;
            for _ in 0..2 {
                relay
                    .publish(&lock_topics.up(header.auth_id), &frame, false)
                    .await?;
            }
        }
    }
}

#[test]
fn an_endpoint_pairs_and_talks_to_a_lock_over_mqtt_through_a_stand_in_relay() {
    run(LIMIT, |_| async move {
        let broker = Broker::spawn().await?;
        let topics = Topics::for_gateway("standin")?;
        let mut lock = LockMachine::new(
            LockConfig::default(),
            LockIdentity::generate(&mut OsRng),
            OsRng,
        );
        let (id, label) = (lock.lock_id(), lock.label_code().digits().to_owned());
        lock.press_button(unix_ms());
        let relay = Mqtt::connect(&Settings::plain("relay", broker.port()), CONNECT).await?;
        let relaying = tokio::spawn(stand_in_relay(relay, topics.clone(), lock));
        let settings = Settings::plain("phone", broker.port());
        let mut phone = Endpoint::connect(&settings, topics.clone(), "phone", 1).await?;
        let paired = phone.pair(id, &label).await?;
        ensure!(phone.auth_id(&id) == Some(paired.auth_id));
        ensure!(!phone.status(&id).await?.pairing_window_open);
        let moving = phone.unlock(&id).await?;
        ensure!(matches!(
            moving,
            MechanismState::Unlocking | MechanismState::Unlocked
        ));
        phone.rename(&id, "renamed").await?;
        let names = phone.authorization_names(&id).await?;
        ensure!(names == ["renamed"], "{names:?}");
        // Pipelined requests: every answer once (the copies dropped), in order.
        let mut counters = Vec::new();
        for _ in 0..5 {
            counters.push(phone.send(&id, &Request::Status).await?);
        }
        ensure!(phone
            .answers(&id, &counters)
            .await?
            .iter()
            .all(|a| a.is_ok()));
        let order: Vec<u64> = phone
            .arrival_order(&id)
            .into_iter()
            .rev()
            .take(5)
            .rev()
            .collect();
        ensure!(order == counters, "{order:?} for {counters:?}");
        let receipts = phone.receipts(&id.to_string())?;
        ensure!(
            receipts.len() == 2 + 1 + 2 + 2 + 5,
            "one receipt per frame: {receipts:?}"
        );
        let all_seen = |h: &serde_json::Value| figure(h, "/counters/down_frames") == 12;
        phone
            .health_until(CONNECT, "every down frame counted", all_seen)
            .await?;
        ensure!(
            !relaying.is_finished(),
            "the relay stopped: {:?}",
            relaying.await
        );
        relaying.abort();
        Ok(())
    });
}
