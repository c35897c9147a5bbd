//! Tests of `command`.

use super::*;
use proptest::prelude::*;

fn sample_requests() -> Vec<Request> {
    vec![
        Request::Status,
        Request::Challenge,
        Request::Actuate {
            action: Action::Unlatch,
            challenge: [9; 16],
        },
        Request::InviteCreate {
            grant: Grant {
                role: Role::User,
                remote_allowed: false,
                not_before: 5,
                not_after: 10,
            },
            ttl_secs: 3600,
        },
        Request::AuthList,
        Request::AuthRevoke { id: 3 },
        Request::AuthRename {
            id: 3,
            name: "kitchen tablet".into(),
        },
        Request::SetTime { unix_ms: 1 << 40 },
    ]
}

#[test]
fn every_request_round_trips() {
    for req in sample_requests() {
        assert_eq!(Request::decode(&req.encode()), Ok(req));
    }
}

#[test]
fn requests_with_trailing_or_missing_bytes_are_refused() {
    for req in sample_requests() {
        let mut long = req.encode();
        long.push(0);
        assert!(Request::decode(&long).is_err(), "{req:?} + trailing");
        let short = req.encode();
        if short.len() > 1 {
            assert!(Request::decode(&short[..short.len() - 1]).is_err());
        }
    }
}

#[test]
fn a_grant_that_ends_before_it_starts_is_refused() {
    let mut bytes = vec![Opcode::InviteCreate as u8, Role::User as u8, 0];
    bytes.extend_from_slice(&10u64.to_le_bytes());
    bytes.extend_from_slice(&5u64.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    assert!(Request::decode(&bytes).is_err());
}

#[test]
fn responses_round_trip() {
    let bodies = vec![
        (
            Opcode::Status,
            ResponseBody::Status(LockStatus {
                state: MechanismState::Jammed,
                door: DoorState::Open,
                battery_percent: 77,
                pairing_window_open: true,
                clock_set: false,
                unlatch_supported: true,
                time_ms: 0,
                firmware: "locksim 0.1.0".into(),
            }),
        ),
        (
            Opcode::Challenge,
            ResponseBody::Challenge {
                challenge: [1; 16],
                valid_ms: 30_000,
            },
        ),
        (
            Opcode::Unlock,
            ResponseBody::Actuation(MechanismState::Unlocking),
        ),
        (
            Opcode::InviteCreate,
            ResponseBody::InviteCreated {
                code: "0042-1234-5678-9012".parse().unwrap(),
                expires_in_secs: 99,
            },
        ),
        (
            Opcode::AuthList,
            ResponseBody::AuthList(vec![AuthEntry {
                id: 1,
                grant: Grant::unlimited(Role::Admin),
                public_key: PublicKey([7; 32]),
                name: "phone".into(),
            }]),
        ),
        (Opcode::SetTime, ResponseBody::Done),
    ];
    for (opcode, body) in bodies {
        let resp = Response {
            opcode,
            in_reply_to: 42,
            result: Ok(body),
        };
        assert_eq!(Response::decode(&resp.encode()), Ok(resp));
    }
    let refused = Response {
        opcode: Opcode::Unlock,
        in_reply_to: 1,
        result: Err(ErrorCode::ChallengeExpired),
    };
    assert_eq!(Response::decode(&refused.encode()), Ok(refused));
}

#[test]
fn a_response_without_the_response_flag_is_refused() {
    let resp = Response {
        opcode: Opcode::Status,
        in_reply_to: 1,
        result: Err(ErrorCode::Forbidden),
    };
    let mut bytes = resp.encode();
    bytes[0] &= !RESPONSE_FLAG;
    assert!(Response::decode(&bytes).is_err());
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }

    #[test]
    fn decoded_requests_re_encode_to_the_same_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(req) = Request::decode(&bytes) {
            prop_assert_eq!(req.encode(), bytes);
        }
    }
}
