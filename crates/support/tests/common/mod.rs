//! Two ends in memory: a gateway state machine and clients, with seeded randomness.

#![allow(dead_code)]

use lockgate_support::gateway::Output;
use lockgate_support::{ClientEvent, GatewaySupport, LimiterState, SupportClient, SupportCode};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub const T0: u64 = 1_760_000_000_000;
pub const GW: &str = "pi-hallway";
pub const SESSION_MS: u64 = 30 * 60_000;
pub const VALID_MS: u64 = 10 * 60_000;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn gateway(limiter: LimiterState) -> GatewaySupport<ChaCha20Rng> {
    GatewaySupport::new(GW, SESSION_MS, limiter, rng(1))
}

/// A gateway with a fresh code started at `T0`.
pub fn gateway_with_code() -> (GatewaySupport<ChaCha20Rng>, SupportCode) {
    let mut gw = gateway(LimiterState::default());
    let (code, out) = gw.start_code(T0, VALID_MS).unwrap();
    assert!(out.send.is_empty());
    (gw, code)
}

/// A valid code other than `code`.
pub fn wrong(code: &SupportCode) -> SupportCode {
    let mut seed = 100;
    loop {
        let other = SupportCode::generate(&mut rng(seed));
        if !other.ct_eq(code) {
            return other;
        }
        seed += 1;
    }
}

/// The only message in `out`.
pub fn one(out: Output) -> Vec<u8> {
    assert_eq!(out.send.len(), 1, "expected one message: {out:?}");
    out.send
        .into_iter()
        .next()
        .map(|o| o.bytes)
        .unwrap_or_default()
}

/// Runs a whole handshake at `now` with `code`; returns the open client.
pub fn open_session(
    gw: &mut GatewaySupport<ChaCha20Rng>,
    code: &SupportCode,
    now: u64,
    seed: u64,
) -> SupportClient {
    let (mut client, hello) = SupportClient::start(GW, "alice", code, rng(seed)).unwrap();
    let reply = one(gw.handle(now, &hello));
    let ClientEvent::Send(confirm) = client.handle(now, &reply).unwrap() else {
        panic!("the client did not confirm")
    };
    let welcome = one(gw.handle(now, &confirm));
    let event = client.handle(now, &welcome).unwrap();
    assert!(
        matches!(event, ClientEvent::Established { .. }),
        "{event:?}"
    );
    client
}

/// Tries `code` at `now`; returns what the client made of the gateway's first answer, after
/// sending any abort.
pub fn attempt(
    gw: &mut GatewaySupport<ChaCha20Rng>,
    code: &SupportCode,
    now: u64,
    seed: u64,
) -> (ClientEvent, Output) {
    let (mut client, hello) = SupportClient::start(GW, "mallory", code, rng(seed)).unwrap();
    let mut out = gw.handle(now, &hello);
    let answer = out.send.remove(0).bytes;
    let event = client.handle(now, &answer).unwrap();
    if let ClientEvent::WrongCode { abort } = &event {
        out.merge(gw.handle(now, abort));
    }
    (event, out)
}
