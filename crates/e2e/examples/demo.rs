//! A narrated, in-memory run of the protocol: a reference lock, an endpoint, and a relay in
//! between that prints everything it can see, which is only the cleartext envelope header.
//!
//! Run with `cargo run -p lockgate-e2e --example demo`.

use lockgate_e2e::command::{Grant, Request, ResponseBody, Role};
use lockgate_e2e::{
    Action, ChannelState, EndpointPairing, EndpointSession, Incoming, LockConfig, LockIdentity,
    LockMachine, PairingStep, SetupCode, StaticSecret, Via,
};
use lockgate_wire::Header;
use rand_core::OsRng;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What a gateway or a broker sees of a frame.
fn relay(direction: &str, frame: &[u8]) {
    match Header::parse(frame) {
        Ok((h, body)) if h.kind == lockgate_wire::Kind::Error => println!(
            "  relay {direction}: kind=Error auth_id={:#x} counter={} error code {:?} (cleartext)",
            h.auth_id, h.counter, body
        ),
        Ok((h, body)) => println!(
            "  relay {direction}: kind={:?} auth_id={:#x} counter={} body={} bytes (opaque)",
            h.kind,
            h.auth_id,
            h.counter,
            body.len()
        ),
        Err(e) => println!("  relay {direction}: unparseable frame ({e})"),
    }
}

fn main() {
    let identity = LockIdentity::generate(&mut OsRng);
    let label = identity.label.clone();
    let mut lock = LockMachine::new(LockConfig::default(), identity, OsRng);
    println!(
        "lock {} (label code printed on it: {})",
        lock.lock_id(),
        label.digits()
    );

    println!("\n1. The owner presses the lock's button: its pairing window opens for 2 minutes.");
    lock.press_button(now_ms());

    println!("\n2. The phone pairs with the label code (SPAKE2 through the relay).");
    let phone_key = StaticSecret::generate(&mut OsRng);
    let code = SetupCode::Label(label);
    let (mut pairing, mut frame) =
        EndpointPairing::start(&phone_key, lock.lock_id(), "phone", &code, OsRng)
            .expect("valid name");
    let paired = loop {
        relay("endpoint -> lock", &frame);
        let answer = lock
            .handle_frame(now_ms(), Via::Gateway, &frame)
            .frames
            .remove(0);
        relay("lock -> endpoint", &answer);
        match pairing.handle(&answer).expect("pairing succeeds") {
            PairingStep::Send(next) => frame = next,
            PairingStep::Paired(p) => break p,
        }
    };
    println!(
        "  paired: authorization {} as {:?}; the lock's key is {}",
        paired.auth_id, paired.grant.role, paired.lock_key
    );

    let mut session = EndpointSession::new(paired, ChannelState::default());
    let mut sent = Vec::new();
    let mut call = |lock: &mut LockMachine<OsRng>, request: Option<Request>| {
        let frame = match request {
            Some(r) => session.request(&r).expect("counters left").frame,
            None => sent.last().cloned().expect("something was sent"),
        };
        relay("endpoint -> lock", &frame);
        let answer = lock
            .handle_frame(now_ms(), Via::Gateway, &frame)
            .frames
            .remove(0);
        relay("lock -> endpoint", &answer);
        sent.push(frame);
        match session.receive(&answer).expect("authentic answer") {
            Incoming::Response(r) => r.result,
            Incoming::Refused { code, .. } => Err(code),
            Incoming::Event(e) => panic!("an event instead of an answer: {e:?}"),
        }
    };

    println!("\n3. The phone unlocks: challenge first, then the unlock carrying it.");
    let Ok(ResponseBody::Challenge { challenge, .. }) = call(&mut lock, Some(Request::Challenge))
    else {
        panic!("no challenge");
    };
    let unlock = Request::Actuate {
        action: Action::Unlock,
        challenge,
    };
    let result = call(&mut lock, Some(unlock));
    println!("  lock answered: {result:?}");

    println!("\n4. The relay replays the captured unlock frame: refused (in a cleartext error).");
    let replayed = call(&mut lock, None);
    println!("  lock answered: {replayed:?}");

    println!("\n5. The admin invites a guest for 48 hours.");
    let invite = Request::InviteCreate {
        grant: Grant::unlimited(Role::User),
        ttl_secs: 0,
    };
    if let Ok(ResponseBody::InviteCreated { code, .. }) = call(&mut lock, Some(invite)) {
        println!("  invite code to pass on: {}", code.display().as_str());
    }
}
