//! A hostile relay (gateway or broker): replays, bit flips, key swaps, its own SPAKE2 runs,
//! held-back frames, restarts. None of it may open the door, add a member or reveal state.

mod common;

use common::World;
use lockgate_e2e::command::{Request, ResponseBody};
use lockgate_e2e::endpoint::{PairingError, ReceiveError};
use lockgate_e2e::lock::Effect;
use lockgate_e2e::pairing::{spake_start, PairReply, PairStart, SEALED_KEY_LEN};
use lockgate_e2e::session::SessionError;
use lockgate_e2e::{
    Action, ErrorCode, Incoming, LabelCode, MechanismState, PairingStep, SetupCode, StaticSecret,
};
use lockgate_wire::{Header, Kind};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn actuations(w: &World) -> usize {
    w.effects
        .iter()
        .filter(|e| {
            matches!(
                e,
                Effect::Mechanism(MechanismState::Unlocking | MechanismState::Locking)
            )
        })
        .count()
}

#[test]
fn every_captured_frame_replayed_to_the_lock_is_rejected() {
    let mut w = World::new(40);
    w.press_button();
    let mut ep = w.pair("phone", &w.label()).unwrap();
    let mut captured = Vec::new();
    for request in [Request::Status, Request::Challenge] {
        let sealed = ep.session.request(&request).unwrap();
        captured.push(sealed.frame.clone());
        w.deliver(&sealed.frame);
    }
    let challenge = w.challenge(&mut ep);
    let unlock = ep
        .session
        .request(&Request::Actuate {
            action: Action::Unlock,
            challenge,
        })
        .unwrap();
    captured.push(unlock.frame.clone());
    w.deliver(&unlock.frame);
    w.advance(2_000);
    let before = actuations(&w);
    for frame in &captured {
        let answer = w.deliver(frame);
        match ep.session.receive(&answer[0]).unwrap() {
            Incoming::Refused { code, .. } => assert_eq!(code, ErrorCode::Replayed),
            other => panic!("replay was served: {other:?}"),
        }
    }
    assert_eq!(actuations(&w), before, "a replay moved the bolt");
}

#[test]
fn every_captured_frame_replayed_to_the_endpoint_is_rejected() {
    let mut w = World::new(41);
    w.press_button();
    let mut ep = w.pair("phone", &w.label()).unwrap();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let sealed = ep.session.request(&Request::Status).unwrap();
        let answer = w.deliver(&sealed.frame).remove(0);
        ep.session.receive(&answer).unwrap();
        answers.push(answer);
    }
    for answer in answers {
        assert!(matches!(
            ep.session.receive(&answer),
            Err(ReceiveError::Session(SessionError::Replay(_)))
        ));
    }
}

#[test]
fn replayed_pairing_frames_add_no_one() {
    let mut w = World::new(42);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let (mut pairing, start) = w.start_pairing(&key, "phone", &w.label(), 1);
    let reply = w.deliver(&start).remove(0);
    let PairingStep::Send(confirm) = pairing.handle(&reply).unwrap() else {
        panic!()
    };
    let done = w.deliver(&confirm).remove(0);
    assert!(matches!(pairing.handle(&done), Ok(PairingStep::Paired(_))));
    // The relay replays everything, now and after the exchange has been forgotten.
    for later in [0, 31_000] {
        w.advance(later);
        assert!(is_error(&w.deliver(&start)[0], ErrorCode::NotInPairingMode));
        let again = w.deliver(&confirm);
        assert!(again[0] == done || is_error(&again[0], ErrorCode::PairingUnknown));
    }
    assert_eq!(w.lock.authorizations().len(), 1);
}

fn is_error(frame: &[u8], code: ErrorCode) -> bool {
    let (h, body) = Header::parse(frame).unwrap();
    h.kind == Kind::Error && body == [code as u8]
}

#[test]
fn one_flipped_bit_anywhere_in_a_request_is_rejected_and_changes_nothing() {
    let mut w = World::new(43);
    w.press_button();
    let mut ep = w.pair("phone", &w.label()).unwrap();
    let challenge = w.challenge(&mut ep);
    let unlock = ep
        .session
        .request(&Request::Actuate {
            action: Action::Unlock,
            challenge,
        })
        .unwrap();
    for bit in 0..unlock.frame.len() * 8 {
        let mut bad = unlock.frame.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let answers = w.deliver(&bad);
        for a in &answers {
            let served = matches!(ep.session.receive(a), Ok(Incoming::Response(_)));
            assert!(!served, "bit {bit} flipped was served");
        }
    }
    assert_eq!(w.lock.mechanism_state(), MechanismState::Locked);
    // The untouched frame still works: nothing above consumed the challenge or the counter.
    let answer = w.deliver(&unlock.frame).remove(0);
    assert!(matches!(ep.session.receive(&answer), Ok(Incoming::Response(r)) if r.result.is_ok()));
}

/// Runs one label pairing in a fresh world, flipping `bit` of message `target` (0 = start,
/// 1 = reply, 2 = confirm, 3 = done) on its way. Returns (endpoint paired, lock enrolled, the
/// target message's length).
fn pairing_with_flip(target: usize, bit: usize) -> (bool, bool, usize) {
    let mut w = World::new(44);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let (mut pairing, start) = w.start_pairing(&key, "phone", &w.label(), 9);
    let mut len = 0;
    let mut flip = |step: usize, mut frame: Vec<u8>| {
        if step == target {
            len = frame.len();
            if let Some(byte) = frame.get_mut(bit / 8) {
                *byte ^= 1 << (bit % 8);
            }
        }
        frame
    };
    let mut paired = false;
    let start = flip(0, start);
    if let Some(reply) = w.deliver(&start).pop() {
        if let Ok(PairingStep::Send(confirm)) = pairing.handle(&flip(1, reply)) {
            if let Some(done) = w.deliver(&flip(2, confirm)).pop() {
                paired = matches!(pairing.handle(&flip(3, done)), Ok(PairingStep::Paired(_)));
            }
        }
    }
    (paired, !w.lock.authorizations().is_empty(), len)
}

#[test]
fn one_flipped_bit_anywhere_in_a_pairing_message_makes_pairing_fail() {
    assert!(pairing_with_flip(9, 0).0, "the untouched exchange pairs");
    for target in 0..4 {
        let len = pairing_with_flip(target, usize::MAX).2;
        for bit in 0..len * 8 {
            let (paired, enrolled, _) = pairing_with_flip(target, bit);
            assert!(!paired, "message {target} bit {bit}: the endpoint paired");
            // A damaged PairDone cannot be noticed by the lock; the endpoint retransmits
            // PairConfirm and gets it again.
            assert!(
                !enrolled || target == 3,
                "message {target} bit {bit}: the lock enrolled"
            );
        }
    }
}

#[test]
fn a_relay_that_swaps_the_locks_key_is_detected_by_the_endpoint() {
    let mut w = World::new(45);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let (mut pairing, start) = w.start_pairing(&key, "phone", &w.label(), 2);
    let reply = w.deliver(&start).remove(0);
    let (header, body) = Header::parse(&reply).unwrap();
    let mut parsed = PairReply::decode(body).unwrap();
    // The relay cannot seal its own key without the PAKE key: any substitute fails to open.
    parsed.sealed_lock_key = [0x42; SEALED_KEY_LEN];
    let forged = lockgate_wire::build_frame(&header, &parsed.encode());
    assert_eq!(pairing.handle(&forged), Err(PairingError::WrongCodeOrLock));
}

#[test]
fn a_relay_that_splices_two_pairings_is_detected_by_the_lock() {
    let mut w = World::new(46);
    w.press_button();
    let label = w.label();
    let alice = StaticSecret::generate(&mut w.rng);
    let mallory = StaticSecret::generate(&mut w.rng);
    let (mut a, a_start) = w.start_pairing(&alice, "alice", &label, 3);
    let (mut m, m_start) = w.start_pairing(&mallory, "alice", &label, 4);
    let a_reply = w.deliver(&a_start).remove(0);
    let m_reply = w.deliver(&m_start).remove(0);
    let PairingStep::Send(a_confirm) = a.handle(&a_reply).unwrap() else {
        panic!()
    };
    let PairingStep::Send(m_confirm) = m.handle(&m_reply).unwrap() else {
        panic!()
    };
    // Deliver Mallory's confirmation under Alice's pairing id.
    let (a_header, _) = Header::parse(&a_confirm).unwrap();
    let (_, m_body) = Header::parse(&m_confirm).unwrap();
    let spliced = lockgate_wire::build_frame(&a_header, m_body);
    assert!(is_error(&w.deliver(&spliced)[0], ErrorCode::PairingFailed));
    assert!(w.lock.authorizations().is_empty());
}

#[test]
fn a_relay_running_its_own_spake2_toward_the_endpoint_fails() {
    let mut w = World::new(47);
    let key = StaticSecret::generate(&mut w.rng);
    let lock_id = w.lock.lock_id();
    let (mut pairing, start) = w.start_pairing(&key, "phone", &w.label(), 5);
    let (header, body) = Header::parse(&start).unwrap();
    let start_msg = PairStart::decode(body).unwrap();
    // The relay plays the lock with its best guess at the code.
    let guess: LabelCode = "24681357".parse().unwrap();
    let (spake, msg_b) = spake_start(
        false,
        &guess.password(),
        "phone",
        &lock_id,
        ChaCha20Rng::seed_from_u64(6),
    );
    let spake_key = spake.finish(&start_msg.spake).unwrap();
    let keys = lockgate_e2e::pairing::PairingKeys::derive(&spake_key);
    let fake_lock = StaticSecret::generate(&mut w.rng);
    let sealed: [u8; SEALED_KEY_LEN] = keys.seal(
        lockgate_e2e::pairing::Step::Reply,
        fake_lock.public_key().as_bytes(),
    );
    let reply_header = Header {
        kind: Kind::Pairing,
        auth_id: header.auth_id,
        counter: 2,
    };
    let reply = PairReply {
        spake: msg_b,
        sealed_lock_key: sealed,
    };
    let forged = lockgate_wire::build_frame(&reply_header, &reply.encode());
    assert_eq!(pairing.handle(&forged), Err(PairingError::WrongCodeOrLock));
}

#[test]
fn a_relay_running_its_own_spake2_toward_the_lock_fails() {
    let mut w = World::new(48);
    w.press_button();
    let guess = SetupCode::Label("24681357".parse().unwrap());
    let err = w.pair("mallory", &guess).unwrap_err();
    assert_eq!(err, PairingError::WrongCodeOrLock);
    // Even pushing on with a made-up confirmation gets nowhere.
    let key = StaticSecret::generate(&mut w.rng);
    let (_, start) = w.start_pairing(&key, "mallory", &guess, 7);
    let (h, _) = Header::parse(&start).unwrap();
    w.deliver(&start);
    let garbage = lockgate_wire::build_frame(
        &Header {
            kind: Kind::Pairing,
            auth_id: h.auth_id,
            counter: 3,
        },
        &[7u8; 80],
    );
    assert!(is_error(&w.deliver(&garbage)[0], ErrorCode::PairingFailed));
    assert!(w.lock.authorizations().is_empty());
}

#[test]
fn a_code_holder_cannot_pair_or_re_pair_another_members_key() {
    use lockgate_e2e::pairing::{transcript, CodeKind, PairConfirm, PairingKeys, Step};
    let mut w = World::new(53);
    w.press_button();
    let alice = w.pair("alice", &w.label()).unwrap();
    let alice_key = alice.key.public_key();
    // Mallory holds the label code (and the button) and knows Alice's public key, but not
    // her secret key.
    w.press_button();
    let mallory = StaticSecret::generate(&mut w.rng);
    let lock_id = w.lock.lock_id();
    let label = match w.label() {
        SetupCode::Label(l) => l,
        SetupCode::Invite(_) => unreachable!(),
    };
    let (spake, msg_a) = spake_start(
        true,
        &label.password(),
        "alice",
        &lock_id,
        ChaCha20Rng::seed_from_u64(8),
    );
    let start = PairStart {
        code_kind: CodeKind::Label,
        invite_id: 0,
        name: "alice".into(),
        spake: msg_a,
    };
    let pid = 0x8000_0042;
    let start_frame = lockgate_wire::build_frame(
        &Header {
            kind: Kind::Pairing,
            auth_id: pid,
            counter: 1,
        },
        &start.encode(),
    );
    let reply_frame = w.deliver(&start_frame).remove(0);
    let reply = PairReply::decode(Header::parse(&reply_frame).unwrap().1).unwrap();
    let keys = PairingKeys::derive(&spake.finish(&reply.spake).unwrap());
    let lock_key = lockgate_e2e::PublicKey(
        keys.open(Step::Reply, &reply.sealed_lock_key).unwrap()[..]
            .try_into()
            .unwrap(),
    );
    let t = transcript(
        pid,
        &lock_id,
        &start.encode(),
        &reply.spake,
        &lock_key,
        &alice_key,
    );
    // The best Mallory can do: bind with her own box key, claiming Alice's public key.
    let bound = keys.bind(&mallory.box_key(&lock_key).unwrap());
    let confirm = PairConfirm {
        sealed_endpoint_key: keys.seal(Step::Confirm, alice_key.as_bytes()),
        confirm: bound.endpoint_confirmation(&t),
    };
    let confirm_frame = lockgate_wire::build_frame(
        &Header {
            kind: Kind::Pairing,
            auth_id: pid,
            counter: 3,
        },
        &confirm.encode(),
    );
    assert!(is_error(
        &w.deliver(&confirm_frame)[0],
        ErrorCode::PairingFailed
    ));
    // Alice's authorization is untouched.
    let mut alice = alice;
    assert!(w.call(&mut alice, &Request::Status).result.is_ok());
}

#[test]
fn a_refused_request_cannot_be_replayed_after_a_reboot() {
    let mut w = World::new(54);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let early = admin
        .session
        .request(&Request::AuthRevoke { id: 2 })
        .unwrap()
        .frame;
    let answer = w.deliver(&early).remove(0);
    match admin.session.receive(&answer).unwrap() {
        Incoming::Response(r) => assert_eq!(r.result, Err(ErrorCode::NotFound)),
        other => panic!("{other:?}"),
    }
    // Authorization 2 comes to exist; the lock reboots; the relay replays the old revoke.
    w.press_button();
    w.pair("second", &w.label()).unwrap();
    w.reboot(9);
    assert!(is_error(&w.deliver(&early)[0], ErrorCode::Replayed));
    assert_eq!(w.lock.authorizations().len(), 2);
}

#[test]
fn a_response_cannot_be_redirected_to_another_endpoint() {
    let mut w = World::new(49);
    w.press_button();
    let mut alice = w.pair("alice", &w.label()).unwrap();
    w.press_button();
    let mut bob = w.pair("bob", &w.label()).unwrap();
    let sealed = alice.session.request(&Request::Status).unwrap();
    let answer = w.deliver(&sealed.frame).remove(0);
    assert_eq!(bob.session.receive(&answer), Err(ReceiveError::NotForUs));
    let (mut h, body) = Header::parse(&answer).unwrap();
    h.auth_id = bob.session.lock().auth_id;
    let readdressed = lockgate_wire::build_frame(&h, body);
    assert_eq!(
        bob.session.receive(&readdressed),
        Err(ReceiveError::Session(SessionError::Authentication))
    );
    assert!(alice.session.receive(&answer).is_ok());
}

#[test]
fn counters_never_repeat_across_lock_reboots() {
    let mut w = World::new(50);
    w.press_button();
    let mut ep = w.pair("phone", &w.label()).unwrap();
    let mut seen = std::collections::HashSet::new();
    for round in 0..4 {
        for _ in 0..700 {
            let sealed = ep.session.request(&Request::Status).unwrap();
            let answer = w.deliver(&sealed.frame).remove(0);
            let counter = Header::parse(&answer).unwrap().0.counter;
            assert!(seen.insert(counter), "lock reused counter {counter}");
            assert!(matches!(
                ep.session.receive(&answer),
                Ok(Incoming::Response(_))
            ));
        }
        w.reboot(100 + round);
    }
}

#[test]
fn a_frame_accepted_before_a_reboot_is_refused_after_it() {
    let mut w = World::new(51);
    w.press_button();
    let mut ep = w.pair("phone", &w.label()).unwrap();
    let id = ep.session.lock().auth_id;
    let rename = ep
        .session
        .request(&Request::AuthRename {
            id,
            name: "old".into(),
        })
        .unwrap();
    w.deliver(&rename.frame);
    let newer = Request::AuthRename {
        id,
        name: "new".into(),
    };
    assert_eq!(w.call(&mut ep, &newer).result, Ok(ResponseBody::Done));
    w.reboot(7);
    let answer = w.deliver(&rename.frame);
    assert!(is_error(&answer[0], ErrorCode::Replayed));
    assert_eq!(w.lock.authorizations()[0].name, "new");
}

#[test]
fn an_endpoint_restarted_from_its_persisted_state_never_reuses_a_counter() {
    let mut w = World::new(52);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let paired = w.pair_key(&key, "phone", &w.label()).unwrap();
    let mut durable = lockgate_e2e::ChannelState::default();
    for _ in 0..3 {
        let session = lockgate_e2e::EndpointSession::new(paired.clone(), durable);
        let mut ep = common::Endpoint {
            key: key.clone(),
            session,
        };
        for _ in 0..50 {
            let sealed = ep.session.request(&Request::Status).unwrap();
            if let Some(state) = sealed.persist {
                durable = state;
            }
            let answer = w.deliver(&sealed.frame).remove(0);
            assert!(
                matches!(ep.session.receive(&answer), Ok(Incoming::Response(r)) if r.result.is_ok())
            );
        }
    }
}

#[derive(Debug, Clone)]
enum RelayMove {
    Deliver,
    Drop,
    Duplicate,
    ReplayOld(usize),
    FlipBit(usize),
    Hold(u64),
}

fn relay_move() -> impl Strategy<Value = RelayMove> {
    prop_oneof![
        3 => Just(RelayMove::Deliver),
        1 => Just(RelayMove::Drop),
        1 => Just(RelayMove::Duplicate),
        1 => any::<usize>().prop_map(RelayMove::ReplayOld),
        1 => any::<usize>().prop_map(RelayMove::FlipBit),
        1 => (0u64..60_000).prop_map(RelayMove::Hold),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the relay does with a stream of unlock attempts, the bolt moves at most once per
    /// challenge the endpoint fetched, and never on a challenge older than its lifetime.
    #[test]
    fn a_hostile_relay_never_moves_the_bolt_more_than_the_endpoint_asked(
        moves in proptest::collection::vec(relay_move(), 1..24)
    ) {
        let mut w = World::new(60);
        w.press_button();
        let mut ep = w.pair("phone", &w.label()).unwrap();
        let mut history: Vec<Vec<u8>> = Vec::new();
        let mut asked = 0usize;
        for mv in moves {
            let challenge = w.challenge(&mut ep);
            let frame = ep.session.request(&Request::Actuate { action: Action::Unlock, challenge }).unwrap().frame;
            asked += 1;
            let issued_at = w.now;
            let mut deliveries = Vec::new();
            match mv {
                RelayMove::Deliver => deliveries.push(frame.clone()),
                RelayMove::Drop => {}
                RelayMove::Duplicate => { deliveries.push(frame.clone()); deliveries.push(frame.clone()); }
                RelayMove::ReplayOld(i) => if !history.is_empty() { deliveries.push(history[i % history.len()].clone()) },
                RelayMove::FlipBit(i) => { let mut f = frame.clone(); let n = f.len(); f[i % n] ^= 1 << (i % 8); deliveries.push(f); }
                RelayMove::Hold(ms) => { w.advance(ms); deliveries.push(frame.clone()); }
            }
            let before = actuations(&w);
            for d in deliveries {
                w.deliver(&d);
            }
            let moved = actuations(&w) - before;
            prop_assert!(moved <= 1);
            if moved == 1 {
                prop_assert!(w.now - issued_at < 30_000, "stale challenge accepted");
            }
            history.push(frame);
            w.advance(3_000); // let the bolt settle
            let settle = Request::Status;
            w.call(&mut ep, &settle);
        }
        prop_assert!(actuations(&w) <= asked);
    }
}
