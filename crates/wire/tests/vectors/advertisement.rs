//! `docs/vectors/advertisement.json`: advertisement payloads from fields to bytes, their AD
//! structures, and payloads receivers must reject.

use lockgate_wire::adv::{AdvError, AdvFlags, Advertisement, COMPANY_ID};
use lockgate_wire::gatt::SERVICE_UUID;
use lockgate_wire::LockId;
use serde::{Deserialize, Serialize};

use crate::{load_or_write, unhex, InvalidVector};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvertisementFile {
    description: String,
    advertising_data: String,
    valid: Vec<AdvVector>,
    invalid: Vec<InvalidVector>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvVector {
    lock_id: String,
    pairing: bool,
    pending: bool,
    payload: String,
    scan_response_data: String,
}

fn adv_error(company_id: u16, bytes: &[u8]) -> String {
    match Advertisement::decode(company_id, bytes).unwrap_err() {
        AdvError::WrongCompany { .. } => "wrong_company",
        AdvError::WrongLength { .. } => "wrong_length",
        AdvError::BadMagic { .. } => "bad_magic",
        AdvError::UnsupportedVersion { .. } => "unsupported_version",
    }
    .into()
}

/// Flags AD (LE General Discoverable, BR/EDR not supported) then the complete list of
/// 128-bit service UUIDs (little-endian, as every AD UUID is).
fn advertising_data() -> Vec<u8> {
    let mut data = vec![0x02, 0x01, 0x06, 0x11, 0x07];
    data.extend_from_slice(&SERVICE_UUID.to_le_bytes());
    data
}

/// The Manufacturer Specific Data AD structure: length, type 0xFF, company id LE, payload.
fn scan_response_data(payload: &[u8; 12]) -> Vec<u8> {
    let mut data = vec![0x0f, 0xff];
    data.extend_from_slice(&COMPANY_ID.to_le_bytes());
    data.extend_from_slice(payload);
    data
}

fn adv(id: [u8; 8], pairing: bool, pending: bool) -> Advertisement {
    Advertisement {
        lock_id: LockId(id),
        flags: AdvFlags { pairing, pending },
    }
}

fn valid_vector(adv: &Advertisement) -> AdvVector {
    AdvVector {
        lock_id: adv.lock_id.to_string(),
        pairing: adv.flags.pairing,
        pending: adv.flags.pending,
        payload: hex::encode(adv.encode()),
        scan_response_data: hex::encode(scan_response_data(&adv.encode())),
    }
}

fn generate_advertisement() -> AdvertisementFile {
    let id = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    let valid = [
        adv(id, false, false),
        adv([0; 8], true, false),
        adv([0xff; 8], false, true),
        adv(id, true, true),
    ];
    let ok = adv(id, false, false).encode();
    let with = |index: usize, byte: u8| {
        let mut bytes = ok;
        bytes[index] = byte;
        bytes.to_vec()
    };
    let invalid = [
        (0x004c, ok.to_vec()),
        (COMPANY_ID, ok[..11].to_vec()),
        (COMPANY_ID, [&ok[..], &[0]].concat()),
        (COMPANY_ID, with(0, b'l')),
        (COMPANY_ID, with(2, 0x02)),
    ];
    let invalid = invalid.iter().map(|(company_id, bytes)| InvalidVector {
        company_id: Some(*company_id),
        bytes: hex::encode(bytes),
        error: adv_error(*company_id, bytes),
    });
    AdvertisementFile {
        description: "lockgate advertisement vectors: the advertising PDU's AD structures, then \
            fields to the 12-byte manufacturer data payload (company id 0xffff) and its AD \
            structure in the scan response, and payloads receivers must reject. Reserved flag \
            bits (2-7) are ignored on receive."
            .into(),
        advertising_data: hex::encode(advertising_data()),
        valid: valid.iter().map(valid_vector).collect(),
        invalid: invalid.collect(),
    }
}

#[test]
fn advertisement_vectors_match_the_code_byte_for_byte() {
    let file = load_or_write("advertisement.json", generate_advertisement());
    for vector in &file.valid {
        let adv = Advertisement::decode(COMPANY_ID, &unhex(&vector.payload)).unwrap();
        assert_eq!(adv.lock_id, vector.lock_id.parse().unwrap());
        assert_eq!(
            (adv.flags.pairing, adv.flags.pending),
            (vector.pairing, vector.pending)
        );
        assert_eq!(hex::encode(adv.encode()), vector.payload);
    }
    for vector in &file.invalid {
        let company_id = vector.company_id.unwrap();
        assert_eq!(adv_error(company_id, &unhex(&vector.bytes)), vector.error);
    }
}
