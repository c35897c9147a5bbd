//! locksim against `bluer`, the client the gateway uses: discovery, GATT, frames both ways.

mod common;

use common::*;
use lockgate_e2e::{ChannelState, EndpointSession, Incoming, Request, ResponseBody};
use lockgate_wire::Advertisement;
use locksim::SimConfig;

bluer_test!(
    adapters_and_devices_are_listed_and_discovered,
    fast(3),
    |tb| {
        let (session, adapter) = adapter().await;
        assert_eq!(
            session.adapter_names().await.unwrap(),
            vec!["hci0".to_string()]
        );
        assert!(adapter.is_powered().await.unwrap());
        let locks = locks(&tb);
        let addrs: Vec<_> = locks.iter().map(|l| l.1).collect();
        discover(&adapter, &addrs).await;
        // RSSI is known only while discovering (bluetoothd drops it when discovery stops).
        let scanning = adapter.discover_devices().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for (id, addr, _) in &locks {
            let device = adapter.device(*addr).unwrap();
            let data = device
                .manufacturer_data()
                .await
                .unwrap()
                .expect("manufacturer data");
            let adv = Advertisement::decode(0xFFFF, &data[&0xFFFF]).unwrap();
            assert_eq!(adv.lock_id, *id);
            assert!(device.rssi().await.unwrap().is_some());
            assert!(!device.is_connected().await.unwrap());
            assert!(device
                .name()
                .await
                .unwrap()
                .unwrap()
                .starts_with("lockgate-"));
        }
        drop(scanning);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let device = adapter.device(addrs[0]).unwrap();
        assert_eq!(
            device.rssi().await.unwrap(),
            None,
            "no RSSI once discovery stopped"
        );
    }
);

bluer_test!(
    a_fragmented_frame_round_trips_through_write_and_notify,
    {
        let mut c = fast(1);
        c.mtu = 23;
        c
    },
    |tb| {
        let (_session, _adapter, device, id, label) = first_lock(&tb).await;
        let (rx, tx) = connect(&device).await;
        let mut link = Link::open(rx, &tx).await;
        tb.sim.shared().world().locks[0]
            .lock
            .press_button(locksim::world::unix_ms())
            .unwrap();
        let (_key, paired) = pair(&mut link, id, &label).await;
        let mut session = EndpointSession::new(paired, ChannelState::default());
        let request = session.request(&Request::Status).unwrap();
        let answer = link.exchange(&request.frame).await;
        match session.receive(&answer).unwrap() {
            Incoming::Response(r) => assert!(matches!(r.result, Ok(ResponseBody::Status(_)))),
            other => panic!("{other:?}"),
        }
    }
);

bluer_test!(frames_also_flow_through_acquired_sockets, fast(1), |tb| {
    use tokio::io::AsyncWriteExt;
    let (_session, _adapter, device, id, label) = first_lock(&tb).await;
    let (rx, tx) = connect(&device).await;
    let mut writer = rx.write_io().await.expect("AcquireWrite");
    let reader = tx.notify_io().await.expect("AcquireNotify");
    tb.sim.shared().world().locks[0]
        .lock
        .press_button(locksim::world::unix_ms())
        .unwrap();
    let mtu = u16::try_from(writer.mtu() + 5).unwrap();
    let mut reassembler = lockgate_wire::frag::Reassembler::default();
    let key = lockgate_e2e::StaticSecret::generate(&mut rand_core::OsRng);
    let code = lockgate_e2e::SetupCode::Label(label.parse().unwrap());
    let (mut pairing, mut frame) =
        lockgate_e2e::EndpointPairing::start(&key, id, "io", &code, rand_core::OsRng).unwrap();
    let paired = loop {
        for fragment in lockgate_wire::frag::fragments(&frame, mtu - 2).unwrap() {
            writer
                .write_all(&fragment)
                .await
                .expect("one datagram per write");
        }
        let answer = loop {
            let value = reader.recv().await.expect("a notification datagram");
            if let Some(f) = reassembler.push(&value, std::time::Instant::now()).unwrap() {
                break f;
            }
        };
        match pairing.handle(&answer).unwrap() {
            lockgate_e2e::PairingStep::Send(next) => frame = next,
            lockgate_e2e::PairingStep::Paired(p) => break p,
        }
    };
    assert_eq!(paired.lock_id, id);
    assert!(
        tx.notify_io().await.is_err(),
        "notifications are already acquired"
    );
    drop(reader);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        tx.notify_io().await.is_ok(),
        "a closed socket releases the notifications"
    );
});

bluer_test!(
    bonding_needs_the_locks_pairing_mode_and_the_right_passkey,
    fast(1),
    |tb| {
        use bluer::agent::{Agent, ReqError};
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::Arc;
        let (session, adapter) = adapter().await;
        let (_, addr, _) = locks(&tb).remove(0);
        let passkey = tb.sim.shared().world().locks[0].lock.passkey();
        let offered = Arc::new(AtomicU32::new(passkey.wrapping_add(1) % 1_000_000));
        let answer = offered.clone();
        let agent = Agent {
            request_default: true,
            request_passkey: Some(Box::new(move |_req| {
                let value = answer.load(Ordering::SeqCst);
                Box::pin(async move { Ok::<u32, ReqError>(value) })
            })),
            ..Default::default()
        };
        let _handle = session
            .register_agent(agent)
            .await
            .expect("agent registered");
        discover(&adapter, &[addr]).await;
        let device = adapter.device(addr).unwrap();
        // The lock's own button has not been pressed: it refuses to bond.
        let refused = device.pair().await.unwrap_err();
        assert_eq!(refused.kind, bluer::ErrorKind::AuthenticationRejected);
        tb.sim.shared().world().locks[0]
            .lock
            .press_button(locksim::world::unix_ms())
            .unwrap();
        let wrong = device.pair().await.unwrap_err();
        assert_eq!(wrong.kind, bluer::ErrorKind::AuthenticationFailed);
        assert!(!device.is_paired().await.unwrap());
        offered.store(passkey, Ordering::SeqCst);
        device.pair().await.expect("the right passkey bonds");
        assert!(device.is_paired().await.unwrap());
        let again = device.pair().await.unwrap_err();
        assert_eq!(again.kind, bluer::ErrorKind::AlreadyExists);
        adapter
            .remove_device(addr)
            .await
            .expect("the bond is removed");
        assert!(adapter.device_addresses().await.unwrap().is_empty());
    }
);

bluer_test!(
    powering_the_adapter_off_drops_links_until_it_is_back,
    fast(1),
    |tb| {
        let (_session, adapter, device, _, _) = first_lock(&tb).await;
        device.connect().await.unwrap();
        adapter.set_powered(false).await.unwrap();
        assert!(!adapter.is_powered().await.unwrap());
        assert!(!device.is_connected().await.unwrap());
        let err = device.connect().await.unwrap_err();
        assert_eq!(err.kind, bluer::ErrorKind::NotReady);
        adapter.set_powered(true).await.unwrap();
        device.connect().await.expect("connects again once powered");
        assert!(device.is_connected().await.unwrap());
    }
);

bluer_test!(
    injected_faults_surface_as_bluez_errors_and_are_counted,
    fast(1),
    |tb| {
        let (_session, _adapter, device, id, label) = first_lock(&tb).await;
        let ctl = |fault: &str, count: u32| {
            let mut world = tb.sim.shared().world();
            let l = world.lock_index(&id.to_string()).unwrap();
            let faults = &mut world.locks[l].faults;
            match fault {
                "in-progress" => faults
                    .connect
                    .push_back(locksim::world::ConnectFault::InProgress),
                "failed" => faults
                    .connect
                    .push_back(locksim::world::ConnectFault::Failed),
                "link-drop" => faults.drop_link_after_writes = Some(count),
                "loss" => faults.lose_notifications = count,
                "slow" => faults.slow_writes = std::time::Duration::from_millis(u64::from(count)),
                _ => unreachable!(),
            }
        };
        ctl("in-progress", 0);
        assert_eq!(
            device.connect().await.unwrap_err().kind,
            bluer::ErrorKind::InProgress
        );
        ctl("failed", 0);
        let failed = device.connect().await.unwrap_err();
        assert_eq!(failed.kind, bluer::ErrorKind::Failed);
        assert_eq!(failed.message, "le-connection-abort-by-local");
        let (rx, tx) = connect(&device).await;
        let mut link = Link::open(rx, &tx).await;
        // A lost notification: the lock's answer never arrives whole.
        tb.sim.shared().world().locks[0]
            .lock
            .press_button(locksim::world::unix_ms())
            .unwrap();
        ctl("loss", 1);
        let key = lockgate_e2e::StaticSecret::generate(&mut rand_core::OsRng);
        let code = lockgate_e2e::SetupCode::Label(label.parse().unwrap());
        let (_, start) =
            lockgate_e2e::EndpointPairing::start(&key, id, "x", &code, rand_core::OsRng).unwrap();
        link.send(&start).await;
        let lost =
            tokio::time::timeout(std::time::Duration::from_millis(300), link.receive()).await;
        assert!(lost.is_err(), "the only notification was lost");
        // The link drops in the middle of a frame.
        ctl("link-drop", 1);
        let big = vec![0u8; 600];
        let req = bluer::gatt::remote::CharacteristicWriteRequest {
            op_type: bluer::gatt::WriteOp::Request,
            ..Default::default()
        };
        let mut results = Vec::new();
        for fragment in lockgate_wire::frag::fragments(&big, link.mtu).unwrap() {
            results.push(link.rx.write_ext(&fragment, &req).await);
        }
        assert!(results[0].is_ok());
        assert_eq!(
            results[1].as_ref().unwrap_err().kind,
            bluer::ErrorKind::Failed
        );
        assert!(!device.is_connected().await.unwrap());
        // Slow writes: every write now takes at least the injected time.
        device.connect().await.unwrap();
        let (rx, _tx) = connect(&device).await;
        ctl("slow", 80);
        let started = std::time::Instant::now();
        rx.write(&[0xC0, 0]).await.unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(80));
        let counters = tb.sim.counters();
        assert_eq!(counters.get("fault.connect"), Some(&2));
        assert_eq!(counters.get("fault.notification_lost"), Some(&1));
        assert_eq!(counters.get("fault.link_drop"), Some(&1));
    }
);

bluer_test!(thirty_two_locks_work_at_once, fast(32), |tb| {
    let all = locks(&tb);
    for entry in &mut tb.sim.shared().world().locks {
        entry.lock.press_button(locksim::world::unix_ms()).unwrap();
    }
    // All 32 exchanges run concurrently on one thread, as lockgated's links do. On a
    // multi-threaded runtime, dbus-tokio refuses a second call made from another thread while
    // its I/O task is reading ("Failed to send message"), which is not what this test is about.
    let answered = on_current_thread(move || async move {
        let (_session, adapter) = adapter().await;
        let addrs: Vec<_> = all.iter().map(|l| l.1).collect();
        discover(&adapter, &addrs).await;
        let mut tasks = Vec::new();
        for (id, addr, label) in all {
            let device = adapter.device(addr).unwrap();
            tasks.push(async move {
                let (rx, tx) = connect(&device).await;
                let mut link = Link::open(rx, &tx).await;
                let (_key, paired) = pair(&mut link, id, &label).await;
                let mut session = EndpointSession::new(paired, ChannelState::default());
                let request = session.request(&Request::Status).unwrap();
                let answer = link.exchange(&request.frame).await;
                matches!(session.receive(&answer), Ok(Incoming::Response(_)))
            });
        }
        futures_util::future::join_all(tasks).await
    })
    .await;
    assert_eq!(answered.len(), 32);
    assert!(
        answered.iter().all(|a| *a),
        "every lock answered its own endpoint: {answered:?}"
    );
});

bluer_test!(
    a_lock_out_of_range_drops_its_link_and_unseen_devices_expire,
    {
        let mut c = fast(2);
        c.temporary_timeout = std::time::Duration::from_millis(500);
        c
    },
    |tb| {
        let (_session, adapter) = adapter().await;
        let all = locks(&tb);
        let addrs: Vec<_> = all.iter().map(|l| l.1).collect();
        discover(&adapter, &addrs).await;
        let device = adapter.device(addrs[0]).unwrap();
        device.connect().await.unwrap();
        let client = zbus::connection::Builder::address(tb.address())
            .unwrap()
            .build()
            .await
            .unwrap();
        for (id, _, _) in &all {
            client
                .call_method(
                    Some("org.bluez"),
                    "/org/lockgate/sim",
                    Some("org.lockgate.Sim1"),
                    "SetInRange",
                    &(id.to_string(), false),
                )
                .await
                .unwrap();
        }
        assert!(!device.is_connected().await.unwrap());
        let err = device.connect().await.unwrap_err();
        assert_eq!(err.kind, bluer::ErrorKind::Failed);
        assert_eq!(err.message, "le-connection-abort-by-local");
        // The never-connected lock is a temporary device and expires; the one we connected to is
        // kept, as bluetoothd does.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
        assert_eq!(adapter.device_addresses().await.unwrap(), vec![addrs[0]]);
    }
);

bluer_test!(
    bluez_rules_for_concurrent_writes_and_notify_sessions,
    fast(1),
    |tb| {
        let (_session, _adapter, device, _, _) = first_lock(&tb).await;
        let (rx, tx) = connect(&device).await;
        // StartNotify twice from one client is fine; the session survives a reconnection.
        let _first = tx.notify().await.unwrap();
        let _second = tx.notify().await.unwrap();
        assert_eq!(tx.notifying().await.unwrap(), Some(true));
        device.disconnect().await.unwrap();
        device
            .disconnect()
            .await
            .expect("disconnecting twice is fine");
        device.connect().await.unwrap();
        device
            .connect()
            .await
            .expect("connecting when connected is fine");
        assert_eq!(tx.notifying().await.unwrap(), Some(true));
        // AcquireNotify is refused while StartNotify sessions exist.
        assert_eq!(
            tx.notify_io().await.unwrap_err().kind,
            bluer::ErrorKind::InProgress
        );
        // WriteValue is refused while the write side is acquired.
        let _writer = rx.write_io().await.unwrap();
        assert_eq!(
            rx.write(&[0xC0, 1]).await.unwrap_err().kind,
            bluer::ErrorKind::NotPermitted
        );
    }
);

bluer_test!(
    links_take_connection_intervals_when_not_in_fast_mode,
    SimConfig {
        locks: 1,
        ..SimConfig::default()
    },
    |tb| {
        let (_session, _adapter, device, _, _) = first_lock(&tb).await;
        let started = std::time::Instant::now();
        device.connect().await.unwrap();
        // At least one 30 ms connection interval (an upper bound would be a timed test).
        assert!(started.elapsed() >= std::time::Duration::from_millis(30));
    }
);
