//! Published test vectors: `docs/vectors/support.json`.
//!
//! The test runs a whole support session between the real gateway machine and the real
//! client, with randomness from fixed seeds, and compares every byte with the published file.
//! The SPAKE2 messages are also recomputed here from the formulas of docs/PROTOCOL.md §3.1
//! (`x·B + w·M`, `y·B + w·N`), so the published randomness is checked to be the randomness
//! used. To regenerate after an intended change:
//! `LOCKGATE_WRITE_VECTORS=1 cargo test -p lockgate-support vectors`.

use crate::channel::{nonce, Direction};
use crate::code::SupportCode;
use crate::command::{Forbidden, Request};
use crate::gateway::{Event, GatewaySupport, Output};
use crate::limiter::Limiter;
use crate::message::{Message, Reason, SessionId};
use crate::pake::{self, SessionKeys};
use crate::{ClientEvent, SupportClient};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::Scalar;
use hkdf::Hkdf;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};
use sha2::Sha256;
use std::path::PathBuf;

const T0: u64 = 1_760_000_000_000;
const GATEWAY: &str = "pi-hallway";
const OPERATOR: &str = "alice@vendor";
const GATEWAY_SEED: u64 = 1;
const CLIENT_SEED: u64 = 2;
const M: &str = "15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312";
const N: &str = "f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3";

fn wide(rng: &mut ChaCha20Rng) -> [u8; 64] {
    let mut w = [0u8; 64];
    rng.fill_bytes(&mut w);
    w
}

/// `enc(s·B + w·P)` for the password `pw` and the constant `P` (M or N), per PROTOCOL.md §3.1.
fn spake_point(wide: &[u8; 64], pw: &[u8], constant: &str) -> [u8; 32] {
    let mut h = [0u8; 48];
    let _ = Hkdf::<Sha256>::new(Some(b""), pw).expand(b"SPAKE2 pw", &mut h);
    let mut le = [0u8; 64];
    for (i, b) in h.iter().rev().enumerate() {
        le[i] = *b;
    }
    let w = Scalar::from_bytes_mod_order_wide(&le);
    let s = Scalar::from_bytes_mod_order_wide(wide);
    let p = CompressedEdwardsY(hex::decode(constant).unwrap().try_into().unwrap())
        .decompress()
        .unwrap();
    (ED25519_BASEPOINT_POINT * s + p * w).compress().to_bytes()
}

fn only(out: Output) -> Vec<u8> {
    assert_eq!(out.send.len(), 1, "{out:?}");
    out.send.into_iter().next().unwrap().bytes
}

/// A record with its plaintext, opened here with plain XSalsa20-Poly1305 under `key` and the
/// nonce of docs/SUPPORT.md §5.
fn record(direction: Direction, key: &[u8; 32], sid: &SessionId, message: &[u8]) -> Value {
    use crypto_secretbox::aead::{Aead, KeyInit};
    let Ok(Message::Data {
        counter, sealed, ..
    }) = Message::decode(message)
    else {
        panic!("not a record")
    };
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(key.into());
    let plain = cipher
        .decrypt(&nonce(direction, sid, counter).into(), sealed.as_slice())
        .expect("the record opens under the published key and nonce");
    json!({
        "direction": match direction {
            Direction::ClientToGateway => "client_to_gateway",
            Direction::GatewayToClient => "gateway_to_client",
        },
        "counter": counter,
        "nonce": hex::encode(nonce(direction, sid, counter)),
        "plaintext": String::from_utf8(plain).unwrap(),
        "message": hex::encode(message),
    })
}

/// Runs the scripted session; returns the vector file's contents.
fn generate() -> Value {
    let mut gateway_rng = ChaCha20Rng::seed_from_u64(GATEWAY_SEED);
    let code = SupportCode::generate(&mut gateway_rng);
    let y_wide = wide(&mut gateway_rng);
    let mut client_rng = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
    let mut sid = [0u8; 8];
    client_rng.fill_bytes(&mut sid);
    let x_wide = wide(&mut client_rng);

    let mut gw = GatewaySupport::new(
        GATEWAY,
        30 * 60_000,
        Default::default(),
        ChaCha20Rng::seed_from_u64(GATEWAY_SEED),
    );
    let (started, _) = gw.start_code(T0, 10 * 60_000).unwrap();
    assert!(started.ct_eq(&code));
    let (mut client, hello) = SupportClient::start(
        GATEWAY,
        OPERATOR,
        &code,
        ChaCha20Rng::seed_from_u64(CLIENT_SEED),
    )
    .unwrap();
    let session_id = client.session_id();
    assert_eq!(session_id, SessionId(sid));
    let reply = only(gw.handle(T0 + 1_000, &hello));
    let ClientEvent::Send(confirm) = client.handle(T0 + 1_000, &reply).unwrap() else {
        panic!("no confirmation")
    };
    let welcome = only(gw.handle(T0 + 2_000, &confirm));
    client.handle(T0 + 2_000, &welcome).unwrap();

    // Intermediate values, recomputed for implementers.
    let id_a = pake::client_identity(&session_id, OPERATOR);
    let id_b = pake::gateway_identity(GATEWAY);
    let Ok(Message::Hello { spake: msg_a, .. }) = Message::decode(&hello) else {
        panic!()
    };
    let Ok(Message::Reply { spake: msg_b, .. }) = Message::decode(&reply) else {
        panic!()
    };
    assert_eq!(msg_a[1..], spake_point(&x_wide, &code.password(), M));
    assert_eq!(msg_b[1..], spake_point(&y_wide, &code.password(), N));
    let (spake, _) = pake::start(true, &code.password(), &id_a, &id_b, {
        let mut r = ChaCha20Rng::seed_from_u64(CLIENT_SEED);
        r.fill_bytes(&mut [0u8; 8]);
        r
    });
    let spake_key = spake.finish(&msg_b).unwrap();
    let transcript = pake::transcript(GATEWAY, &hello, &msg_b);
    let keys = SessionKeys::derive(&spake_key, &transcript).expose_for_vectors();

    let (c2g, g2c) = (Direction::ClientToGateway, Direction::GatewayToClient);
    let mut records = vec![record(g2c, &keys[3], &session_id, &welcome)];
    let mut exchange = |request: &Request, answer: Option<Value>| {
        let (_, ask) = client.request(T0 + 3_000, request).unwrap();
        records.push(record(c2g, &keys[2], &session_id, &ask));
        let mut out = gw.handle(T0 + 3_000, &ask);
        if let (Some(data), [Event::Request { ticket, .. }]) = (answer, out.events.as_slice()) {
            out = gw.respond(T0 + 3_000, *ticket, Ok(data));
        }
        let back = only(out);
        client.handle(T0 + 3_000, &back).unwrap();
        records.push(record(g2c, &keys[3], &session_id, &back));
    };
    exchange(&Request::Health, Some(json!({"uptime_s": 3600})));
    exchange(&Request::Forbidden(Forbidden::PairingOpen), None);
    exchange(&Request::Quit, None);

    let refusals: Vec<Value> = Reason::ALL
        .into_iter()
        .map(|reason| {
            let secs = if reason == Reason::Throttled { 20 } else { 0 };
            let m = Message::Refusal {
                session_id,
                reason,
                retry_after_secs: secs,
            };
            json!({"reason": reason.name(), "code": reason as u8, "retry_after_secs": secs,
                   "message": hex::encode(m.encode())})
        })
        .collect();

    json!({
        "description": "A support session between gateway 'pi-hallway' and operator 'alice@vendor': handshake, welcome, a health request and its answer, a refused pairing-open, quit. Randomness: ChaCha20 (rand_chacha 0.3) seeded with seed_from_u64; the gateway's stream draws the code, then the 64 bytes of its SPAKE2 scalar; the client's draws the session id, then its 64 bytes. Each 64-byte draw is reduced little-endian mod the Ed25519 group order.",
        "gateway_id": GATEWAY,
        "operator": OPERATOR,
        "gateway_rng_seed": GATEWAY_SEED,
        "client_rng_seed": CLIENT_SEED,
        "code": code.digits(),
        "code_grouped": *code.grouped(),
        "session_id": session_id.to_string(),
        "spake2_password": hex::encode(&*code.password()),
        "spake2_id_a": hex::encode(&id_a),
        "spake2_id_b": hex::encode(&id_b),
        "spake2_x_wide": hex::encode(x_wide),
        "spake2_x": hex::encode(Scalar::from_bytes_mod_order_wide(&x_wide).to_bytes()),
        "spake2_y_wide": hex::encode(y_wide),
        "spake2_y": hex::encode(Scalar::from_bytes_mod_order_wide(&y_wide).to_bytes()),
        "spake2_key": hex::encode(&spake_key),
        "transcript_hash": hex::encode(transcript),
        "k_confirm_gateway": hex::encode(keys[0]),
        "k_confirm_client": hex::encode(keys[1]),
        "k_client_to_gateway": hex::encode(keys[2]),
        "k_gateway_to_client": hex::encode(keys[3]),
        "messages": {
            "hello": hex::encode(&hello),
            "reply": hex::encode(&reply),
            "confirm": hex::encode(&confirm),
        },
        "records": records,
        "refusals": refusals,
        "throttle_delays_ms": (0..=10).map(Limiter::delay_after).collect::<Vec<_>>(),
        "trivial_codes": ["000000000000", "123456789012", "987654321098", "121212121212", "123412341234", "100000000001"],
    })
}

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/vectors/support.json")
}

#[test]
fn the_code_matches_the_published_vectors_byte_for_byte() {
    let value = generate();
    let path = vector_path();
    if std::env::var_os("LOCKGATE_WRITE_VECTORS").is_some() {
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; regenerate with LOCKGATE_WRITE_VECTORS=1",
            path.display()
        )
    });
    let published: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(published, value, "support.json differs from the code");
}

#[test]
fn the_published_trivial_codes_are_refused() {
    for code in generate()["trivial_codes"].as_array().unwrap() {
        assert!(code.as_str().unwrap().parse::<SupportCode>().is_err());
    }
}
