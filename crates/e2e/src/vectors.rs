//! Published test vectors: `docs/vectors/pairing.json`, `session.json` and `events.json`.
//!
//! The test runs a full pairing and a short session between the real endpoint and the real
//! reference lock, with fixed keys, codes and randomness, and compares every byte with the
//! published files. To regenerate them after an intended protocol change:
//! `LOCKGATE_WRITE_VECTORS=1 cargo test -p lockgate-e2e vectors`.

use crate::command::{Action, Request, ResponseBody};
use crate::endpoint::{EndpointPairing, EndpointSession, Incoming, PairingStep};
use crate::lock::{LockConfig, LockIdentity, LockMachine, Via};
use crate::pairing::{self, PairingKeys, SPAKE_MSG_LEN};
use crate::session::{nonce, ChannelState, Direction};
use crate::setup_code::{LabelCode, SetupCode};
use crate::StaticSecret;
use curve25519_dalek::Scalar;
use lockgate_wire::{Header, LockId};
use rand_core::{CryptoRng, RngCore};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Hands out a fixed byte stream: the vectors' "randomness".
struct ScriptedRng(Vec<u8>);

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(self.0.len() >= dest.len(), "vector randomness exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for ScriptedRng {}

/// `n` bytes counting up from `start`.
fn pattern(start: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| start.wrapping_add(i as u8)).collect()
}

fn scalar_hex(wide: &[u8]) -> String {
    let mut w = [0u8; 64];
    w.copy_from_slice(wide);
    hex::encode(Scalar::from_bytes_mod_order_wide(&w).to_bytes())
}

const T0: u64 = 1_760_000_000_000;

fn vector_lock(rng: ScriptedRng) -> LockMachine<ScriptedRng> {
    let identity = LockIdentity {
        lock_id: LockId::from_bytes([0x4c, 0x47, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]),
        secret: StaticSecret::from_bytes(pattern(0x10, 32).try_into().unwrap()),
        label: "40719385".parse().unwrap(),
    };
    let config = LockConfig {
        firmware: "vector-lock 1.0".into(),
        ..LockConfig::default()
    };
    LockMachine::new(config, identity, rng)
}

fn frame_json(direction: Direction, frame: &[u8], plaintext: &[u8]) -> Value {
    let (header, _) = Header::parse(frame).unwrap();
    json!({
        "direction": match direction { Direction::EndpointToLock => "endpoint_to_lock", Direction::LockToEndpoint => "lock_to_endpoint" },
        "counter": header.counter,
        "nonce": hex::encode(nonce(direction, &header)),
        "plaintext": hex::encode(plaintext),
        "frame": hex::encode(frame),
    })
}

/// Sends `request` to `lock` at `now` and records both frames; the lock's response.
fn exchange(
    lock: &mut LockMachine<ScriptedRng>,
    session: &mut EndpointSession,
    request: &Request,
    now: u64,
    frames: &mut Vec<Value>,
) -> crate::command::Response {
    let sealed = session.request(request).unwrap();
    frames.push(frame_json(
        Direction::EndpointToLock,
        &sealed.frame,
        &request.encode(),
    ));
    let answer = lock
        .handle_frame(now, Via::Gateway, &sealed.frame)
        .frames
        .remove(0);
    let Incoming::Response(response) = session.receive(&answer).unwrap() else {
        panic!("refused")
    };
    frames.push(frame_json(
        Direction::LockToEndpoint,
        &answer,
        &response.encode(),
    ));
    response
}

/// Runs the scripted pairing and session; returns (pairing.json, session.json, events.json).
fn generate() -> (Value, Value, Value) {
    let endpoint_wide = pattern(0x80, 64);
    let lock_wide = pattern(0xc0, 64);
    let challenge = pattern(0xa0, 16);
    let mut lock_rng = lock_wide.clone();
    lock_rng.extend_from_slice(&challenge);
    let mut lock = vector_lock(ScriptedRng(lock_rng));
    let endpoint_key = StaticSecret::from_bytes(pattern(0x30, 32).try_into().unwrap());
    let label: LabelCode = "40719385".parse().unwrap();
    let code = SetupCode::Label(label.clone());
    let mut endpoint_rng = 0x8000_1234u32.to_le_bytes().to_vec();
    endpoint_rng.extend_from_slice(&endpoint_wide);

    lock.press_button(T0);
    let (mut pairing, start) = EndpointPairing::start(
        &endpoint_key,
        lock.lock_id(),
        "phone",
        &code,
        ScriptedRng(endpoint_rng),
    )
    .unwrap();
    let reply = lock.handle_frame(T0, Via::Gateway, &start).frames.remove(0);
    let PairingStep::Send(confirm) = pairing.handle(&reply).unwrap() else {
        panic!("no confirm")
    };
    let done = lock
        .handle_frame(T0, Via::Gateway, &confirm)
        .frames
        .remove(0);
    let PairingStep::Paired(paired) = pairing.handle(&done).unwrap() else {
        panic!("not paired")
    };

    // Intermediate values, recomputed for implementers.
    let (spake_a, _) = pairing::spake_start(
        true,
        &label.password(),
        "phone",
        &lock.lock_id(),
        ScriptedRng(endpoint_wide.clone()),
    );
    let reply_body = pairing::PairReply::decode(Header::parse(&reply).unwrap().1).unwrap();
    let spake_key = spake_a.finish(&reply_body.spake).unwrap();
    let keys = PairingKeys::derive(&spake_key);
    let box_key = endpoint_key.box_key(&lock.public_key()).unwrap();
    let bound = keys.bind(&box_key);
    let start_body = Header::parse(&start).unwrap().1.to_vec();
    let start_msg = pairing::PairStart::decode(&start_body).unwrap();
    let transcript = pairing::transcript(
        0x8000_1234,
        &lock.lock_id(),
        &start_body,
        &reply_body.spake,
        &lock.public_key(),
        &endpoint_key.public_key(),
    );
    let grant = pairing::PairGrant {
        auth_id: paired.auth_id,
        grant: paired.grant,
    }
    .encode();

    let session_key = hex::encode(paired.session_key.as_bytes());
    let pairing_json = json!({
        "description": "Label-code pairing between endpoint 'phone' and lock 4c47000000000001. Randomness is given as the 64 bytes each side reduces (little-endian, mod the Ed25519 group order) into its SPAKE2 scalar.",
        "lock_id": lock.lock_id().to_string(),
        "lock_secret_key": hex::encode(*StaticSecret::from_bytes(pattern(0x10, 32).try_into().unwrap()).to_bytes()),
        "lock_public_key": lock.public_key().to_string(),
        "endpoint_secret_key": hex::encode(*endpoint_key.to_bytes()),
        "endpoint_public_key": endpoint_key.public_key().to_string(),
        "endpoint_name": "phone",
        "label_code": label.digits(),
        "pairing_id": 0x8000_1234u32,
        "now_ms": T0,
        "spake2_password": hex::encode(&*label.password()),
        "spake2_id_a": hex::encode(pairing::endpoint_identity("phone")),
        "spake2_id_b": hex::encode(pairing::lock_identity(&lock.lock_id())),
        "spake2_x_wide": hex::encode(&endpoint_wide),
        "spake2_x": scalar_hex(&endpoint_wide),
        "spake2_y_wide": hex::encode(&lock_wide),
        "spake2_y": scalar_hex(&lock_wide),
        "spake2_key": hex::encode(&spake_key),
        "k_enc": hex::encode(keys.enc),
        "session_seed": hex::encode(keys.session_seed),
        "box_key": hex::encode(box_key.as_bytes()),
        "session_key": session_key,
        "k_confirm_endpoint": hex::encode(bound.confirm_endpoint),
        "k_confirm_lock": hex::encode(bound.confirm_lock),
        "transcript_hash": hex::encode(transcript),
        "pair_grant": hex::encode(&grant),
        "auth_id": paired.auth_id,
        "invalid_spake2_messages": invalid_spake_messages(&start_msg.spake, &reply_body.spake),
        "frames": {
            "pair_start": hex::encode(&start),
            "pair_reply": hex::encode(&reply),
            "pair_confirm": hex::encode(&confirm),
            "pair_done": hex::encode(&done),
        },
    });

    let mut session = EndpointSession::new(paired, ChannelState::default());
    let mut frames = Vec::new();
    let mut now = T0 + 1_000;
    let mut step = |session: &mut EndpointSession, request: Request, now: u64| {
        exchange(&mut lock, session, &request, now, &mut frames)
    };
    step(&mut session, Request::Status, now);
    now += 1_000;
    let r = step(&mut session, Request::Challenge, now);
    let Ok(ResponseBody::Challenge { challenge, .. }) = r.result else {
        panic!("no challenge")
    };
    now += 1_000;
    let unlock = Request::Actuate {
        action: Action::Unlock,
        challenge,
    };
    step(&mut session, unlock, now);
    // The relay replays the first request: the lock answers with a cleartext error frame.
    let first_request = hex::decode(frames[0]["frame"].as_str().unwrap_or_default()).unwrap();
    let refusal = lock
        .handle_frame(now, Via::Gateway, &first_request)
        .frames
        .remove(0);
    let session_json = json!({
        "description": "Session frames after the pairing in pairing.json: status, challenge, unlock. The lock's challenge is its next 16 random bytes.",
        "auth_id": 1,
        "lock_state": {
            "mechanism": "locked",
            "door": "closed",
            "battery_percent": 100,
            "unlatch_supported": true,
            "pairing_window_open": false,
            "clock_set": false,
            "firmware": "vector-lock 1.0",
        },
        "lock_clock_ms": [T0 + 1_000, T0 + 2_000, T0 + 3_000],
        "lock_challenge_randomness": hex::encode(challenge),
        "frames": frames,
        "replay": {
            "description": "The first request delivered again: refused with an error frame (kind 3, code 6 = replayed).",
            "frame": frames[0]["frame"].clone(),
            "answer": hex::encode(&refusal),
        },
    });

    // The same session goes on: a subscription, then two state changes the lock reports.
    let subscribe_at = now + 2_000;
    let mut frames = Vec::new();
    let request = Request::Subscribe { secs: 600 };
    exchange(&mut lock, &mut session, &request, subscribe_at, &mut frames);
    let knob_at = subscribe_at + 1_000;
    lock.turn_knob(knob_at);
    let door_at = knob_at + 1_000;
    lock.set_door(door_at, crate::command::DoorState::Open);
    assert!(lock.has_pending_events());
    let collected = lock.collect_events(door_at + 500).frames;
    for frame in &collected {
        let Incoming::Event(event) = session.receive(frame).unwrap() else {
            panic!("not an event")
        };
        frames.push(frame_json(
            Direction::LockToEndpoint,
            frame,
            &event.encode(),
        ));
    }
    let events_json = json!({
        "description": "State events, continuing the session of session.json (same keys and counters): the endpoint subscribes for 600 s after the unlock has completed, then someone turns the knob by hand (the lock locks) and opens the door. The lock queues one event per change and sends both when a gateway collects them.",
        "auth_id": 1,
        "lock_clock_ms": { "subscribe": subscribe_at, "knob_turned": knob_at, "door_opened": door_at },
        "frames": frames,
    });
    (pairing_json, session_json, events_json)
}

/// SPAKE2 messages each side must refuse (section 3.1), each checked here: `to_lock` are
/// refused as `msg_A` by the lock of the vector, `to_endpoint` as `msg_B` by its endpoint.
fn invalid_spake_messages(msg_a: &[u8; SPAKE_MSG_LEN], msg_b: &[u8; SPAKE_MSG_LEN]) -> Value {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    let with_side = |side: u8, point: [u8; 32]| {
        let mut m = [0u8; SPAKE_MSG_LEN];
        m[0] = side;
        m[1..].copy_from_slice(&point);
        m
    };
    let point_of = |m: &[u8; SPAKE_MSG_LEN]| -> [u8; 32] { m[1..].try_into().unwrap() };
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order_two = [0xffu8; 32];
    order_two[0] = 0xec;
    order_two[31] = 0x7f;
    let mut identity_non_canonical = identity;
    identity_non_canonical[31] = 0x80; // sign bit set on x = 0
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    let torsion = CompressedEdwardsY(order_two).decompress().unwrap();
    let mixed = |m: &[u8; SPAKE_MSG_LEN]| {
        (CompressedEdwardsY(point_of(m)).decompress().unwrap() + torsion)
            .compress()
            .to_bytes()
    };
    let to_lock = [
        ("identity point", with_side(0x41, identity)),
        ("point of order 2", with_side(0x41, order_two)),
        (
            "non-canonical encoding of the identity",
            with_side(0x41, identity_non_canonical),
        ),
        ("not on the curve", with_side(0x41, off_curve)),
        (
            "not in the prime-order subgroup (a valid point plus a point of order 2)",
            with_side(0x41, mixed(msg_a)),
        ),
        (
            "side byte 'B' on msg_A's valid point",
            with_side(0x42, point_of(msg_a)),
        ),
        (
            "reflection of the lock's own msg_B",
            with_side(0x41, point_of(msg_b)),
        ),
    ];
    let to_endpoint = [
        ("identity point", with_side(0x42, identity)),
        ("point of order 2", with_side(0x42, order_two)),
        (
            "non-canonical encoding of the identity",
            with_side(0x42, identity_non_canonical),
        ),
        ("not on the curve", with_side(0x42, off_curve)),
        (
            "not in the prime-order subgroup (a valid point plus a point of order 2)",
            with_side(0x42, mixed(msg_b)),
        ),
        (
            "side byte 'A' on msg_B's valid point",
            with_side(0x41, point_of(msg_b)),
        ),
        (
            "reflection of the endpoint's own msg_A",
            with_side(0x42, point_of(msg_a)),
        ),
    ];
    let list = |cases: &[(&str, [u8; SPAKE_MSG_LEN])], from_endpoint: bool, own| {
        cases
            .iter()
            .map(|(reason, msg)| {
                assert!(
                    !pairing::valid_spake_message(msg, from_endpoint, own),
                    "{reason}"
                );
                json!({ "reason": reason, "msg": hex::encode(msg) })
            })
            .collect::<Vec<_>>()
    };
    assert!(pairing::valid_spake_message(msg_a, true, msg_b));
    assert!(pairing::valid_spake_message(msg_b, false, msg_a));
    json!({
        "to_lock": list(&to_lock, true, msg_b),
        "to_endpoint": list(&to_endpoint, false, msg_a),
    })
}

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/vectors")
        .join(name)
}

#[test]
fn the_code_matches_the_published_vectors_byte_for_byte() {
    let (pairing, session, events) = generate();
    let files = [
        ("pairing.json", pairing),
        ("session.json", session),
        ("events.json", events),
    ];
    for (name, value) in files {
        let path = vector_path(name);
        if std::env::var_os("LOCKGATE_WRITE_VECTORS").is_some() {
            let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate with LOCKGATE_WRITE_VECTORS=1",
                path.display()
            )
        });
        let published: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(published, value, "{name} differs from the code");
    }
}

#[test]
fn the_published_frames_are_accepted_by_a_fresh_lock() {
    let text = std::fs::read_to_string(vector_path("pairing.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let frame = |k: &str| hex::decode(v["frames"][k].as_str().unwrap()).unwrap();
    let mut lock_rng = pattern(0xc0, 64);
    lock_rng.extend_from_slice(&pattern(0xa0, 16));
    let mut lock = vector_lock(ScriptedRng(lock_rng));
    lock.press_button(T0);
    let reply = lock.handle_frame(T0, Via::Gateway, &frame("pair_start"));
    assert_eq!(reply.frames, vec![frame("pair_reply")]);
    let done = lock.handle_frame(T0, Via::Gateway, &frame("pair_confirm"));
    assert_eq!(done.frames, vec![frame("pair_done")]);
}
