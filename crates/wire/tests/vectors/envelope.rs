//! `docs/vectors/envelope.json`: envelope headers from fields to bytes, and byte strings every
//! receiver must reject.

use lockgate_wire::envelope::{build_frame, EnvelopeError, Header, Kind, HEADER_LEN};
use serde::{Deserialize, Serialize};

use crate::{load_or_write, unhex, InvalidVector};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeFile {
    description: String,
    valid: Vec<EnvelopeVector>,
    invalid: Vec<InvalidVector>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeVector {
    kind: String,
    auth_id: u32,
    counter: u64,
    body: String,
    frame: String,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Pairing => "pairing",
        Kind::Session => "session",
        Kind::Error => "error",
    }
}

fn envelope_error_name(e: &EnvelopeError) -> &'static str {
    match e {
        EnvelopeError::TooShort { .. } => "too_short",
        EnvelopeError::TooLong { .. } => "too_long",
        EnvelopeError::UnsupportedVersion { .. } => "unsupported_version",
        EnvelopeError::UnknownKind { .. } => "unknown_kind",
        EnvelopeError::InvalidAuthId { .. } => "invalid_auth_id",
    }
}

fn envelope_error(bytes: &[u8]) -> String {
    envelope_error_name(&Header::parse(bytes).unwrap_err()).into()
}

fn header(kind: Kind, auth_id: u32, counter: u64) -> Header {
    Header {
        kind,
        auth_id,
        counter,
    }
}

fn generate_envelope() -> EnvelopeFile {
    let headers = [
        (header(Kind::Pairing, 0x8000_0001, 0), &b""[..]),
        (header(Kind::Pairing, 0xdead_beef, 2), b"\x01\x02\x03"),
        (header(Kind::Session, 1, 1), b"\xaa\xbb"),
        (header(Kind::Session, 0x7fff_ffff, u64::MAX), b""),
        (
            header(Kind::Session, 0x0403_0201, 0x0c0b_0a09_0807_0605),
            b"",
        ),
        (header(Kind::Error, 42, 7), b"\x05"),
    ];
    let valid = headers.iter().map(|(header, body)| EnvelopeVector {
        kind: kind_name(header.kind).into(),
        auth_id: header.auth_id,
        counter: header.counter,
        body: hex::encode(body),
        frame: hex::encode(build_frame(header, body)),
    });
    let ok = header(Kind::Session, 1, 0).encode();
    let with = |index: usize, byte: u8| {
        let mut bytes = ok;
        bytes[index] = byte;
        bytes.to_vec()
    };
    let invalid_inputs = [
        ok[..HEADER_LEN - 1].to_vec(),
        with(0, 2),
        with(0, 0),
        with(1, 0),
        with(1, 4),
        with(2, 0),
        header(Kind::Session, 0x8000_0001, 0).encode().to_vec(),
        header(Kind::Pairing, 1, 0).encode().to_vec(),
        header(Kind::Error, 0, 0).encode().to_vec(),
    ];
    let invalid = invalid_inputs.iter().map(|bytes| InvalidVector {
        company_id: None,
        bytes: hex::encode(bytes),
        error: envelope_error(bytes),
    });
    EnvelopeFile {
        description: "lockgate envelope header vectors: fields to frame (14-byte header then \
            body), and byte strings every receiver must reject, with the reason. A frame longer \
            than 4096 bytes is also rejected (too_long)."
            .into(),
        valid: valid.collect(),
        invalid: invalid.collect(),
    }
}

#[test]
fn envelope_vectors_match_the_code_byte_for_byte() {
    let file = load_or_write("envelope.json", generate_envelope());
    for vector in &file.valid {
        let frame = unhex(&vector.frame);
        let (header, body) = Header::parse(&frame).unwrap();
        assert_eq!(kind_name(header.kind), vector.kind);
        assert_eq!(
            (header.auth_id, header.counter),
            (vector.auth_id, vector.counter)
        );
        assert_eq!(body, unhex(&vector.body).as_slice());
        assert_eq!(build_frame(&header, body), frame);
    }
    for vector in &file.invalid {
        assert_eq!(
            envelope_error(&unhex(&vector.bytes)),
            vector.error,
            "{}",
            vector.bytes
        );
    }
}
