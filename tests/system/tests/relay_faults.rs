//! lockgated under faults (docs/GATEWAY.md): a broker outage and a SIGKILL while answers are
//! spooled lose nothing and keep the order; down frames that must not act are refused with
//! the receipts of §1.11; BLE faults and an adapter power cycle are survived and counted;
//! TLS works with the right CA and fails clearly with a wrong one; a user name and password
//! file log in, and a wrong password is refused with a line that says which keys to check.

use anyhow::{ensure, Context, Result};
use lockgate_e2e::{Request, Response, ResponseBody};
use lockgate_systest::endpoint::figure;
use lockgate_systest::process::poll_until;
use lockgate_systest::spool::frames_for;
use lockgate_systest::testbed::WAIT;
use lockgate_systest::{run, Diagnostics, Endpoint, MqttTransport, TestBed};
use lockgate_wire::{build_frame, Header, Kind, LockId};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(240);

/// How long the broker stays away in the outage scenario.
const OUTAGE: Duration = Duration::from_secs(30);

/// Requests queued in the gateway before the outage.
const QUEUED: usize = 5;

/// A frame with a valid header and a body of `len` bytes (never opened by anyone).
fn frame(kind: Kind, auth_id: u32, counter: u64, len: usize) -> Vec<u8> {
    build_frame(
        &Header {
            kind,
            auth_id,
            counter,
        },
        &vec![0x5a; len],
    )
}

/// A test bed with one paired lock, down frames living 60 s: (bed, endpoint, lock, auth id).
async fn one_paired_lock(diag: &Diagnostics) -> Result<(TestBed, Endpoint, LockId, u32)> {
    let mut bed = TestBed::builder()
        .gateway(|c| c.down_frame_ttl = Duration::from_secs(60))
        .start(diag)
        .await?;
    let lock = bed.lock_id(0);
    let mut phone = bed.endpoint("phone").await?;
    let auth = bed.pair(&mut phone, 0).await?;
    phone.status(&lock).await?;
    phone.set_answer_limit(Duration::from_secs(90));
    Ok((bed, phone, lock, auth))
}

/// With the lock out of range, sends [`QUEUED`] status requests and waits until the gateway
/// holds them all (its `down_frames` counter); returns their counters.
async fn queue_requests(bed: &TestBed, phone: &mut Endpoint, lock: &LockId) -> Result<Vec<u64>> {
    let before = figure(&phone.health().await?, "/counters/down_frames");
    bed.sim.ctl(&["range", &lock.to_string(), "out"]).await?;
    let mut counters = Vec::new();
    for _ in 0..QUEUED {
        counters.push(phone.send(lock, &Request::Status).await?);
    }
    let held = |h: &Value| figure(h, "/counters/down_frames") >= before + QUEUED as u64;
    phone
        .health_until(WAIT, "the gateway holding the requests", held)
        .await?;
    Ok(counters)
}

/// Brings the lock back with the broker away and waits until its answers are in the spool.
async fn answers_spooled(bed: &TestBed, phone: &Endpoint, lock: &LockId, auth: u32) -> Result<()> {
    let up = bed.topics.for_lock(lock).up(auth);
    let published: Vec<Vec<u8>> = phone
        .mqtt()
        .messages()
        .into_iter()
        .filter(|m| m.topic == up)
        .map(|m| m.payload)
        .collect();
    bed.sim.ctl(&["range", &lock.to_string(), "in"]).await?;
    let spool = bed.gateway.spool_dir();
    poll_until(
        Duration::from_secs(90),
        "the answers in the spool",
        async || {
            let fresh = frames_for(&spool, lock, auth)
                .into_iter()
                .filter(|f| !published.contains(f))
                .count();
            Ok((fresh >= QUEUED).then_some(()))
        },
    )
    .await
}

/// A paired lock whose answers to [`QUEUED`] requests wait in the spool, the broker away.
struct Spooled {
    bed: TestBed,
    phone: Endpoint,
    lock: LockId,
    /// The counters of the requests, in the order sent.
    counters: Vec<u64>,
    /// When the broker was stopped.
    broker_stopped: Instant,
}

async fn answers_spooled_with_broker_away(diag: &Diagnostics) -> Result<Spooled> {
    let (mut bed, mut phone, lock, auth) = one_paired_lock(diag).await?;
    let counters = queue_requests(&bed, &mut phone, &lock).await?;
    bed.broker.stop().await?;
    let broker_stopped = Instant::now();
    answers_spooled(&bed, &phone, &lock, auth).await?;
    Ok(Spooled {
        bed,
        phone,
        lock,
        counters,
        broker_stopped,
    })
}

impl Spooled {
    /// Every request answered with a status, the answers in the order of the requests.
    async fn all_answered_in_order(&mut self) -> Result<()> {
        let (phone, lock, counters) = (&mut self.phone, &self.lock, &self.counters);
        for answer in phone.answers(lock, counters).await? {
            let ok = matches!(
                answer,
                Ok(Response {
                    result: Ok(ResponseBody::Status(_)),
                    ..
                })
            );
            ensure!(ok, "answer {answer:?}");
        }
        let order: Vec<u64> = phone
            .arrival_order(lock)
            .into_iter()
            .filter(|c| counters.contains(c))
            .collect();
        ensure!(
            &order == counters,
            "answers arrived as {order:?}, asked {counters:?}"
        );
        Ok(())
    }
}

#[test]
fn a_broker_outage_loses_no_up_frame_and_keeps_their_order() {
    run(LIMIT, |diag| async move {
        let mut spooled = answers_spooled_with_broker_away(&diag).await?;
        // The outage lasts as long as the scenario says, whatever the gateway does meanwhile.
        tokio::time::sleep_until(spooled.broker_stopped + OUTAGE).await;
        spooled.bed.broker.start().await?;
        spooled.all_answered_in_order().await?;
        let drained = |h: &Value| figure(h, "/spool/frames") == 0;
        let health = spooled
            .phone
            .health_until(WAIT, "the spool drained", drained)
            .await?;
        ensure!(
            figure(&health, "/mqtt/disconnects") >= 1,
            "health: {health}"
        );
        Ok(())
    });
}

#[test]
fn a_gateway_killed_while_spooling_loses_nothing() {
    run(LIMIT, |diag| async move {
        let mut spooled = answers_spooled_with_broker_away(&diag).await?;
        spooled.bed.gateway.kill(Signal::SIGKILL).await?;
        spooled.bed.gateway.start()?;
        spooled.bed.broker.start().await?;
        spooled.all_answered_in_order().await?;
        Ok(())
    });
}

/// Publishes `frame` to `level`'s down topic and returns the receipt that follows.
async fn receipt_for(phone: &Endpoint, level: &str, frame: &[u8]) -> Result<Value> {
    let from = phone.mqtt().cursor();
    phone.publish_down(level, frame, false).await?;
    phone.receipt(level, from, WAIT, |_| true).await
}

#[test]
fn down_frames_that_must_not_act_get_no_receipt_or_say_why() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder()
            .gateway(|c| c.down_frame_ttl = Duration::from_secs(3))
            .gateway_stopped()
            .start(&diag)
            .await?;
        let lock = bed.lock_id(0);
        let level = lock.to_string();
        let mut phone = bed.endpoint("phone").await?;
        // MQTT flags a message as retained only when it is delivered for a new subscription:
        // so the stale frame and request wait on the broker before the gateway subscribes.
        let stale = frame(Kind::Session, 1, 4242, 16);
        phone.publish_down(&level, &stale, true).await?;
        let request = bed.topics.bridge_request("health")?;
        let stale_request = br#"{"transaction":"stale"}"#;
        phone.mqtt().publish(&request, stale_request, true).await?;
        bed.start_gateway().await?;
        let ignored = |h: &Value| {
            figure(h, "/counters/down_retained_ignored") >= 1
                && figure(h, "/counters/requests_retained_ignored") >= 1
        };
        phone
            .health_until(WAIT, "the retained frame and request ignored", ignored)
            .await?;

        let short = receipt_for(&phone, &level, &[1, 2, 1, 0, 0, 0, 0, 0, 0, 0]).await?;
        let expected = serde_json::json!({"status": "rejected", "auth_id": null,
            "counter": null, "reason": "malformed"});
        for key in ["status", "auth_id", "counter", "reason"] {
            ensure!(
                short[key] == expected[key],
                "receipt of a 10-byte frame: {short}"
            );
        }

        let mut wrong_version = frame(Kind::Session, 1, 1, 16);
        wrong_version[0] = 2;
        let mut wrong_kind = frame(Kind::Session, 1, 1, 16);
        wrong_kind[1] = 9;
        let cases: [(&str, Vec<u8>, &str); 5] = [
            (&level, frame(Kind::Session, 1, 1, 4097 - 14), "too_large"),
            (&level, wrong_version, "unsupported_version"),
            (&level, wrong_kind, "unknown_kind"),
            (
                &level,
                frame(Kind::Session, 0x8000_0001, 1, 16),
                "malformed",
            ),
            (
                "0123456789abcdef",
                frame(Kind::Session, 1, 1, 16),
                "unknown_lock",
            ),
        ];
        for (to, bytes, reason) in cases {
            let receipt = receipt_for(&phone, to, &bytes).await?;
            ensure!(receipt["status"] == "rejected", "{reason}: {receipt}");
            ensure!(receipt["reason"] == reason, "{reason}: {receipt}");
        }

        bed.sim.ctl(&["range", &level, "out"]).await?;
        let late = receipt_for(&phone, &level, &frame(Kind::Session, 1, 77, 16)).await?;
        ensure!(late["status"] == "expired", "{late}");
        ensure!(late["reason"] == "not_connected", "{late}");
        ensure!(late["auth_id"] == 1 && late["counter"] == 77, "{late}");
        let health = phone.health().await?;
        ensure!(figure(&health, "/counters/down_rejected") >= 6, "{health}");
        ensure!(figure(&health, "/counters/down_expired") >= 1, "{health}");
        // Longer than a TTL has passed: had the retained frame been taken, its receipt would be
        // here; and the retained request was never answered.
        let receipts = phone.receipts(&level)?;
        ensure!(
            receipts.iter().all(|r| r["counter"] != 4242),
            "{receipts:?}"
        );
        let response = bed.topics.bridge_response("health")?;
        let answered_stale =
            phone.mqtt().messages().iter().any(|m| {
                m.topic == response && m.json().is_ok_and(|v| v["transaction"] == "stale")
            });
        ensure!(!answered_stale, "a retained request was answered");
        Ok(())
    });
}

#[test]
fn link_drops_connect_faults_and_adapter_power_cycles_are_survived_and_counted() {
    run(LIMIT, |diag| async move {
        // A 23-byte MTU fragments every request: the link can drop in the middle of one.
        let mut bed = TestBed::builder()
            .sim(|s| s.mtu = Some(23))
            .start(&diag)
            .await?;
        let lock = bed.lock_id(0);
        let level = lock.to_string();
        let mut phone = bed.endpoint("phone").await?;
        bed.pair(&mut phone, 0).await?;

        bed.sim.ctl(&["fault", &level, "link-drop", "1"]).await?;
        let from = phone.mqtt().cursor();
        let counter = phone.send(&lock, &Request::Status).await?;
        let mine = |r: &Value| r["counter"] == counter;
        let receipt = phone.receipt(&level, from, WAIT, mine).await?;
        match receipt["status"].as_str() {
            Some("written") => drop(phone.answer(&lock, counter).await?),
            Some("expired") => ensure!(receipt["reason"] == "write_failed", "{receipt}"),
            _ => anyhow::bail!("receipt after a link drop: {receipt}"),
        }
        phone
            .status(&lock)
            .await
            .context("a request after the link drop")?;
        let drops = |h: &Value| figure(h, "/counters/link_drops") >= 1;
        phone
            .health_until(WAIT, "the link drop counted", drops)
            .await?;
        ensure!(bed.sim.counters().await?.get("fault.link_drop") >= Some(&1));

        bed.wait_link(&lock, false).await?;
        bed.sim
            .ctl(&["fault", &level, "connect-in-progress", "1"])
            .await?;
        phone
            .status(&lock)
            .await
            .context("a request after InProgress")?;
        ensure!(bed.sim.counters().await?.get("fault.connect") >= Some(&1));
        let failed = |h: &Value| figure(h, "/ble/connect_failures") >= 1;
        phone
            .health_until(WAIT, "the failed connect counted", failed)
            .await?;

        let from = bed.observer.cursor();
        bed.sim.ctl(&["power", "hci0", "off"]).await?;
        bed.wait_event(from, "adapter_lost").await?;
        let availability = bed.topics.for_lock(&lock).availability();
        let offline = |v: &Value| v["state"] == "offline";
        bed.wait_json(&availability, from, "the lock offline", offline)
            .await?;
        let unpowered = |h: &Value| h["ble"]["powered"] == false;
        phone
            .health_until(WAIT, "the adapter reported off", unpowered)
            .await?;
        bed.sim.ctl(&["power", "hci0", "on"]).await?;
        bed.wait_event(from, "adapter_back").await?;
        phone
            .status(&lock)
            .await
            .context("a request after the power cycle")?;
        Ok(())
    });
}

#[test]
fn the_gateway_relays_over_tls_with_the_test_ca_and_client_certificate() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().tls().start(&diag).await?;
        let lock = bed.lock_id(0);
        let mut phone = bed.endpoint("phone").await?;
        bed.pair(&mut phone, 0).await?;
        phone.status(&lock).await?;
        Ok(())
    });
}

#[test]
fn a_gateway_trusting_another_ca_says_so_and_publishes_nothing() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder()
            .tls()
            .gateway_stopped()
            .start(&diag)
            .await?;
        let other_ca = bed.certs.as_ref().context("TLS")?.other_ca.clone();
        bed.gateway.reconfigure(|c| {
            if let MqttTransport::Tls { ca_file, .. } = &mut c.transport {
                *ca_file = other_ca;
            }
        })?;
        bed.gateway.start()?;
        let gateway = &bed.gateway;
        poll_until(WAIT, "a certificate error in lockgated's log", async || {
            let log = gateway.log_text().to_lowercase();
            Ok(log.contains("certificate").then_some(()))
        })
        .await?;
        // It has tried and failed: nothing it could have published reached the broker.
        let seen = bed.observer.messages();
        ensure!(
            seen.is_empty(),
            "published without a trusted broker: {seen:?}"
        );
        Ok(())
    });
}

/// Writes `password` as a 0600 password file and points the gateway at it as `user`.
fn use_password(bed: &mut TestBed, user: &str, password: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let file = bed.gateway.state_dir().with_file_name("mqtt-password");
    std::fs::write(&file, format!("{password}\n"))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
    let (user, file) = (user.to_owned(), file.display().to_string());
    bed.gateway.reconfigure(|c| {
        c.env.retain(|(k, _)| !k.starts_with("LOCKGATE_MQTT__"));
        c.env.push(("LOCKGATE_MQTT__USERNAME".into(), user));
        c.env.push(("LOCKGATE_MQTT__PASSWORD_FILE".into(), file));
    })
}

#[test]
fn a_user_name_and_password_log_in_and_a_wrong_password_is_refused_clearly() {
    run(LIMIT, |diag| async move {
        let mut bed = TestBed::builder().gateway_stopped().start(&diag).await?;
        bed.broker
            .add_password("gateway", "correct horse battery staple")?;
        bed.broker.stop().await?;
        bed.broker.start().await?;
        bed.observer
            .wait(WAIT, "the observer back after the restart", |i| {
                i.connected.then_some(())
            })
            .await?;

        use_password(&mut bed, "gateway", "wrong horse")?;
        bed.gateway.start()?;
        let gateway = &bed.gateway;
        poll_until(WAIT, "a refused login in lockgated's log", async || {
            let log = gateway.log_text();
            let refused = log.lines().any(|l| {
                l.contains("the broker refused the connection:")
                    && l.contains("check mqtt.username and mqtt.password_file")
            });
            Ok(refused.then_some(()))
        })
        .await?;
        let seen = bed.observer.messages();
        ensure!(seen.is_empty(), "published without logging in: {seen:?}");
        bed.gateway.kill(Signal::SIGTERM).await?;

        use_password(&mut bed, "gateway", "correct horse battery staple")?;
        let from = bed.observer.cursor();
        bed.gateway.start()?;
        bed.wait_online(from).await?;
        let lock = bed.lock_id(0);
        let mut phone = bed.endpoint("phone").await?;
        bed.pair(&mut phone, 0).await?;
        phone.status(&lock).await?;
        ensure!(
            !bed.gateway.log_text().contains("correct horse"),
            "the password is in the log"
        );
        Ok(())
    });
}
