//! The lock's advertisement: a 12-byte Manufacturer Specific Data payload.
//!
//! Layout (all offsets in bytes): `0..2` magic `4C 47` ("LG"), `2` format version `01`,
//! `3` flags (bit 0 `pairing`, bit 1 `pending`, bits 2-7 reserved), `4..12` the lock id.
//! It is carried under company id [`COMPANY_ID`] (`0xFFFF`), which the Bluetooth SIG reserves
//! for testing and internal use. The service UUID (18 bytes as a complete list of 128-bit
//! UUIDs) goes in the advertising PDU and this payload in the scan response, because both
//! do not fit in one 31-byte PDU.

use crate::lock_id::{LockId, LOCK_ID_LEN};

/// Company identifier of the manufacturer data: `0xFFFF`, the Bluetooth SIG's id reserved for
/// internal and interoperability testing before a company id is assigned. The SIG says it shall
/// not be used in shipping end products: a shipping lock needs its own assigned id.
pub const COMPANY_ID: u16 = 0xFFFF;

/// First two payload bytes: "LG".
pub const ADV_MAGIC: [u8; 2] = *b"LG";

/// The advertisement format version this crate reads and writes.
pub const ADV_VERSION: u8 = 0x01;

/// Exact length of the manufacturer data payload.
pub const ADV_LEN: usize = 12;

/// Flags bit 0: the lock's own button opened its pairing window.
pub const FLAG_PAIRING: u8 = 0x01;

/// Flags bit 1: the lock has frames queued for the gateway.
pub const FLAG_PENDING: u8 = 0x02;

/// The two advertised flags. Reserved bits are dropped on decode and written as 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AdvFlags {
    /// The lock's own button opened its pairing window.
    pub pairing: bool,
    /// The lock has frames queued for the gateway.
    pub pending: bool,
}

/// A decoded lockgate advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advertisement {
    /// The advertising lock.
    pub lock_id: LockId,
    /// Its state flags.
    pub flags: AdvFlags,
}

/// Why manufacturer data is not a lockgate advertisement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvError {
    /// The company id is not [`COMPANY_ID`]: the data belongs to another manufacturer.
    #[error("manufacturer data under company id {got:#06x} is not lockgate's (expects 0xffff)")]
    WrongCompany {
        /// The company id that was seen.
        got: u16,
    },
    /// The payload is not exactly [`ADV_LEN`] bytes.
    #[error("a lockgate advertisement payload is exactly 12 bytes, got {len}")]
    WrongLength {
        /// Length of the payload seen.
        len: usize,
    },
    /// The payload does not start with "LG".
    #[error("advertisement magic is {got:02x?}, not \"LG\" (4c 47): not a lockgate device")]
    BadMagic {
        /// The first two bytes seen.
        got: [u8; 2],
    },
    /// The format version is not [`ADV_VERSION`].
    #[error("advertisement format version {version} is not supported (this build reads 1); update the gateway")]
    UnsupportedVersion {
        /// The version byte seen.
        version: u8,
    },
}

impl AdvFlags {
    /// The flags byte: bit 0 `pairing`, bit 1 `pending`, reserved bits 0.
    pub const fn to_byte(self) -> u8 {
        (if self.pairing { FLAG_PAIRING } else { 0 })
            | (if self.pending { FLAG_PENDING } else { 0 })
    }

    /// Reads a flags byte, ignoring the reserved bits 2-7.
    pub const fn from_byte(byte: u8) -> Self {
        Self {
            pairing: byte & FLAG_PAIRING != 0,
            pending: byte & FLAG_PENDING != 0,
        }
    }
}

impl Advertisement {
    /// The 12-byte manufacturer data payload (without the company id).
    pub fn encode(&self) -> [u8; ADV_LEN] {
        let mut out = [0u8; ADV_LEN];
        let (head, id) = out.split_at_mut(ADV_LEN - LOCK_ID_LEN);
        head.copy_from_slice(&[
            ADV_MAGIC[0],
            ADV_MAGIC[1],
            ADV_VERSION,
            self.flags.to_byte(),
        ]);
        id.copy_from_slice(self.lock_id.as_bytes());
        out
    }

    /// Decodes the manufacturer data found under `company_id`.
    ///
    /// Checks, in this order: the company id, the exact length, the magic, the version.
    pub fn decode(company_id: u16, data: &[u8]) -> Result<Self, AdvError> {
        if company_id != COMPANY_ID {
            return Err(AdvError::WrongCompany { got: company_id });
        }
        let payload: &[u8; ADV_LEN] = data
            .try_into()
            .map_err(|_| AdvError::WrongLength { len: data.len() })?;
        let [m0, m1, version, flags, id @ ..] = *payload;
        if [m0, m1] != ADV_MAGIC {
            return Err(AdvError::BadMagic { got: [m0, m1] });
        }
        if version != ADV_VERSION {
            return Err(AdvError::UnsupportedVersion { version });
        }
        Ok(Self {
            lock_id: LockId(id),
            flags: AdvFlags::from_byte(flags),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: LockId = LockId([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);

    fn adv(pairing: bool, pending: bool) -> Advertisement {
        Advertisement {
            lock_id: ID,
            flags: AdvFlags { pairing, pending },
        }
    }

    #[test]
    fn encodes_magic_version_flags_then_lock_id() {
        let bytes = adv(true, false).encode();
        assert_eq!(
            bytes,
            [0x4c, 0x47, 0x01, 0x01, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]
        );
        assert_eq!(adv(false, true).encode()[3], 0x02);
        assert_eq!(adv(true, true).encode()[3], 0x03);
        assert_eq!(adv(false, false).encode()[3], 0x00);
    }

    #[test]
    fn decode_inverts_encode_for_every_flag_combination() {
        for (pairing, pending) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = adv(pairing, pending);
            assert_eq!(Advertisement::decode(COMPANY_ID, &a.encode()), Ok(a));
        }
    }

    #[test]
    fn reserved_flag_bits_are_ignored_by_receivers() {
        let mut bytes = adv(false, true).encode();
        bytes[3] = 0xfe;
        assert_eq!(
            Advertisement::decode(COMPANY_ID, &bytes),
            Ok(adv(false, true))
        );
    }

    #[test]
    fn data_under_another_company_id_is_rejected() {
        let err = Advertisement::decode(0x004c, &adv(false, false).encode());
        assert_eq!(err, Err(AdvError::WrongCompany { got: 0x004c }));
    }

    #[test]
    fn payload_of_any_other_length_than_twelve_is_rejected() {
        let bytes = adv(false, false).encode();
        let err = Advertisement::decode(COMPANY_ID, &bytes[..11]);
        assert_eq!(err, Err(AdvError::WrongLength { len: 11 }));
        let long = [bytes.as_slice(), &[0]].concat();
        assert_eq!(
            Advertisement::decode(COMPANY_ID, &long),
            Err(AdvError::WrongLength { len: 13 })
        );
        assert_eq!(
            Advertisement::decode(COMPANY_ID, &[]),
            Err(AdvError::WrongLength { len: 0 })
        );
    }

    #[test]
    fn bad_magic_is_rejected() {
        let mut bytes = adv(false, false).encode();
        bytes[1] = b'X';
        assert_eq!(
            Advertisement::decode(COMPANY_ID, &bytes),
            Err(AdvError::BadMagic { got: [b'L', b'X'] })
        );
    }

    #[test]
    fn unsupported_version_is_rejected() {
        let mut bytes = adv(false, false).encode();
        bytes[2] = 2;
        assert_eq!(
            Advertisement::decode(COMPANY_ID, &bytes),
            Err(AdvError::UnsupportedVersion { version: 2 })
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_data(
            company in proptest::prelude::any::<u16>(),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let _ = Advertisement::decode(company, &data);
        }
    }
}
