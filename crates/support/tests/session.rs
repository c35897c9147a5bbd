//! Two-ended tests of an open support session: requests, refusals, records, the end.

mod common;

use common::*;
use lockgate_support::channel::ChannelError;
use lockgate_support::command::Status;
use lockgate_support::gateway::Event;
use lockgate_support::{
    ClientError, ClientEvent, CloseReason, Forbidden, GatewaySupport, Message, Reason, Request,
    SupportClient,
};
use rand_chacha::ChaCha20Rng;
use serde_json::json;

fn open() -> (GatewaySupport<ChaCha20Rng>, SupportClient) {
    let (mut gw, code) = gateway_with_code();
    let client = open_session(&mut gw, &code, T0, 2);
    (gw, client)
}

fn ask(client: &mut SupportClient, request: &Request) -> (u64, Vec<u8>) {
    client.request(T0 + 1_000, request).unwrap()
}

#[test]
fn an_allowed_request_is_handed_to_the_host_and_answered() {
    let (mut gw, mut client) = open();
    let (counter, record) = ask(&mut client, &Request::Health);
    let out = gw.handle(T0 + 1_000, &record);
    assert!(out.send.is_empty());
    let [Event::Request { ticket, request }] = out.events.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!((request, ticket.in_reply_to), (&Request::Health, counter));
    let answer = one(gw.respond(T0 + 1_100, *ticket, Ok(json!({"uptime_s": 5}))));
    let ClientEvent::Response(r) = client.handle(T0 + 1_100, &answer).unwrap() else {
        panic!()
    };
    assert_eq!((r.in_reply_to, r.status), (counter, Status::Ok));
    assert_eq!(r.data, Some(json!({"uptime_s": 5})));
}

#[test]
fn forbidden_requests_are_refused_visibly() {
    let (mut gw, mut client) = open();
    for f in Forbidden::ALL {
        let (counter, record) = ask(&mut client, &Request::Forbidden(f));
        let out = gw.handle(T0 + 1_000, &record);
        assert_eq!(
            out.events,
            vec![Event::Forbidden {
                session_id: client.session_id(),
                command: f.name()
            }]
        );
        let ClientEvent::Response(r) = client.handle(T0, &one(out)).unwrap() else {
            panic!()
        };
        assert_eq!((r.in_reply_to, r.status), (counter, Status::Refused));
        assert_eq!(r.error.as_deref(), Some(f.why()));
    }
}

#[test]
fn tampered_replayed_and_reordered_records_are_dropped() {
    let (mut gw, mut client) = open();
    let (_, first) = ask(&mut client, &Request::Links);
    let (_, second) = ask(&mut client, &Request::Config);
    let mut tampered = second.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    let rejected = |out: &lockgate_support::Output| {
        out.send.is_empty() && matches!(out.events.as_slice(), [Event::Rejected { .. }])
    };
    assert!(rejected(&gw.handle(T0 + 1_000, &tampered)));
    assert!(matches!(
        gw.handle(T0 + 1_000, &second).events.as_slice(),
        [Event::Request { .. }]
    ));
    assert!(rejected(&gw.handle(T0 + 1_000, &second)), "replayed");
    assert!(rejected(&gw.handle(T0 + 1_000, &first)), "reordered");
}

#[test]
fn the_client_drops_replayed_and_reflected_records() {
    let (mut gw, mut client) = open();
    let (_, record) = ask(&mut client, &Request::Health);
    let out = gw.handle(T0 + 1_000, &record);
    let [Event::Request { ticket, .. }] = out.events.as_slice() else {
        panic!()
    };
    let answer = one(gw.respond(T0 + 1_000, *ticket, Ok(json!({}))));
    assert!(client.handle(T0, &answer).is_ok());
    assert!(matches!(
        client.handle(T0, &answer),
        Err(ClientError::Channel(ChannelError::Stale { .. }))
    ));
    // The client's own record sent back to it does not open under the gateway's key.
    let _ = ask(&mut client, &Request::Health);
    let (counter, mine) = ask(&mut client, &Request::Health);
    assert_eq!(counter, 3, "above the last counter the client received");
    assert_eq!(
        client.handle(T0, &mine),
        Err(ClientError::Channel(ChannelError::Authentication))
    );
}

#[test]
fn the_session_expires() {
    let (mut gw, mut client) = open();
    assert_eq!(gw.next_deadline(), Some(T0 + SESSION_MS));
    let out = gw.tick(T0 + SESSION_MS);
    assert!(out.events.contains(&Event::SessionEnded {
        session_id: client.session_id(),
        reason: CloseReason::Expired
    }));
    assert_eq!(
        client.handle(T0 + SESSION_MS, &one(out)).unwrap(),
        ClientEvent::Closed(CloseReason::Expired)
    );
    assert_eq!(
        client.request(T0 + SESSION_MS, &Request::Health),
        Err(ClientError::NotOpen)
    );
}

#[test]
fn a_request_after_expiry_is_refused() {
    let (mut gw, mut client) = open();
    let (_, late) = client
        .request(T0 + SESSION_MS - 1, &Request::Health)
        .unwrap();
    let out = gw.handle(T0 + SESSION_MS, &late);
    let kinds: Vec<_> = out
        .send
        .iter()
        .map(|o| Message::decode(&o.bytes).unwrap())
        .collect();
    assert!(matches!(
        kinds.as_slice(),
        [
            Message::Data { .. },
            Message::Refusal {
                reason: Reason::NoSession,
                ..
            }
        ]
    ));
    assert!(!out
        .events
        .iter()
        .any(|e| matches!(e, Event::Request { .. })));
    // The client stops by itself too.
    let (mut gw, mut client) = open();
    assert_eq!(
        client.request(T0 + SESSION_MS, &Request::Health),
        Err(ClientError::Expired)
    );
    assert!(gw.tick(T0 + 1).send.is_empty());
}

#[test]
fn stop_ends_the_session_and_later_records_are_refused() {
    let (mut gw, mut client) = open();
    let out = gw.stop(T0 + 1_000);
    assert_eq!(
        client.handle(T0, &one(out)).unwrap(),
        ClientEvent::Closed(CloseReason::Stopped)
    );
    let (mut gw2, mut client2) = open();
    let _ = gw2.stop(T0 + 1_000);
    let (_, record) = ask(&mut client2, &Request::Health);
    let refusal = one(gw2.handle(T0 + 2_000, &record));
    assert_eq!(
        client2.handle(T0, &refusal).unwrap(),
        ClientEvent::Refused {
            reason: Reason::NoSession,
            retry_after_secs: 0
        }
    );
    assert!(gw
        .respond(T0 + 2_000, dummy_ticket(&client), Ok(json!({})))
        .send
        .is_empty());
}

fn dummy_ticket(client: &SupportClient) -> lockgate_support::Ticket {
    lockgate_support::Ticket {
        session_id: client.session_id(),
        in_reply_to: 1,
    }
}

#[test]
fn quit_ends_the_session_from_the_client_side() {
    let (mut gw, mut client) = open();
    let (_, record) = ask(&mut client, &Request::Quit);
    let out = gw.handle(T0 + 1_000, &record);
    assert!(out.events.contains(&Event::SessionEnded {
        session_id: client.session_id(),
        reason: CloseReason::Quit
    }));
    assert_eq!(
        client.handle(T0, &one(out)).unwrap(),
        ClientEvent::Closed(CloseReason::Quit)
    );
    assert_eq!(gw.status(T0 + 1_000).session, None);
}

#[test]
fn a_new_code_cannot_be_started_during_a_session() {
    let (mut gw, _client) = open();
    assert!(gw.start_code(T0 + 1, VALID_MS).is_err());
}

#[test]
fn oversized_answers_become_an_error_answer() {
    let (mut gw, mut client) = open();
    let (_, record) = ask(&mut client, &Request::Logs { lines: 500 });
    let out = gw.handle(T0 + 1_000, &record);
    let [Event::Request { ticket, .. }] = out.events.as_slice() else {
        panic!()
    };
    let huge = json!({"lines": vec!["x".repeat(100); 200]});
    let answer = one(gw.respond(T0 + 1_000, *ticket, Ok(huge)));
    let ClientEvent::Response(r) = client.handle(T0, &answer).unwrap() else {
        panic!()
    };
    assert_eq!(r.status, Status::Error);
    assert!(r.error.unwrap().contains("too large"));
}
