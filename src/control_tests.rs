//! Tests of the control protocol: messages round-trip, look as docs/GATEWAY.md §4 says (its
//! examples are parsed from the document itself), and bad lines get the right answers.

use super::*;
use serde_json::{json, Value};

const LOCK: LockId = LockId([0x4c, 0x47, 0, 0, 0, 0, 0, 1]);

/// A status with every field set; other tests start from it.
pub(crate) fn example_status() -> StatusReport {
    StatusReport {
        version: "0.1.0".into(),
        gateway_id: "pi-hallway".into(),
        uptime_s: 3600,
        mqtt: MqttStatus {
            connected: false,
            broker: "mqtt.example.net:8883".into(),
            last_error: Some("connection refused".into()),
        },
        ble: BleStatus {
            adapter: "hci0".into(),
            powered: true,
            links: 1,
            max_connections: 4,
        },
        spool: SpoolStatus {
            frames: 2,
            bytes: 300,
            dropped: 0,
        },
        counters: BTreeMap::from([("up_frames".into(), 120), ("down_frames".into(), 118)]),
        pairing_open: false,
        pairing: None,
    }
}

fn lock_report() -> LockReport {
    LockReport {
        id: LOCK,
        address: "C0:FF:EE:00:00:01".into(),
        name: "Front door".into(),
        link_policy: "on_demand".into(),
        connected: false,
        rssi: None,
        last_seen: Some(1_795_312_000),
        mtu: None,
    }
}

fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(t: T) {
    let line = encode_line(&t).unwrap();
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
    assert_eq!(serde_json::from_slice::<T>(&line).unwrap(), t);
}

#[test]
fn every_request_round_trips_as_one_line() {
    for (id, request) in [
        Request::Status,
        Request::Locks,
        Request::LocksAdd { lock: LOCK },
        Request::LocksRemove { lock: LOCK },
        Request::Pair {
            seconds: Some(crate::pairing::Seconds::new(30).unwrap()),
            passkey: Some("012345".parse().unwrap()),
            stop: false,
        },
        Request::Pair {
            seconds: None,
            passkey: None,
            stop: true,
        },
        Request::SupportStart { valid_s: Some(900) },
        Request::SupportStart { valid_s: None },
        Request::SupportStatus,
        Request::SupportStop,
    ]
    .into_iter()
    .enumerate()
    {
        round_trip(RequestEnvelope {
            version: CONTROL_VERSION,
            id: id as u64,
            request,
        });
    }
}

#[test]
fn every_response_round_trips_as_one_line() {
    round_trip(ResponseEnvelope::new(
        Some(1),
        Response::Status {
            status: example_status(),
        },
    ));
    round_trip(ResponseEnvelope::new(
        Some(u64::MAX),
        Response::Locks {
            locks: vec![lock_report()],
        },
    ));
    round_trip(ResponseEnvelope::new(Some(3), Response::Ok));
    round_trip(ResponseEnvelope::new(
        Some(5),
        Response::SupportCode {
            code: "498-520-790-474".into(),
            expires_in_s: 900,
        },
    ));
    round_trip(ResponseEnvelope::new(
        Some(6),
        Response::SupportStatus {
            support: serde_json::json!({"enabled": true, "code": null, "handshake": null,
                "session": null, "throttle": {"failures": 0, "retry_after_s": 0}}),
        },
    ));
    round_trip(ResponseEnvelope::error(None, "line one\nline two"));
    let closed = crate::pairing::WindowState::closed();
    round_trip(ResponseEnvelope::new(
        Some(4),
        Response::Pairing { pairing: closed },
    ));
    let event = crate::pairing::PairingEvent::PairingWindowClosed {
        reason: crate::pairing::CloseReason::Expired,
        paired: 0,
        failed: 1,
    };
    round_trip(ResponseEnvelope::new(
        Some(4),
        Response::PairingEvent { event, time: 7 },
    ));
}

#[test]
fn a_pair_request_is_written_as_the_documentation_shows() {
    let request = RequestEnvelope {
        version: CONTROL_VERSION,
        id: 5,
        request: Request::Pair {
            seconds: Some(crate::pairing::Seconds::new(30).unwrap()),
            passkey: Some("012345".parse().unwrap()),
            stop: false,
        },
    };
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"version":1,"id":5,"type":"pair","seconds":30,"passkey":"012345"})
    );
    let stop: RequestEnvelope =
        serde_json::from_str(r#"{"version":1,"id":6,"type":"pair","stop":true}"#).unwrap();
    assert!(!stop.request.may_stream());
    assert!(request.request.may_stream());
}

#[test]
fn events_round_trip_with_snake_case_types() {
    let added = Event::LockAdded { lock: LOCK };
    assert_eq!(
        serde_json::to_value(&added).unwrap(),
        json!({"type":"lock_added","lock":"4c47000000000001"})
    );
    round_trip(added);
    round_trip(Event::LockRemoved { lock: LOCK });
}

#[test]
fn messages_are_written_as_gateway_md_shows_them() {
    let request = RequestEnvelope {
        version: 1,
        id: 8,
        request: Request::LocksRemove { lock: LOCK },
    };
    assert_eq!(
        String::from_utf8(encode_line(&request).unwrap()).unwrap(),
        "{\"version\":1,\"id\":8,\"type\":\"locks_remove\",\"lock\":\"4c47000000000001\"}\n"
    );
    let ok = ResponseEnvelope::new(Some(9), Response::Ok);
    assert_eq!(
        serde_json::to_string(&ok).unwrap(),
        r#"{"version":1,"id":9,"type":"ok"}"#
    );
    let unparsed = ResponseEnvelope::error(None, "x");
    assert_eq!(
        serde_json::to_string(&unparsed).unwrap(),
        r#"{"version":1,"id":null,"type":"error","error":"x"}"#
    );
}

/// The JSON blocks of docs/GATEWAY.md §4.
fn section_4_examples() -> Vec<Value> {
    let doc = include_str!("../docs/GATEWAY.md");
    let start = doc.find("## 4. The control socket").unwrap();
    let end = doc.find("## 5. ").unwrap();
    let section = &doc[start..end];
    let mut values = Vec::new();
    for block in section.split("```json").skip(1) {
        let json = block.split("```").next().unwrap();
        for value in serde_json::Deserializer::from_str(json).into_iter::<Value>() {
            values.push(value.unwrap());
        }
    }
    values
}

#[test]
fn the_examples_of_gateway_md_section_4_parse_and_read_back_unchanged() {
    let examples = section_4_examples();
    let (mut requests, mut responses) = (0, 0);
    for example in &examples {
        let line = serde_json::to_vec(example).unwrap();
        let written = match decode_response(&line) {
            Ok(response) => {
                responses += 1;
                serde_json::to_value(response).unwrap()
            }
            Err(_) => {
                requests += 1;
                serde_json::to_value(decode_request(&line).unwrap()).unwrap()
            }
        };
        assert_eq!(&written, example);
    }
    assert_eq!((requests, responses), (6, 10), "{examples:?}");
}

#[test]
fn lock_ids_are_read_in_either_case_and_written_in_lowercase() {
    let line = br#"{"version":1,"id":1,"type":"locks_add","lock":"4C47000000000001"}"#;
    let request = decode_request(line).unwrap();
    assert_eq!(request.request, Request::LocksAdd { lock: LOCK });
    let written = serde_json::to_string(&request).unwrap();
    assert!(written.contains("\"4c47000000000001\""), "{written}");
}

fn decode_error(line: &[u8]) -> (Option<u64>, String) {
    let bad = decode_request(line).unwrap_err();
    let answer = bad.clone().response();
    assert_eq!(answer, ResponseEnvelope::error(bad.id, bad.message.clone()));
    assert_eq!(answer.version, CONTROL_VERSION);
    (bad.id, bad.message)
}

#[test]
fn a_line_that_is_not_json_is_answered_without_an_id() {
    let (id, error) = decode_error(b"{\"version\":1,\"id\":4,");
    assert_eq!(id, None);
    assert!(error.starts_with("not a JSON request"), "{error}");
}

#[test]
fn another_version_is_answered_with_the_versions_served() {
    let (id, error) = decode_error(br#"{"version":2,"id":5,"type":"frobnicate"}"#);
    assert_eq!(id, Some(5));
    assert!(error.starts_with("version 2 requested"), "{error}");
    assert!(error.contains("serves version 1 only"), "{error}");
    let (_, error) = decode_error(br#"{"id":5,"type":"status"}"#);
    assert!(
        error.starts_with("no protocol version requested"),
        "{error}"
    );
}

#[test]
fn a_bad_request_keeps_its_id_in_the_answer() {
    let (id, error) = decode_error(br#"{"version":1,"id":6,"type":"unlock"}"#);
    assert_eq!(id, Some(6));
    assert!(error.contains("unlock"), "{error}");
    let (id, error) = decode_error(br#"{"version":1,"id":7,"type":"locks_add","lock":"x"}"#);
    assert_eq!(id, Some(7));
    assert!(error.contains("16 hex digits"), "{error}");
    let (id, _) = decode_error(br#"{"version":1,"type":"status"}"#);
    assert_eq!(id, None);
    let (id, _) = decode_error(b"[1,2]");
    assert_eq!(id, None);
}

async fn lines(input: &[u8], capacity: usize) -> Result<Vec<Vec<u8>>, LineError> {
    let mut reader = tokio::io::BufReader::with_capacity(capacity, input);
    let (mut out, mut line) = (Vec::new(), Vec::new());
    while read_line(&mut reader, &mut line).await? {
        out.push(line.clone());
    }
    Ok(out)
}

#[tokio::test]
async fn lines_are_split_at_newlines_across_reads() {
    let got = lines(b"ab\n\ncdef\ngh", 3).await.unwrap();
    assert_eq!(
        got,
        vec![b"ab".to_vec(), vec![], b"cdef".to_vec(), b"gh".to_vec()]
    );
    assert!(lines(b"", 3).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_line_of_max_line_bytes_is_read_and_a_longer_one_refused() {
    let mut longest = vec![b'x'; MAX_LINE];
    longest.push(b'\n');
    assert_eq!(lines(&longest, 8192).await.unwrap()[0].len(), MAX_LINE);
    let too_long = vec![b'x'; MAX_LINE + 1];
    assert!(matches!(
        lines(&too_long, 8192).await,
        Err(LineError::TooLong)
    ));
}
