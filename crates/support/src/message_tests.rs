//! Tests of `message`.

use super::*;
use proptest::prelude::*;

const SID: SessionId = SessionId([1, 2, 3, 4, 5, 6, 7, 8]);

fn samples() -> Vec<Message> {
    vec![
        Message::Hello {
            session_id: SID,
            operator: "alice@vendor".into(),
            spake: [0x41; SPAKE_MSG_LEN],
        },
        Message::Reply {
            session_id: SID,
            spake: [0x42; SPAKE_MSG_LEN],
            confirm: [9; CONFIRM_LEN],
        },
        Message::Confirm {
            session_id: SID,
            confirm: [8; CONFIRM_LEN],
        },
        Message::Data {
            session_id: SID,
            counter: 7,
            sealed: vec![5; TAG_LEN + 3],
        },
        Message::Refusal {
            session_id: SID,
            reason: Reason::Throttled,
            retry_after_secs: 20,
        },
        Message::Abort { session_id: SID },
    ]
}

#[test]
fn every_message_round_trips_with_its_documented_length() {
    let lengths = [10 + 1 + 12 + 33, 75, 42, 10 + 8 + 19, REFUSAL_LEN, 10];
    for (m, len) in samples().into_iter().zip(lengths) {
        let bytes = m.encode();
        assert_eq!(bytes.len(), len, "{m:?}");
        assert_eq!(&bytes[..2], &[VERSION, m.kind() as u8]);
        assert_eq!(&bytes[2..10], &SID.0);
        assert_eq!(Message::decode(&bytes), Ok(m));
    }
}

#[test]
fn a_byte_more_or_less_is_malformed() {
    // Data records have a variable length: their bounds are tested below.
    for m in samples().into_iter().filter(|m| m.kind() != Kind::Data) {
        let bytes = m.encode();
        let longer = [bytes.as_slice(), &[0]].concat();
        assert!(Message::decode(&longer).is_err(), "{m:?} longer");
        assert!(
            Message::decode(&bytes[..bytes.len() - 1]).is_err(),
            "{m:?} shorter"
        );
    }
}

#[test]
fn bad_header_values_are_refused() {
    let mut bytes = Message::Abort { session_id: SID }.encode();
    bytes[0] = 2;
    assert_eq!(Message::decode(&bytes), Err(DecodeError::Version(2)));
    bytes[0] = VERSION;
    bytes[1] = 7;
    assert_eq!(Message::decode(&bytes), Err(DecodeError::Kind(7)));
    assert_eq!(Message::decode(&bytes[..9]), Err(DecodeError::TooShort(9)));
}

#[test]
fn data_records_need_a_counter_a_tag_and_a_bounded_size() {
    let data = |counter: u64, len: usize| {
        let mut b = header(Kind::Data, &SID).to_vec();
        b.extend_from_slice(&counter.to_le_bytes());
        b.extend(std::iter::repeat_n(0u8, len));
        b
    };
    assert!(Message::decode(&data(1, TAG_LEN)).is_ok());
    assert!(Message::decode(&data(1, TAG_LEN - 1)).is_err());
    assert_eq!(
        Message::decode(&data(0, TAG_LEN)),
        Err(DecodeError::Invalid("counter 0"))
    );
    assert!(Message::decode(&data(1, MAX_PLAINTEXT + TAG_LEN)).is_ok());
    assert_eq!(
        Message::decode(&data(1, MAX_PLAINTEXT + TAG_LEN + 1)),
        Err(DecodeError::TooLong(MAX_MESSAGE + 1))
    );
}

#[test]
fn operator_names_must_be_short_printable_utf8() {
    let hello = |name: &[u8]| {
        let mut b = header(Kind::Hello, &SID).to_vec();
        b.push(name.len() as u8);
        b.extend_from_slice(name);
        b.extend_from_slice(&[0x41; SPAKE_MSG_LEN]);
        b
    };
    assert!(Message::decode(&hello(b"bob")).is_ok());
    for bad in [&b""[..], b"a\nb", b"\xff\xfe", &[b'x'; 33]] {
        assert_eq!(
            Message::decode(&hello(bad)),
            Err(DecodeError::Invalid("operator name")),
            "{bad:?}"
        );
    }
}

#[test]
fn refusals_carry_a_known_reason_and_a_delay_only_when_throttled() {
    let refusal = |reason: u8, secs: u32| {
        let mut b = header(Kind::Refusal, &SID).to_vec();
        b.push(reason);
        b.extend_from_slice(&secs.to_le_bytes());
        b
    };
    assert!(Message::decode(&refusal(1, 0)).is_ok());
    assert!(Message::decode(&refusal(1, 5)).is_err());
    assert!(Message::decode(&refusal(0, 0)).is_err());
    assert!(Message::decode(&refusal(9, 0)).is_err());
    assert!(Message::decode(&refusal(2, 5)).is_ok());
}

proptest! {
    #[test]
    fn decoding_never_panics_and_what_decodes_re_encodes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes);
        }
    }

    #[test]
    fn decoding_headed_noise_never_panics(kind in 0u8..8, body in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut bytes = vec![VERSION, kind];
        bytes.extend_from_slice(&SID.0);
        bytes.extend_from_slice(&body);
        if let Ok(m) = Message::decode(&bytes) {
            prop_assert_eq!(m.encode(), bytes);
        }
    }
}
