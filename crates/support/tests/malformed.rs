//! Malformed and hostile input never panics either side, and never opens a session.

mod common;

use common::*;
use lockgate_support::gateway::Event;
use lockgate_support::SupportClient;
use proptest::prelude::*;

/// Every message of one honest exchange: Hello, Reply, Confirm, Welcome, a request, its
/// answer.
fn honest_messages() -> Vec<Vec<u8>> {
    let (mut gw, code) = gateway_with_code();
    let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
    let reply = one(gw.handle(T0, &hello));
    let lockgate_support::ClientEvent::Send(confirm) = client.handle(T0, &reply).unwrap() else {
        panic!()
    };
    let welcome = one(gw.handle(T0, &confirm));
    client.handle(T0, &welcome).unwrap();
    let (_, request) = client
        .request(T0, &lockgate_support::Request::Health)
        .unwrap();
    vec![hello, reply, confirm, welcome, request]
}

fn opened(out: &lockgate_support::Output) -> bool {
    out.events
        .iter()
        .any(|e| matches!(e, Event::SessionStarted { .. }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_bytes_never_panic_either_side(
        inputs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..8)
    ) {
        let (mut gw, code) = gateway_with_code();
        let (mut client, _) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
        for bytes in inputs {
            prop_assert!(!opened(&gw.handle(T0, &bytes)));
            let _ = client.handle(T0, &bytes);
        }
    }

    #[test]
    fn mutated_honest_messages_never_panic_or_open_a_session(
        which in 0usize..5,
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<bool>(),
    ) {
        let messages = honest_messages();
        let mut bytes = messages[which].clone();
        let i = position.index(bytes.len());
        if cut {
            bytes.truncate(i);
        } else {
            bytes[i] ^= flip;
        }
        let (mut gw, code) = gateway_with_code();
        let (mut client, hello) = SupportClient::start(GW, "alice", &code, rng(2)).unwrap();
        let mut out = gw.handle(T0, &bytes);
        prop_assert!(!opened(&out));
        let _ = client.handle(T0, &bytes);
        // A tampered Confirm after an honest Hello and Reply never opens a session.
        if which == 2 {
            let reply = one(gw.handle(T0 + 10_000, &hello));
            let _ = client.handle(T0, &reply);
            out = gw.handle(T0, &bytes);
            prop_assert!(!opened(&out));
        }
    }
}
