//! Figures for `docs/PERFORMANCE.md`: sealing and opening a 64-byte command, and a full
//! pairing handshake (both sides, four messages). Run with
//! `cargo bench -p lockgate-e2e --bench e2e`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lockgate_e2e::session::{Channel, ChannelState, Direction};
use lockgate_e2e::{
    EndpointPairing, LockConfig, LockIdentity, LockMachine, PairingStep, SetupCode, StaticSecret,
    Via,
};
use lockgate_wire::Header;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::hint::black_box;

fn seal_open(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let e = StaticSecret::generate(&mut rng);
    let l = StaticSecret::generate(&mut rng);
    let key = e.box_key(&l.public_key()).unwrap();
    let mut tx = Channel::new(&key, 1, Direction::EndpointToLock, ChannelState::default());
    let mut rx = Channel::new(&key, 1, Direction::LockToEndpoint, ChannelState::default());
    let command = [0x42u8; 64];
    c.bench_function("session seal+open 64-byte command", |b| {
        b.iter(|| {
            let sealed = tx.seal(black_box(&command)).unwrap();
            let (header, body) = Header::parse(&sealed.frame).unwrap();
            black_box(rx.open(&header, body).unwrap());
        })
    });
}

fn pairing(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let identity = LockIdentity::generate(&mut rng);
    let code = SetupCode::Label(identity.label.clone());
    let endpoint = StaticSecret::generate(&mut rng);
    c.bench_function("pairing handshake (both sides)", |b| {
        b.iter_batched(
            || {
                let mut lock = LockMachine::new(
                    LockConfig::default(),
                    identity.clone(),
                    ChaCha20Rng::seed_from_u64(3),
                );
                lock.press_button(0);
                lock
            },
            |mut lock| {
                let (mut pairing, mut frame) = EndpointPairing::start(
                    &endpoint,
                    lock.lock_id(),
                    "bench",
                    &code,
                    ChaCha20Rng::seed_from_u64(4),
                )
                .unwrap();
                loop {
                    let answer = lock.handle_frame(1, Via::Gateway, &frame).frames.remove(0);
                    match pairing.handle(&answer).unwrap() {
                        PairingStep::Send(next) => frame = next,
                        PairingStep::Paired(p) => break black_box(p),
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, seal_open, pairing);
criterion_main!(benches);
