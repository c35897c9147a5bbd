//! locksim against `bluer`, the client the gateway uses: discovery, GATT, frames both ways.

mod common;

use common::*;
use lockgate_e2e::{ChannelState, EndpointSession, Incoming, Request, ResponseBody};
use lockgate_wire::Advertisement;

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
        let (_session, adapter) = adapter().await;
        let (id, addr, label) = locks(&tb).remove(0);
        discover(&adapter, &[addr]).await;
        let device = adapter.device(addr).unwrap();
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
