//! Sessions after pairing: challenges, roles, validity windows, and the mechanism.

mod common;

use common::{Endpoint, World, T0};
use lockgate_e2e::command::{DoorState, Grant, LockStatus, Request, ResponseBody, Role};
use lockgate_e2e::lock::Via;
use lockgate_e2e::{Action, ErrorCode, Incoming, LockConfig, MechanismState, SetupCode};

fn admin_world(seed: u64) -> (World, Endpoint) {
    let mut w = World::new(seed);
    w.press_button();
    let admin = w.pair("admin", &w.label()).unwrap();
    (w, admin)
}

fn join(w: &mut World, admin: &mut Endpoint, name: &str, grant: Grant) -> Endpoint {
    let request = Request::InviteCreate { grant, ttl_secs: 0 };
    let code = match w.call(admin, &request).result {
        Ok(ResponseBody::InviteCreated { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    w.pair(name, &SetupCode::Invite(code)).unwrap()
}

fn actuate(w: &mut World, ep: &mut Endpoint, action: Action) -> Result<ResponseBody, ErrorCode> {
    let challenge = w.challenge(ep);
    w.call(ep, &Request::Actuate { action, challenge }).result
}

fn status(w: &mut World, ep: &mut Endpoint) -> LockStatus {
    match w.call(ep, &Request::Status).result {
        Ok(ResponseBody::Status(s)) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unlock_held_back_past_challenge_expiry_is_refused() {
    let (mut w, mut ep) = admin_world(20);
    let challenge = w.challenge(&mut ep);
    let unlock = Request::Actuate {
        action: Action::Unlock,
        challenge,
    };
    let held = ep.session.request(&unlock).unwrap();
    w.advance(30_000); // the relay sits on the frame for the challenge's lifetime
    let answer = w.deliver(&held.frame);
    let r = match ep.session.receive(&answer[0]).unwrap() {
        Incoming::Response(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.result, Err(ErrorCode::ChallengeExpired));
    assert_eq!(w.lock.mechanism_state(), MechanismState::Locked);
}

#[test]
fn a_clock_stepped_back_drops_every_outstanding_challenge() {
    let (mut w, mut ep) = admin_world(36);
    let challenge = w.challenge(&mut ep);
    w.now -= 3_600_000; // the host clock is stepped back an hour
    let unlock = Request::Actuate {
        action: Action::Unlock,
        challenge,
    };
    assert_eq!(
        w.call(&mut ep, &unlock).result,
        Err(ErrorCode::ChallengeInvalid)
    );
}

#[test]
fn a_challenge_opens_the_door_only_once() {
    let (mut w, mut ep) = admin_world(21);
    let challenge = w.challenge(&mut ep);
    let unlock = Request::Actuate {
        action: Action::Unlock,
        challenge,
    };
    assert!(w.call(&mut ep, &unlock).result.is_ok());
    w.advance(2_000);
    let lock = Request::Actuate {
        action: Action::Lock,
        challenge,
    };
    assert_eq!(
        w.call(&mut ep, &lock).result,
        Err(ErrorCode::ChallengeInvalid)
    );
}

#[test]
fn a_challenge_the_lock_never_issued_is_refused() {
    let (mut w, mut ep) = admin_world(22);
    let forged = Request::Actuate {
        action: Action::Unlock,
        challenge: [0x5a; 16],
    };
    assert_eq!(
        w.call(&mut ep, &forged).result,
        Err(ErrorCode::ChallengeInvalid)
    );
}

#[test]
fn a_challenge_issued_to_one_endpoint_is_useless_to_another() {
    let (mut w, mut admin) = admin_world(23);
    let mut user = join(&mut w, &mut admin, "user", Grant::unlimited(Role::User));
    let challenge = w.challenge(&mut admin);
    let unlock = Request::Actuate {
        action: Action::Unlock,
        challenge,
    };
    assert_eq!(
        w.call(&mut user, &unlock).result,
        Err(ErrorCode::ChallengeInvalid)
    );
}

#[test]
fn users_cannot_invite_list_revoke_or_set_the_time() {
    let (mut w, mut admin) = admin_world(24);
    let mut user = join(&mut w, &mut admin, "user", Grant::unlimited(Role::User));
    let admin_id = admin.session.lock().auth_id;
    for request in [
        Request::InviteCreate {
            grant: Grant::unlimited(Role::User),
            ttl_secs: 0,
        },
        Request::AuthList,
        Request::AuthRevoke { id: admin_id },
        Request::SetTime { unix_ms: T0 },
        Request::AuthRename {
            id: admin_id,
            name: "pwned".into(),
        },
    ] {
        assert_eq!(
            w.call(&mut user, &request).result,
            Err(ErrorCode::Forbidden),
            "{request:?}"
        );
    }
    // But a user may use the lock and rename itself.
    assert!(actuate(&mut w, &mut user, Action::Unlock).is_ok());
    let own = Request::AuthRename {
        id: user.session.lock().auth_id,
        name: "my phone".into(),
    };
    assert_eq!(w.call(&mut user, &own).result, Ok(ResponseBody::Done));
}

#[test]
fn admins_list_rename_and_revoke() {
    let (mut w, mut admin) = admin_world(25);
    let mut user = join(&mut w, &mut admin, "user", Grant::unlimited(Role::User));
    let user_id = user.session.lock().auth_id;
    let rename = Request::AuthRename {
        id: user_id,
        name: "hallway tablet".into(),
    };
    assert_eq!(w.call(&mut admin, &rename).result, Ok(ResponseBody::Done));
    match w.call(&mut admin, &Request::AuthList).result {
        Ok(ResponseBody::AuthList(list)) => {
            assert_eq!(list.len(), 2);
            assert_eq!(list[1].name, "hallway tablet");
            assert_eq!(list[1].public_key, user.key.public_key());
        }
        other => panic!("{other:?}"),
    }
    let revoke = Request::AuthRevoke { id: user_id };
    assert_eq!(w.call(&mut admin, &revoke).result, Ok(ResponseBody::Done));
    match w.request(&mut user, &Request::Status) {
        Incoming::Refused { code, .. } => assert_eq!(code, ErrorCode::UnknownAuthorization),
        other => panic!("a revoked endpoint was served: {other:?}"),
    }
    assert_eq!(
        w.call(&mut admin, &Request::AuthRevoke { id: user_id })
            .result,
        Err(ErrorCode::NotFound)
    );
}

#[test]
fn an_admin_revoking_itself_gets_its_answer_and_is_then_gone() {
    let (mut w, mut admin) = admin_world(35);
    let mut second = join(
        &mut w,
        &mut admin,
        "second admin",
        Grant::unlimited(Role::Admin),
    );
    let id = second.session.lock().auth_id;
    assert_eq!(
        w.call(&mut second, &Request::AuthRevoke { id }).result,
        Ok(ResponseBody::Done)
    );
    match w.request(&mut second, &Request::Status) {
        Incoming::Refused { code, .. } => assert_eq!(code, ErrorCode::UnknownAuthorization),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.lock.authorizations().len(), 1);
}

#[test]
fn the_last_admin_cannot_be_revoked() {
    let (mut w, mut admin) = admin_world(26);
    let id = admin.session.lock().auth_id;
    assert_eq!(
        w.call(&mut admin, &Request::AuthRevoke { id }).result,
        Err(ErrorCode::LastAdmin)
    );
}

#[test]
fn time_limited_access_needs_a_set_clock() {
    let (mut w, mut admin) = admin_world(27);
    let grant = Grant {
        role: Role::User,
        remote_allowed: true,
        not_before: T0,
        not_after: T0 + 3_600_000,
    };
    let request = Request::InviteCreate { grant, ttl_secs: 0 };
    assert_eq!(
        w.call(&mut admin, &request).result,
        Err(ErrorCode::ClockNotSet)
    );
}

#[test]
fn expired_and_not_yet_valid_endpoints_are_refused() {
    let (mut w, mut admin) = admin_world(28);
    let set = Request::SetTime { unix_ms: w.now };
    assert_eq!(w.call(&mut admin, &set).result, Ok(ResponseBody::Done));
    assert!(status(&mut w, &mut admin).clock_set);
    let grant = Grant {
        role: Role::User,
        remote_allowed: true,
        not_before: w.now + 60_000,
        not_after: w.now + 120_000,
    };
    let mut guest = join(&mut w, &mut admin, "guest", grant);
    assert_eq!(
        w.call(&mut guest, &Request::Status).result,
        Err(ErrorCode::NotYetValid)
    );
    w.advance(60_000);
    assert!(w.call(&mut guest, &Request::Status).result.is_ok());
    w.advance(60_001);
    assert_eq!(
        w.call(&mut guest, &Request::Status).result,
        Err(ErrorCode::Expired)
    );
}

#[test]
fn local_only_endpoints_are_refused_through_a_gateway() {
    let (mut w, mut admin) = admin_world(29);
    let grant = Grant {
        remote_allowed: false,
        ..Grant::unlimited(Role::User)
    };
    let mut local = join(&mut w, &mut admin, "local", grant);
    assert_eq!(
        w.call(&mut local, &Request::Status).result,
        Err(ErrorCode::RemoteNotAllowed)
    );
    let sealed = local.session.request(&Request::Status).unwrap();
    let answer = w.deliver_via(Via::Direct, &sealed.frame);
    match local.session.receive(&answer[0]).unwrap() {
        Incoming::Response(r) => assert!(r.result.is_ok()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_moving_lock_refuses_another_actuation() {
    let (mut w, mut ep) = admin_world(30);
    assert!(actuate(&mut w, &mut ep, Action::Unlock).is_ok());
    assert_eq!(
        actuate(&mut w, &mut ep, Action::Lock),
        Err(ErrorCode::MechanismBusy)
    );
    w.advance(1_500);
    assert_eq!(
        actuate(&mut w, &mut ep, Action::Lock),
        Ok(ResponseBody::Actuation(MechanismState::Locking))
    );
}

#[test]
fn a_jam_shows_in_the_status() {
    let (mut w, mut ep) = admin_world(31);
    w.lock.inject_jam();
    actuate(&mut w, &mut ep, Action::Unlatch).unwrap();
    w.advance(1_500);
    assert_eq!(status(&mut w, &mut ep).state, MechanismState::Jammed);
}

#[test]
fn unlatch_pulls_the_latch_then_rests_unlocked() {
    let (mut w, mut ep) = admin_world(32);
    actuate(&mut w, &mut ep, Action::Unlatch).unwrap();
    w.advance(1_500);
    assert_eq!(w.lock.mechanism_state(), MechanismState::Unlatched);
    w.advance(1_000);
    assert_eq!(w.lock.mechanism_state(), MechanismState::Unlocked);
}

#[test]
fn a_lock_without_a_latch_refuses_unlatch() {
    let config = LockConfig {
        unlatch_supported: false,
        ..LockConfig::default()
    };
    let mut w = World::with_config(33, config);
    w.press_button();
    let mut ep = w.pair("admin", &w.label()).unwrap();
    assert_eq!(
        actuate(&mut w, &mut ep, Action::Unlatch),
        Err(ErrorCode::UnlatchNotSupported)
    );
}

#[test]
fn the_status_reports_sensors_battery_and_firmware() {
    let (mut w, mut ep) = admin_world(34);
    w.lock.set_battery(w.now, 42);
    w.lock.set_door(w.now, DoorState::Open);
    let s = status(&mut w, &mut ep);
    assert_eq!(s.battery_percent, 42);
    assert_eq!(s.door, DoorState::Open);
    assert!(s.firmware.starts_with("lockgate-reference"));
    assert!(!s.clock_set);
    assert!(!s.pairing_window_open);
}
