//! Two-ended tests of the support handshake: codes, attempts, the throttle.

mod common;

use common::*;
use lockgate_support::gateway::{Event, Failure, HANDSHAKE_TIMEOUT_MS, MAX_ATTEMPTS};
use lockgate_support::limiter::Limiter;
use lockgate_support::{ClientEvent, LimiterState, Reason, SupportClient};

fn refused(event: &ClientEvent) -> Option<(Reason, u32)> {
    match event {
        ClientEvent::Refused {
            reason,
            retry_after_secs,
        } => Some((*reason, *retry_after_secs)),
        _ => None,
    }
}

#[test]
fn the_right_code_opens_a_session_once() {
    let (mut gw, code) = gateway_with_code();
    let _client = open_session(&mut gw, &code, T0 + 1_000, 2);
    let status = gw.status(T0 + 1_000);
    assert_eq!(status.code_expires_at_ms, None, "the code is used up");
    assert_eq!(status.failures, 0);
    gw.stop(T0 + 2_000).events.clear();
    let (event, _) = attempt(&mut gw, &code, T0 + 3_000, 3);
    assert_eq!(refused(&event), Some((Reason::NoCode, 0)));
}

#[test]
fn the_code_never_crosses_the_wire() {
    let (mut gw, code) = gateway_with_code();
    let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let reply = one(gw.handle(T0, &hello));
    let ClientEvent::Send(confirm) = client.handle(T0, &reply).unwrap() else {
        panic!()
    };
    let wire = [hello, reply, confirm].concat();
    let digits = code.digits().as_bytes();
    assert!(!wire.windows(6).any(|w| digits.windows(6).any(|d| d == w)));
}

#[test]
fn a_wrong_code_fails_counts_and_delays_the_next_attempt() {
    let (mut gw, code) = gateway_with_code();
    let (event, out) = attempt(&mut gw, &wrong(&code), T0, 2);
    assert!(matches!(event, ClientEvent::WrongCode { .. }));
    assert_eq!(out.persist.map(|s| s.failures), Some(1));
    assert!(out.events.iter().any(|e| matches!(e,
        Event::HandshakeFailed { operator, failure: Failure::Aborted, .. } if operator == "mallory"
    )));
    let status = gw.status(T0);
    assert_eq!(status.attempts_left, Some(MAX_ATTEMPTS - 1));
    assert_eq!(status.failures, 1);
    let (event, _) = attempt(&mut gw, &code, T0 + 1_000, 3);
    assert_eq!(refused(&event), Some((Reason::Throttled, 4)));
    let _client = open_session(&mut gw, &code, T0 + 5_000, 4);
}

#[test]
fn five_wrong_attempts_burn_the_code() {
    let (mut gw, code) = gateway_with_code();
    let bad = wrong(&code);
    let mut now = T0;
    for n in 1..=u32::from(MAX_ATTEMPTS) {
        let (event, out) = attempt(&mut gw, &bad, now, u64::from(n) + 10);
        assert!(matches!(event, ClientEvent::WrongCode { .. }), "{n}");
        assert_eq!(out.events.contains(&Event::CodeBurned), n == 5, "{n}");
        now += Limiter::delay_after(n);
    }
    let (event, _) = attempt(&mut gw, &code, now, 20);
    assert_eq!(refused(&event), Some((Reason::NoCode, 0)));
}

#[test]
fn the_right_code_still_works_on_the_fifth_attempt() {
    let (mut gw, code) = gateway_with_code();
    let mut now = T0;
    for n in 1..u32::from(MAX_ATTEMPTS) {
        let _ = attempt(&mut gw, &wrong(&code), now, u64::from(n) + 10);
        now += Limiter::delay_after(n);
    }
    let _client = open_session(&mut gw, &code, now, 20);
    assert_eq!(gw.status(now).failures, 0, "a success clears the throttle");
}

#[test]
fn throttle_delays_grow_and_survive_a_restart() {
    let (mut gw, code) = gateway_with_code();
    let mut now = T0;
    let mut persisted = LimiterState::default();
    let mut waits = Vec::new();
    for n in 1..=3u64 {
        let (_, out) = attempt(&mut gw, &wrong(&code), now, n + 10);
        persisted = out.persist.expect("every attempt is persisted");
        let (event, _) = attempt(&mut gw, &code, now, n + 50);
        waits.push(refused(&event).map(|(_, secs)| secs));
        now += Limiter::delay_after(n as u32);
    }
    assert_eq!(waits, [Some(5), Some(10), Some(20)]);
    // The gateway restarts: its code is gone, the throttle is not.
    let text = serde_json::to_string(&persisted).unwrap();
    let mut restarted = gateway(serde_json::from_str(&text).unwrap());
    let (code, _) = restarted.start_code(now - 1_000, VALID_MS).unwrap();
    let (event, _) = attempt(&mut restarted, &code, now - 1_000, 60);
    assert_eq!(refused(&event), Some((Reason::Throttled, 1)));
    let _client = open_session(&mut restarted, &code, now, 61);
}

#[test]
fn a_tampered_reply_or_confirmation_fails_the_attempt() {
    let (mut gw, code) = gateway_with_code();
    let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let mut reply = one(gw.handle(T0, &hello));
    let last = reply.len() - 1;
    reply[last] ^= 1;
    assert!(matches!(
        client.handle(T0, &reply).unwrap(),
        ClientEvent::WrongCode { .. }
    ));

    let (mut gw, code) = gateway_with_code();
    let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(3)).unwrap();
    let reply = one(gw.handle(T0, &hello));
    let ClientEvent::Send(mut confirm) = client.handle(T0, &reply).unwrap() else {
        panic!()
    };
    confirm[20] ^= 1;
    let out = gw.handle(T0, &confirm);
    assert_eq!(out.send.len(), 1);
    assert_eq!(
        client.handle(T0, &out.send[0].bytes).unwrap(),
        ClientEvent::Refused {
            reason: Reason::Failed,
            retry_after_secs: 0
        }
    );
    assert_eq!(gw.status(T0).attempts_left, Some(MAX_ATTEMPTS - 1));
}

#[test]
fn retransmissions_get_the_same_answers_without_a_new_charge() {
    let (mut gw, code) = gateway_with_code();
    let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let reply = one(gw.handle(T0, &hello));
    let again = gw.handle(T0 + 500, &hello);
    assert_eq!(again.persist, None);
    assert_eq!(one(again), reply);
    let ClientEvent::Send(confirm) = client.handle(T0, &reply).unwrap() else {
        panic!()
    };
    let welcome = one(gw.handle(T0, &confirm));
    assert_eq!(one(gw.handle(T0 + 500, &confirm)), welcome);
}

#[test]
fn one_handshake_or_session_at_a_time() {
    let (mut gw, code) = gateway_with_code();
    let (_first, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let _reply = one(gw.handle(T0, &hello));
    let (event, _) = attempt(&mut gw, &code, T0 + 10_000, 3);
    assert_eq!(refused(&event), Some((Reason::Busy, 0)));
}

#[test]
fn an_unconfirmed_handshake_times_out_and_stays_charged() {
    let (mut gw, code) = gateway_with_code();
    let (_client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let _ = one(gw.handle(T0, &hello));
    assert_eq!(gw.next_deadline(), Some(T0 + HANDSHAKE_TIMEOUT_MS));
    let out = gw.tick(T0 + HANDSHAKE_TIMEOUT_MS);
    assert!(matches!(
        out.events.as_slice(),
        [Event::HandshakeFailed {
            failure: Failure::TimedOut,
            ..
        }]
    ));
    assert_eq!(gw.status(T0 + HANDSHAKE_TIMEOUT_MS).attempts_left, Some(4));
}

#[test]
fn an_unused_code_expires() {
    let (mut gw, code) = gateway_with_code();
    assert_eq!(gw.next_deadline(), Some(T0 + VALID_MS));
    assert_eq!(gw.tick(T0 + VALID_MS).events, vec![Event::CodeExpired]);
    let (event, _) = attempt(&mut gw, &code, T0 + VALID_MS, 2);
    assert_eq!(refused(&event), Some((Reason::NoCode, 0)));
}

#[test]
fn stop_cancels_the_code_and_a_handshake_in_progress() {
    let (mut gw, code) = gateway_with_code();
    let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let reply = one(gw.handle(T0, &hello));
    let stopped = one(gw.stop(T0 + 1));
    assert_eq!(
        refused(&client.handle(T0, &stopped).unwrap()),
        Some((Reason::Stopped, 0))
    );
    assert_eq!(
        client.handle(T0, &reply).unwrap(),
        ClientEvent::Ignored,
        "a refused client goes no further"
    );
    assert_eq!(gw.status(T0 + 1).code_expires_at_ms, None);
}
