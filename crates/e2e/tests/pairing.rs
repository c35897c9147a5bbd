//! Pairing, end to end through an in-memory relay: codes, windows, attempt limits, invites.

mod common;

use common::World;
use lockgate_e2e::command::{Grant, Request, ResponseBody, Role, MAX_INVITE_TTL_SECS};
use lockgate_e2e::endpoint::PairingError;
use lockgate_e2e::lock::{Effect, WindowClosed, MAX_AUTHORIZATIONS, MAX_FAILED_ATTEMPTS};
use lockgate_e2e::{
    ChannelState, EndpointSession, ErrorCode, InviteCode, MechanismState, SetupCode, StaticSecret,
};

fn invite(world: &mut World, admin: &mut common::Endpoint, grant: Grant, ttl: u32) -> InviteCode {
    match world
        .call(
            admin,
            &Request::InviteCreate {
                grant,
                ttl_secs: ttl,
            },
        )
        .result
    {
        Ok(ResponseBody::InviteCreated { code, .. }) => code,
        other => panic!("no invite: {other:?}"),
    }
}

#[test]
fn the_first_endpoint_pairs_with_the_label_code_and_becomes_admin() {
    let mut w = World::new(1);
    w.press_button();
    let ep = w.pair("phone", &w.label()).unwrap();
    assert_eq!(ep.session.lock().grant, Grant::unlimited(Role::Admin));
    assert_eq!(ep.session.lock().lock_key, w.lock.public_key());
    assert!(w.effects.iter().any(|e| matches!(
        e,
        Effect::Paired {
            role: Role::Admin,
            ..
        }
    )));
    assert!(
        w.persisted.is_some(),
        "the new authorization was persisted before PairDone left"
    );
}

#[test]
fn pair_and_unlock_end_to_end_through_an_in_memory_relay() {
    let mut w = World::new(2);
    w.press_button();
    let mut ep = w.pair("phone", &w.label()).unwrap();
    let challenge = w.challenge(&mut ep);
    let r = w.call(
        &mut ep,
        &Request::Actuate {
            action: lockgate_e2e::Action::Unlock,
            challenge,
        },
    );
    assert_eq!(
        r.result,
        Ok(ResponseBody::Actuation(MechanismState::Unlocking))
    );
    w.advance(1_500);
    assert_eq!(w.lock.mechanism_state(), MechanismState::Unlocked);
    match w.call(&mut ep, &Request::Status).result {
        Ok(ResponseBody::Status(s)) => assert_eq!(s.state, MechanismState::Unlocked),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pairing_outside_the_window_is_refused() {
    let mut w = World::new(3);
    let err = w.pair("phone", &w.label()).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::NotInPairingMode));
    w.press_button();
    w.advance(120_000);
    assert!(w
        .effects
        .contains(&Effect::PairingWindowClosed(WindowClosed::Timeout)));
    let err = w.pair("phone", &w.label()).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::NotInPairingMode));
}

#[test]
fn a_second_button_press_closes_the_window() {
    let mut w = World::new(4);
    w.press_button();
    w.press_button();
    assert!(w
        .effects
        .contains(&Effect::PairingWindowClosed(WindowClosed::Button)));
    assert!(w.pair("phone", &w.label()).is_err());
}

#[test]
fn a_wrong_code_fails_and_is_counted() {
    let mut w = World::new(5);
    w.press_button();
    let err = w.pair("phone", &w.wrong_label()).unwrap_err();
    assert_eq!(err, PairingError::WrongCodeOrLock);
    assert!(w.lock.pairing_window_open(w.now));
    // The right code still works inside the same window.
    assert!(w.pair("phone", &w.label()).is_ok());
}

#[test]
fn the_window_closes_after_twenty_failed_attempts_and_says_so() {
    let mut w = World::new(6);
    w.press_button();
    for _ in 0..MAX_FAILED_ATTEMPTS {
        assert_eq!(
            w.pair("mallory", &w.wrong_label()).unwrap_err(),
            PairingError::WrongCodeOrLock
        );
    }
    assert!(w
        .effects
        .contains(&Effect::PairingWindowClosed(WindowClosed::TooManyAttempts)));
    let err = w.pair("phone", &w.label()).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::NotInPairingMode));
}

#[test]
fn abandoned_attempts_count_as_failures_when_they_time_out() {
    let config = lockgate_e2e::LockConfig {
        pairing_window_ms: 600_000,
        ..Default::default()
    };
    let mut w = World::with_config(7, config);
    w.press_button();
    let label = w.label();
    let mut used = 0;
    while used < MAX_FAILED_ATTEMPTS {
        // A relay that tests a guess with PairStart and never confirms.
        for _ in
            0..lockgate_e2e::lock::MAX_PENDING_PAIRINGS.min(usize::from(MAX_FAILED_ATTEMPTS - used))
        {
            let key = StaticSecret::generate(&mut w.rng);
            let (_, start) = w.start_pairing(&key, "x", &label, u64::from(used));
            let reply = w.deliver(&start);
            assert_eq!(
                lockgate_wire::Header::parse(&reply[0]).unwrap().0.counter,
                2
            );
            used += 1;
        }
        w.advance(30_000);
    }
    assert!(w
        .effects
        .contains(&Effect::PairingWindowClosed(WindowClosed::TooManyAttempts)));
    let failures = w
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::PairingFailed { .. }))
        .count();
    assert_eq!(failures, usize::from(MAX_FAILED_ATTEMPTS));
}

#[test]
fn an_aborted_attempt_frees_its_slot_at_once() {
    let mut w = World::new(18);
    w.press_button();
    for _ in 0..2 * lockgate_e2e::lock::MAX_PENDING_PAIRINGS {
        assert_eq!(
            w.pair("typo", &w.wrong_label()).unwrap_err(),
            PairingError::WrongCodeOrLock
        );
    }
    assert!(w.pair("phone", &w.label()).is_ok());
}

#[test]
fn a_successful_label_pairing_closes_the_window() {
    let mut w = World::new(8);
    w.press_button();
    w.pair("phone", &w.label()).unwrap();
    assert!(w
        .effects
        .contains(&Effect::PairingWindowClosed(WindowClosed::Paired)));
    let err = w.pair("tablet", &w.label()).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::NotInPairingMode));
}

#[test]
fn later_label_pairings_get_the_user_role() {
    let mut w = World::new(9);
    w.press_button();
    w.pair("phone", &w.label()).unwrap();
    w.press_button();
    let second = w.pair("tablet", &w.label()).unwrap();
    assert_eq!(second.session.lock().grant.role, Role::User);
}

#[test]
fn re_pairing_the_same_key_keeps_its_authorization() {
    let mut w = World::new(10);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let first = w.pair_key(&key, "phone", &w.label()).unwrap();
    w.press_button();
    let again = w.pair_key(&key, "phone", &w.label()).unwrap();
    assert_eq!(first.auth_id, again.auth_id);
    assert_eq!(w.lock.authorizations().len(), 1);
}

#[test]
fn re_pairing_a_known_key_keeps_the_authorization_under_a_fresh_session_key() {
    let mut w = World::new(19);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let paired = w.pair_key(&key, "phone", &w.label()).unwrap();
    let mut first = common::Endpoint {
        key: key.clone(),
        session: EndpointSession::new(paired.clone(), ChannelState::default()),
    };
    for _ in 0..5 {
        w.call(&mut first, &Request::Status);
    }
    let old_frame = first.session.request(&Request::Status).unwrap().frame;
    // The endpoint loses its counter state but keeps its key, and pairs again.
    w.press_button();
    let again = w.pair_key(&key, "phone", &w.label()).unwrap();
    assert_eq!(again.auth_id, paired.auth_id);
    assert_ne!(again.session_key, paired.session_key);
    let mut second = common::Endpoint {
        key: key.clone(),
        session: EndpointSession::new(again, ChannelState::default()),
    };
    // Counters start again at 1, under a key no earlier frame was sealed with.
    assert_eq!(second.session.request(&Request::Status).unwrap().counter, 1);
    assert!(w.call(&mut second, &Request::Status).result.is_ok());
    let answer = w.deliver(&old_frame).remove(0);
    match second.session.receive(&answer).unwrap() {
        lockgate_e2e::Incoming::Refused { code, .. } => {
            assert_eq!(code, ErrorCode::AuthenticationFailed)
        }
        other => panic!("a frame under the old key was served: {other:?}"),
    }
}

#[test]
fn re_pairing_with_an_invite_takes_the_invites_grant() {
    let mut w = World::new(21);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let key = StaticSecret::generate(&mut w.rng);
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 0);
    let first = w
        .pair_key(&key, "tablet", &SetupCode::Invite(code))
        .unwrap();
    assert_eq!(first.grant.role, Role::User);
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::Admin), 0);
    let again = w
        .pair_key(&key, "tablet", &SetupCode::Invite(code))
        .unwrap();
    assert_eq!(
        (again.auth_id, again.grant.role),
        (first.auth_id, Role::Admin)
    );
}

#[test]
fn a_label_exchange_cannot_finish_after_the_window_closed() {
    let mut w = World::new(22);
    w.press_button();
    let key = StaticSecret::generate(&mut w.rng);
    let (mut pairing, start) = w.start_pairing(&key, "late", &w.label(), 5);
    let reply = w.deliver(&start).remove(0);
    let lockgate_e2e::PairingStep::Send(confirm) = pairing.handle(&reply).unwrap() else {
        panic!("no confirm");
    };
    w.press_button(); // closes the window
    let answer = w.deliver(&confirm).remove(0);
    assert_eq!(
        pairing.handle(&answer),
        Err(PairingError::Refused(ErrorCode::NotInPairingMode))
    );
    assert!(w.lock.authorizations().is_empty());
}

#[test]
fn re_pairing_cannot_demote_the_last_admin() {
    let mut w = World::new(23);
    let key = StaticSecret::generate(&mut w.rng);
    w.press_button();
    let paired = w.pair_key(&key, "owner", &w.label()).unwrap();
    let mut admin = common::Endpoint {
        key: key.clone(),
        session: EndpointSession::new(paired, ChannelState::default()),
    };
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 0);
    let err = w
        .pair_key(&key, "owner", &SetupCode::Invite(code))
        .unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::LastAdmin));
    assert_eq!(w.lock.authorizations()[0].grant.role, Role::Admin);
}

#[test]
fn an_invite_pairs_once_with_its_grant_and_without_the_button() {
    let mut w = World::new(11);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let grant = Grant {
        role: Role::User,
        remote_allowed: true,
        not_before: 0,
        not_after: u64::MAX,
    };
    let code = invite(&mut w, &mut admin, grant, 0);
    let guest = w.pair("guest", &SetupCode::Invite(code.clone())).unwrap();
    assert_eq!(guest.session.lock().grant, grant);
    let err = w.pair("guest2", &SetupCode::Invite(code)).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::InviteUnknown));
}

#[test]
fn invites_live_at_most_thirty_days() {
    let mut w = World::new(20);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let too_long = Request::InviteCreate {
        grant: Grant::unlimited(Role::User),
        ttl_secs: MAX_INVITE_TTL_SECS + 1,
    };
    assert_eq!(
        w.call(&mut admin, &too_long).result,
        Err(ErrorCode::InvalidArgument)
    );
    let longest = Request::InviteCreate {
        grant: Grant::unlimited(Role::User),
        ttl_secs: MAX_INVITE_TTL_SECS,
    };
    match w.call(&mut admin, &longest).result {
        Ok(ResponseBody::InviteCreated {
            expires_in_secs, ..
        }) => {
            assert_eq!(expires_in_secs, MAX_INVITE_TTL_SECS)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invite_expires() {
    let mut w = World::new(12);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 60);
    w.advance(60_001);
    let err = w.pair("guest", &SetupCode::Invite(code)).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::InviteExpired));
}

#[test]
fn invites_default_to_forty_eight_hours() {
    let mut w = World::new(13);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 0);
    w.advance(48 * 3600 * 1000 - 1);
    assert!(w.pair("guest", &SetupCode::Invite(code)).is_ok());
}

#[test]
fn an_invite_is_burned_after_five_wrong_codes() {
    let mut w = World::new(14);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 0);
    let digits = code.digits();
    // Same invite id, wrong secret.
    let last = if digits.ends_with('0') { "1" } else { "0" };
    let wrong: InviteCode = format!("{}{}", &digits[..15], last).parse().unwrap();
    for _ in 0..lockgate_e2e::lock::MAX_INVITE_FAILURES {
        let err = w
            .pair("mallory", &SetupCode::Invite(wrong.clone()))
            .unwrap_err();
        assert_eq!(err, PairingError::WrongCodeOrLock);
    }
    w.advance(30_000);
    assert!(w
        .effects
        .iter()
        .any(|e| matches!(e, Effect::InviteBurned { .. })));
    let err = w.pair("guest", &SetupCode::Invite(code)).unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::InviteUnknown));
}

#[test]
fn the_lock_holds_at_most_thirty_two_authorizations() {
    let mut w = World::new(15);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    for i in 1..MAX_AUTHORIZATIONS {
        let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 0);
        w.pair(&format!("user {i}"), &SetupCode::Invite(code))
            .unwrap();
    }
    let code = invite(&mut w, &mut admin, Grant::unlimited(Role::User), 0);
    let err = w
        .pair("one too many", &SetupCode::Invite(code))
        .unwrap_err();
    assert_eq!(err, PairingError::Refused(ErrorCode::AuthorizationsFull));
}

#[test]
fn a_factory_reset_clears_every_authorization() {
    let mut w = World::new(16);
    w.press_button();
    let mut admin = w.pair("admin", &w.label()).unwrap();
    let out = w.lock.factory_reset();
    assert!(out.persist);
    assert!(w.lock.authorizations().is_empty());
    match w.request(&mut admin, &Request::Status) {
        lockgate_e2e::Incoming::Refused { code, .. } => {
            assert_eq!(code, ErrorCode::UnknownAuthorization)
        }
        other => panic!("{other:?}"),
    }
    w.press_button();
    let fresh = w.pair("new owner", &w.label()).unwrap();
    assert_eq!(fresh.session.lock().grant.role, Role::Admin);
    assert!(
        fresh.session.lock().auth_id > admin.session.lock().auth_id,
        "ids are never reused"
    );
}

#[test]
fn too_many_concurrent_attempts_are_refused_as_busy() {
    let mut w = World::new(17);
    w.press_button();
    let label = w.label();
    for i in 0..lockgate_e2e::lock::MAX_PENDING_PAIRINGS + 1 {
        let key = StaticSecret::generate(&mut w.rng);
        let (_, start) = w.start_pairing(&key, "x", &label, i as u64);
        let replies = w.deliver(&start);
        let refused =
            lockgate_wire::Header::parse(&replies[0]).unwrap().0.kind == lockgate_wire::Kind::Error;
        assert_eq!(
            refused,
            i == lockgate_e2e::lock::MAX_PENDING_PAIRINGS,
            "attempt {i}"
        );
    }
}
