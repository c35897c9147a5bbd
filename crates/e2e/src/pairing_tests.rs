//! Tests of `pairing`.

use super::*;

use rand_chacha::rand_core::SeedableRng;

#[test]
fn each_step_uses_its_own_nonce() {
    let keys = PairingKeys::derive(&[5; 32]);
    let sealed: [u8; SEALED_KEY_LEN] = keys.seal(Step::Reply, &[1; 32]);
    assert!(keys.open(Step::Reply, &sealed).is_some());
    assert!(keys.open(Step::Confirm, &sealed).is_none());
}

#[test]
fn every_pairing_gives_a_different_session_key_for_the_same_static_keys() {
    let box_key = SessionKey::from_bytes([3; 32]);
    let first = PairingKeys::derive(&[5; 32]).bind(&box_key);
    let second = PairingKeys::derive(&[6; 32]).bind(&box_key);
    assert_ne!(first.session_key, second.session_key);
    assert_ne!(first.session_key, box_key);
}

#[test]
fn confirmations_depend_on_the_static_keys() {
    let keys = PairingKeys::derive(&[5; 32]);
    let t = [9u8; 32];
    let honest = keys.bind(&SessionKey::from_bytes([3; 32]));
    let impostor = keys.bind(&SessionKey::from_bytes([4; 32]));
    assert_ne!(
        honest.endpoint_confirmation(&t),
        impostor.endpoint_confirmation(&t)
    );
}

#[test]
fn confirmations_differ_by_side() {
    let keys = PairingKeys::derive(&[5; 32]).bind(&SessionKey::from_bytes([3; 32]));
    let t = [9u8; 32];
    assert_ne!(
        keys.endpoint_confirmation(&t),
        keys.lock_confirmation(&t, &[])
    );
}

#[test]
fn fixed_messages_require_their_exact_length() {
    let reply = PairReply {
        spake: [0x42; SPAKE_MSG_LEN],
        sealed_lock_key: [3; SEALED_KEY_LEN],
    };
    let bytes = reply.encode();
    assert_eq!(PairReply::decode(&bytes), Ok(reply));
    assert!(PairReply::decode(&bytes[1..]).is_err());
    assert!(PairReply::decode(&[bytes.as_slice(), &[0]].concat()).is_err());
}

#[test]
fn spake_messages_must_be_canonical_prime_order_points_from_the_other_side() {
    let lock_id = LockId::from_bytes([1; 8]);
    let rng = rand_chacha::ChaCha20Rng::from_seed([1; 32]);
    let (_, a) = spake_start(true, b"pw", "e", &lock_id, rng);
    let rng = rand_chacha::ChaCha20Rng::from_seed([2; 32]);
    let (_, b) = spake_start(false, b"pw", "e", &lock_id, rng);
    assert!(valid_spake_message(&a, true, &b));
    assert!(!valid_spake_message(&a, false, &b), "wrong side byte");
    assert!(!valid_spake_message(&a, true, &a), "reflection");
    let mut identity = [0u8; SPAKE_MSG_LEN];
    identity[0] = 0x41;
    identity[1] = 1; // y = 1: the identity point
    assert!(!valid_spake_message(&identity, true, &b));
    // A point of order 2 (y = -1), not in the prime-order subgroup.
    let mut low = [0xffu8; SPAKE_MSG_LEN];
    low[0] = 0x41;
    low[1] = 0xec;
    low[32] = 0x7f;
    assert!(!valid_spake_message(&low, true, &b));
}

#[test]
fn pair_grants_round_trip_and_refuse_pairing_ids() {
    let g = PairGrant {
        auth_id: 3,
        grant: Grant::unlimited(crate::command::Role::User),
    };
    assert_eq!(g.encode().len(), PAIR_GRANT_LEN);
    assert_eq!(PairGrant::decode(&g.encode()), Ok(g));
    let bad = PairGrant {
        auth_id: 0x8000_0001,
        ..g
    };
    assert!(PairGrant::decode(&bad.encode()).is_err());
}

#[test]
fn invite_ids_must_fit_the_code_kind() {
    let mut start = PairStart {
        code_kind: CodeKind::Label,
        invite_id: 7,
        name: "phone".into(),
        spake: [0x41; SPAKE_MSG_LEN],
    };
    assert!(PairStart::decode(&start.encode()).is_err());
    start.code_kind = CodeKind::Invite;
    assert!(PairStart::decode(&start.encode()).is_ok());
    start.invite_id = 10_000;
    assert!(PairStart::decode(&start.encode()).is_err());
}

#[test]
fn pair_start_refuses_bad_names_and_kinds() {
    let start = PairStart {
        code_kind: CodeKind::Invite,
        invite_id: 12,
        name: "phone".into(),
        spake: [0x41; SPAKE_MSG_LEN],
    };
    let bytes = start.encode();
    assert_eq!(PairStart::decode(&bytes), Ok(start));
    let mut bad_kind = bytes.clone();
    bad_kind[0] = 3;
    assert!(PairStart::decode(&bad_kind).is_err());
    let mut control = bytes;
    control[4] = b'\n';
    assert!(PairStart::decode(&control).is_err());
}
