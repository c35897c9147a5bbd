//! State events (PROTOCOL.md §9.4): subscriptions, what the lock queues while no gateway
//! collects, what every subscriber receives, and what an adversarial relay can do with them.

mod common;

use common::{Endpoint, World};
use lockgate_e2e::command::{DoorState, Grant, Request, ResponseBody, Role};
use lockgate_e2e::endpoint::ReceiveError;
use lockgate_e2e::event::MAX_QUEUED_EVENTS;
use lockgate_e2e::{
    Action, ErrorCode, Event, EventCause, Incoming, LockConfig, MechanismState, SetupCode,
};

fn world(seed: u64, config: LockConfig) -> (World, Endpoint) {
    let mut w = World::with_config(seed, config);
    w.press_button();
    let admin = w.pair("admin", &w.label()).unwrap();
    (w, admin)
}

fn subscribe(w: &mut World, ep: &mut Endpoint, secs: u16) -> (u16, MechanismState) {
    match w.call(ep, &Request::Subscribe { secs }).result {
        Ok(ResponseBody::Subscribed {
            expires_in_secs,
            status,
        }) => (expires_in_secs, status.state),
        other => panic!("{other:?}"),
    }
}

fn events(ep: &mut Endpoint, frames: &[Vec<u8>]) -> Vec<Event> {
    frames
        .iter()
        .filter_map(|f| match ep.session.receive(f) {
            Ok(Incoming::Event(e)) => Some(e),
            Ok(other) => panic!("not an event: {other:?}"),
            Err(ReceiveError::NotForUs) => None,
            Err(e) => panic!("{e}"),
        })
        .collect()
}

fn join(w: &mut World, admin: &mut Endpoint, name: &str) -> Endpoint {
    let request = Request::InviteCreate {
        grant: Grant::unlimited(Role::User),
        ttl_secs: 0,
    };
    let code = match w.call(admin, &request).result {
        Ok(ResponseBody::InviteCreated { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    w.pair(name, &SetupCode::Invite(code)).unwrap()
}

#[test]
fn a_knob_turn_reaches_a_subscriber_and_raises_pending_until_collected() {
    let (mut w, mut ep) = world(1, LockConfig::default());
    assert_eq!(
        subscribe(&mut w, &mut ep, 600),
        (600, MechanismState::Locked)
    );
    assert!(!w.lock.has_pending_events());
    w.turn_knob();
    assert!(w.lock.has_pending_events(), "pending is advertised");
    let frames = w.collect_events();
    assert!(!w.lock.has_pending_events());
    let got = events(&mut ep, &frames);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].cause, EventCause::Manual);
    assert_eq!(got[0].status.state, MechanismState::Unlocked);
    assert_eq!(got[0].seq, 0);
}

#[test]
fn nobody_subscribed_means_no_events_and_no_pending() {
    let (mut w, _ep) = world(2, LockConfig::default());
    w.turn_knob();
    let out = w.lock.set_door(w.now, DoorState::Open);
    w.absorb(out);
    assert!(!w.lock.has_pending_events());
    assert!(w.collect_events().is_empty());
}

#[test]
fn a_subscription_ends_on_time_and_a_zero_cancels_it() {
    let (mut w, mut ep) = world(3, LockConfig::default());
    subscribe(&mut w, &mut ep, 10);
    w.advance(10_000);
    w.turn_knob();
    assert!(!w.lock.has_pending_events(), "expired");
    subscribe(&mut w, &mut ep, 10);
    w.turn_knob();
    assert_eq!(subscribe(&mut w, &mut ep, 0).0, 0);
    assert!(!w.lock.has_pending_events(), "cancelling drops the queue");
}

#[test]
fn a_remote_unlock_tells_every_subscriber_each_step() {
    let (mut w, mut admin) = world(4, LockConfig::default());
    let mut user = join(&mut w, &mut admin, "user");
    subscribe(&mut w, &mut admin, 600);
    subscribe(&mut w, &mut user, 600);
    let challenge = w.challenge(&mut user);
    let r = w.call(
        &mut user,
        &Request::Actuate {
            action: Action::Unlock,
            challenge,
        },
    );
    assert_eq!(
        r.result,
        Ok(ResponseBody::Actuation(MechanismState::Unlocking))
    );
    w.advance(LockConfig::default().actuation_ms);
    let frames = w.collect_events();
    for ep in [&mut admin, &mut user] {
        let got = events(ep, &frames);
        let states: Vec<_> = got.iter().map(|e| (e.status.state, e.cause)).collect();
        assert_eq!(
            states,
            [
                (MechanismState::Unlocking, EventCause::Remote),
                (MechanismState::Unlocked, EventCause::Remote)
            ]
        );
    }
}

#[test]
fn door_battery_jam_and_auto_lock_are_events() {
    let config = LockConfig {
        auto_lock_ms: 5_000,
        ..LockConfig::default()
    };
    let (mut w, mut ep) = world(5, config.clone());
    subscribe(&mut w, &mut ep, 3600);
    w.turn_knob(); // unlocked by hand: auto-lock armed
    let out = w.lock.set_door(w.now, DoorState::Open);
    w.absorb(out);
    let out = w.lock.set_door(w.now + 1, DoorState::Open);
    w.absorb(out); // no change, no event
    w.advance(10_000); // door open: no auto-lock
    let out = w.lock.set_door(w.now, DoorState::Closed);
    w.absorb(out);
    w.advance(5_000); // auto-lock starts
    w.advance(config.actuation_ms);
    let out = w.lock.set_battery(w.now, 15);
    w.absorb(out);
    w.lock.inject_jam();
    w.turn_knob(); // unlocked by hand
    let challenge = w.challenge(&mut ep);
    w.call(
        &mut ep,
        &Request::Actuate {
            action: Action::Lock,
            challenge,
        },
    );
    w.advance(config.actuation_ms);
    let frames = w.collect_events();
    let got: Vec<_> = events(&mut ep, &frames)
        .into_iter()
        .map(|e| {
            (
                e.cause,
                e.status.state,
                e.status.door,
                e.status.battery_percent,
            )
        })
        .collect();
    use DoorState::{Closed, Open};
    use EventCause::*;
    use MechanismState::*;
    assert_eq!(
        got,
        [
            (Manual, Unlocked, Closed, 100),
            (Door, Unlocked, Open, 100),
            (Door, Unlocked, Closed, 100),
            (AutoLock, Locking, Closed, 100),
            (AutoLock, Locked, Closed, 100),
            (Battery, Locked, Closed, 15),
            (Manual, Unlocked, Closed, 15),
            (Remote, Locking, Closed, 15),
            (Remote, Jammed, Closed, 15),
        ]
        .into_iter()
        .skip(1)
        .collect::<Vec<_>>(),
        "eight events, the ninth pushed out the first"
    );
}

#[test]
fn a_full_queue_drops_the_oldest_and_the_sequence_shows_the_gap() {
    let (mut w, mut ep) = world(6, LockConfig::default());
    subscribe(&mut w, &mut ep, 600);
    for _ in 0..MAX_QUEUED_EVENTS + 3 {
        w.turn_knob();
    }
    let got = events(&mut ep, &w.collect_events());
    assert_eq!(got.len(), MAX_QUEUED_EVENTS);
    assert_eq!(got[0].seq, 3, "the three oldest were dropped");
    assert_eq!(got.last().unwrap().seq as usize, MAX_QUEUED_EVENTS + 2);
}

#[test]
fn events_cannot_be_replayed_or_redirected() {
    let (mut w, mut admin) = world(7, LockConfig::default());
    let mut user = join(&mut w, &mut admin, "user");
    subscribe(&mut w, &mut admin, 600);
    w.turn_knob();
    let frames = w.collect_events();
    assert_eq!(events(&mut admin, &frames).len(), 1);
    for f in &frames {
        assert!(matches!(
            admin.session.receive(f),
            Err(ReceiveError::Session(_))
        ));
        assert_eq!(user.session.receive(f), Err(ReceiveError::NotForUs));
    }
}

#[test]
fn a_user_may_subscribe_but_not_beyond_an_hour_and_a_revoked_one_hears_nothing() {
    let (mut w, mut admin) = world(8, LockConfig::default());
    let mut user = join(&mut w, &mut admin, "user");
    let too_long = w.request(&mut user, &Request::Subscribe { secs: 3601 });
    assert!(matches!(
        too_long,
        Incoming::Refused {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    assert_eq!(subscribe(&mut w, &mut user, 3600).0, 3600);
    let id = user.session.lock().auth_id;
    w.call(&mut admin, &Request::AuthRevoke { id });
    w.turn_knob();
    assert!(
        !w.lock.has_pending_events(),
        "the revoked subscriber is gone"
    );
}
