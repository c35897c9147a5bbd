//! The harness itself, without the daemon: mosquitto starts, stops and starts again, speaks
//! TLS with the generated certificates and refuses strangers; locksim starts bonded and
//! `locksim ctl` steers it; the gateway's generated configuration passes
//! `lockgate check-config`; the memory scanner finds what is there.

use anyhow::{ensure, Context, Result};
use lockgate_systest::binaries::binaries;
use lockgate_systest::blindness::memory_containing;
use lockgate_systest::broker::TlsListener;
use lockgate_systest::process::{poll_until, ChildProcess};
use lockgate_systest::{
    run, Broker, Certs, Gateway, GatewayConfig, Mqtt, MqttTransport, Settings, Sim, SimOptions,
    Transport,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

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

#[test]
fn a_tls_client_with_the_test_ca_and_certificate_connects() {
    run(LIMIT, |_| async move {
        let certs = Certs::generate()?;
        let broker = Broker::spawn_with(Some(TlsListener::from_certs(&certs))).await?;
        let port = broker.tls_port().context("a TLS listener")?;
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
        let certs = Certs::generate()?;
        let broker = Broker::spawn_with(Some(TlsListener::from_certs(&certs))).await?;
        let port = broker.tls_port().context("a TLS listener")?;
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
        let certs = Certs::generate()?;
        let broker = Broker::spawn_with(Some(TlsListener::from_certs(&certs))).await?;
        let port = broker.tls_port().context("a TLS listener")?;
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

async fn bonded_devices(address: &str) -> Result<Vec<String>> {
    let conn = zbus::connection::Builder::address(address)?.build().await?;
    let reply = conn
        .call_method(
            Some("org.bluez"),
            "/",
            Some("org.freedesktop.DBus.ObjectManager"),
            "GetManagedObjects",
            &(),
        )
        .await?;
    let objects: HashMap<OwnedObjectPath, HashMap<String, HashMap<String, OwnedValue>>> =
        reply.body().deserialize()?;
    let mut bonded = Vec::new();
    for (path, ifaces) in objects {
        if let Some(device) = ifaces.get("org.bluez.Device1") {
            if bool::try_from(&device["Paired"])? {
                bonded.push(path.to_string());
            }
        }
    }
    Ok(bonded)
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
        let bonded = bonded_devices(sim.bus_address()).await?;
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
            let output = Command::new(&binaries()?.lockgate)
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
