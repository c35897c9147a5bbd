//! Fuzz target: the reference lock fed arbitrary frames (some under a valid envelope header
//! for its paired endpoint), mixed with its button, knob and door and with event collection,
//! never panics, and never moves its bolt for a frame it could not
//! authenticate.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lockgate_e2e::command::DoorState;
use lockgate_e2e::lock::Effect;
use lockgate_e2e::{
    EndpointPairing, LockConfig, LockIdentity, LockMachine, MechanismState, PairingStep, SetupCode,
    StaticSecret, Via,
};
use lockgate_wire::{build_frame, Header, Kind};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn paired_lock() -> (LockMachine<ChaCha20Rng>, u32) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let identity = LockIdentity::generate(&mut rng);
    let code = SetupCode::Label(identity.label.clone());
    let mut lock = LockMachine::new(
        LockConfig::default(),
        identity,
        ChaCha20Rng::seed_from_u64(2),
    );
    lock.press_button(0);
    let key = StaticSecret::generate(&mut rng);
    let (mut pairing, mut frame) = EndpointPairing::start(
        &key,
        lock.lock_id(),
        "fuzz",
        &code,
        ChaCha20Rng::seed_from_u64(3),
    )
    .expect("valid name");
    loop {
        let answer = lock.handle_frame(1, Via::Gateway, &frame).frames.remove(0);
        match pairing.handle(&answer).expect("pairing succeeds") {
            PairingStep::Send(next) => frame = next,
            PairingStep::Paired(p) => return (lock, p.auth_id),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (mut lock, auth_id) = paired_lock();
    let mut now = 10u64;
    // Each chunk: one control byte, then a length byte, then that many bytes of body.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(n);
        rest = next;
        now += u64::from(control >> 4) * 1000;
        let frame = match control & 0x3 {
            0 => body.to_vec(),
            1 => build_frame(
                &Header {
                    kind: Kind::Session,
                    auth_id,
                    counter: u64::from(*len) + 1,
                },
                body,
            ),
            2 => build_frame(
                &Header {
                    kind: Kind::Pairing,
                    auth_id: 0x8000_0001,
                    counter: u64::from(control & 0x7),
                },
                body,
            ),
            // The lock's own inputs: its button, its knob, its door, a gateway collecting its
            // events.
            _ => {
                let _ = match (control >> 2) & 0x3 {
                    0 => lock.press_button(now),
                    1 => lock.turn_knob(now),
                    2 => lock.set_door(
                        now,
                        DoorState::from_u8(*len % 3).unwrap_or(DoorState::Unknown),
                    ),
                    _ => lock.collect_events(now),
                };
                continue;
            }
        };
        let out = lock.handle_frame(now, Via::Gateway, &frame);
        let moved = out.effects.iter().any(|e| {
            matches!(
                e,
                Effect::Mechanism(
                    MechanismState::Unlocking
                        | MechanismState::Locking
                        | MechanismState::Unlatching
                )
            )
        });
        assert!(!moved, "an unauthenticated frame moved the bolt");
        let _ = lock.poll(now);
    }
});
